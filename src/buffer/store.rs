//! Digest slots: each cached message stored once with its reference count, or the list of
//! subscribers waiting for a digest that is not cached.

use super::slot::WaiterSlot;
use crate::Message;
use crate::metrics::{Eviction, Metrics};
#[cfg(loom)]
use crate::sync::mutation;
use crate::sync::{Arc, AtomicBool, AtomicUsize, Op, ShardedMap};
use std::sync::atomic::Ordering;

/// The state of one digest. A digest with neither a cached message nor a waiter has no slot.
pub(crate) enum Slot<M: Message> {
    /// The message, held by `refs` live deques (`refs >= 1` between operations), and its
    /// [size](Message::size), charged to every deque that holds it.
    Cached {
        message: M,
        refs: usize,
        size: usize,
    },
    /// Subscribers waiting for the digest (never empty).
    Waiting(Vec<Arc<WaiterSlot<M>>>),
}

/// Counts kept exact inside the critical sections that change them, so `stats()` matches the
/// maps whenever no operation is in flight (and `check_invariants` can compare them).
#[derive(Default)]
pub(crate) struct Counts {
    pub(crate) cached: AtomicUsize,
    pub(crate) cached_bytes: AtomicUsize,
    pub(crate) waiters: AtomicUsize,
    pub(crate) subscriptions: AtomicUsize,
}

/// The digest-keyed half of the buffer. Shared with every pending
/// [`Subscription`](super::Subscription), which needs it to unregister on drop.
pub(crate) struct Store<M: Message> {
    pub(crate) digests: ShardedMap<M::Digest, Slot<M>>,
    pub(crate) counts: Counts,
    pub(crate) metrics: Metrics,
    max_subscriptions: Option<usize>,
    /// Set once by [`Store::mark_closed`]; read under a shard lock by [`Store::register`].
    closed: AtomicBool,
}

/// Subscribers taken out of a slot, to be completed once every lock is released.
#[must_use = "waiters must be woken after the locks are released"]
pub(crate) struct Wakeups<M: Message> {
    pub(super) slots: Vec<Arc<WaiterSlot<M>>>,
    /// The inserted copy, when the store did not keep it (or kept a clone of it).
    pub(super) message: Option<M>,
    /// Whether this acquire cached the message (it was not cached before). The caller accounts
    /// for it in `counts.cached` with [`Store::adjust_cached`].
    pub(crate) cached: bool,
    /// The size of the copy the store holds (the one cached first), to charge the deque.
    pub(crate) size: usize,
}

impl<M: Message> Wakeups<M> {
    fn none(message: Option<M>, cached: bool, size: usize) -> Self {
        Self {
            slots: Vec::new(),
            message,
            cached,
            size,
        }
    }

    /// Completes every taken waiter with a clone of the message, then drops the message. Call
    /// with no lock held.
    ///
    /// A panicking `Clone` ends the wake-up, but no waiter is left behind: the one being served
    /// and every later one resolve to [`Closed`](super::Closed) as the panic unwinds (their slots
    /// left the map with this wake-up, so no later insert could serve them).
    pub(crate) fn wake(self, metrics: &Metrics) {
        let Self { slots, message, .. } = self;
        let Some(message) = message else {
            debug_assert!(slots.is_empty(), "waiters taken without a message");
            return;
        };
        let count = slots.len();
        if count == 0 {
            return;
        }
        let mut serving = Serving { slots, next: 0 };
        let mut served = 0u64;
        while serving.next + 1 < count {
            let copy = message.clone();
            served += u64::from(serving.slots[serving.next].complete(copy));
            serving.next += 1;
        }
        // The last waiter gets the original: one clone fewer.
        served += u64::from(serving.slots[serving.next].complete(message));
        serving.next = count;
        metrics.subscribe_success.increment(served);
        metrics.subscribe_dropped.increment(count as u64 - served);
    }
}

/// The waiters of a wake-up from `next` on: closed if dropped before they were served (a
/// panicking `Clone` unwinding through [`Wakeups::wake`]).
struct Serving<M> {
    slots: Vec<Arc<WaiterSlot<M>>>,
    next: usize,
}

impl<M> Drop for Serving<M> {
    fn drop(&mut self) {
        for slot in &self.slots[self.next.min(self.slots.len())..] {
            slot.close();
        }
    }
}

/// A message that left the cache, to be dropped once the caller's locks are released.
pub(crate) struct Freed<M> {
    /// Held only so that the caller decides where it is dropped.
    #[allow(dead_code)]
    pub(crate) message: M,
    pub(crate) size: usize,
}

/// A net change to the cached count and bytes.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Delta {
    pub(crate) count: isize,
    pub(crate) bytes: isize,
}

impl Delta {
    /// One message of `size` bytes left the cache.
    pub(crate) fn free(&mut self, size: usize) {
        self.count -= 1;
        self.bytes -= size as isize;
    }

    /// One message of `size` bytes entered the cache.
    pub(crate) fn store(&mut self, size: usize) {
        self.count += 1;
        self.bytes += size as isize;
    }
}

fn adjust(counter: &AtomicUsize, gauge: &crate::metrics::Gauge, delta: isize) {
    match delta {
        0 => {}
        d if d > 0 => {
            counter.fetch_add(d as usize, Ordering::Relaxed);
            gauge.increment(d as u64);
        }
        d => {
            counter.fetch_sub(d.unsigned_abs(), Ordering::Relaxed);
            gauge.decrement(d.unsigned_abs() as u64);
        }
    }
}

/// Whether a subscription could be registered.
pub(crate) enum Registration<M: Message> {
    Ready(M),
    Pending(Arc<WaiterSlot<M>>),
    Full,
    Closed,
}

impl<M: Message> Store<M> {
    pub(crate) fn new(shards: usize, metrics: Metrics, max_subscriptions: Option<usize>) -> Self {
        Self {
            digests: ShardedMap::new(shards),
            counts: Counts::default(),
            metrics,
            max_subscriptions,
            closed: AtomicBool::new(false),
        }
    }

    /// Whether [`mark_closed`](Self::mark_closed) has run (closing has begun).
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Marks the store closed: registrations from now on resolve to [`Closed`](super::Closed).
    /// Returns `false` when it already was. Call [`close_waiters`](Self::close_waiters)
    /// afterwards.
    pub(crate) fn mark_closed(&self) -> bool {
        !self.closed.swap(true, Ordering::AcqRel)
    }

    /// Frees every cached message, dropping them once the shard locks are released (the buffer
    /// is gone; its deques went with it).
    pub(crate) fn clear_cache(&self) {
        let mut freed = Vec::new();
        let mut delta = Delta::default();
        self.digests.retain(|_, slot| match slot {
            Slot::Cached { size, .. } => {
                delta.free(*size);
                freed.push(std::mem::replace(slot, Slot::Waiting(Vec::new())));
                false
            }
            Slot::Waiting(_) => true,
        });
        self.adjust_cached(delta);
    }

    /// Removes every `Waiting` slot (one shard lock at a time) and resolves its subscribers to
    /// [`Closed`](super::Closed) once the locks are released, in digest order so that wake-ups replay alike.
    ///
    /// A registration either precedes the sweep of its shard (and is swept) or follows it, and
    /// then sees the closed flag, which was set before the sweep began.
    pub(crate) fn close_waiters(&self) {
        let mut taken = Vec::new();
        self.digests.retain(|digest, slot| match slot {
            Slot::Waiting(slots) => {
                let slots = std::mem::take(slots);
                self.forget_waiters(slots.len());
                taken.push((*digest, slots));
                false
            }
            Slot::Cached { .. } => true,
        });
        taken.sort_unstable_by_key(|(digest, _)| *digest);
        for (_, slots) in taken {
            for slot in slots {
                slot.close();
            }
        }
    }

    /// A clone of the cached message, if any. Never touches recency.
    pub(crate) fn get(&self, digest: &M::Digest) -> Option<M> {
        self.read(digest, M::clone)
    }

    /// `f` applied to the cached message, under the shard's read lock, if it is cached. Counts
    /// `get_total` like [`get`](Self::get).
    pub(crate) fn read<R>(&self, digest: &M::Digest, f: impl FnOnce(&M) -> R) -> Option<R> {
        let found = self
            .digests
            .read(digest, |slot| match slot {
                Slot::Cached { message, .. } => Some(f(message)),
                Slot::Waiting(_) => None,
            })
            .flatten();
        match &found {
            Some(_) => self.metrics.get_success.increment(1),
            None => self.metrics.get_failure.increment(1),
        }
        found
    }

    /// "Is it cached?" and "register a waiter" in one critical section, so an insert
    /// either sees the registration or the subscriber sees the message.
    pub(crate) fn register(&self, digest: M::Digest, limited: bool) -> Registration<M> {
        let (registration, _) = self.digests.update(digest, |slot| match slot {
            // Read under the shard lock: `close` sets it before sweeping this shard.
            _ if self.closed.load(Ordering::Acquire) => (Op::Keep, Registration::Closed),
            Some(Slot::Cached { message, .. }) => (Op::Keep, Registration::Ready(message.clone())),
            Some(Slot::Waiting(slots)) => match self.reserve_subscription(limited) {
                Some(slot) => {
                    slots.push(slot.clone());
                    (Op::Keep, Registration::Pending(slot))
                }
                None => (Op::Keep, Registration::Full),
            },
            None => match self.reserve_subscription(limited) {
                Some(slot) => {
                    self.counts.waiters.fetch_add(1, Ordering::Relaxed);
                    self.metrics.waiters.increment(1);
                    (
                        Op::Insert(Slot::Waiting(vec![slot.clone()])),
                        Registration::Pending(slot),
                    )
                }
                None => (Op::Keep, Registration::Full),
            },
        });
        if let Registration::Ready(_) = registration {
            self.metrics.subscribe_success.increment(1);
        }
        registration
    }

    /// Counts one more live subscription unless `limited` and at the limit.
    fn reserve_subscription(&self, limited: bool) -> Option<Arc<WaiterSlot<M>>> {
        let counter = &self.counts.subscriptions;
        match self.max_subscriptions.filter(|_| limited) {
            Some(max) => {
                counter
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                        (n < max).then_some(n + 1)
                    })
                    .ok()?;
            }
            None => {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.metrics.subscriptions.increment(1);
        Some(Arc::new(WaiterSlot::new()))
    }

    /// Removes a cancelled subscription's registration, by identity, in one critical section:
    /// never decide "I am the last one" under a read guard and remove later (the
    /// dropped-subscriber race of the `buffer` module docs).
    pub(crate) fn unsubscribe(&self, digest: M::Digest, slot: &Arc<WaiterSlot<M>>) {
        #[cfg(loom)]
        if mutation("unsubscribe_check_then_remove") && self.remove_if_last(digest, slot) {
            return;
        }
        let (removed, _) = self.digests.update(digest, |entry| {
            let Some(Slot::Waiting(slots)) = entry else {
                return (Op::Keep, false);
            };
            let Some(index) = slots.iter().position(|s| Arc::ptr_eq(s, slot)) else {
                return (Op::Keep, false);
            };
            slots.swap_remove(index);
            self.counts.subscriptions.fetch_sub(1, Ordering::Relaxed);
            if slots.is_empty() {
                self.counts.waiters.fetch_sub(1, Ordering::Relaxed);
                self.metrics.waiters.decrement(1);
                (Op::Remove, true)
            } else {
                (Op::Keep, true)
            }
        });
        if removed {
            self.metrics.subscriptions.decrement(1);
            self.metrics.subscribe_dropped.increment(1);
        }
    }

    /// An insert attempt that caches nothing: serve and remove the waiters of `digest`, if any.
    pub(crate) fn serve(&self, digest: M::Digest, message: M) {
        let (slots, _) = self.digests.update(digest, |entry| match entry {
            Some(Slot::Waiting(slots)) => {
                let slots = std::mem::take(slots);
                self.forget_waiters(slots.len());
                (Op::Remove, slots)
            }
            _ => (Op::Keep, Vec::new()),
        });
        Wakeups {
            slots,
            message: Some(message),
            cached: false,
            size: 0,
        }
        .wake(&self.metrics);
    }

    /// One more deque holds `digest`: take a reference, caching the message on the first one and
    /// taking the waiters in the same critical section (the subscribe-vs-insert race of the
    /// `buffer` module docs). Called under the deque lock;
    /// wake the result after releasing it.
    pub(crate) fn acquire(&self, digest: M::Digest, message: M, size: usize) -> Wakeups<M> {
        #[cfg(loom)]
        if mutation("split_wake_and_cache") {
            return self.acquire_in_two_sections(digest, message, size);
        }
        // Nothing is removed or replaced here but a `Waiting` slot, whose waiters were taken.
        let (wakeups, _) = self.digests.update(digest, |entry| match entry {
            Some(Slot::Cached { refs, size, .. }) => {
                *refs += 1;
                (Op::Keep, Wakeups::none(Some(message), false, *size))
            }
            Some(Slot::Waiting(slots)) => {
                // Clone before changing anything: a panicking `Clone` leaves the slot as it was.
                let cached = Slot::Cached {
                    message: message.clone(),
                    refs: 1,
                    size,
                };
                let slots = std::mem::take(slots);
                self.forget_waiters(slots.len());
                (
                    Op::Insert(cached),
                    Wakeups {
                        slots,
                        message: Some(message),
                        cached: true,
                        size,
                    },
                )
            }
            None => (
                Op::Insert(Slot::Cached {
                    message,
                    refs: 1,
                    size,
                }),
                Wakeups::none(None, true, size),
            ),
        });
        wakeups
    }

    /// The size of the cached copy of `digest`, if it is cached.
    pub(crate) fn cached_size(&self, digest: &M::Digest) -> Option<usize> {
        self.digests
            .read(digest, |slot| match slot {
                Slot::Cached { size, .. } => Some(*size),
                Slot::Waiting(_) => None,
            })
            .flatten()
    }

    /// One deque no longer holds `digest`: drop a reference, and the message with the last one.
    /// Decrement, check and removal are one critical section, so an insert from another peer
    /// cannot revive the slot in between. Returns the freed message so that the caller drops it
    /// after releasing its own locks, and accounts for it with [`Store::adjust_cached`].
    pub(crate) fn release(&self, digest: M::Digest, reason: Eviction) -> Option<Freed<M>> {
        #[cfg(loom)]
        if mutation("release_without_recheck") {
            return self.release_without_recheck(digest, reason);
        }
        let ((), freed) = self.digests.update(digest, |entry| match entry {
            Some(Slot::Cached { refs, .. }) if *refs > 1 => {
                *refs -= 1;
                (Op::Keep, ())
            }
            Some(Slot::Cached { .. }) => {
                self.metrics.eviction(reason).increment(1);
                (Op::Remove, ())
            }
            // Unreachable while invariant 1 holds (a digest in a live deque is cached); left
            // untouched rather than panicking, and reported by `check_invariants`.
            _ => (Op::Keep, ()),
        });
        match freed {
            Some(Slot::Cached { message, size, .. }) => Some(Freed { message, size }),
            _ => None,
        }
    }

    /// Applies a net change to the cached-message count and bytes, and their gauges. Callers
    /// apply an insert's evictions and its new message together, so the counts move once per
    /// insert and, applied after the evictions, never exceed the bound.
    pub(crate) fn adjust_cached(&self, delta: Delta) {
        adjust(&self.counts.cached, &self.metrics.cached, delta.count);
        adjust(
            &self.counts.cached_bytes,
            &self.metrics.cached_bytes,
            delta.bytes,
        );
    }

    pub(super) fn forget_waiters(&self, served: usize) {
        self.counts
            .subscriptions
            .fetch_sub(served, Ordering::Relaxed);
        self.counts.waiters.fetch_sub(1, Ordering::Relaxed);
        self.metrics.subscriptions.decrement(served as u64);
        self.metrics.waiters.decrement(1);
    }
}

impl<M: Message> Store<M> {
    pub(crate) fn max_subscriptions(&self) -> Option<usize> {
        self.max_subscriptions
    }
}
