//! The agent's view: the last presence it received from each contact
//! resource, keyed by full JID.
//!
//! An open-addressing table with linear probing, kept at most three
//! quarters full, so a key is nearly always in its home slot or the next. Unlike a general hash map,
//! it can name that slot before the lookup ([`View::home`]): the world asks
//! memory for it a few events ahead of the arrival that reads it, so in a
//! large run the lookup finds its line in cache. Entries are never removed
//! (a contact that goes away is shown unavailable), only the whole view is
//! dropped with its session. Iteration order is the table's; whoever
//! iterates into an output sorts first.

use std::hash::Hasher;

use compact_str::CompactString;

use crate::trace::Shown;

/// A contact resource and what it shows, or `None` for a free slot.
type Slot = Option<(CompactString, Shown)>;

/// The view of one session: full JID of a contact resource to what the
/// session was last shown of it.
#[derive(Debug, Default)]
pub struct View {
    /// Empty or a power of two long.
    slots: Vec<Slot>,
    len: usize,
}

impl View {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Asks memory for the slot where a lookup of `key` starts.
    #[inline]
    pub fn prefetch(&self, key: &str) {
        if let Some(slot) = self.home(key) {
            crate::prefetch::prefetch_bytes(slot, std::mem::size_of::<Slot>());
        }
    }

    /// The slot where a lookup of `key` starts.
    fn home(&self, key: &str) -> Option<*const Slot> {
        let mask = self.slots.len().checked_sub(1)?;
        Some(&self.slots[hash(key) & mask])
    }

    pub fn get(&self, key: &str) -> Option<&Shown> {
        let i = self.find(key).ok()?;
        self.slots[i].as_ref().map(|(_, shown)| shown)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Shown> {
        let i = self.find(key).ok()?;
        self.slots[i].as_mut().map(|(_, shown)| shown)
    }

    /// Sets what `key` shows, adding it if it is new.
    pub fn insert(&mut self, key: &str, shown: Shown) {
        match self.find(key) {
            Ok(i) => self.slots[i].as_mut().expect("found").1 = shown,
            Err(_) if (self.len + 1) * 4 > self.slots.len() * 3 => {
                self.grow();
                self.insert(key, shown)
            }
            Err(i) => {
                self.slots[i] = Some((CompactString::from(key), shown));
                self.len += 1;
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Shown)> {
        self.slots
            .iter()
            .flatten()
            .map(|(key, shown)| (key.as_str(), shown))
    }

    pub fn into_entries(self) -> impl Iterator<Item = (CompactString, Shown)> {
        self.slots.into_iter().flatten()
    }

    /// The slot holding `key`, or the free slot where it would go.
    /// Terminates: the table is never full (at most three quarters).
    fn find(&self, key: &str) -> Result<usize, usize> {
        let Some(mask) = self.slots.len().checked_sub(1) else {
            return Err(0);
        };
        let mut i = hash(key) & mask;
        loop {
            match &self.slots[i] {
                Some((k, _)) if k == key => return Ok(i),
                Some(_) => i = (i + 1) & mask,
                None => return Err(i),
            }
        }
    }

    fn grow(&mut self) {
        let capacity = (self.slots.len() * 2).max(8);
        let old = std::mem::take(&mut self.slots);
        self.slots.resize_with(capacity, || None);
        for (key, shown) in old.into_iter().flatten() {
            let i = self.find(&key).expect_err("keys are distinct");
            self.slots[i] = Some((key, shown));
        }
    }
}

fn hash(key: &str) -> usize {
    let mut hasher = rustc_hash::FxHasher::default();
    hasher.write(key.as_bytes());
    hasher.finish() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(available: bool, status: &str) -> Shown {
        Shown {
            available,
            status: Some(status.into()),
            ..Shown::UNAVAILABLE
        }
    }

    /// Against a `BTreeMap` through growth: every key keeps its latest
    /// value, none is lost or duplicated, and lookups of absent keys fail.
    #[test]
    fn behaves_as_a_map_through_growth() {
        let mut view = View::default();
        let mut reference = std::collections::BTreeMap::new();
        assert!(view.home("a@x/r").is_none());
        assert_eq!(view.get("a@x/r"), None);
        for round in 0..3 {
            for n in 0..300 {
                let key = format!("user{n}@example/res{}", n % 3);
                let value = shown(n % 2 == round % 2, &format!("{round}"));
                view.insert(&key, value.clone());
                reference.insert(key, value);
            }
        }
        assert_eq!(view.len(), reference.len());
        assert!(view.slots.len() * 3 >= 4 * view.len());
        for (key, value) in &reference {
            assert_eq!(view.get(key), Some(value), "{key}");
        }
        assert_eq!(view.get("nobody@example/x"), None);
        let mut entries: Vec<_> = view
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(entries, reference.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn get_mut_changes_in_place() {
        let mut view = View::default();
        view.insert("a@x/r", shown(true, "here"));
        *view.get_mut("a@x/r").unwrap() = Shown::UNAVAILABLE;
        assert_eq!(view.get("a@x/r"), Some(&Shown::UNAVAILABLE));
        assert_eq!(view.get_mut("b@x/r"), None);
        assert_eq!(view.len(), 1);
    }

    /// The home slot is where the lookup starts: the slot of a key that
    /// did not collide.
    #[test]
    fn home_names_the_slot_a_lone_key_sits_in() {
        let mut view = View::default();
        view.insert("a@x/r", shown(true, "here"));
        let i = view.find("a@x/r").unwrap();
        let slot: *const Slot = &view.slots[i];
        assert_eq!(view.home("a@x/r"), Some(slot));
    }
}
