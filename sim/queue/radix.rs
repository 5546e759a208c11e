//! A radix heap (Ahuja, Mehlhorn, Orlin and Tarjan, "Faster algorithms for
//! the shortest path problem", 1990): a min-queue of 128-bit keys for a
//! loop whose keys mostly come after the last one it took, as a
//! simulator's clock never runs back.
//!
//! A key later than the last key taken sits in the bucket of the highest
//! bit in which it differs from it. Every key of a lower bucket is smaller
//! than every key of a higher one, so the least key is in the lowest
//! bucket that is not empty. Taking it makes it the last key taken, and
//! the other keys of its bucket move to lower buckets; a key moves at most
//! once per bucket on its way down, and each move is a few integer
//! operations and an append. A binary heap instead sifts through a path of
//! its entries on every pop, comparing keys in an order the processor
//! cannot predict, which in a simulation of a large network costs more
//! than the rest of the queue.
//!
//! A key not later than the last key taken (the event queue gives back a
//! key it took when an earlier event is scheduled in front of it) goes to
//! a small binary heap, `early`, whose keys are all taken before any
//! bucket's.
//!
//! The order is the keys' order alone: where a key sits never changes
//! which key is taken next.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A key the heap orders: its order as one integer, which its `Ord` must
/// agree with (the early keys are ordered by `Ord`, the buckets by the
/// integer). Two equal keys are taken one after the other, in no
/// particular order.
pub(super) trait Ordered: Ord {
    fn order(&self) -> u128;
}

pub(super) struct RadixHeap<K> {
    /// Bucket b: the keys later than `last` whose highest bit differing
    /// from it is bit b.
    buckets: [Vec<K>; 128],
    /// Bit b set when bucket b is not empty.
    occupied: u128,
    /// The keys not later than `last`, all earlier than any bucket's.
    early: BinaryHeap<Reverse<K>>,
    /// The order of the last key taken from a bucket (0 before the first).
    last: u128,
    len: usize,
}

impl<K: Ord> Default for RadixHeap<K> {
    fn default() -> Self {
        RadixHeap {
            buckets: std::array::from_fn(|_| Vec::new()),
            occupied: 0,
            early: BinaryHeap::new(),
            last: 0,
            len: 0,
        }
    }
}

/// The bucket of a key later than the last key taken, whose order differs
/// from it by `difference` (their exclusive or, not zero).
#[inline(always)]
fn bucket(difference: u128) -> usize {
    127 - difference.leading_zeros() as usize
}

impl<K: Ordered> RadixHeap<K> {
    pub fn len(&self) -> usize {
        self.len
    }

    /// Adds `key`.
    #[inline]
    pub fn push(&mut self, key: K) {
        self.place(key);
        self.len += 1;
    }

    /// Puts a key in its bucket, or with the early ones.
    #[inline(always)]
    fn place(&mut self, key: K) {
        let order = key.order();
        if order > self.last {
            let b = bucket(order ^ self.last);
            self.buckets[b].push(key);
            self.occupied |= 1 << b;
        } else {
            self.early.push(Reverse(key));
        }
    }

    /// Takes the least key.
    #[inline]
    pub fn pop(&mut self) -> Option<K> {
        if let Some(Reverse(key)) = self.early.pop() {
            self.len -= 1;
            return Some(key);
        }
        if self.occupied == 0 {
            return None;
        }
        let b = self.occupied.trailing_zeros() as usize;
        self.occupied &= !(1 << b);
        let mut keys = std::mem::take(&mut self.buckets[b]);
        let least = (0..keys.len())
            .min_by_key(|&i| keys[i].order())
            .expect("an occupied bucket has keys");
        let key = keys.swap_remove(least);
        self.last = key.order();
        for other in keys.drain(..) {
            self.place(other);
        }
        // The bucket keeps its allocation for the keys that come to it next.
        self.buckets[b] = keys;
        self.len -= 1;
        Some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    impl Ordered for u128 {
        fn order(&self) -> u128 {
            *self
        }
    }

    #[test]
    fn buckets_by_highest_differing_bit() {
        assert_eq!(bucket(1), 0);
        assert_eq!(bucket(2), 1);
        assert_eq!(bucket(3), 1);
        assert_eq!(bucket(1 << 64), 64);
        assert_eq!(bucket(u128::MAX), 127);
    }

    #[test]
    fn empty_gives_nothing() {
        let mut heap = RadixHeap::<u128>::default();
        assert_eq!(heap.pop(), None);
        heap.push(7);
        assert_eq!(heap.pop(), Some(7));
        assert_eq!(heap.pop(), None);
        assert_eq!(heap.len(), 0);
    }

    /// Equal keys, pushed apart and together, all come out.
    #[test]
    fn equal_keys() {
        let mut heap = RadixHeap::default();
        for key in [5u128, 9, 5, 9, 5] {
            heap.push(key);
        }
        assert_eq!(heap.pop(), Some(5));
        heap.push(5);
        let order: Vec<u128> = std::iter::from_fn(|| heap.pop()).collect();
        assert_eq!(order, [5, 5, 5, 9, 9]);
    }

    /// Keys at the extremes of the range, the largest in the top bucket.
    #[test]
    fn extremes() {
        let mut heap = RadixHeap::default();
        for key in [u128::MAX, 0, 1 << 127, (1 << 64) - 1, 1 << 64] {
            heap.push(key);
        }
        let order: Vec<u128> = std::iter::from_fn(|| heap.pop()).collect();
        assert_eq!(order, [0, (1 << 64) - 1, 1 << 64, 1 << 127, u128::MAX]);
    }

    /// Against a sorted set: pushes mostly later than the last key taken
    /// (near it, far from it, at the same time), some earlier than it
    /// (given back), pops between them, each pop the least key present.
    #[test]
    fn pops_the_least_key() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut heap = RadixHeap::default();
        let mut reference = std::collections::BTreeSet::new();
        let mut now = 0u128;
        let mut seq = 0u128;
        let mut early = 0;
        for _ in 0..100_000 {
            if rng.random_bool(0.52) || reference.is_empty() {
                let at = match rng.random_range(0..10) {
                    0 => now,
                    1..=3 => now + rng.random_range(0..64),
                    4..=6 => now + rng.random_range(0..1 << 20),
                    7 | 8 => now + rng.random_range(0..1 << 40),
                    _ => now.saturating_sub(rng.random_range(0..100)),
                };
                // Time in the high half, a sequence number in the low.
                seq += 1;
                let key = at << 64 | seq;
                early += usize::from(key <= heap.last);
                heap.push(key);
                reference.insert(key);
            } else {
                let expected = reference.pop_first();
                assert_eq!(heap.pop(), expected);
                now = expected.expect("not empty") >> 64;
            }
            assert_eq!(heap.len(), reference.len());
        }
        while let Some(expected) = reference.pop_first() {
            assert_eq!(heap.pop(), Some(expected));
        }
        assert_eq!(heap.pop(), None);
        assert!(early > 1_000, "{early} keys given back");
    }
}
