//! Names (an account's localpart, a sender's address) as hash map keys.
//!
//! A lookup in a map keyed by `CompactString` confirms its hit by comparing
//! the key with `==`, a call to `memcmp`; a delivery makes a few such
//! lookups (the account, its online resources, what a session holds of
//! the sender). [`Name`] is the same text compared with
//! [`crate::bytes::eq`], inline, and hashed as the text itself, so a map
//! keyed by it is looked up by the borrowed [`NameStr`] of any `&str`.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

use compact_str::CompactString;

/// A name as a map key.
#[derive(Clone, Debug, PartialOrd, Ord)]
pub struct Name(CompactString);

/// A borrowed name: what a map keyed by [`Name`] is looked up by.
#[derive(Debug)]
#[repr(transparent)]
pub struct NameStr(str);

impl Name {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl NameStr {
    /// `text` as a key to look up.
    pub fn new(text: &str) -> &NameStr {
        // SAFETY: `NameStr` is `repr(transparent)` over `str`, so the two
        // references have the same layout and validity.
        unsafe { &*(text as *const str as *const NameStr) }
    }
}

impl From<&str> for Name {
    fn from(text: &str) -> Name {
        Name(CompactString::from(text))
    }
}

impl std::ops::Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<NameStr> for Name {
    fn borrow(&self) -> &NameStr {
        NameStr::new(&self.0)
    }
}

impl PartialEq for Name {
    #[inline]
    fn eq(&self, other: &Name) -> bool {
        crate::bytes::eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for Name {}

impl PartialEq for NameStr {
    #[inline]
    fn eq(&self, other: &NameStr) -> bool {
        crate::bytes::eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for NameStr {}

/// `Name` and `NameStr` hash as their text does, so that a name and its
/// borrowed form hash alike (the contract of `Borrow`).
impl Hash for Name {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.as_str().hash(state)
    }
}

impl Hash for NameStr {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustc_hash::FxHashMap;

    /// A map keyed by names finds each by its text, and nothing else.
    #[test]
    fn looked_up_by_text() {
        let mut map: FxHashMap<Name, u32> = FxHashMap::default();
        let names = [
            "a",
            "b2151",
            "b2151@b.example/sim",
            "",
            "a-much-longer-localpart-than-most",
        ];
        for (i, name) in names.iter().enumerate() {
            map.insert(Name::from(*name), i as u32);
        }
        for (i, name) in names.iter().enumerate() {
            assert_eq!(map.get(NameStr::new(name)), Some(&(i as u32)));
        }
        assert_eq!(map.get(NameStr::new("b2152")), None);
        assert_eq!(map.get(NameStr::new("b215")), None);
        assert_eq!(Name::from("x").as_str(), "x");
    }
}
