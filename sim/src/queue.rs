//! The single event queue: events ordered by `(time, sequence)`.
//!
//! The sequence number is assigned at push time and rises by one per push, so two events at the
//! same instant run in the order they were scheduled. That makes the order total and independent
//! of anything but the run's own history, which is what determinism needs.
//!
//! The heap holds only small keys; the events themselves sit in a slab whose freed slots are
//! reused, so a steady-state run allocates nothing per event and sifting moves 24 bytes, not a
//! whole event with its message.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use detcd_core::Instant;

/// The ordering key of one scheduled event. Field order is the ordering: time, then sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    time: Instant,
    sequence: u64,
    slot: u32,
}

/// A priority queue of events by `(time, sequence)`.
#[derive(Debug)]
pub struct EventQueue<E> {
    heap: BinaryHeap<Reverse<Key>>,
    slab: Vec<Option<E>>,
    free_slots: Vec<u32>,
    sequence_next: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            slab: Vec::new(),
            free_slots: Vec::new(),
            sequence_next: 0,
        }
    }
}

impl<E> EventQueue<E> {
    /// Schedule `event` at `time`; returns its sequence number.
    pub fn push(&mut self, time: Instant, event: E) -> u64 {
        let slot = match self.free_slots.pop() {
            Some(slot) => {
                debug_assert!(self.slab[slot as usize].is_none());
                self.slab[slot as usize] = Some(event);
                slot
            }
            None => {
                let slot =
                    u32::try_from(self.slab.len()).expect("more than u32::MAX events pending");
                self.slab.push(Some(event));
                slot
            }
        };
        let sequence = self.sequence_next;
        self.sequence_next += 1;
        self.heap.push(Reverse(Key {
            time,
            sequence,
            slot,
        }));
        sequence
    }

    /// Remove and return the earliest event, with its time.
    pub fn pop(&mut self) -> Option<(Instant, E)> {
        let Reverse(key) = self.heap.pop()?;
        let event = self.slab[key.slot as usize]
            .take()
            .expect("a queued key points at an event");
        self.free_slots.push(key.slot);
        Some((key.time, event))
    }

    /// The time of the earliest event, if any.
    pub fn peek_time(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(key)| key.time)
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// How many events have ever been pushed; the next event's sequence number.
    pub fn pushed_count(&self) -> u64 {
        self.sequence_next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Events come out by time, and events at the same time come out in push order.
    #[test]
    fn pops_by_time_then_push_order() {
        let mut queue = EventQueue::default();
        queue.push(Instant::from_millis(5), "late");
        queue.push(Instant::from_millis(1), "first at 1");
        queue.push(Instant::from_millis(1), "second at 1");
        queue.push(Instant::from_millis(3), "middle");
        let order: Vec<_> = std::iter::from_fn(|| queue.pop())
            .map(|(_, event)| event)
            .collect();
        assert_eq!(order, ["first at 1", "second at 1", "middle", "late"]);
    }

    // Freed slots are reused, so a queue whose length stays bounded keeps a bounded slab.
    #[test]
    fn reuses_slots() {
        let mut queue = EventQueue::default();
        for round in 0..1000u64 {
            queue.push(Instant::from_nanos(round), round);
            queue.push(Instant::from_nanos(round), round);
            queue.pop();
            queue.pop();
        }
        assert!(queue.is_empty());
        assert_eq!(queue.slab.len(), 2);
        assert_eq!(queue.pushed_count(), 2000);
    }
}
