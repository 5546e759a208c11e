//! The event queue: events ordered by (time, insertion sequence).
//!
//! Two events at the same microsecond run in the order they were scheduled,
//! so the order never depends on anything but the run itself. The queue holds
//! small fixed-size keys; payloads sit in a slab and are moved only twice.
//!
//! The next [`LOOKAHEAD`] events are kept apart from the heap, in order, so
//! the loop can see what is coming: a key may carry a hint (a link id, say)
//! of what its event will touch, and the loop asks memory for it a few
//! events ahead, in stages, each following a pointer the previous stage
//! brought into cache. In a large run each event reads state no other event
//! touched for milliseconds. Hints never change the order or the outcome
//! of anything.
//!
//! Behind the front, the keys sit in a radix heap (`queue/radix.rs`): the loop
//! never schedules an event before the latest one it popped, so nearly
//! every key comes behind the last one taken from there, and the earliest
//! is found in the lowest of the heap's buckets, without the unpredictable
//! comparisons of a binary heap's sift. The clients' next actions and
//! timeouts, seconds ahead, wait in high buckets that the network's
//! messages, milliseconds ahead, never touch.

mod radix;

use std::collections::VecDeque;

use radix::{Ordered, RadixHeap};

const NO_HINT: u32 = u32::MAX;

/// How many of the next events the queue keeps in order outside the heap.
pub const LOOKAHEAD: usize = 4;

/// An event's place in the queue: its time and sequence number, ordered
/// as one 128-bit integer (time in the high half), so that ordering two
/// keys is one integer comparison; then its slab slot and hint, which
/// never take part in the order (no two keys share a sequence number).
/// The two halves are kept as `u64`s, so that a key takes 24 bytes, not
/// the 32 of a 16-byte aligned `u128`: more of the heap's keys share a
/// cache line.
#[derive(Clone, Copy, Debug)]
struct Key {
    at: u64,
    seq: u64,
    slot: u32,
    hint: u32,
}

impl Key {
    fn new(at: u64, seq: u64, slot: u32, hint: u32) -> Key {
        Key {
            at,
            seq,
            slot,
            hint,
        }
    }

    fn at(&self) -> u64 {
        self.at
    }
}

const _: () = assert!(std::mem::size_of::<Key>() == 24);

impl Ordered for Key {
    #[inline(always)]
    fn order(&self) -> u128 {
        (u128::from(self.at) << 64) | u128::from(self.seq)
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.order() == other.order()
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> std::cmp::Ordering {
        self.order().cmp(&other.order())
    }
}

/// A min-queue of events of type `E`.
pub struct EventQueue<E> {
    /// The earliest keys, in order: `min(LOOKAHEAD, len)` of them, each
    /// earlier than every key behind them.
    next: VecDeque<Key>,
    /// The other keys.
    behind: RadixHeap<Key>,
    slab: Vec<Option<E>>,
    free: Vec<u32>,
    seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            next: VecDeque::with_capacity(LOOKAHEAD + 1),
            behind: RadixHeap::default(),
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
    /// [`EventQueue::hint`] gives back while it is among the next events.
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
        let key = Key::new(at, self.seq, slot, hint);
        self.seq += 1;
        match self.next.back() {
            // The front is full and the new key comes after all of it.
            Some(last) if self.next.len() == LOOKAHEAD && key > *last => self.behind.push(key),
            _ => {
                let i = self.next.partition_point(|k| *k < key);
                self.next.insert(i, key);
                if self.next.len() > LOOKAHEAD {
                    let latest = self.next.pop_back().expect("over full");
                    self.behind.push(latest);
                }
            }
        }
    }

    /// The earliest event and its time.
    #[inline]
    pub fn pop(&mut self) -> Option<(u64, E)> {
        let key = self.next.pop_front()?;
        let (at, slot) = (key.at(), key.slot);
        if let Some(key) = self.behind.pop() {
            self.next.push_back(key);
        }
        self.free.push(slot);
        let event = self.slab[slot as usize]
            .take()
            .expect("queued slot holds an event");
        Some((at, event))
    }

    /// The time of the earliest event.
    pub fn peek_time(&self) -> Option<u64> {
        self.next.front().map(Key::at)
    }

    /// The hint of the event `distance` pops from now (1 for the next
    /// one, up to `LOOKAHEAD`), if there is one and it was pushed with a
    /// hint.
    #[inline]
    pub fn hint(&self, distance: usize) -> Option<u32> {
        let key = self.next.get(distance.checked_sub(1)?)?;
        (key.hint != NO_HINT).then_some(key.hint)
    }

    /// The payload of the event `distance` pops from now, if there is one.
    #[inline]
    pub fn event(&self, distance: usize) -> Option<&E> {
        let key = self.next.get(distance.checked_sub(1)?)?;
        self.slab[key.slot as usize].as_ref()
    }

    /// Asks memory for the slab slot of the event `distance` pops from now,
    /// if there is one.
    #[inline]
    pub fn prefetch_slot(&self, distance: usize) {
        if let Some(key) = distance.checked_sub(1).and_then(|i| self.next.get(i)) {
            let event = self.slab.as_ptr().wrapping_add(key.slot as usize);
            crate::prefetch::prefetch_bytes(event, std::mem::size_of::<Option<E>>());
        }
    }

    pub fn len(&self) -> usize {
        self.next.len() + self.behind.len()
    }

    pub fn is_empty(&self) -> bool {
        self.next.is_empty()
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

    /// Hints and payloads are given back while their events are among the
    /// next ones, by distance, and never change the order: hinted and
    /// plain events interleave by time and insertion alone.
    #[test]
    fn hints_follow_the_next_events_and_leave_the_order_alone() {
        let mut q = EventQueue::default();
        assert_eq!(q.hint(1), None);
        q.push_hinted(5, "c", 30);
        q.push(1, "a");
        q.push_hinted(1, "b", 7);
        q.push_hinted(5, "d", 0);
        q.push_hinted(9, "e", 4);
        q.push_hinted(7, "f", 2);
        assert_eq!(q.hint(0), None);
        assert_eq!(q.hint(LOOKAHEAD + 1), None);
        let mut seen = Vec::new();
        loop {
            let ahead: Vec<_> = (1..=LOOKAHEAD)
                .map(|d| (q.hint(d), q.event(d).copied()))
                .collect();
            let Some(event) = q.pop() else { break };
            seen.push((event, ahead));
        }
        let order: Vec<_> = seen.iter().map(|(event, _)| *event).collect();
        assert_eq!(
            order,
            vec![(1, "a"), (1, "b"), (5, "c"), (5, "d"), (7, "f"), (9, "e")]
        );
        // Before "a" pops, the first four are "a" "b" "c" "d" (distance 1 is "a").
        assert_eq!(
            seen[0].1,
            vec![
                (None, Some("a")),
                (Some(7), Some("b")),
                (Some(30), Some("c")),
                (Some(0), Some("d")),
            ]
        );
        // Before "d" pops: "d" "f" "e", then nothing.
        assert_eq!(
            seen[3].1,
            vec![
                (Some(0), Some("d")),
                (Some(2), Some("f")),
                (Some(4), Some("e")),
                (None, None)
            ]
        );
    }

    /// A push earlier than events already in the front goes before them,
    /// and the latest of the front moves back behind it.
    #[test]
    fn an_early_push_enters_the_front() {
        let mut q = EventQueue::default();
        for t in [10, 20, 30, 40, 50, 60] {
            q.push(t, t);
        }
        q.push(15, 15);
        q.push(45, 45);
        q.push(5, 5);
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).map(|(t, _)| t).collect();
        assert_eq!(order, vec![5, 10, 15, 20, 30, 40, 45, 50, 60]);
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
        // A second ahead: a client's next action rather than a message.
        const FAR: u64 = 1 << 20;
        let mut far = 0;
        for n in 0..20_000u64 {
            if rng.random_bool(0.55) || reference.is_empty() {
                // Mostly near, some far, some a second ahead exactly,
                // with many equal times in each.
                let ahead = match rng.random_range(0..10) {
                    0..=5 => rng.random_range(0..50),
                    6 => FAR + rng.random_range(0..2),
                    _ => FAR / 2 * rng.random_range(1..6),
                };
                far += u64::from(ahead > FAR);
                let at = now + ahead;
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
        assert!(far > 1_000, "{far} pushes far ahead");
    }
}
