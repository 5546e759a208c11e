//! A roster's items in the order of their JIDs (RFC 6121 §2.1.2 leaves
//! the order to the server; Prosody's is by JID, and so is every roster
//! result and every iteration here).
//!
//! Every presence routed to or from an account asks its roster about one
//! contact, so the search reads one array of the JIDs' text, kept inline
//! (up to 24 bytes), and follows no pointer until it has found the item.
//! A roster asked about is seldom in cache (a probe reaches the contact's
//! roster, which nothing has read for a while), so the search asks memory
//! for the whole array first: its lines then arrive together instead of
//! one after the other as the binary search goes.

use compact_str::CompactString;
use jid::BareJid;

use super::RosterItem;

/// The items of one roster, sorted by bare JID.
#[derive(Clone, Default, PartialEq)]
pub struct RosterItems {
    /// Each item's bare JID as text, sorted.
    keys: Vec<CompactString>,
    /// The items, in the order of `keys`.
    entries: Vec<(BareJid, RosterItem)>,
}

impl RosterItems {
    /// Where `jid` is, or where it would go.
    fn search(&self, jid: &BareJid) -> Result<usize, usize> {
        self.search_text(jid.as_str())
    }

    /// Where the bare JID written `jid` is, or where it would go.
    fn search_text(&self, jid: &str) -> Result<usize, usize> {
        self.prefetch();
        self.keys
            .binary_search_by(|key| crate::bytes::cmp(key.as_bytes(), jid.as_bytes()))
    }

    /// Asks memory for the array a search reads. Changes nothing.
    pub fn prefetch(&self) {
        crate::prefetch::prefetch_bytes(self.keys.as_ptr(), std::mem::size_of_val(&self.keys[..]));
    }

    pub fn get(&self, jid: &BareJid) -> Option<&RosterItem> {
        self.get_text(jid.as_str())
    }

    /// The item of the bare JID written `jid`.
    pub fn get_text(&self, jid: &str) -> Option<&RosterItem> {
        let at = self.search_text(jid).ok()?;
        Some(&self.entries[at].1)
    }

    pub fn get_mut(&mut self, jid: &BareJid) -> Option<&mut RosterItem> {
        let at = self.search(jid).ok()?;
        Some(&mut self.entries[at].1)
    }

    pub fn contains_key(&self, jid: &BareJid) -> bool {
        self.search(jid).is_ok()
    }

    /// Sets the item of `jid`, returning the one it replaces.
    pub fn insert(&mut self, jid: BareJid, item: RosterItem) -> Option<RosterItem> {
        match self.search(&jid) {
            Ok(at) => Some(std::mem::replace(&mut self.entries[at].1, item)),
            Err(at) => {
                self.keys.insert(at, CompactString::from(jid.as_str()));
                self.entries.insert(at, (jid, item));
                None
            }
        }
    }

    /// The item of `jid`, made with no subscription if there is none.
    pub fn get_or_insert_default(&mut self, jid: &BareJid) -> &mut RosterItem {
        let at = match self.search(jid) {
            Ok(at) => at,
            Err(at) => {
                self.keys.insert(at, CompactString::from(jid.as_str()));
                self.entries
                    .insert(at, (jid.clone(), RosterItem::default()));
                at
            }
        };
        &mut self.entries[at].1
    }

    pub fn remove(&mut self, jid: &BareJid) -> Option<RosterItem> {
        let at = self.search(jid).ok()?;
        self.keys.remove(at);
        Some(self.entries.remove(at).1)
    }

    /// The items in JID order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&BareJid, &RosterItem)> + Clone {
        self.entries.iter().map(|(jid, item)| (jid, item))
    }

    /// The items without their JIDs, in JID order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &RosterItem> + Clone {
        self.entries.iter().map(|(_, item)| item)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<'a> IntoIterator for &'a RosterItems {
    type Item = (&'a BareJid, &'a RosterItem);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (BareJid, RosterItem)>,
        fn(&'a (BareJid, RosterItem)) -> (&'a BareJid, &'a RosterItem),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(jid, item)| (jid, item))
    }
}

impl std::fmt::Debug for RosterItems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl FromIterator<(BareJid, RosterItem)> for RosterItems {
    /// The items sorted once, in vectors of the length they need (a
    /// server's rosters are built this way at start-up). Of two items of
    /// one JID the later wins, as with [`RosterItems::insert`].
    fn from_iter<I: IntoIterator<Item = (BareJid, RosterItem)>>(iter: I) -> Self {
        let mut entries: Vec<(BareJid, RosterItem)> = iter.into_iter().collect();
        // Reversed, the stable sort puts the latest item of a JID first
        // among its equals, and `dedup_by` keeps the first.
        entries.reverse();
        entries.sort_by(|(a, _), (b, _)| a.as_str().cmp(b.as_str()));
        entries.dedup_by(|(later, _), (kept, _)| later == kept);
        entries.shrink_to_fit();
        let keys = entries
            .iter()
            .map(|(jid, _)| CompactString::from(jid.as_str()))
            .collect();
        RosterItems { keys, entries }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::roster::Subscription;

    fn jid(text: &str) -> BareJid {
        BareJid::new(text).unwrap()
    }

    fn item(subscription: Subscription) -> RosterItem {
        RosterItem::new(subscription)
    }

    /// Inserts, replacements and removals in a scrambled order leave the
    /// same items, in the same order, as an ordered map given the same
    /// operations; JIDs longer than the inline 24 bytes included.
    #[test]
    fn behaves_as_an_ordered_map() {
        let names: Vec<String> = (0..60)
            .map(|i| {
                let n = (i * 37) % 60;
                if n % 7 == 0 {
                    format!("a-rather-long-localpart-{n}@example.org")
                } else {
                    format!("u{n}@example.org")
                }
            })
            .collect();
        let subs = [
            Subscription::None,
            Subscription::To,
            Subscription::From,
            Subscription::Both,
        ];
        let (mut ours, mut reference) = (RosterItems::default(), BTreeMap::new());
        for (i, name) in names.iter().enumerate() {
            let (j, it) = (jid(name), item(subs[i % 4]));
            assert_eq!(ours.insert(j.clone(), it.clone()), reference.insert(j, it));
        }
        for (i, name) in names.iter().enumerate().step_by(3) {
            let (j, it) = (jid(name), item(subs[(i + 1) % 4]));
            assert_eq!(ours.insert(j.clone(), it.clone()), reference.insert(j, it));
        }
        for name in names.iter().skip(1).step_by(5) {
            assert_eq!(ours.remove(&jid(name)), reference.remove(&jid(name)));
            assert_eq!(ours.remove(&jid(name)), None);
        }
        for name in &names {
            let j = jid(name);
            assert_eq!(ours.get(&j), reference.get(&j), "{name}");
            assert_eq!(ours.get_text(name), reference.get(&j), "{name}");
            assert_eq!(ours.contains_key(&j), reference.contains_key(&j));
        }
        assert_eq!(ours.len(), reference.len());
        assert!(ours.iter().eq(reference.iter()));
        assert!(ours.iter().rev().eq(reference.iter().rev()));
    }

    /// Collected items are the ones inserts would leave, the later of two
    /// items of one JID winning, in vectors of just their length.
    #[test]
    fn collected_items_are_the_inserted_ones() {
        let subs = [
            Subscription::None,
            Subscription::To,
            Subscription::From,
            Subscription::Both,
        ];
        let pairs: Vec<(BareJid, RosterItem)> = (0..50)
            .map(|i| {
                (
                    jid(&format!("u{}@example.org", (i * 7) % 23)),
                    item(subs[i % 4]),
                )
            })
            .collect();
        let mut inserted = RosterItems::default();
        for (j, it) in pairs.clone() {
            inserted.insert(j, it);
        }
        let collected: RosterItems = pairs.into_iter().collect();
        assert!(collected == inserted);
        assert_eq!(collected.len(), 23);
        assert_eq!(collected.entries.capacity(), 23);
        assert_eq!(collected.keys.capacity(), 23);
    }

    #[test]
    fn get_or_insert_default_makes_one_item() {
        let mut items = RosterItems::default();
        let romeo = jid("romeo@example.net");
        assert!(items.is_empty());
        items.get_or_insert_default(&romeo).ask = true;
        items.get_or_insert_default(&romeo).subscription = Subscription::To;
        assert_eq!(items.len(), 1);
        let got = items.get(&romeo).unwrap();
        assert!(got.ask);
        assert_eq!(got.subscription, Subscription::To);
        items.get_mut(&romeo).unwrap().ask = false;
        assert!(!items.get(&romeo).unwrap().ask);
        assert_eq!(items.get(&jid("juliet@example.com")), None);
    }
}
