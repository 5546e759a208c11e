//! Privacy lists as data (RFC 3921 §10.1, XEP-0016 §2.1): items, their
//! order, what they match, which stanzas they govern, and the decision a
//! list takes for one stanza. Pure: no server, no roster store; the
//! counterpart's roster item comes in as a value.

use std::collections::{BTreeMap, BTreeSet};

use jid::Jid;
use minidom::Element;

use crate::roster::{Roster, Subscription};
use crate::stanza::{ErrorType, StanzaError};
use crate::xml;

pub const NS_PRIVACY: &str = "jabber:iq:privacy";

/// What an item matches: its `type` and `value` (RFC 3921 §10.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// `type='jid'`: a prepped JID (full, bare, `domain/resource` or domain).
    Jid(String),
    /// `type='group'`: a roster group.
    Group(String),
    /// `type='subscription'`: an exact subscription state; `none` includes
    /// entities that are not in the roster at all.
    Subscription(Subscription),
    /// No `type`: the fall-through item, which matches everyone.
    FallThrough,
}

/// The stanza kinds an item's child elements name. An item that names
/// none governs all stanzas, both ways (RFC 3921 §10.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stanzas {
    pub message: bool,
    pub iq: bool,
    pub presence_in: bool,
    pub presence_out: bool,
}

impl Stanzas {
    pub fn all(self) -> bool {
        self == Stanzas::default()
    }

    fn govern(self, traffic: Traffic) -> bool {
        self.all()
            || match traffic {
                Traffic::Message => self.message,
                Traffic::Iq => self.iq,
                Traffic::PresenceIn => self.presence_in,
                Traffic::PresenceOut => self.presence_out,
                Traffic::Other => false,
            }
    }
}

/// What a stanza is to the list owner. Presence notifications are
/// presence without `type` or with `type='unavailable'` (RFC 3921 §10);
/// everything else that is not an incoming message or iq (outgoing
/// messages and iqs, subscription stanzas and probes either way) is
/// `Other`, governed only by items that name no stanza kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Traffic {
    Message,
    Iq,
    PresenceIn,
    PresenceOut,
    Other,
}

/// One rule of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub matches: Match,
    pub allow: bool,
    pub order: u32,
    pub stanzas: Stanzas,
}

impl Item {
    /// A XEP-0191 block-list entry: a `jid` item that denies everything
    /// (XEP-0191 §6 maps each blocked JID to one).
    pub fn is_block(&self) -> bool {
        matches!(self.matches, Match::Jid(_)) && !self.allow && self.stanzas.all()
    }

    pub fn block(jid: &str, order: u32) -> Item {
        Item {
            matches: Match::Jid(jid.to_string()),
            allow: false,
            order,
            stanzas: Stanzas::default(),
        }
    }
}

/// The other party of a stanza as the list owner's roster knows it.
#[derive(Debug, Clone, Copy)]
pub struct Counterpart<'a> {
    pub jid: &'a Jid,
    pub subscription: Subscription,
    pub groups: &'a [String],
}

impl<'a> Counterpart<'a> {
    /// `jid` with its roster item in `roster` (none: subscription `none`).
    pub fn in_roster(jid: &'a Jid, roster: &'a Roster) -> Counterpart<'a> {
        let item = roster.items.get(&jid.to_bare());
        Counterpart {
            jid,
            subscription: item.map(|i| i.subscription).unwrap_or_default(),
            groups: item.map(|i| i.groups()).unwrap_or_default(),
        }
    }
}

/// Whether a `jid` item's value matches `jid`: its full JID, bare JID,
/// `domain/resource` or domain (RFC 3921 §10.1, XEP-0016 §2.1; the
/// subdomain match RFC 3921 also allows was dropped by XEP-0016).
pub fn jid_matches(value: &str, jid: &Jid) -> bool {
    let domain = jid.domain().as_str();
    value == domain
        || value == jid.to_bare().as_str()
        || (jid.is_full()
            && (value == jid.to_string()
                || jid
                    .resource()
                    .is_some_and(|r| value.strip_prefix(domain) == Some(&format!("/{r}")))))
}

/// A privacy list: items in ascending `order`, unique orders.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrivacyList {
    items: Vec<Item>,
}

impl PrivacyList {
    /// A list of `items`, sorted by order; `bad-request` on a repeated
    /// order (RFC 3921 §10.1).
    pub fn new(mut items: Vec<Item>) -> Result<PrivacyList, StanzaError> {
        items.sort_by_key(|i| i.order);
        if items.windows(2).any(|w| w[0].order == w[1].order) {
            return Err(StanzaError::bad_request("Duplicate order"));
        }
        Ok(PrivacyList { items })
    }

    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// The first item, in order, that governs `traffic` and matches `who`
    /// (RFC 3921 §10.2 rules 5–6); `None` means the implicit allow of
    /// rule 7.
    pub fn decide(&self, who: &Counterpart, traffic: Traffic) -> Option<&Item> {
        self.items
            .iter()
            .find(|item| item.stanzas.govern(traffic) && matches(item, who))
    }

    /// Whether the list denies `traffic` with `who`.
    pub fn denies(&self, who: &Counterpart, traffic: Traffic) -> bool {
        self.decide(who, traffic).is_some_and(|item| !item.allow)
    }

    /// The JIDs of its block items (XEP-0191 §6: the block list).
    pub fn blocked_jids(&self) -> impl Iterator<Item = &str> {
        self.items
            .iter()
            .filter(|i| i.is_block())
            .filter_map(|i| match &i.matches {
                Match::Jid(j) => Some(j.as_str()),
                _ => None,
            })
    }

    /// Adds block items for `jids` the list does not block yet, ahead of
    /// every other item (XEP-0191 §6: blocked items come first). Orders
    /// are shifted up when there is no room below the first item.
    pub fn block(&mut self, jids: &[String]) {
        let known: BTreeSet<&str> = self.blocked_jids().collect();
        let new: Vec<&String> = jids
            .iter()
            .filter(|j| !known.contains(j.as_str()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if new.is_empty() {
            return;
        }
        let count = new.len() as u32;
        let lowest = self.items.first().map_or(u32::MAX, |i| i.order);
        if lowest < count {
            for (n, item) in self.items.iter_mut().enumerate() {
                item.order = count + n as u32;
            }
        }
        let first = self.items.first().map_or(count, |i| i.order) - count;
        let blocks = new
            .into_iter()
            .enumerate()
            .map(|(n, jid)| Item::block(jid, first + n as u32));
        self.items.splice(0..0, blocks);
    }

    /// Removes the block items for `jids` (all of them with `None`).
    pub fn unblock(&mut self, jids: Option<&[String]>) {
        self.items.retain(|i| {
            !i.is_block()
                || match (&i.matches, jids) {
                    (Match::Jid(j), Some(jids)) => !jids.contains(j),
                    _ => false,
                }
        });
    }

    /// Full JIDs and `domain/resource` values of `jid` items that govern
    /// `traffic`: the addresses whose decision can differ from their bare
    /// JID's.
    pub fn resource_values(&self, traffic: Traffic) -> impl Iterator<Item = &str> {
        self.items
            .iter()
            .filter(move |i| i.stanzas.govern(traffic))
            .filter_map(|i| match &i.matches {
                Match::Jid(j) if j.contains('/') => Some(j.as_str()),
                _ => None,
            })
    }

    /// Whether an item names `group`.
    pub fn names_group(&self, group: &str) -> bool {
        self.items
            .iter()
            .any(|i| matches!(&i.matches, Match::Group(g) if g == group))
    }
}

fn matches(item: &Item, who: &Counterpart) -> bool {
    match &item.matches {
        Match::Jid(value) => jid_matches(value, who.jid),
        Match::Group(group) => who.groups.iter().any(|g| g == group),
        Match::Subscription(s) => who.subscription == *s,
        Match::FallThrough => true,
    }
}

/// An account's privacy lists by name and the name of its default list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrivacyLists {
    pub lists: BTreeMap<String, PrivacyList>,
    pub default: Option<String>,
}

impl PrivacyLists {
    pub fn default_list(&self) -> Option<&PrivacyList> {
        self.default.as_ref().and_then(|n| self.lists.get(n))
    }

    /// The block list: the default list's block items (XEP-0191 §6).
    pub fn blocklist(&self) -> BTreeSet<String> {
        self.default_list()
            .map(|l| l.blocked_jids().map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// The default list, made if there is none: a new list named
    /// `blocklist` (or `blocklist-N` if that name is taken), so that the
    /// block list has a home (XEP-0191 §6).
    pub fn default_list_mut(&mut self) -> &mut PrivacyList {
        if self.default_list().is_none() {
            let name = (1..)
                .map(|n| match n {
                    1 => "blocklist".to_string(),
                    n => format!("blocklist-{n}"),
                })
                .find(|n| !self.lists.contains_key(n))
                .expect("a free name");
            self.lists.insert(name.clone(), PrivacyList::default());
            self.default = Some(name);
        }
        let name = self.default.as_ref().expect("just set");
        self.lists.get_mut(name).expect("exists")
    }

    /// Edits the default list, if there is one.
    pub fn default_list_edit(&mut self, edit: impl FnOnce(&mut PrivacyList)) {
        if let Some(list) = self.default.as_ref().and_then(|n| self.lists.get_mut(n)) {
            edit(list);
        }
    }

    /// Removes the default list if it has no item left: a list with no
    /// items cannot be stated in the protocol (RFC 3921 §10.1).
    pub fn drop_empty_default(&mut self) {
        if self.default_list().is_some_and(|l| l.items.is_empty()) {
            let name = self.default.take().expect("default");
            self.lists.remove(&name);
        }
    }
}

// ----- XML (RFC 3921 §10.1) -----

/// Reads a `<list/>` element's items; the error refuses the whole list.
/// A `group` item must name a group of `roster` (RFC 3921 §10.1: the
/// server SHOULD answer `item-not-found`).
pub fn parse_items(list: &Element, roster: &Roster) -> Result<Vec<Item>, StanzaError> {
    let mut items = Vec::new();
    for child in list.children() {
        if !child.is("item", NS_PRIVACY) {
            return Err(StanzaError::bad_request("Unexpected element in list"));
        }
        items.push(parse_item(child, roster)?);
    }
    Ok(items)
}

fn parse_item(el: &Element, roster: &Roster) -> Result<Item, StanzaError> {
    let allow = match el.attr("action") {
        Some("allow") => true,
        Some("deny") => false,
        _ => return Err(StanzaError::bad_request("Missing or invalid 'action'")),
    };
    let order = el
        .attr("order")
        .filter(|o| !o.is_empty() && o.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|o| o.parse::<u32>().ok())
        .ok_or_else(|| StanzaError::bad_request("Missing or invalid 'order'"))?;
    let value = || {
        el.attr("value")
            .ok_or_else(|| StanzaError::bad_request("Missing 'value'"))
    };
    let matches = match el.attr("type") {
        None => Match::FallThrough,
        Some("jid") => Match::Jid(
            Jid::new(value()?)
                .map_err(|_| StanzaError::new(ErrorType::Modify, "jid-malformed"))?
                .to_string(),
        ),
        Some("group") => {
            let group = value()?;
            if !roster
                .items
                .values()
                .any(|i| i.groups().iter().any(|g| g == group))
            {
                return Err(StanzaError::new(ErrorType::Cancel, "item-not-found")
                    .with_text("No such roster group"));
            }
            Match::Group(group.to_string())
        }
        Some("subscription") => Match::Subscription(
            Subscription::parse(value()?)
                .ok_or_else(|| StanzaError::bad_request("Invalid subscription value"))?,
        ),
        Some(_) => return Err(StanzaError::bad_request("Invalid 'type'")),
    };
    let mut stanzas = Stanzas::default();
    for child in el.children() {
        let flag = match (child.name(), child.has_ns(NS_PRIVACY)) {
            ("message", true) => &mut stanzas.message,
            ("iq", true) => &mut stanzas.iq,
            ("presence-in", true) => &mut stanzas.presence_in,
            ("presence-out", true) => &mut stanzas.presence_out,
            _ => return Err(StanzaError::bad_request("Unexpected element in item")),
        };
        *flag = true;
    }
    Ok(Item {
        matches,
        allow,
        order,
        stanzas,
    })
}

/// `<list name=…>` with its items, as a get returns it.
pub fn list_element(name: &str, list: Option<&PrivacyList>) -> Element {
    let mut el = xml::element("list", NS_PRIVACY, &[("name", name)]);
    for item in list.map(|l| l.items.as_slice()).unwrap_or_default() {
        el.append_child(item_element(item));
    }
    el
}

fn item_element(item: &Item) -> Element {
    let order = item.order.to_string();
    let action = if item.allow { "allow" } else { "deny" };
    let (type_, value) = match &item.matches {
        Match::Jid(j) => (Some("jid"), Some(j.as_str())),
        Match::Group(g) => (Some("group"), Some(g.as_str())),
        Match::Subscription(s) => (Some("subscription"), Some(s.as_str())),
        Match::FallThrough => (None, None),
    };
    let mut attrs = Vec::new();
    if let (Some(t), Some(v)) = (type_, value) {
        attrs.push(("type", t));
        attrs.push(("value", v));
    }
    attrs.push(("action", action));
    attrs.push(("order", order.as_str()));
    let mut el = xml::element("item", NS_PRIVACY, &attrs);
    let s = item.stanzas;
    for (on, name) in [
        (s.message, "message"),
        (s.presence_in, "presence-in"),
        (s.presence_out, "presence-out"),
        (s.iq, "iq"),
    ] {
        if on {
            el.append_child(Element::bare(name, NS_PRIVACY));
        }
    }
    el
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roster::RosterItem;

    fn jid(s: &str) -> Jid {
        Jid::new(s).unwrap()
    }

    fn el(s: &str) -> Element {
        s.parse().unwrap()
    }

    fn list(xml: &str, roster: &Roster) -> Result<PrivacyList, StanzaError> {
        PrivacyList::new(parse_items(&el(xml), roster)?)
    }

    fn stranger(j: &Jid) -> Counterpart<'_> {
        Counterpart {
            jid: j,
            subscription: Subscription::None,
            groups: &[],
        }
    }

    const NS: &str = "xmlns='jabber:iq:privacy'";

    #[test]
    fn jid_values_match_in_the_four_forms() {
        let j = jid("tybalt@example.com/pda");
        for value in [
            "tybalt@example.com/pda",
            "tybalt@example.com",
            "example.com/pda",
            "example.com",
        ] {
            assert!(jid_matches(value, &j), "{value}");
        }
        for value in [
            "tybalt@example.com/phone",
            "example.com/phone",
            "juliet@example.com",
            "other.com",
            "sub.example.com",
        ] {
            assert!(!jid_matches(value, &j), "{value}");
        }
        let bare = jid("tybalt@example.com");
        assert!(!jid_matches("tybalt@example.com/pda", &bare));
        assert!(!jid_matches("example.com/pda", &bare));
    }

    #[test]
    fn items_are_processed_in_ascending_order_and_the_first_match_decides() {
        let roster = Roster::default();
        let l = list(
            &format!(
                "<list {NS} name='public'>\
                 <item action='allow' order='2'/>\
                 <item type='jid' value='tybalt@example.com' action='deny' order='1'/>\
                 </list>"
            ),
            &roster,
        )
        .unwrap();
        assert_eq!(l.items()[0].order, 1);
        let tybalt = jid("tybalt@example.com/pda");
        let nurse = jid("nurse@example.com/pda");
        assert!(l.denies(&stranger(&tybalt), Traffic::Message));
        assert!(!l.denies(&stranger(&nurse), Traffic::Message));
    }

    #[test]
    fn with_no_matching_item_the_fall_through_action_is_allow() {
        let l = list(
            &format!(
                "<list {NS} name='x'><item type='jid' value='a@b' action='deny' order='1'/></list>"
            ),
            &Roster::default(),
        )
        .unwrap();
        let c = jid("c@d/e");
        assert_eq!(l.decide(&stranger(&c), Traffic::Iq), None);
        assert!(!l.denies(&stranger(&c), Traffic::Iq));
    }

    #[test]
    fn child_elements_limit_an_item_to_their_stanza_kinds() {
        let l = list(
            &format!(
                "<list {NS} name='x'><item action='deny' order='1'><message/><presence-out/></item></list>"
            ),
            &Roster::default(),
        )
        .unwrap();
        let c = jid("c@d/e");
        let who = stranger(&c);
        assert!(l.denies(&who, Traffic::Message));
        assert!(l.denies(&who, Traffic::PresenceOut));
        assert!(!l.denies(&who, Traffic::PresenceIn));
        assert!(!l.denies(&who, Traffic::Iq));
        assert!(!l.denies(&who, Traffic::Other));
        let all = list(
            &format!("<list {NS} name='x'><item action='deny' order='1'/></list>"),
            &Roster::default(),
        )
        .unwrap();
        for t in [
            Traffic::Message,
            Traffic::Iq,
            Traffic::PresenceIn,
            Traffic::PresenceOut,
            Traffic::Other,
        ] {
            assert!(all.denies(&who, t), "{t:?}");
        }
    }

    #[test]
    fn group_and_subscription_items_look_at_the_roster_item() {
        let mut roster = Roster::default();
        let tybalt = jid("tybalt@example.com");
        roster.items.insert(
            tybalt.to_bare(),
            RosterItem::new(Subscription::To).with_labels(None, vec!["Enemies".into()]),
        );
        let l = list(
            &format!(
                "<list {NS} name='x'>\
                 <item type='group' value='Enemies' action='deny' order='1'><iq/></item>\
                 <item type='subscription' value='to' action='deny' order='2'><message/></item>\
                 <item type='subscription' value='none' action='deny' order='3'><presence-in/></item>\
                 </list>"
            ),
            &roster,
        )
        .unwrap();
        let full = jid("tybalt@example.com/pda");
        let who = Counterpart::in_roster(&full, &roster);
        assert!(l.denies(&who, Traffic::Iq));
        assert!(l.denies(&who, Traffic::Message));
        // 'none' is exact: a 'to' contact is not 'none'.
        assert!(!l.denies(&who, Traffic::PresenceIn));
        let nobody = jid("nobody@example.org/x");
        assert!(l.denies(
            &Counterpart::in_roster(&nobody, &roster),
            Traffic::PresenceIn
        ));
    }

    #[test]
    fn malformed_items_refuse_the_whole_list() {
        let roster = Roster::default();
        let cases = [
            (
                "<item action='deny' order='1'/><item action='allow' order='1'/>",
                "bad-request",
            ),
            ("<item action='deny'/>", "bad-request"),
            ("<item action='deny' order='-1'/>", "bad-request"),
            ("<item action='deny' order='+1'/>", "bad-request"),
            ("<item action='deny' order='4294967296'/>", "bad-request"),
            ("<item order='1'/>", "bad-request"),
            ("<item action='block' order='1'/>", "bad-request"),
            ("<item type='jid' action='deny' order='1'/>", "bad-request"),
            (
                "<item type='jid' value='a@b@c' action='deny' order='1'/>",
                "jid-malformed",
            ),
            (
                "<item type='subscription' value='maybe' action='deny' order='1'/>",
                "bad-request",
            ),
            (
                "<item type='colour' value='red' action='deny' order='1'/>",
                "bad-request",
            ),
            (
                "<item type='group' value='Nobody' action='deny' order='1'/>",
                "item-not-found",
            ),
            (
                "<item action='deny' order='1'><presence/></item>",
                "bad-request",
            ),
            ("<other/>", "bad-request"),
        ];
        for (items, condition) in cases {
            let e = list(&format!("<list {NS} name='x'>{items}</list>"), &roster)
                .err()
                .unwrap_or_else(|| panic!("{items} accepted"));
            assert_eq!(e.condition, condition, "{items}");
        }
    }

    #[test]
    fn a_list_serialises_as_it_was_set() {
        let xml = format!(
            "<list {NS} name='special'>\
             <item type='jid' value='juliet@example.com' action='allow' order='6'/>\
             <item type='subscription' value='both' action='deny' order='7'><message/><iq/></item>\
             <item action='deny' order='666'/></list>"
        );
        let l = list(&xml, &Roster::default()).unwrap();
        assert_eq!(
            xml::to_string(&list_element("special", Some(&l))),
            "<list xmlns='jabber:iq:privacy' name='special'>\
             <item action='allow' order='6' type='jid' value='juliet@example.com'/>\
             <item action='deny' order='7' type='subscription' value='both'><message/><iq/></item>\
             <item action='deny' order='666'/></list>"
        );
    }

    #[test]
    fn blocking_puts_deny_items_first_and_unblocking_removes_only_them() {
        let mut l = PrivacyList::new(vec![
            Item {
                matches: Match::Jid("a@b".into()),
                allow: false,
                order: 1,
                stanzas: Stanzas {
                    message: true,
                    ..Default::default()
                },
            },
            Item {
                matches: Match::FallThrough,
                allow: true,
                order: 5,
                stanzas: Stanzas::default(),
            },
        ])
        .unwrap();
        l.block(&["c@d".into(), "a@b".into()]);
        let orders: Vec<u32> = l.items().iter().map(|i| i.order).collect();
        assert_eq!(orders, vec![0, 1, 2, 3]);
        assert_eq!(l.blocked_jids().collect::<Vec<_>>(), vec!["a@b", "c@d"]);
        // Blocking again changes nothing; the message-only item stays.
        let before = l.clone();
        l.block(&["c@d".into()]);
        assert_eq!(l, before);
        l.unblock(Some(&["a@b".into()]));
        assert_eq!(l.blocked_jids().collect::<Vec<_>>(), vec!["c@d"]);
        l.unblock(None);
        assert_eq!(l.items().len(), 2);
        assert!(!l.items()[0].is_block());
    }

    #[test]
    fn the_block_list_lives_in_the_default_list() {
        let mut lists = PrivacyLists::default();
        lists
            .lists
            .insert("blocklist".into(), PrivacyList::default());
        lists.default_list_mut().block(&["x@y".into()]);
        assert_eq!(lists.default.as_deref(), Some("blocklist-2"));
        assert_eq!(lists.blocklist(), BTreeSet::from(["x@y".to_string()]));
        lists.default_list_mut().unblock(None);
        lists.drop_empty_default();
        assert_eq!(lists.default, None);
        assert!(lists.lists.contains_key("blocklist"));
        assert!(lists.blocklist().is_empty());
    }
}
