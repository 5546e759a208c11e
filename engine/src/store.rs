//! Durable state: what a server keeps in its database and what survives a
//! crash. Accounts with their password, roster (items, pending requests,
//! pre-approvals), privacy lists and offline messages.
//!
//! The in-memory [`Store`] is the default; a server crash drops the
//! [`Server`](crate::Server) value's sessions and keeps its store.

use crate::name::{Name, NameStr};
use rustc_hash::FxHashMap;

use crate::roster::Roster;
use crate::stanza::Stanza;

/// One account's durable data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Account {
    pub password: String,
    pub roster: Roster,
    /// Messages stored while no resource was available, with their delay stamp.
    pub offline: Vec<Stanza>,
    /// Privacy lists and the default list (RFC 3921 §10), which also hold
    /// the XEP-0191 block list (XEP-0191 §6). Changed only through
    /// [`Store::privacy_mut`].
    privacy: crate::privacy::PrivacyLists,
}

impl Account {
    pub fn privacy(&self) -> &crate::privacy::PrivacyLists {
        &self.privacy
    }
}

/// All durable data of one server, keyed by account localpart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Store {
    /// A hash map: looked up on every delivery; iterated only sorted.
    accounts: FxHashMap<Name, Account>,
    /// Some account has had privacy lists: until then, every delivery can
    /// skip the privacy checks without looking the recipient up.
    lists_seen: bool,
}

impl Store {
    pub fn account(&self, node: &str) -> Option<&Account> {
        self.accounts.get(NameStr::new(node))
    }

    pub fn account_mut(&mut self, node: &str) -> Option<&mut Account> {
        self.accounts.get_mut(NameStr::new(node))
    }

    /// The privacy lists of account `node`, to change them.
    pub fn privacy_mut(&mut self, node: &str) -> Option<&mut crate::privacy::PrivacyLists> {
        let account = self.accounts.get_mut(NameStr::new(node))?;
        self.lists_seen = true;
        Some(&mut account.privacy)
    }

    /// False while no account has ever had privacy lists.
    pub fn lists_seen(&self) -> bool {
        self.lists_seen
    }

    pub fn exists(&self, node: &str) -> bool {
        self.accounts.contains_key(NameStr::new(node))
    }

    /// Creates the account if missing and returns it.
    pub fn create(&mut self, node: &str, password: &str) -> &mut Account {
        self.accounts
            .entry(Name::from(node))
            .or_insert_with(|| Account {
                password: password.to_string(),
                ..Default::default()
            })
    }

    /// Every account, in localpart order.
    pub fn accounts(&self) -> impl Iterator<Item = (&str, &Account)> {
        let mut all: Vec<(&str, &Account)> =
            self.accounts.iter().map(|(k, v)| (k.as_str(), v)).collect();
        all.sort_unstable_by_key(|(k, _)| *k);
        all.into_iter()
    }
}
