//! Short byte strings copied, compared and ordered inline, without a call
//! to `memcpy` or `memcmp`.
//!
//! Writing a stanza copy or a trace record appends a dozen pieces of a few
//! to a few dozen bytes each (addresses, names, numbers, the parts of a
//! serialized payload around its addresses), and routing a stanza compares
//! a few names of about as many bytes (an account's localpart, a contact's
//! address). `Vec::extend_from_slice` and `==` on slices call `memcpy`
//! and `memcmp` for each piece whose length the compiler does not know;
//! for pieces this short the call, and its choice among ways to copy by
//! size, cost more than the work. The functions here handle up to 64
//! bytes (appending) or 32 (comparing) as two possibly overlapping moves
//! or loads of a fixed size (the first and the last bytes), the way those
//! functions treat a short buffer, but inline; longer ones go to the
//! library.

/// Appends `bytes` to `buf`: the same result as `buf.extend_from_slice`.
#[inline(always)]
pub fn append(buf: &mut Vec<u8>, bytes: &[u8]) {
    let n = bytes.len();
    if n > 64 {
        buf.extend_from_slice(bytes);
        return;
    }
    buf.reserve(n);
    let len = buf.len();
    let src = bytes.as_ptr();
    // SAFETY: `reserve` made room for `n` bytes after `len`; each move
    // below reads within `bytes` (its offsets and size are at most `n`)
    // and writes within those `n` bytes, and together the moves write all
    // of them, so `len + n` bytes are initialized when the length is set.
    // `bytes` cannot overlap the spare capacity of `buf`, which nothing
    // else can borrow.
    unsafe {
        let dst = buf.as_mut_ptr().add(len);
        if n > 32 {
            copy_ends::<32>(src, dst, n);
        } else if n >= 16 {
            copy_ends::<16>(src, dst, n);
        } else if n >= 8 {
            copy_ends::<8>(src, dst, n);
        } else if n >= 4 {
            copy_ends::<4>(src, dst, n);
        } else if n > 0 {
            // 1 to 3 bytes: the first, the middle and the last (some the same).
            *dst = *src;
            *dst.add(n / 2) = *src.add(n / 2);
            *dst.add(n - 1) = *src.add(n - 1);
        }
        buf.set_len(len + n);
    }
}

/// Copies `n` bytes, `W <= n <= 2 * W`, as the first `W` and the last `W`.
///
/// # Safety
///
/// `src` is valid for reads of `n` bytes and `dst` for writes of `n`
/// bytes, and the two do not overlap.
#[inline(always)]
unsafe fn copy_ends<const W: usize>(src: *const u8, dst: *mut u8, n: usize) {
    debug_assert!(W <= n && n <= 2 * W);
    // SAFETY: both moves stay within the first `n` bytes of each side, as
    // the caller guarantees `W <= n`; unaligned reads and writes of a byte
    // array are always allowed.
    unsafe {
        let head = src.cast::<[u8; W]>().read_unaligned();
        let tail = src.add(n - W).cast::<[u8; W]>().read_unaligned();
        dst.cast::<[u8; W]>().write_unaligned(head);
        dst.add(n - W).cast::<[u8; W]>().write_unaligned(tail);
    }
}

/// Whether `a` and `b` hold the same bytes: the same answer as `a == b`.
#[inline(always)]
pub fn eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n >= 16 {
        return if n <= 32 { ends_eq::<16>(a, b) } else { a == b };
    }
    if n >= 8 {
        return ends_eq::<8>(a, b);
    }
    if n >= 4 {
        return ends_eq::<4>(a, b);
    }
    // 0 to 3 bytes: the first, the middle and the last (some the same).
    n == 0 || (a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1])
}

/// Compares the first `W` and the last `W` bytes of two slices of one
/// length `n`, `W <= n <= 2 * W`: together they are all `n` bytes.
#[inline(always)]
fn ends_eq<const W: usize>(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    let word = |s: &[u8], at: usize| -> [u8; W] { s[at..at + W].try_into().expect("W bytes") };
    (word(a, 0) == word(b, 0)) & (word(a, n - W) == word(b, n - W))
}

/// How `a` orders against `b`: the same answer as `a.cmp(b)`. The first
/// eight bytes of each, read as one big-endian number (padded with zero
/// bytes when shorter), settle most comparisons of names that differ
/// early (the JIDs a roster search passes by); the rest go to `memcmp`.
#[inline(always)]
pub fn cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    match head(a).cmp(&head(b)) {
        std::cmp::Ordering::Equal if a.len() <= 8 && b.len() <= 8 => a.len().cmp(&b.len()),
        std::cmp::Ordering::Equal => a.cmp(b),
        decided => decided,
    }
}

/// The first eight bytes of `s` as a big-endian number, zero bytes after
/// its end. Ordering two heads orders the slices' first eight bytes,
/// except that a slice ending early and one with zero bytes there tie.
#[inline(always)]
fn head(s: &[u8]) -> u64 {
    if let Some(word) = s.first_chunk::<8>() {
        return u64::from_be_bytes(*word);
    }
    let mut word = [0u8; 8];
    for (to, from) in word.iter_mut().zip(s) {
        *to = *from;
    }
    u64::from_be_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> Vec<u8> {
        (0..140u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect()
    }

    /// Every length from 0 to 140, appended to buffers of every fill and
    /// spare capacity around the sizes the moves use: the buffer reads as
    /// with `extend_from_slice`, and bytes appended next follow the piece.
    #[test]
    fn appends_as_extend_from_slice_does() {
        let source = source();
        for n in 0..=140 {
            for before in [0, 1, 7, 15, 16, 31, 33] {
                for spare in [0, 1, n, n + 1, 64] {
                    let mut buf = Vec::with_capacity(before + spare);
                    buf.extend(std::iter::repeat_n(0xee, before));
                    let mut expected = buf.clone();
                    append(&mut buf, &source[..n]);
                    expected.extend_from_slice(&source[..n]);
                    assert_eq!(buf, expected, "{n} bytes after {before}, spare {spare}");
                    append(&mut buf, b"!");
                    assert_eq!(buf.last(), Some(&b'!'));
                    assert_eq!(buf.len(), before + n + 1);
                }
            }
        }
    }

    #[test]
    fn appends_text() {
        let mut buf = b"<presence".to_vec();
        append(&mut buf, b" from='");
        append(&mut buf, "b2151@b.example/sim".as_bytes());
        append(&mut buf, b"'");
        assert_eq!(buf, b"<presence from='b2151@b.example/sim'");
    }

    /// Slices of every length up to 80, equal, and differing in any one
    /// byte or in length: the same answers as `==`.
    #[test]
    fn compares_as_slice_equality_does() {
        let a = source();
        for n in 0..=80 {
            let b = a[..n].to_vec();
            assert!(eq(&a[..n], &b), "{n} equal bytes");
            for at in 0..n {
                let mut c = b.clone();
                c[at] ^= 0x01;
                assert!(!eq(&a[..n], &c), "{n} bytes, byte {at} differs");
                assert!(!eq(&c, &a[..n]), "{n} bytes, byte {at} differs");
            }
            if n > 0 {
                assert!(!eq(&a[..n], &a[..n - 1]), "{n} against {} bytes", n - 1);
                assert_eq!(eq(&a[1..n], &a[..n - 1]), a[1..n] == a[..n - 1]);
            }
        }
        assert!(eq(b"b2151", b"b2151"));
        assert!(!eq(b"b2151", b"b2152"));
        assert!(!eq(b"a@b.example/r", b"a@b.example/s"));
    }

    /// Pairs of every length up to 20 that differ in one byte (up, down
    /// or to zero) or in length, prefixes of each other, and JIDs as a
    /// roster holds them: the same order as `Ord` on slices.
    #[test]
    fn orders_as_slice_comparison_does() {
        let a = source();
        let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for n in 0..=20 {
            let b = a[..n].to_vec();
            pairs.push((b.clone(), b.clone()));
            for m in 0..=20 {
                pairs.push((b.clone(), a[..m].to_vec()));
                let mut zeros = b.clone();
                zeros.resize(m.max(n), 0);
                pairs.push((b.clone(), zeros));
            }
            for at in 0..n {
                for change in [0x01, 0x80, 0xff] {
                    let mut c = b.clone();
                    c[at] ^= change;
                    pairs.push((b.clone(), c.clone()));
                    c[at] = 0;
                    pairs.push((b.clone(), c));
                }
            }
        }
        for (x, y) in [
            ("a1234@a.example", "a1235@a.example"),
            ("a12@a.example", "a123@a.example"),
            ("b4999@b.example", "b5@b.example"),
            ("alice@a.example", "alice@a.example"),
            ("alice@a", "alice@a.example"),
        ] {
            pairs.push((x.into(), y.into()));
        }
        for (x, y) in &pairs {
            assert_eq!(cmp(x, y), x.cmp(y), "{x:?} against {y:?}");
            assert_eq!(cmp(y, x), y.cmp(x), "{y:?} against {x:?}");
        }
    }
}
