//! The presence subscription state machine of RFC 6121 §3 (RFC 3921 §9),
//! as pure transitions on a [`Roster`].
//!
//! Each function applies one subscription stanza, outbound (sent by the user
//! to the contact) or inbound (sent by the contact to the user), and says what
//! changed. The caller (the presence module) turns that into roster pushes,
//! routed stanzas and presence. Where RFC 3921 §9's tables make a
//! recommendation it is followed; the remaining choices follow Prosody's
//! rostermanager:
//!
//! - outbound `subscribe` and `unsubscribe` are always routed (RFC 3921 §9.2)
//!   and always pushed when an item exists;
//! - outbound `subscribed` with no pending request stores a pre-approval
//!   (RFC 6121 §3.4), which is a save (and a push) but is not routed;
//! - outbound `unsubscribed` also withdraws a pre-approval;
//! - an inbound `subscribe` is stored as the full stanza.

use jid::BareJid;

use crate::roster::{PendingRequest, Roster, SubState};

/// The outcome of a transition: the states before and after, and whether the
/// roster was saved (which bumps its version and warrants a push).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub before: SubState,
    pub after: SubState,
    pub saved: bool,
}

impl Transition {
    pub fn changed(&self) -> bool {
        self.before != self.after
    }
}

fn finish(roster: &mut Roster, contact: &BareJid, before: SubState, saved: bool) -> Transition {
    if saved {
        roster.save();
    }
    Transition {
        before,
        after: roster.state(contact),
        saved,
    }
}

/// The user sends `subscribe` (RFC 6121 §3.1.2). Sets `ask` unless already
/// pending or subscribed. The stanza is routed in every case.
pub fn outbound_subscribe(roster: &mut Roster, contact: &BareJid) -> Transition {
    let before = roster.state(contact);
    let skip = roster
        .items
        .get(contact)
        .is_some_and(|i| i.ask || i.subscription.has_to());
    if !skip {
        roster.item_mut_or_new(contact).ask = true;
    }
    finish(roster, contact, before, !skip)
}

/// The user sends `unsubscribe` (RFC 6121 §3.3.2): cancels a pending request
/// and the user's subscription to the contact. Routed in every case.
pub fn outbound_unsubscribe(roster: &mut Roster, contact: &BareJid) -> Transition {
    let before = roster.state(contact);
    let mut saved = false;
    if let Some(item) = roster.items.get_mut(contact) {
        if item.ask || item.subscription.has_to() {
            item.ask = false;
            item.subscription = item.subscription.with_to(false);
            saved = true;
        }
    }
    finish(roster, contact, before, saved)
}

/// What an outbound `subscribed` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    /// A pending request was approved: route the stanza and send presence.
    Approved,
    /// No request was pending: a pre-approval was stored (RFC 6121 §3.4).
    PreApproved,
    /// The contact is already subscribed: nothing to do (RFC 3921 §9.2 Table 1).
    Unchanged,
}

/// The user sends `subscribed` (RFC 6121 §3.1.5, §3.4).
pub fn outbound_subscribed(roster: &mut Roster, contact: &BareJid) -> (Transition, Approval) {
    let before = roster.state(contact);
    if roster.pending_in.remove(contact).is_some() {
        let item = roster.item_mut_or_new(contact);
        item.subscription = item.subscription.with_from(true);
        return (finish(roster, contact, before, true), Approval::Approved);
    }
    if before.subscription.has_from() {
        return (finish(roster, contact, before, false), Approval::Unchanged);
    }
    let item = roster.item_mut_or_new(contact);
    let saved = !item.approved;
    item.approved = true;
    (
        finish(roster, contact, before, saved),
        Approval::PreApproved,
    )
}

/// What an outbound `unsubscribed` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancellation {
    /// The contact's subscription (from/both) was cancelled: push, route and
    /// send unavailable presence to the contact.
    pub was_subscribed: bool,
    /// A pending request was denied: route without a push.
    pub was_pending: bool,
}

/// The user sends `unsubscribed` (RFC 6121 §3.2.2): denies a pending request
/// or cancels the contact's subscription; also withdraws a pre-approval.
pub fn outbound_unsubscribed(roster: &mut Roster, contact: &BareJid) -> (Transition, Cancellation) {
    let before = roster.state(contact);
    let was_pending = roster.pending_in.remove(contact).is_some();
    let mut was_subscribed = false;
    let mut withdrew = false;
    if let Some(item) = roster.items.get_mut(contact) {
        was_subscribed = item.subscription.has_from();
        item.subscription = item.subscription.with_from(false);
        withdrew = std::mem::take(&mut item.approved);
    }
    let saved = was_pending || was_subscribed || withdrew;
    (
        finish(roster, contact, before, saved),
        Cancellation {
            was_subscribed,
            was_pending,
        },
    )
}

/// What to do with an inbound `subscribe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscribeAction {
    /// The contact is already subscribed: auto-reply `subscribed` and send
    /// the user's presence (RFC 3921 §9.3 Table 3, rows marked *).
    AlreadySubscribed,
    /// The user pre-approved the contact: the request was recorded and must
    /// be answered with `subscribed` on the user's behalf.
    AutoApprove,
    /// A pre-approved request that is already pending: nothing happens.
    AlreadyPendingApproved,
    /// A new request: stored; deliver it to available sessions and acknowledge.
    Deliver,
    /// A duplicate of a pending request: acknowledge only.
    Duplicate,
}

/// The contact sends `subscribe` (RFC 6121 §3.1.3).
pub fn inbound_subscribe(
    roster: &mut Roster,
    contact: &BareJid,
    request: PendingRequest,
) -> (Transition, SubscribeAction) {
    let before = roster.state(contact);
    if before.subscription.has_from() {
        return (
            finish(roster, contact, before, false),
            SubscribeAction::AlreadySubscribed,
        );
    }
    let approved = roster.items.get(contact).is_some_and(|i| i.approved);
    if before.pending_in {
        let action = if approved {
            SubscribeAction::AlreadyPendingApproved
        } else {
            SubscribeAction::Duplicate
        };
        return (finish(roster, contact, before, false), action);
    }
    roster.pending_in.insert(contact.clone(), request);
    let action = if approved {
        SubscribeAction::AutoApprove
    } else {
        SubscribeAction::Deliver
    };
    (finish(roster, contact, before, true), action)
}

/// The contact sends `unsubscribe` (RFC 6121 §3.3.3): cancels its pending
/// request and its subscription to the user. Delivered only if it changed
/// something (RFC 3921 §9.3 Table 4).
pub fn inbound_unsubscribe(roster: &mut Roster, contact: &BareJid) -> Transition {
    let before = roster.state(contact);
    let mut saved = roster.pending_in.remove(contact).is_some();
    if let Some(item) = roster.items.get_mut(contact) {
        if item.subscription.has_from() {
            item.subscription = item.subscription.with_from(false);
            saved = true;
        }
    }
    finish(roster, contact, before, saved)
}

/// The contact sends `subscribed` (RFC 6121 §3.1.6): only honoured while the
/// user has a pending request (RFC 3921 §9.3 Table 5).
pub fn inbound_subscribed(roster: &mut Roster, contact: &BareJid) -> Transition {
    let before = roster.state(contact);
    let mut saved = false;
    if let Some(item) = roster.items.get_mut(contact) {
        if item.ask {
            item.ask = false;
            item.subscription = item.subscription.with_to(true);
            saved = true;
        }
    }
    finish(roster, contact, before, saved)
}

/// The contact sends `unsubscribed` (RFC 6121 §3.2.3): denies the user's
/// request or cancels the user's subscription (RFC 3921 §9.3 Table 6).
pub fn inbound_unsubscribed(roster: &mut Roster, contact: &BareJid) -> Transition {
    let before = roster.state(contact);
    let mut saved = false;
    if let Some(item) = roster.items.get_mut(contact) {
        if item.ask || item.subscription.has_to() {
            item.ask = false;
            item.subscription = item.subscription.with_to(false);
            saved = true;
        }
    }
    finish(roster, contact, before, saved)
}
