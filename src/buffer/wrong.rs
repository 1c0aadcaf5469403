//! The deliberately wrong orderings of the loom suite, in one place, compiled only under
//! `cfg(loom)`.
//!
//! Each is the ordering that a race of the module docs warns against. The production code calls
//! into this module behind `mutation("name")`, which is a constant `false` outside loom; the
//! suite switches one on with `SHARDCAST_LOOM_MUTATION=name` and must then fail, which shows
//! that its model can catch that mistake (the table is in `loom-tests/README.md`).

use super::peers::{PeerSet, Peers};
use super::slot::WaiterSlot;
use super::store::{Delta, Freed, Slot, Store, Wakeups};
use super::{Buffer, Eviction};
use crate::sync::{Arc, Op};
use crate::{Message, Peer};
use std::hash::Hash;
use std::sync::atomic::Ordering;

impl<M: Message> Store<M> {
    /// WRONG: takes the waiters in one critical section and caches in another, blindly; a
    /// subscriber that registers in between is overwritten and never woken.
    pub(super) fn acquire_in_two_sections(
        &self,
        digest: M::Digest,
        message: M,
        size: usize,
    ) -> Wakeups<M> {
        let (slots, _) = self.digests.update(digest, |entry| match entry {
            Some(Slot::Waiting(slots)) => {
                let slots = std::mem::take(slots);
                self.forget_waiters(slots.len());
                (Op::Remove, slots)
            }
            _ => (Op::Keep, Vec::new()),
        });
        let copy = message.clone();
        let (cached, _) = self.digests.update(digest, |entry| match entry {
            Some(Slot::Cached { refs, .. }) => {
                *refs += 1;
                (Op::Keep, false)
            }
            _ => (
                Op::Insert(Slot::Cached {
                    message: copy,
                    refs: 1,
                    size,
                }),
                true,
            ),
        });
        Wakeups {
            slots,
            message: Some(message),
            cached,
            size,
        }
    }

    /// WRONG: decrements in one critical section and removes in another without re-checking; an
    /// insert from another peer that revives the slot in between loses its message.
    pub(super) fn release_without_recheck(
        &self,
        digest: M::Digest,
        reason: Eviction,
    ) -> Option<Freed<M>> {
        let (zero, _) = self.digests.update(digest, |entry| match entry {
            Some(Slot::Cached { refs, .. }) => {
                *refs -= 1;
                (Op::Keep, *refs == 0)
            }
            _ => (Op::Keep, false),
        });
        if !zero {
            return None;
        }
        self.metrics.eviction(reason).increment(1);
        match self.digests.remove(&digest) {
            Some(Slot::Cached { message, size, .. }) => Some(Freed { message, size }),
            _ => None,
        }
    }

    /// WRONG: decides "I am the last waiter" under a read guard and removes the entry later.
    pub(super) fn remove_if_last(&self, digest: M::Digest, slot: &Arc<WaiterSlot<M>>) -> bool {
        let last = self.digests.read(&digest, |entry| {
            matches!(entry, Slot::Waiting(slots) if slots.len() == 1 && Arc::ptr_eq(&slots[0], slot))
        });
        if last != Some(true) {
            return false;
        }
        self.digests.remove(&digest);
        self.counts.subscriptions.fetch_sub(1, Ordering::Relaxed);
        self.counts.waiters.fetch_sub(1, Ordering::Relaxed);
        true
    }
}

impl<P, D> Peers<P, D>
where
    P: Clone + Ord + Hash,
    D: Copy + Eq + Hash,
{
    /// WRONG: evicts with the new set before storing it; an insert from a leaving peer that
    /// creates its deque in between keeps it for good.
    pub(super) fn evict_before_store(&self, set: PeerSet<P>, mut release: impl FnMut(D)) {
        let mut leaving = Vec::new();
        self.deques.for_each(|peer, _| {
            if !set.contains(peer) {
                leaving.push(peer.clone());
            }
        });
        self.retire(leaving, &mut release);
        self.primary.store(set);
    }
}

impl<P, M> Buffer<P, M>
where
    P: Peer,
    M: Message,
{
    /// WRONG: sweeps the waiters before setting the closed flag; a subscriber that registers
    /// in between is never resolved.
    pub(super) fn close_flag_after_sweep(&self) {
        self.store.close_waiters();
        self.store.mark_closed();
        let mut delta = Delta::default();
        self.peers.close(|digest| {
            if let Some(freed) = self.store.release(digest, Eviction::Closed) {
                delta.free(freed.size);
            }
        });
        self.store.adjust_cached(delta);
    }
}
