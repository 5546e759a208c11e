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
//!
//! A slot holds what it shows packed ([`Seen`]): show and status in one
//! inline text, the rest in flags. A slot is 56 bytes instead of the 96 of
//! a key beside a [`Shown`]; a large run holds one view per client, and
//! every presence a client receives reads one slot of it.

use std::hash::Hasher;

use compact_str::CompactString;
use presim_engine::psa::Annotation;

use crate::trace::Shown;

/// A contact resource and what it shows, or `None` for a free slot.
type Slot = Option<(CompactString, Seen)>;

/// A [`Shown`], packed. Every `Shown` has exactly one `Seen`, so two are
/// equal exactly when the presences they pack are.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// The show's text followed by the status's, the show's length, and
    /// [`AVAILABLE`], [`SHOW`], [`STATUS`] and the annotation's code
    /// (shifted by [`ANNOTATION_SHIFT`]).
    Packed {
        text: CompactString,
        show_len: u32,
        flags: u8,
    },
    /// One that does not pack: an annotation other than XEP-0310's two,
    /// or a show longer than a `u32` counts.
    Unpacked(Box<Shown>),
}

const AVAILABLE: u8 = 1;
const SHOW: u8 = 2;
const STATUS: u8 = 4;
const ANNOTATION_SHIFT: u32 = 3;
/// The annotations a packed presence can carry, by code less one.
const ANNOTATIONS: [Annotation; 2] = [Annotation::ServerUnavailable, Annotation::ConnectionPaused];

impl Seen {
    fn pack(shown: &Shown) -> Seen {
        let code = match shown.annotation {
            None => Some(0),
            Some(name) => (1..)
                .zip(ANNOTATIONS)
                .find(|(_, a)| a.as_str() == name)
                .map(|(code, _)| code),
        };
        let show = shown.show.as_deref().unwrap_or("");
        match (code, u32::try_from(show.len())) {
            (Some(code), Ok(show_len)) => {
                let text = match (&shown.show, &shown.status) {
                    (Some(show), Some(status)) => {
                        let mut text = show.clone();
                        text.push_str(status);
                        text
                    }
                    (Some(one), None) | (None, Some(one)) => one.clone(),
                    (None, None) => CompactString::const_new(""),
                };
                let flag = |on: bool, bit: u8| if on { bit } else { 0 };
                Seen::Packed {
                    text,
                    show_len,
                    flags: flag(shown.available, AVAILABLE)
                        | flag(shown.show.is_some(), SHOW)
                        | flag(shown.status.is_some(), STATUS)
                        | code << ANNOTATION_SHIFT,
                }
            }
            _ => Seen::Unpacked(Box::new(shown.clone())),
        }
    }

    /// What it holds, read in place: availability, show, status and
    /// annotation.
    fn parts(&self) -> Parts<'_> {
        match self {
            Seen::Packed {
                text,
                show_len,
                flags,
            } => {
                let (show, status) = text.split_at(*show_len as usize);
                let part = |bit: u8, part| (flags & bit != 0).then_some(part);
                let code = usize::from(flags >> ANNOTATION_SHIFT);
                (
                    flags & AVAILABLE != 0,
                    part(SHOW, show),
                    part(STATUS, status),
                    code.checked_sub(1).map(|i| ANNOTATIONS[i].as_str()),
                )
            }
            Seen::Unpacked(shown) => parts_of(shown),
        }
    }

    /// The presence back (the agent itself never needs it: it compares in
    /// place with [`Seen::holds`] and reports the presence it was given).
    #[cfg(test)]
    fn unpack(&self) -> Shown {
        let (available, show, status, annotation) = self.parts();
        Shown {
            available,
            show: show.map(CompactString::from),
            status: status.map(CompactString::from),
            annotation,
        }
    }

    /// Whether this packs `shown`.
    fn holds(&self, shown: &Shown) -> bool {
        self.parts() == parts_of(shown)
    }

    fn available(&self) -> bool {
        self.parts().0
    }
}

/// A presence's availability, show, status and annotation, borrowed.
type Parts<'a> = (bool, Option<&'a str>, Option<&'a str>, Option<&'static str>);

fn parts_of(shown: &Shown) -> Parts<'_> {
    (
        shown.available,
        shown.show.as_deref(),
        shown.status.as_deref(),
        shown.annotation,
    )
}

/// The view of one session: full JID of a contact resource to what the
/// session was last shown of it.
#[derive(Debug, Default)]
pub struct View {
    /// Empty or a power of two long.
    slots: Vec<Slot>,
    len: usize,
}

impl View {
    /// The most resources [`View::with_capacity`] makes room for (64
    /// slots, 3.5 KB): a roster of thousands, few of them online, would
    /// otherwise hold a large empty table for each of its sessions.
    pub const MOST_MADE_ROOM_FOR: usize = 48;

    /// An empty view with room for `contacts` resources before it grows,
    /// or for [`View::MOST_MADE_ROOM_FOR`] if that is fewer.
    pub fn with_capacity(contacts: usize) -> View {
        let contacts = contacts.min(Self::MOST_MADE_ROOM_FOR);
        if contacts == 0 {
            return View::default();
        }
        // The smallest power of two at most three quarters full with them.
        let slots = (contacts * 4).div_ceil(3).next_power_of_two();
        View {
            slots: std::iter::repeat_with(|| None).take(slots).collect(),
            len: 0,
        }
    }

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

    /// What `key` shows, if the view has it.
    #[cfg(test)]
    pub fn get(&self, key: &str) -> Option<Shown> {
        let i = self.find(key).ok()?;
        self.slots[i].as_ref().map(|(_, seen)| seen.unpack())
    }

    /// Sets what `key` shows, adding it if it is new. False if it showed
    /// just that already.
    pub fn set(&mut self, key: &str, shown: &Shown) -> bool {
        match self.find(key) {
            Ok(i) => {
                let held = &mut self.slots[i].as_mut().expect("found").1;
                if held.holds(shown) {
                    return false;
                }
                *held = Seen::pack(shown);
            }
            Err(_) if (self.len + 1) * 4 > self.slots.len() * 3 => {
                self.grow();
                return self.set(key, shown);
            }
            Err(i) => {
                self.slots[i] = Some((CompactString::from(key), Seen::pack(shown)));
                self.len += 1;
            }
        }
        true
    }

    /// The contact resources shown available.
    pub fn available(&self) -> impl Iterator<Item = &str> {
        self.slots
            .iter()
            .flatten()
            .filter(|(_, seen)| seen.available())
            .map(|(key, _)| key.as_str())
    }

    /// Every contact resource and what it shows.
    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = (&str, Shown)> {
        self.slots
            .iter()
            .flatten()
            .map(|(key, seen)| (key.as_str(), seen.unpack()))
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
                Some((k, _)) if presim_engine::bytes::eq(k.as_bytes(), key.as_bytes()) => {
                    return Ok(i)
                }
                Some(_) => i = (i + 1) & mask,
                None => return Err(i),
            }
        }
    }

    fn grow(&mut self) {
        let capacity = (self.slots.len() * 2).max(8);
        let old = std::mem::take(&mut self.slots);
        self.slots.resize_with(capacity, || None);
        for (key, seen) in old.into_iter().flatten() {
            let i = self.find(&key).expect_err("keys are distinct");
            self.slots[i] = Some((key, seen));
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

    /// A view made with room for n resources takes n without growing,
    /// then grows as any view does, and holds what it is given.
    #[test]
    fn with_capacity_takes_that_many_without_growing() {
        assert!(View::with_capacity(0).slots.is_empty());
        for n in [1, 2, 3, 6, 7, 20, 24, 25, 48] {
            let mut view = View::with_capacity(n);
            let slots = view.slots.len();
            assert!(
                slots.is_power_of_two() && n * 4 <= slots * 3,
                "{n}: {slots}"
            );
            assert!(n * 4 > slots / 2 * 3, "{n}: {slots} is larger than needed");
            for i in 0..n {
                assert!(view.set(&format!("c{i}@x/r"), &shown(true, "")));
            }
            assert_eq!(view.slots.len(), slots, "{n} resources made it grow");
            view.set("one@more/r", &shown(true, ""));
            assert_eq!(view.len(), n + 1);
            assert_eq!(view.get("c0@x/r"), Some(shown(true, "")));
        }
        assert_eq!(View::with_capacity(20).slots.len(), 32);
        assert_eq!(View::with_capacity(10_000).slots.len(), 64);
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
                view.set(&key, &value);
                reference.insert(key, value);
            }
        }
        assert_eq!(view.len(), reference.len());
        assert!(view.slots.len() * 3 >= 4 * view.len());
        for (key, value) in &reference {
            assert_eq!(view.get(key).as_ref(), Some(value), "{key}");
        }
        assert_eq!(view.get("nobody@example/x"), None);
        let mut entries: Vec<_> = view.iter().map(|(k, v)| (k.to_string(), v)).collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut available: Vec<_> = view.available().collect();
        available.sort_unstable();
        let expected: Vec<_> = reference
            .iter()
            .filter(|(_, v)| v.available)
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(available, expected);
        assert_eq!(entries, reference.into_iter().collect::<Vec<_>>());
    }

    /// `set` says whether the view changed: a new key or a different
    /// presence, not the same one again.
    #[test]
    fn set_tells_a_change() {
        let mut view = View::default();
        assert!(view.set("a@x/r", &shown(true, "here")));
        assert!(!view.set("a@x/r", &shown(true, "here")));
        assert!(view.set("a@x/r", &Shown::UNAVAILABLE));
        assert!(!view.set("a@x/r", &Shown::UNAVAILABLE));
        assert_eq!(view.get("a@x/r"), Some(Shown::UNAVAILABLE));
        assert_eq!(view.len(), 1);
    }

    /// Every presence comes back from its packed form as it was, and two
    /// packed forms are equal exactly when their presences are: absent
    /// and empty show and status told apart, texts inline and longer, each
    /// annotation, and one no packed form carries.
    #[test]
    fn packing_keeps_every_presence_and_its_equality() {
        let texts = [
            None,
            Some(""),
            Some("away"),
            Some("a status long enough to leave the inline 24 bytes é"),
        ];
        let annotations = [
            None,
            Some("server-unavailable"),
            Some("connection-paused"),
            Some("other"),
        ];
        let mut all = Vec::new();
        for available in [false, true] {
            for show in texts {
                for status in texts {
                    for annotation in annotations {
                        all.push(Shown {
                            available,
                            show: show.map(CompactString::from),
                            status: status.map(CompactString::from),
                            annotation,
                        });
                    }
                }
            }
        }
        // Show and status that concatenate to the same text.
        for (show, status) in [("ab", "c"), ("a", "bc")] {
            all.push(Shown {
                available: true,
                show: Some(show.into()),
                status: Some(status.into()),
                annotation: None,
            });
        }
        for a in &all {
            let packed = Seen::pack(a);
            assert_eq!(&packed.unpack(), a);
            assert_eq!(packed.available(), a.available);
            for b in &all {
                assert_eq!(packed.holds(b), a == b, "{a:?} holds {b:?}");
            }
            assert_eq!(
                matches!(packed, Seen::Unpacked(_)),
                a.annotation == Some("other")
            );
            for b in &all {
                assert_eq!(packed == Seen::pack(b), a == b, "{a:?} {b:?}");
            }
        }
    }

    /// A slot is the key and 32 bytes of packed presence.
    #[test]
    fn a_slot_is_56_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 56);
    }

    /// The home slot is where the lookup starts: the slot of a key that
    /// did not collide.
    #[test]
    fn home_names_the_slot_a_lone_key_sits_in() {
        let mut view = View::default();
        view.set("a@x/r", &shown(true, "here"));
        let i = view.find("a@x/r").unwrap();
        let slot: *const Slot = &view.slots[i];
        assert_eq!(view.home("a@x/r"), Some(slot));
    }
}
