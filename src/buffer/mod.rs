//! The concurrent buffer: shardcast's core.
//!
//! # State
//!
//! ```text
//! store.digests : ShardedMap<Digest, Slot>      Slot = Cached { message, refs } | Waiting([WaiterSlot])
//! peers.deques  : ShardedMap<Peer, Arc<PeerEntry>>   PeerEntry = { Mutex<PeerDeque>, peer_total handle }
//!                                                     PeerDeque = { retired, digests (ordered set) }
//! peers.primary : SwapCell<PeerSet>              (ArcSwap in production)
//! peers.update  : Mutex<()>                      serialises peer-set updates
//! closing       : Mutex<()>                      held by `close` for its whole sweep
//! ```
//!
//! A message is stored once, in its digest's slot; `refs` counts the live deques that hold the
//! digest. Each primary peer's deque holds its `deque_size` most recent digests.
//!
//! # Invariants (checked by `Buffer::check_invariants`, feature `test-util`)
//!
//! 1. For every cached digest, `refs` equals the number of live deques holding it and is >= 1
//!    once every operation has finished. Every digest in a live deque is cached.
//! 2. A digest appears at most once per deque; a deque never holds more than `deque_size`.
//! 3. After `update_primary(S)` returns, no live deque belongs to a peer outside `S`, and no
//!    insert that starts afterwards caches for such a peer.
//! 4. `subscribe(d)` resolves if `d` was cached when it registered, or on the first insert attempt
//!    of `d` (eligible or not) that starts after it registered. No lost wake-up.
//! 5. Dropping an unresolved subscription removes its registration at once; the last one for `d`
//!    removes the `Waiting` slot (the `waiters` gauge drops without any sweep).
//! 6. Memory: cached messages <= |primary| x `deque_size`, and with a byte budget cached bytes
//!    <= |primary| x `peer_bytes`, whatever peers send, at every instant outside peer-set
//!    updates (an insert evicts before it stores); each deque is charged the stored copy's
//!    size for every digest it holds, and their sum is within the budget. `Waiting` slots hold
//!    only live subscriptions.
//! 7. Once `close` returned, nothing is cached, no deque lives, the primary set is empty, and
//!    no subscription is pending: every one resolved to `Closed`, and later ones resolve to
//!    `Closed` at once.
//!
//! # Lock order
//!
//! `peers` shard -> deque mutex -> `digests` shard -> waiter slot (a leaf). The `update` mutex
//! comes before all of them, and the primary set is read lock-free (inside any of them). The
//! `closing` mutex is taken by `close` alone, before everything else, and held while it sweeps
//! and resolves the pending subscriptions (so a second `close` returns only once the first has
//! finished): a waker run by that sweep must not call `close` itself. A forwarder's mutex
//! ([`crate::forward`]) sits after `closing` (a sweep wakes forwarders) and before the waiter
//! slot (it polls its subscription under it); it drops a subscription, which takes a `digests`
//! shard, only after releasing it.
//!
//! The engine ([`crate::engine`]) adds one mutex, its outbox's overflow: a leaf, taken with
//! no buffer lock held, under which only the outbox's channel operations run (no user code).
//!
//! - Maps are used only through closures (`sync::ShardedMap`), so no shard guard
//!   outlives a call, crosses an `.await`, or is alive while a deque lock is taken: the deque's
//!   `Arc` is cloned out of the map first.
//! - Waiters are taken out of their slot inside the critical section and woken after every lock
//!   is released (`store::Wakeups`).
//! - `Message::digest` and `Message::size` run before any lock. The only user code run under a
//!   lock is `Message::clone` (a `get`, or a cached copy for woken waiters), the closure given
//!   to `Buffer::read` (under a digest shard's read lock), and the peer type's
//!   `Clone`/`Hash`/`Ord`; messages freed by an eviction are dropped after the locks are
//!   released. None of these may call back into the buffer.
//! - Metric handles are also updated inside critical sections (evictions under a digest
//!   shard's write lock, subscription gauges while registering): with the `metrics` facade that
//!   runs the installed recorder's handle code there, so a recorder must not call back into the
//!   buffer either. Messages freed by a peer-set update are dropped while the update mutex is
//!   still held (after the deque and shard locks are released): a slow `Drop` delays the next
//!   update, never an insert.
//!
//! # The races and their orderings
//!
//! - **subscribe vs insert**: "is it cached?" and "register" are one critical section on the
//!   digest's entry; an eligible insert turns `Waiting` into `Cached` and takes the waiters in
//!   one critical section; an ineligible one removes the `Waiting` slot and serves it.
//! - **last release vs insert from another peer**: decrement, check and removal are one
//!   critical section on the digest's entry, so a concurrent insert either revives the slot
//!   before (and the release only decrements) or recreates it after.
//! - **peer-set swap vs insert from a removed peer**: the update stores the new set, then scans;
//!   deque creation re-reads the set under the `peers` shard write lock; a deque removed by an
//!   update is marked `retired` under its lock, and a retired deque caches nothing.
//! - **dropped subscriber vs insert**: `Drop` removes its own registration by identity in one
//!   critical section; an insert that took it first sees it cancelled and counts it dropped.
//! - **close vs subscribe**: `close` sets the closed flag, then sweeps the `Waiting` slots one
//!   shard lock at a time; a registration reads the flag under its shard's lock, so it either
//!   precedes the sweep of that shard (and is swept) or sees the flag (and resolves to
//!   `Closed` at once). Sweeping first would strand a subscriber registered in between.
//! - **close vs insert**: `close` empties the primary set for good (under the update mutex, so
//!   no later update re-opens it) and retires every deque; an insert then caches nothing, and
//!   one already holding a deque's lock finishes first and is released by the retirement.

pub(crate) mod peers;
mod slot;
mod store;
mod subscription;
#[cfg(loom)]
mod wrong;

pub use slot::Closed;
pub use subscription::Subscription;

use crate::config::{Config, ConfigError};
use crate::message::{Message, Peer};
use crate::metrics::{Counter, Eviction, Metrics};
use crate::sync::{Arc, Mutex, ShardedMap, mutation};
use peers::{ByOrd, DequeRef, PeerSet, Peers};
use std::fmt::{self, Debug};
use std::hash::Hash;
use std::sync::atomic::Ordering;
use store::{Delta, Store};
use thiserror::Error;

/// Applies an insert's net change to the cached count and bytes when dropped, also while
/// unwinding: one update per insert instead of two, and no drift if `M::clone` panics midway.
struct CachedDelta<'a, M: Message> {
    store: &'a Store<M>,
    delta: Delta,
}

impl<M: Message> Drop for CachedDelta<'_, M> {
    fn drop(&mut self) {
        self.store.adjust_cached(self.delta);
    }
}

/// The messages an insert evicted, out of the cache and every lock: dropping this frees them.
pub(crate) struct Evicted<M> {
    /// The deque's oldest digest's message, when it overflowed and no other deque held it.
    #[allow(dead_code)]
    oldest: Option<store::Freed<M>>,
    /// Messages evicted to keep within the per-peer byte budget.
    #[allow(dead_code)]
    more: Vec<store::Freed<M>>,
}

impl<M> Evicted<M> {
    /// Nothing evicted.
    pub(crate) fn none() -> Self {
        Self {
            oldest: None,
            more: Vec::new(),
        }
    }
}

/// What an insert did with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Insert {
    /// The digest is new in the peer's deque (it may have been cached already through another
    /// peer: the message is stored once). The oldest digest may have been evicted.
    Added,
    /// The peer's deque already held the digest: it became the peer's newest.
    Duplicate,
    /// The peer may not cache (not in the latest primary set): nothing was stored.
    Ineligible,
    /// The message is larger than the per-peer byte budget
    /// ([`Config::with_peer_bytes`]): it was not cached for this peer. Its subscribers were
    /// served all the same.
    TooLarge,
}

/// A snapshot of the buffer's size. Each field is exact when no operation is in flight.
///
/// More fields may come: outside this crate, read the fields, or start from
/// `Stats::default()` to build one for a comparison.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Stats {
    /// Messages resident in the cache (each stored once, however many peers hold it).
    pub cached: usize,
    /// Bytes of the messages resident in the cache ([`Message::size`], each stored message
    /// counted once).
    pub cached_bytes: usize,
    /// Peers holding a deque (at most the primary set).
    pub peers: usize,
    /// Size of the latest primary set.
    pub primary: usize,
    /// Digests with at least one live subscription (the `waiters` gauge).
    pub waiters: usize,
    /// Live (unresolved, not dropped) subscriptions.
    pub subscriptions: usize,
}

/// Why [`Buffer::try_subscribe`] refused a subscription.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The configured limit of live subscriptions is reached.
    #[error("subscription limit of {limit} live subscriptions reached")]
    Full {
        /// The configured limit.
        limit: usize,
    },
}

/// A concurrent cache of messages from the primary peers of a network, with subscriptions.
///
/// Share it between tasks and threads behind a [`std::sync::Arc`]; every method takes
/// `&self`, none blocks on another caller for longer than a short critical section, and none is
/// `async`. See the [module docs](self) for the state, the invariants and the lock order.
///
/// The peer type `P` is any [`Peer`]: its `Ord` must agree with its `Eq`, because the buffer's
/// maps compare peers with `Ord`.
pub struct Buffer<P, M: Message> {
    store: Arc<Store<M>>,
    pub(crate) peers: Peers<P, M::Digest>,
    deque_size: usize,
    peer_bytes: Option<usize>,
    /// Per-sender `peer_total` handles, when enabled (kept by [`crate::receive`]).
    pub(crate) peer_counters: Option<ShardedMap<ByOrd<P>, Counter>>,
    /// Held by [`close`](Self::close) for its whole sweep: a concurrent `close` returns only once
    /// the first has finished.
    closing: Mutex<()>,
    /// Formats a sender's `sequencer` label, once per sender (`Debug` unless the builder chose:
    /// the commonware adapter labels with `Display`, as the reference does).
    pub(crate) peer_label: fn(&P) -> String,
}

/// The default `sequencer` label of a sender: its `Debug` form.
fn debug_label<P: Peer>(peer: &P) -> String {
    format!("{peer:?}")
}

impl<P, M> Buffer<P, M>
where
    P: Peer,
    M: Message,
{
    /// Builds an empty buffer. Its primary set is empty, so nothing is cached before the first
    /// [`update_primary`](Self::update_primary).
    ///
    /// Metric handles are registered here, with the recorder installed at this moment.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        let metrics = Metrics::facade(config.metrics_prefix());
        Ok(Self::with_metrics(config, metrics))
    }

    /// Builds an empty buffer whose metrics go to `registry` instead of the `metrics` facade:
    /// every series is handed over here, once (see [`crate::metrics::Registry`]). This is how
    /// an adapter puts them in the registry of the runtime it runs on.
    pub fn with_registry(
        config: Config,
        registry: &mut impl crate::metrics::Registry,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let metrics = Metrics::registry(registry, config.peer_metrics());
        Ok(Self::with_metrics(config, metrics))
    }

    /// Builds an empty buffer reporting to `metrics` (`config` already validated).
    pub(crate) fn with_metrics(config: Config, metrics: Metrics) -> Self {
        Self {
            store: Arc::new(Store::new(
                config.shards(),
                metrics,
                config.max_subscriptions(),
            )),
            peers: Peers::new(config.shards()),
            deque_size: config.deque_size(),
            peer_bytes: config.peer_bytes(),
            peer_counters: config
                .peer_metrics()
                .then(|| ShardedMap::new(config.shards())),
            closing: Mutex::new(()),
            peer_label: debug_label::<P>,
        }
    }

    /// Labels senders' `peer_total` series with `label` instead of their `Debug` form (a
    /// sender's label is made once, when its series is created).
    pub fn with_peer_label(mut self, label: fn(&P) -> String) -> Self {
        self.peer_label = label;
        self
    }

    /// Counts a subscription whose receiver was gone before it was made, as the reference
    /// engines count a responder they cannot answer: `subscribe_total{Dropped}` (nothing once
    /// closed). For adapters whose subscribe call takes the caller's responder.
    pub fn abandon_subscribe(&self) {
        if !self.is_closed() {
            self.store.metrics.subscribe_dropped.increment(1);
        }
    }

    /// Offers `message`, sent by `peer`, to the buffer.
    ///
    /// In order: the digest is computed; every subscriber waiting for it is served (whatever
    /// follows); if `peer` is not in the latest primary set nothing is stored
    /// ([`Insert::Ineligible`]); if `peer`'s deque already holds the digest it becomes the newest
    /// ([`Insert::Duplicate`], the stored copy is kept); otherwise the digest becomes `peer`'s
    /// newest, the message is stored unless another peer's deque already holds it, and `peer`'s
    /// oldest digest beyond `deque_size` is evicted (its message too, once no deque holds it).
    ///
    /// Counts no receive metric: messages from the network go through
    /// [`receive`](Self::receive) (receive accounting, in `shardcast::receive`).
    pub fn insert(&self, peer: P, message: M) -> Insert {
        let (digest, size) = (message.digest(), message.size());
        self.insert_digest(&peer, digest, size, message)
    }

    /// Whether counts wait in stripes for [`flush_metrics`](Self::flush_metrics) (the `metrics`
    /// facade backend; a registry is exact at every scrape).
    #[cfg(feature = "engine")]
    pub(crate) fn metrics_lag(&self) -> bool {
        self.store.metrics.lags()
    }

    /// The metric handles (for receive accounting, which lives in `crate::receive`).
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.store.metrics
    }

    /// Inserts `message`, whose digest and size the caller computed (before any lock).
    pub(crate) fn insert_digest(
        &self,
        peer: &P,
        digest: M::Digest,
        size: usize,
        message: M,
    ) -> Insert {
        self.insert_into(self.peers.deque(peer), digest, size, message)
    }

    /// [`insert`](Self::insert) that hands back the messages the insert evicted, to be dropped
    /// where the caller chooses: the engine's broadcasts leave them to its sender task, so that
    /// freeing an evicted 8 MiB block (an `munmap`) never runs on the caller's task.
    #[cfg(feature = "engine")]
    pub(crate) fn insert_keeping_evicted(&self, peer: &P, message: M) -> (Insert, Evicted<M>) {
        let (digest, size) = (message.digest(), message.size());
        self.insert_into_keeping(self.peers.deque(peer), digest, size, message)
    }

    /// [`insert_digest`](Self::insert_digest) with the sender's deque already looked up
    /// (`None`: the sender may not cache). What it evicted is dropped before it returns,
    /// after every lock is released.
    pub(crate) fn insert_into(
        &self,
        deque: Option<DequeRef<M::Digest>>,
        digest: M::Digest,
        size: usize,
        message: M,
    ) -> Insert {
        self.insert_into_keeping(deque, digest, size, message).0
    }

    /// [`insert_into`](Self::insert_into), handing back what it evicted (see [`Evicted`]).
    fn insert_into_keeping(
        &self,
        deque: Option<DequeRef<M::Digest>>,
        digest: M::Digest,
        size: usize,
        message: M,
    ) -> (Insert, Evicted<M>) {
        let none = Evicted::none;
        let Some(deque) = deque else {
            self.store.serve(digest, message);
            return (Insert::Ineligible, none());
        };
        if self.peer_bytes.is_some_and(|limit| size > limit) {
            self.store.serve(digest, message);
            return (Insert::TooLarge, none());
        }
        let mut guard = deque.lock();
        let retired = guard.is_retired() && !mutation("ignore_retired");
        if retired {
            // Removed by a peer-set update after we fetched it: that update linearises first.
            drop(guard);
            self.store.serve(digest, message);
            return (Insert::Ineligible, none());
        }
        if self.deque_size == 0 {
            // Every insert would evict itself at once: nothing to store, waiters to serve.
            drop(guard);
            self.store.serve(digest, message);
            return (Insert::Added, none());
        }
        if guard.touch(&digest) {
            // The deque holds the digest, so it is cached and has no waiters to serve.
            return (Insert::Duplicate, none());
        }
        // A deque is charged the size of the copy the store keeps (the first one cached).
        let charge = match self.peer_bytes {
            Some(limit) => {
                let charge = self.store.cached_size(&digest).unwrap_or(size);
                if charge > limit {
                    drop(guard);
                    self.store.serve(digest, message);
                    return (Insert::TooLarge, none());
                }
                charge
            }
            None => size,
        };
        // Evict first, store second, push last. Evicting first keeps the cached messages (and
        // bytes) within their bounds at every instant. Storing before pushing makes the one
        // step that runs user code under a lock (`M::clone`, when waiters must be served and
        // the slot keeps a copy) come before any change to the deque: if it panics, the deque
        // has merely lost its oldest entries, properly released, and the accounting below
        // still runs (on unwind).
        let mut cached = CachedDelta {
            store: &self.store,
            delta: Delta::default(),
        };
        let freed = guard
            .make_room(self.deque_size)
            .and_then(|old| self.store.release(old, Eviction::Overflow));
        if let Some(freed) = &freed {
            cached.delta.free(freed.size);
        }
        let mut more = Vec::new();
        if let Some(limit) = self.peer_bytes {
            self.make_room_for_bytes(&mut guard, limit, charge, &mut cached.delta, &mut more);
        }
        let wakeups = self.store.acquire(digest, message, size);
        if wakeups.cached {
            cached.delta.store(wakeups.size);
        }
        guard.push_newest(digest, wakeups.size);
        let recharge = !mutation("skip_recharge");
        if let Some(limit) = self.peer_bytes
            && wakeups.size > charge
            && recharge
        {
            // Another peer cached a larger copy of this digest between our look and our store:
            // that copy is what the deque holds, so make room for it now.
            self.make_room_for_bytes(&mut guard, limit, 0, &mut cached.delta, &mut more);
        }
        drop(cached);
        drop(guard);
        wakeups.wake(&self.store.metrics);
        (
            Insert::Added,
            Evicted {
                oldest: freed,
                more,
            },
        )
    }

    /// Evicts the deque's oldest digests until `incoming` more bytes fit in `limit`; the freed
    /// messages go to `freed`, to be dropped after the locks are released.
    fn make_room_for_bytes(
        &self,
        deque: &mut peers::PeerDeque<M::Digest>,
        limit: usize,
        incoming: usize,
        delta: &mut Delta,
        freed: &mut Vec<store::Freed<M>>,
    ) {
        while let Some(old) = deque.make_room_for_bytes(limit, incoming) {
            if let Some(message) = self.store.release(old, Eviction::Bytes) {
                delta.free(message.size);
                freed.push(message);
            }
        }
    }

    /// A clone of the cached message with this digest, if any. Does not change recency.
    /// Counts `get_total{Success|Failure}`.
    pub fn get(&self, digest: &M::Digest) -> Option<M> {
        self.store.get(digest)
    }

    /// Lends the cached message with this digest to `f`, with no copy, and returns what `f`
    /// returns; `None` when it is not cached. Does not change recency; counts `get_total` like
    /// [`get`](Self::get).
    ///
    /// `f` runs under the read lock of the digest's shard: inserts and evictions of digests in
    /// that shard wait until it returns, so keep it short, and never call back into the buffer
    /// from it (a write to the same shard would deadlock). It is the only user code the buffer
    /// runs under a lock besides `Clone` and the digest's and peer's `Hash`/`Eq`/`Ord`.
    ///
    /// ```
    /// # use shardcast::{Buffer, Config, Message};
    /// # #[derive(Clone)] struct Block { height: u64, body: Vec<u8> }
    /// # impl Message for Block { type Digest = u64; fn digest(&self) -> u64 { self.height } }
    /// let buffer: Buffer<u8, Block> = Buffer::new(Config::new(4)).unwrap();
    /// buffer.update_primary([1]);
    /// buffer.insert(1, Block { height: 7, body: vec![0; 1 << 20] });
    /// // The megabyte is not copied: only its length comes out.
    /// assert_eq!(buffer.read(&7, |block| block.body.len()), Some(1 << 20));
    /// ```
    pub fn read<R>(&self, digest: &M::Digest, f: impl FnOnce(&M) -> R) -> Option<R> {
        self.store.read(digest, f)
    }

    /// Subscribes to `digest`: the future resolves at once when it is cached, and otherwise on
    /// the first insert attempt of it that starts after this call. See [`Subscription`].
    ///
    /// Ignores [`Config::with_max_subscriptions`]: use [`try_subscribe`](Self::try_subscribe)
    /// where the digests come from untrusted input.
    pub fn subscribe(&self, digest: M::Digest) -> Subscription<M> {
        let registration = self.store.register(digest, false);
        Subscription::new(&self.store, digest, registration)
            .expect("an unlimited registration always succeeds")
    }

    /// Like [`subscribe`](Self::subscribe), but refuses to register a new live subscription
    /// beyond the configured limit. A digest that is already cached always succeeds.
    pub fn try_subscribe(&self, digest: M::Digest) -> Result<Subscription<M>, SubscribeError> {
        let registration = self.store.register(digest, true);
        // `subscription` is `None` only for `Registration::Full`.
        Subscription::new(&self.store, digest, registration).ok_or_else(|| SubscribeError::Full {
            limit: self.store.max_subscriptions().unwrap_or(usize::MAX),
        })
    }

    /// Replaces the primary set: only its peers may cache from now on. Deques of peers that
    /// left it are dropped, and their messages are evicted unless a remaining peer's deque
    /// holds them. Peers that stay keep their deques; a peer that comes back starts empty.
    ///
    /// Concurrent updates are serialised; when they return, the last one to start is in force.
    pub fn update_primary(&self, peers: impl IntoIterator<Item = P>) {
        let set: PeerSet<P> = peers.into_iter().map(ByOrd).collect();
        let mut delta = Delta::default();
        self.peers.replace(set, |digest| {
            if let Some(freed) = self.store.release(digest, Eviction::PeerLeft) {
                delta.free(freed.size);
            }
        });
        self.store.adjust_cached(delta);
    }

    /// Closes the buffer: every pending subscription resolves to `Err(`[`Closed`]`)`, every
    /// cached message is freed, and from now on `insert` caches nothing (it still reports
    /// [`Insert::Ineligible`]), `subscribe` resolves to `Err(Closed)` at once, `get` finds
    /// nothing and `update_primary` is ignored. Idempotent: a call made while another runs
    /// returns once that one has finished, so whenever `close` returns, the buffer is closed
    /// and swept.
    ///
    /// Dropping the last handle to a buffer closes it too, so no subscription waits on a
    /// buffer that is gone, and none keeps its messages alive.
    pub fn close(&self) {
        #[cfg(loom)]
        if mutation("close_flag_after_sweep") {
            return self.close_flag_after_sweep();
        }
        // The wrong ordering loom must catch: a second `close` that does not wait for the first.
        let _closing = (!mutation("close_without_waiting")).then(|| self.closing.lock());
        if !self.store.mark_closed() {
            return;
        }
        let mut delta = Delta::default();
        self.peers.close(|digest| {
            if let Some(freed) = self.store.release(digest, Eviction::Closed) {
                delta.free(freed.size);
            }
        });
        self.store.adjust_cached(delta);
        self.store.close_waiters();
        // Nothing is counted on this buffer from now on but stragglers: hand everything over.
        self.store.metrics.flush();
    }

    /// Whether [`close`](Self::close) has been called.
    pub fn is_closed(&self) -> bool {
        self.store.is_closed()
    }

    /// Whether `peer` is in the latest primary set.
    pub fn is_primary(&self, peer: &P) -> bool {
        self.peers.is_primary(peer)
    }

    /// Whether a message with this digest is cached (no clone, no metric).
    pub fn contains(&self, digest: &M::Digest) -> bool {
        self.store
            .digests
            .read(digest, |slot| matches!(slot, store::Slot::Cached { .. }))
            .unwrap_or(false)
    }

    /// The digests `peer`'s deque holds, newest first, or `None` when it has no deque.
    pub fn peer_digests(&self, peer: &P) -> Option<Vec<M::Digest>> {
        let deque = self.peers.deques.read(ByOrd::of(peer), Arc::clone)?;
        let guard = deque.lock();
        Some(guard.newest_first().copied().collect())
    }

    /// Most digests cached per primary peer.
    pub fn deque_size(&self) -> usize {
        self.deque_size
    }

    /// Hands every count still held in the counters' stripes to the `metrics` recorder, so that
    /// a scrape after this call reads every operation made before it.
    ///
    /// Counters on the facade path are striped per thread and reach the recorder 64 at a time
    /// per stripe (see [`crate::metrics`]): without a flush a series may read up to 63 per
    /// thread low. A running [`Engine`](crate::engine::Engine) flushes its buffer once a second;
    /// [`close`](Self::close) and dropping the buffer flush too. Counters in a commonware
    /// registry are exact at every scrape, and this does nothing for them.
    pub fn flush_metrics(&self) {
        self.store.metrics.flush();
    }

    /// The buffer's current size.
    pub fn stats(&self) -> Stats {
        let counts = &self.store.counts;
        Stats {
            cached: counts.cached.load(Ordering::Relaxed),
            cached_bytes: counts.cached_bytes.load(Ordering::Relaxed),
            peers: self.peers.live.load(Ordering::Relaxed),
            primary: self.peers.primary.with(|set| set.len()),
            waiters: counts.waiters.load(Ordering::Relaxed),
            subscriptions: counts.subscriptions.load(Ordering::Relaxed),
        }
    }

    /// Checks every invariant of the [module docs](self) and that [`stats`](Self::stats) agrees
    /// with the state; panics with a description of the first broken one.
    ///
    /// Meaningful only when no other operation is in flight (a concurrent insert may be between
    /// two of its steps). Walks the whole state: for tests, not for hot paths.
    #[cfg(any(test, loom, feature = "test-util"))]
    pub fn check_invariants(&self) {
        use std::collections::HashMap;

        let mut deques = Vec::new();
        self.peers
            .deques
            .for_each(|peer, deque| deques.push((peer.0.clone(), deque.clone())));
        let primary: Vec<P> = self
            .peers
            .primary
            .with(|set| set.iter().map(|peer| peer.0.clone()).collect());
        let mut holders: HashMap<M::Digest, usize> = HashMap::new();
        for (peer, deque) in &deques {
            let guard = deque.lock();
            assert!(!guard.is_retired(), "live deque of {peer:?} is retired");
            assert!(
                primary.contains(peer),
                "invariant 3: {peer:?} holds a deque but is not primary"
            );
            assert!(
                guard.len() <= self.deque_size,
                "invariant 2: deque of {peer:?} holds {} > deque_size {}",
                guard.len(),
                self.deque_size
            );
            if let Some(limit) = self.peer_bytes {
                assert!(
                    guard.bytes() <= limit,
                    "deque of {peer:?} holds {} bytes > budget {limit}",
                    guard.bytes()
                );
            }
            let mut sum = 0;
            for (digest, charge) in guard.charges() {
                *holders.entry(*digest).or_default() += 1;
                sum += charge;
                let stored = self.store.cached_size(digest);
                assert!(
                    stored.is_none_or(|size| size == *charge),
                    "deque of {peer:?} charged {charge} bytes for {digest:?}, stored {stored:?}"
                );
            }
            assert_eq!(sum, guard.bytes(), "deque of {peer:?}: byte sum drifted");
        }

        let (mut cached, mut cached_bytes, mut waiting, mut subscriptions) = (0, 0, 0, 0);
        self.store.digests.for_each(|digest, slot| match slot {
            store::Slot::Cached { refs, size, .. } => {
                cached += 1;
                cached_bytes += size;
                let held = holders.remove(digest).unwrap_or(0);
                assert!(*refs >= 1, "invariant 1: {digest:?} is cached with refs 0");
                assert_eq!(
                    *refs, held,
                    "invariant 1: {digest:?} has refs {refs} but {held} deques hold it"
                );
            }
            store::Slot::Waiting(slots) => {
                waiting += 1;
                subscriptions += slots.len();
                assert!(
                    !slots.is_empty(),
                    "invariant 5: {digest:?} awaited by nobody"
                );
            }
        });
        assert!(
            holders.is_empty(),
            "invariant 1: digests held by a deque but not cached: {:?}",
            holders.keys().collect::<Vec<_>>()
        );
        let expected = Stats {
            cached,
            cached_bytes,
            peers: deques.len(),
            primary: primary.len(),
            waiters: waiting,
            subscriptions,
        };
        assert_eq!(self.stats(), expected, "stats() disagrees with the state");
        if self.is_closed() {
            assert_eq!(
                (cached, waiting, deques.len(), primary.len()),
                (0, 0, 0, 0),
                "a closed buffer holds no message, no waiter, no deque and no primary peer"
            );
        }
        assert!(
            cached <= primary.len().saturating_mul(self.deque_size),
            "invariant 6: {cached} cached > |primary| {} x deque_size {}",
            primary.len(),
            self.deque_size
        );
        if let Some(limit) = self.peer_bytes {
            assert!(
                cached_bytes <= primary.len().saturating_mul(limit),
                "invariant 6: {cached_bytes} bytes cached > |primary| {} x peer_bytes {limit}",
                primary.len()
            );
        }
    }
}

impl<P, M: Message> Drop for Buffer<P, M> {
    fn drop(&mut self) {
        // Pending subscriptions hold the store, not the buffer: resolve them and free the cache
        // (the deques go with the buffer itself).
        if self.store.mark_closed() {
            self.store.close_waiters();
            self.store.clear_cache();
        }
        // Subscriptions may keep the store (and its counters) alive: report every count now.
        self.store.metrics.flush();
    }
}

impl<P, M: Message> Debug for Buffer<P, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Buffer")
            .field("deque_size", &self.deque_size)
            .field("cached", &self.store.counts.cached.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sync::Op;
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};

    #[derive(Clone, Debug, PartialEq)]
    struct Msg {
        id: u32,
        copy: u32,
    }

    impl Message for Msg {
        type Digest = u32;
        fn digest(&self) -> u32 {
            self.id
        }
    }

    fn msg(id: u32) -> Msg {
        Msg { id, copy: 0 }
    }

    fn buffer(deque_size: usize, primary: &[u8]) -> Buffer<u8, Msg> {
        let buffer = Buffer::new(Config::new(deque_size).with_shards(4)).unwrap();
        buffer.update_primary(primary.iter().copied());
        buffer
    }

    fn poll(sub: &mut Subscription<Msg>) -> Poll<Msg> {
        Pin::new(sub)
            .poll(&mut Context::from_waker(Waker::noop()))
            .map(|outcome| outcome.expect("the buffer is open"))
    }

    #[test]
    fn nothing_is_cached_before_the_first_peer_set() {
        let buffer: Buffer<u8, Msg> = Buffer::new(Config::new(4)).unwrap();
        assert_eq!(buffer.insert(1, msg(1)), Insert::Ineligible);
        assert_eq!(buffer.get(&1), None);
        buffer.check_invariants();
    }

    #[test]
    fn a_message_held_by_two_peers_is_stored_once_and_lives_until_both_evict_it() {
        let buffer = buffer(2, &[1, 2]);
        assert_eq!(buffer.insert(1, msg(7)), Insert::Added);
        assert_eq!(buffer.insert(2, Msg { id: 7, copy: 1 }), Insert::Added);
        assert_eq!(buffer.stats().cached, 1);
        assert_eq!(buffer.get(&7), Some(msg(7)), "the first copy stays");
        buffer.insert(1, msg(8));
        buffer.insert(1, msg(9));
        assert!(buffer.contains(&7), "peer 2 still holds it");
        buffer.insert(2, msg(10));
        buffer.insert(2, msg(11));
        assert!(!buffer.contains(&7));
        buffer.check_invariants();
    }

    #[test]
    fn a_subscription_made_before_the_insert_resolves_with_the_inserted_copy() {
        let buffer = buffer(2, &[1]);
        let mut sub = buffer.subscribe(3);
        assert!(poll(&mut sub).is_pending());
        assert_eq!(buffer.stats().subscriptions, 1);
        assert_eq!(buffer.stats().waiters, 1);
        buffer.insert(1, Msg { id: 3, copy: 5 });
        assert_eq!(poll(&mut sub), Poll::Ready(Msg { id: 3, copy: 5 }));
        assert_eq!(buffer.stats().subscriptions, 0);
        buffer.check_invariants();
    }

    #[test]
    fn an_ineligible_insert_serves_waiters_and_caches_nothing() {
        let buffer = buffer(2, &[1]);
        let mut subs = [buffer.subscribe(3), buffer.subscribe(3)];
        assert_eq!(buffer.insert(9, msg(3)), Insert::Ineligible);
        for sub in &mut subs {
            assert_eq!(poll(sub), Poll::Ready(msg(3)));
        }
        assert!(!buffer.contains(&3));
        buffer.check_invariants();
    }

    #[test]
    fn deque_size_zero_caches_nothing_but_serves_waiters() {
        let buffer = buffer(0, &[1]);
        let mut sub = buffer.subscribe(3);
        assert_eq!(buffer.insert(1, msg(3)), Insert::Added);
        assert_eq!(poll(&mut sub), Poll::Ready(msg(3)));
        assert_eq!(buffer.stats().cached, 0);
        buffer.check_invariants();
    }

    #[test]
    fn a_subscription_to_a_cached_digest_is_ready_at_once_and_registers_nothing() {
        let buffer = buffer(2, &[1]);
        buffer.insert(1, msg(3));
        let mut sub = buffer.subscribe(3);
        assert!(sub.is_ready());
        assert_eq!(buffer.stats().subscriptions, 0);
        assert_eq!(sub.try_take(), Some(Ok(msg(3))));
    }

    #[test]
    fn dropping_subscriptions_frees_their_registrations_at_once() {
        let buffer = buffer(2, &[1]);
        let a = buffer.subscribe(3);
        let b = buffer.subscribe(3);
        let c = buffer.subscribe(4);
        assert_eq!(buffer.stats().waiters, 2);
        drop(a);
        assert_eq!(buffer.stats().subscriptions, 2);
        assert_eq!(buffer.stats().waiters, 2);
        drop(b);
        drop(c);
        assert_eq!(
            buffer.stats(),
            Stats {
                primary: 1,
                ..Stats::default()
            }
        );
        buffer.check_invariants();
    }

    #[test]
    fn a_served_but_unpolled_subscription_can_be_dropped() {
        let buffer = buffer(2, &[1]);
        let sub = buffer.subscribe(3);
        buffer.insert(1, msg(3));
        assert!(sub.is_ready());
        drop(sub);
        buffer.check_invariants();
    }

    #[test]
    fn try_subscribe_refuses_beyond_the_limit_but_not_for_cached_digests() {
        let buffer: Buffer<u8, Msg> =
            Buffer::new(Config::new(2).with_max_subscriptions(Some(2))).unwrap();
        buffer.update_primary([1]);
        let a = buffer.try_subscribe(1).unwrap();
        let _b = buffer.try_subscribe(2).unwrap();
        assert_eq!(
            buffer.try_subscribe(3).unwrap_err(),
            SubscribeError::Full { limit: 2 }
        );
        buffer.insert(1, msg(9));
        assert!(buffer.try_subscribe(9).unwrap().is_ready());
        drop(a);
        let _c = buffer
            .try_subscribe(3)
            .expect("a dropped subscription frees its place");
        buffer.check_invariants();
    }

    #[test]
    fn a_peer_that_leaves_and_returns_starts_empty() {
        let buffer = buffer(2, &[1]);
        buffer.insert(1, msg(3));
        buffer.update_primary([2]);
        assert_eq!(buffer.peer_digests(&1), None);
        buffer.update_primary([1, 2]);
        assert_eq!(buffer.insert(1, msg(4)), Insert::Added);
        assert_eq!(buffer.peer_digests(&1), Some(vec![4]));
        assert!(!buffer.contains(&3));
        buffer.check_invariants();
    }

    #[test]
    fn check_invariants_catches_a_leaked_reference() {
        let buffer = buffer(2, &[1]);
        buffer.insert(1, msg(3));
        // Break invariant 1 by hand: a reference that no deque accounts for.
        buffer.store.digests.update(3, |slot| {
            if let Some(store::Slot::Cached { refs, .. }) = slot {
                *refs += 1;
            }
            (Op::Keep, ())
        });
        let caught =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| buffer.check_invariants()));
        let message = *caught.unwrap_err().downcast::<String>().unwrap();
        assert!(message.contains("invariant 1"), "{message}");
    }

    #[test]
    fn close_resolves_pending_subscriptions_frees_the_cache_and_refuses_new_work() {
        let buffer = buffer(2, &[1]);
        buffer.insert(1, msg(3));
        let mut pending = buffer.subscribe(4);
        buffer.close();
        assert_eq!(
            Pin::new(&mut pending).poll(&mut Context::from_waker(Waker::noop())),
            Poll::Ready(Err(Closed))
        );
        assert!(buffer.is_closed());
        assert_eq!(buffer.get(&3), None, "the cache is freed");
        assert_eq!(buffer.stats(), Stats::default());
        assert_eq!(buffer.insert(1, msg(5)), Insert::Ineligible);
        assert!(!buffer.contains(&5));
        buffer.update_primary([1, 2]);
        assert_eq!(buffer.stats().primary, 0, "updates are ignored once closed");
        let mut late = buffer.subscribe(5);
        assert_eq!(late.try_take(), Some(Err(Closed)));
        buffer.close(); // idempotent
        buffer.check_invariants();
    }

    #[test]
    fn dropping_the_buffer_resolves_subscriptions_that_outlive_it() {
        let buffer = buffer(2, &[1]);
        buffer.insert(1, msg(3));
        let mut pending = buffer.subscribe(4);
        let weak = Arc::downgrade(&buffer.store);
        drop(buffer);
        let store = weak
            .upgrade()
            .expect("the pending subscription holds the store");
        assert_eq!(
            store.counts.cached.load(Ordering::Relaxed),
            0,
            "the cache is freed"
        );
        assert_eq!(store.counts.subscriptions.load(Ordering::Relaxed), 0);
        drop(store);
        assert_eq!(pending.try_take(), Some(Err(Closed)));
        assert!(weak.upgrade().is_none(), "nothing else held the store");
    }

    #[test]
    fn invalid_config_is_an_error_not_a_panic() {
        let result: Result<Buffer<u8, Msg>, _> = Buffer::new(Config::new(1).with_shards(3));
        assert_eq!(result.unwrap_err(), ConfigError::Shards(3));
    }
}
