//! Byte scans for the characters that XML attribute values and JSON
//! strings escape.
//!
//! Every copy of a stanza written out has its `from` and `to` addresses
//! checked (can they go into an attribute as they are? into a JSON string
//! as they are?), and every name in a trace record is checked for JSON.
//! Addresses are short, so a loop over their bytes cost more than the
//! copying around it. These scans look at sixteen bytes at a time with
//! SSE2 on x86_64, and otherwise eight at a time, as one 64-bit word, with
//! the usual bit tricks; a block that holds none of the characters (nearly
//! all of them) costs a dozen or two instructions.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Bytes a padded short word is filled with: a letter, in no set below.
const FILLER: u8 = b'a';

/// The high bit of each byte of `word` that is zero, and perhaps of some
/// bytes above such a byte: nonzero exactly when a byte is zero.
#[inline(always)]
fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(ONES) & !word & HIGHS
}

/// Nonzero exactly when a byte of `word` equals `byte`.
#[inline(always)]
fn has_byte(word: u64, byte: u8) -> bool {
    zero_bytes(word ^ (ONES * u64::from(byte))) != 0
}

/// Nonzero exactly when a byte of `word` is a control character (below
/// U+0020). Bytes of 0x80 and above are never below: `!word` clears them.
#[inline(always)]
fn has_control(word: u64) -> bool {
    word.wrapping_sub(ONES * 0x20) & !word & HIGHS != 0
}

/// A byte JSON escapes: `"`, `\\` or a control character.
#[inline(always)]
fn has_json_special(word: u64) -> bool {
    has_control(word) | has_byte(word, b'"') | has_byte(word, b'\\')
}

/// A byte XML escapes in an attribute value written between single
/// quotes (`&`, `<`, `>`, `'`, `"`), a control character, or `\\`.
/// `&` (0x26) and `'` (0x27) differ only in the lowest bit, and `<`
/// (0x3C) and `>` (0x3E) in the second, so each pair is one comparison.
#[inline(always)]
fn has_special(word: u64) -> bool {
    has_json_special(word) | has_byte(word | ONES, b'\'') | has_byte(word | (ONES * 2), b'>')
}

/// Whether text may need more than copying into XML: it holds a byte
/// that XML escapes or cannot hold (a control character, `&`, `<`, `>`,
/// `'`, `"`), or a `\\` or a 0xEF (the first byte of U+FFFE and U+FFFF,
/// which XML cannot hold, and of other characters from U+F000 up). False
/// means the text goes into an element or attribute as it is.
pub fn maybe_markup(bytes: &[u8]) -> bool {
    !bytes.is_empty() && any_in(bytes, Set::Markup)
}

/// The sets of bytes the scans look for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Set {
    /// What JSON escapes: see [`has_json_special`].
    Json,
    /// What JSON or an XML attribute escapes: see [`has_special`].
    Special,
    /// [`Set::Special`] and 0xEF: see [`maybe_markup`].
    Markup,
}

impl Set {
    #[inline(always)]
    fn in_word(self, word: u64) -> bool {
        match self {
            Set::Json => has_json_special(word),
            Set::Special => has_special(word),
            Set::Markup => has_special(word) | has_byte(word, 0xEF),
        }
    }

    /// The same test on sixteen bytes at once, with the SSE2 instructions
    /// every x86_64 processor has.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn in_block(self, block: &[u8; 16]) -> bool {
        self.block_mask(block) != 0
    }

    /// Bit `i` set when byte `i` of `block` is in the set: the test of
    /// [`Set::in_block`] that also says where.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    #[allow(unused_unsafe)] // the intrinsics are safe functions from Rust 1.87 on
    fn block_mask(self, block: &[u8; 16]) -> u32 {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of x86_64; the load reads the sixteen bytes
        // of `block` and nothing else (unaligned loads are allowed).
        unsafe {
            let v = _mm_loadu_si128(block.as_ptr().cast());
            let is = |byte: u8| _mm_set1_epi8(byte as i8);
            // Unsigned `v <= 0x1F`: the minimum of the two is `v` itself.
            let control = _mm_cmpeq_epi8(_mm_min_epu8(v, is(0x1F)), v);
            let mut found = _mm_or_si128(
                control,
                _mm_or_si128(_mm_cmpeq_epi8(v, is(b'"')), _mm_cmpeq_epi8(v, is(b'\\'))),
            );
            if self != Set::Json {
                let amp_or_apos = _mm_cmpeq_epi8(_mm_or_si128(v, is(1)), is(b'\''));
                let angle = _mm_cmpeq_epi8(_mm_or_si128(v, is(2)), is(b'>'));
                found = _mm_or_si128(found, _mm_or_si128(amp_or_apos, angle));
            }
            if self == Set::Markup {
                found = _mm_or_si128(found, _mm_cmpeq_epi8(v, is(0xEF)));
            }
            _mm_movemask_epi8(found) as u32
        }
    }
}

/// Whether any byte of `bytes` is in `set`: sixteen bytes at a time where
/// there are sixteen and the processor has SSE2, else a word at a time.
#[inline(always)]
fn any_in(bytes: &[u8], set: Set) -> bool {
    #[cfg(target_arch = "x86_64")]
    if bytes.len() >= 16 {
        return any_block(bytes, set);
    }
    any_word(bytes, |word| set.in_word(word))
}

/// Calls [`Set::in_block`] on the bytes sixteen at a time, the last block
/// overlapping the one before it. At least sixteen bytes.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn any_block(bytes: &[u8], set: Set) -> bool {
    let block = |at: usize| -> &[u8; 16] { bytes[at..at + 16].try_into().expect("sixteen") };
    let mut any = false;
    let mut at = 0;
    while at + 16 < bytes.len() {
        any |= set.in_block(block(at));
        at += 16;
    }
    any | set.in_block(block(bytes.len() - 16))
}

/// Calls `test` on the bytes as 64-bit words, the last one overlapping the
/// one before it (or padded with [`FILLER`] when there are fewer than
/// eight bytes), and says whether it held for any.
#[inline(always)]
fn any_word(bytes: &[u8], test: impl Fn(u64) -> bool) -> bool {
    let word = |at: usize| {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(eight)
    };
    if bytes.len() < 8 {
        let mut eight = [FILLER; 8];
        eight[..bytes.len()].copy_from_slice(bytes);
        return test(u64::from_le_bytes(eight));
    }
    let mut any = false;
    let mut at = 0;
    while at + 8 < bytes.len() {
        any |= test(word(at));
        at += 8;
    }
    any | test(word(bytes.len() - 8))
}

/// Whether a JSON string escapes any of these bytes (`"`, `\\`, control
/// characters). Long texts (the XML of a stanza) are read 32 bytes at a
/// time by a loop the compiler turns into vector instructions; the rest,
/// and short texts, as `any_in` reads them.
pub fn json_escapes(bytes: &[u8]) -> bool {
    let escaped = |b: u8| b < b' ' || b == b'"' || b == b'\\';
    let blocks = bytes.chunks_exact(32);
    let tail = blocks.remainder();
    for block in blocks {
        if block.iter().fold(false, |any, &b| any | escaped(b)) {
            return true;
        }
    }
    !tail.is_empty() && any_in(tail, Set::Json)
}

/// Where the first byte a JSON string escapes (`"`, `\\` or a control
/// character) is in `bytes`, if anywhere: the end of a string that has no
/// escapes in it is where this finds its closing quote. Sixteen bytes at a
/// time with SSE2 on x86_64.
pub fn json_stop(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    #[cfg(target_arch = "x86_64")]
    while at + 16 <= bytes.len() {
        let block: &[u8; 16] = bytes[at..at + 16].try_into().expect("sixteen");
        let mask = Set::Json.block_mask(block);
        if mask != 0 {
            return Some(at + mask.trailing_zeros() as usize);
        }
        at += 16;
    }
    let stops = |b: &u8| *b < b' ' || *b == b'"' || *b == b'\\';
    bytes[at..].iter().position(stops).map(|i| at + i)
}

/// What writing a text into an attribute value and into a JSON string
/// escapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Escapes {
    /// Something XML escapes in an attribute value between single quotes:
    /// `&`, `<`, `>`, `'`, `"` or a control character.
    pub attribute: bool,
    /// Something JSON escapes: `"`, `\\` or a control character.
    pub json: bool,
}

impl Escapes {
    pub const NONE: Escapes = Escapes {
        attribute: false,
        json: false,
    };
}

/// What a short text (an address) has that an attribute value or a JSON
/// string escapes: one pass of words for the usual text with none, a
/// byte-by-byte look at a text with some.
pub fn escapes(text: &str) -> Escapes {
    let bytes = text.as_bytes();
    if bytes.is_empty() || !any_in(bytes, Set::Special) {
        return Escapes::NONE;
    }
    let control = |b: u8| b < b' ';
    Escapes {
        attribute: bytes
            .iter()
            .any(|&b| matches!(b, b'&' | b'<' | b'>' | b'\'' | b'"') || control(b)),
        json: bytes.iter().any(|&b| b == b'"' || b == b'\\' || control(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attribute_escapes(bytes: &[u8]) -> bool {
        bytes
            .iter()
            .any(|&b| matches!(b, b'&' | b'<' | b'>' | b'\'' | b'"') || b < b' ')
    }

    fn json_escapes_bytewise(bytes: &[u8]) -> bool {
        bytes.iter().any(|&b| b == b'"' || b == b'\\' || b < b' ')
    }

    /// Every byte value, alone and at every position of texts of every
    /// length up to 40 (so each word and the overlapping last one, and the
    /// 32-byte blocks), amid plain letters and amid bytes of 0x80 and
    /// above: the scans answer as a byte-by-byte look does.
    #[test]
    fn every_byte_at_every_position_agrees_with_a_bytewise_look() {
        for background in [b'x', 0xC3] {
            for len in 0..=40 {
                for at in 0..len.max(1) {
                    for byte in 0..=255u8 {
                        let mut text = vec![background; len];
                        if len > 0 {
                            text[at] = byte;
                        }
                        assert_eq!(
                            json_escapes(&text),
                            json_escapes_bytewise(&text),
                            "json, byte {byte:#x} at {at} of {len}"
                        );
                        assert_eq!(
                            json_stop(&text),
                            text.iter().position(|&b| json_escapes_bytewise(&[b])),
                            "json stop, byte {byte:#x} at {at} of {len}"
                        );
                        assert_eq!(
                            any_word(&text, has_special),
                            attribute_escapes(&text) || json_escapes_bytewise(&text),
                            "special word, byte {byte:#x} at {at} of {len}"
                        );
                        assert_eq!(
                            !text.is_empty() && any_in(&text, Set::Special),
                            attribute_escapes(&text) || json_escapes_bytewise(&text),
                            "special, byte {byte:#x} at {at} of {len}"
                        );
                    }
                }
            }
        }
    }

    /// Text that is not [`maybe_markup`] has no byte XML escapes or
    /// cannot hold.
    #[test]
    fn maybe_markup_flags_every_byte_xml_treats_specially() {
        for len in 0..=20 {
            for at in 0..len {
                for byte in 0..=255u8 {
                    let mut text = vec![b'x'; len];
                    text[at] = byte;
                    let special = byte < b' '
                        || matches!(byte, b'&' | b'<' | b'>' | b'\'' | b'"' | b'\\' | 0xEF);
                    assert_eq!(
                        maybe_markup(&text),
                        special,
                        "byte {byte:#x} at {at} of {len}"
                    );
                }
            }
        }
        assert!(!maybe_markup(b""));
        assert!(!maybe_markup("caf\u{e9} \u{4e2d}\u{6587}".as_bytes()));
        assert!(maybe_markup("\u{fffe}".as_bytes()));
    }

    #[test]
    fn escapes_tells_attribute_from_json() {
        assert_eq!(escapes("juliet@example.com/balcony"), Escapes::NONE);
        assert_eq!(escapes(""), Escapes::NONE);
        let only_attribute = Escapes {
            attribute: true,
            json: false,
        };
        assert_eq!(escapes("juliet@example.com/it's"), only_attribute);
        assert_eq!(escapes("a@b/<"), only_attribute);
        assert_eq!(escapes("a@b/&amp"), only_attribute);
        assert_eq!(escapes("a@b/>"), only_attribute);
        assert_eq!(
            escapes("a@b/back\\slash"),
            Escapes {
                attribute: false,
                json: true
            }
        );
        let both = Escapes {
            attribute: true,
            json: true,
        };
        assert_eq!(escapes("a@b/\"quoted\""), both);
        assert_eq!(escapes("a@b/tab\there"), both);
        assert_eq!(escapes("a@b/caf\u{e9}"), Escapes::NONE);
    }
}
