//! The event queue: events ordered by (time, insertion sequence).
//!
//! Two events at the same microsecond run in the order they were scheduled,
//! so the order never depends on anything but the run itself. The heap holds
//! small fixed-size keys; payloads sit in a slab and are moved only twice.
//!
//! A key may carry a hint (a link id, say) of what its event will touch,
//! so that the loop can ask memory for it one event ahead: in a large run
//! each event reads state no other event touched for milliseconds. Hints
//! never change the order or the outcome of anything.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

const NO_HINT: u32 = u32::MAX;

/// A min-queue of events of type `E`.
pub struct EventQueue<E> {
    /// (time, sequence, slab slot, hint)
    heap: BinaryHeap<Reverse<(u64, u64, u32, u32)>>,
    slab: Vec<Option<E>>,
    free: Vec<u32>,
    seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            slab: Vec::new(),
            free: Vec::new(),
            seq: 0,
        }
    }
}

impl<E> EventQueue<E> {
    /// Schedules `event` at virtual time `at` (µs).
    #[inline]
    pub fn push(&mut self, at: u64, event: E) {
        self.push_hinted(at, event, NO_HINT)
    }

    /// Schedules `event` at `at` with a hint of what it will touch, which
    /// [`EventQueue::next_hint`] gives back while it is the next event.
    #[inline]
    pub fn push_hinted(&mut self, at: u64, event: E, hint: u32) {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slab[slot as usize] = Some(event);
                slot
            }
            None => {
                self.slab.push(Some(event));
                (self.slab.len() - 1) as u32
            }
        };
        self.heap.push(Reverse((at, self.seq, slot, hint)));
        self.seq += 1;
    }

    /// The earliest event and its time.
    #[inline]
    pub fn pop(&mut self) -> Option<(u64, E)> {
        let Reverse((at, _, slot, _)) = self.heap.pop()?;
        self.free.push(slot);
        let event = self.slab[slot as usize]
            .take()
            .expect("queued slot holds an event");
        Some((at, event))
    }

    /// The time of the earliest event.
    pub fn peek_time(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse((at, _, _, _))| *at)
    }

    /// Asks memory for the next event's slot and returns its hint, if it
    /// was pushed with one.
    #[inline]
    pub fn next_hint(&self) -> Option<u32> {
        let Reverse((_, _, slot, hint)) = self.heap.peek()?;
        crate::prefetch::prefetch(self.slab.as_ptr().wrapping_add(*slot as usize));
        (*hint != NO_HINT).then_some(*hint)
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Events scheduled since the queue was created.
    pub fn scheduled(&self) -> u64 {
        self.seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_then_insertion_order() {
        let mut q = EventQueue::default();
        q.push(5, "c");
        q.push(1, "a");
        q.push(5, "d");
        q.push(1, "b");
        q.push(0, "first");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(
            order,
            vec![(0, "first"), (1, "a"), (1, "b"), (5, "c"), (5, "d")]
        );
        assert!(q.is_empty());
        assert_eq!(q.scheduled(), 5);
    }

    /// A hint is given back while its event is the next one, and never
    /// changes the order: hinted and plain events interleave by time and
    /// insertion alone.
    #[test]
    fn hints_follow_the_next_event_and_leave_the_order_alone() {
        let mut q = EventQueue::default();
        assert_eq!(q.next_hint(), None);
        q.push_hinted(5, "c", 30);
        q.push(1, "a");
        q.push_hinted(1, "b", 7);
        q.push_hinted(5, "d", 0);
        let mut seen = Vec::new();
        loop {
            let hint = q.next_hint();
            let Some(event) = q.pop() else { break };
            seen.push((hint, event));
        }
        assert_eq!(
            seen,
            vec![
                (None, (1, "a")),
                (Some(7), (1, "b")),
                (Some(30), (5, "c")),
                (Some(0), (5, "d")),
            ]
        );
    }

    #[test]
    fn slots_are_reused() {
        let mut q = EventQueue::default();
        for i in 0..100u64 {
            q.push(i, i);
            assert_eq!(q.pop(), Some((i, i)));
        }
        assert_eq!(q.slab.len(), 1);
    }

    /// Against a sorted reference, with many equal times: every pop is the
    /// earliest (time, insertion) pair, interleaved with pushes.
    #[test]
    fn pops_in_time_then_insertion_order_under_interleaving() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut q = EventQueue::default();
        let mut reference = std::collections::BTreeSet::new();
        let mut now = 0;
        for n in 0..20_000u64 {
            if rng.random_bool(0.55) || reference.is_empty() {
                let at = now + rng.random_range(0..50);
                q.push(at, n);
                reference.insert((at, n));
            } else {
                let expected = reference.pop_first().unwrap();
                assert_eq!(q.peek_time(), Some(expected.0));
                assert_eq!(q.pop(), Some(expected));
                now = expected.0;
            }
            assert_eq!(q.len(), reference.len());
        }
        while let Some(expected) = reference.pop_first() {
            assert_eq!(q.pop(), Some(expected));
        }
        assert_eq!(q.pop(), None);
    }
}
