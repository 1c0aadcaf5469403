//! Per-peer deques and the primary peer set.

use crate::metrics::Counter;
use crate::sync::{
    Arc, AtomicUsize, Mutex, MutexGuard, Op, RandomState, ShardedMap, SwapCell, mutation,
};
use hashlink::LinkedHashMap;
use ref_cast::RefCast;
use std::collections::HashSet;
use std::hash::Hash;
use std::sync::OnceLock;
use std::sync::atomic::Ordering;

/// The set of peers allowed to cache.
pub(crate) type PeerSet<P> = HashSet<ByOrd<P>, RandomState>;

/// A peer as the buffer's maps key it: equal when `Ord` says `Equal`, hashed with `Hash`.
///
/// A peer type's `==` can be far dearer than its `cmp`: commonware's ed25519 public key
/// compares decompressed curve points in constant time (about 160 ns), where `cmp` compares the
/// 32 key bytes (about 1 ns). Every map hit on a peer pays one equality, and an insert makes
/// several. So the maps compare with `Ord`, which the peer type must make agree with `Eq`
/// (and `Hash` with both), as the reference engine's `BTreeMap`s already require.
#[derive(Clone, Debug, RefCast)]
#[repr(transparent)]
pub(crate) struct ByOrd<P>(pub(crate) P);

impl<P> ByOrd<P> {
    /// Borrows `peer` as a key, without a copy.
    pub(crate) fn of(peer: &P) -> &Self {
        Self::ref_cast(peer)
    }
}

impl<P: Ord> PartialEq for ByOrd<P> {
    fn eq(&self, other: &Self) -> bool {
        self.0.cmp(&other.0) == std::cmp::Ordering::Equal
    }
}

impl<P: Ord> Eq for ByOrd<P> {}

impl<P: Hash> Hash for ByOrd<P> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

/// One peer's most recent digests: an insertion-ordered map, oldest at the front, newest at the
/// back, with O(1) membership, move-to-newest and pop-oldest. Insert cost does not grow with
/// `deque_size` (the reference scans a `VecDeque` on every insert). Each digest carries the
/// bytes charged for it; `bytes` is their sum.
pub(crate) struct PeerDeque<D> {
    digests: LinkedHashMap<D, usize, RandomState>,
    bytes: usize,
    /// Set, under this lock, by the peer-set update that removed the deque from the map. An
    /// insert that fetched the deque before the removal must cache nothing in it.
    retired: bool,
}

/// What `PeerDeque::push` did (tests only).
#[cfg(test)]
enum Push<D> {
    /// The digest was already held: it is now the newest.
    Duplicate,
    /// The digest is new; `evicted` is the oldest digest that overflowed, if any.
    Added { evicted: Option<D> },
}

impl<D: Copy + Eq + Hash> PeerDeque<D> {
    fn new() -> Self {
        Self {
            digests: LinkedHashMap::with_hasher(RandomState::default()),
            bytes: 0,
            retired: false,
        }
    }

    pub(crate) fn is_retired(&self) -> bool {
        self.retired
    }

    /// If the deque holds `digest`, makes it the newest and returns `true`.
    pub(crate) fn touch(&mut self, digest: &D) -> bool {
        self.digests.to_back(digest).is_some()
    }

    /// Makes room for one more digest within `capacity` (at least 1): removes and returns the
    /// oldest when the deque is full.
    pub(crate) fn make_room(&mut self, capacity: usize) -> Option<D> {
        if self.digests.len() >= capacity {
            self.pop_oldest()
        } else {
            None
        }
    }

    /// The oldest digest, removed, when `incoming` more bytes would exceed `budget`.
    pub(crate) fn make_room_for_bytes(&mut self, budget: usize, incoming: usize) -> Option<D> {
        if self.bytes + incoming > budget {
            self.pop_oldest()
        } else {
            None
        }
    }

    fn pop_oldest(&mut self) -> Option<D> {
        let (digest, size) = self.digests.pop_front()?;
        self.bytes -= size;
        Some(digest)
    }

    /// Bytes charged for the digests held.
    #[cfg(any(test, loom, feature = "test-util"))]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn push_newest(&mut self, digest: D, size: usize) {
        let old = self.digests.insert(digest, size);
        debug_assert!(old.is_none(), "push_newest of a digest the deque holds");
        self.bytes += size;
    }

    /// `touch`, or `make_room` + `push_newest`, as one step (for tests).
    #[cfg(test)]
    fn push(&mut self, digest: D, capacity: usize) -> Push<D> {
        if self.touch(&digest) {
            return Push::Duplicate;
        }
        let evicted = self.make_room(capacity);
        self.push_newest(digest, 1);
        Push::Added { evicted }
    }

    /// Marks the deque dead and hands back every digest it held.
    fn retire(&mut self) -> Vec<D> {
        self.retired = true;
        self.bytes = 0;
        self.digests.drain().map(|(digest, _)| digest).collect()
    }

    /// Digests from newest to oldest.
    pub(crate) fn newest_first(&self) -> impl Iterator<Item = &D> {
        self.digests.keys().rev()
    }

    /// The bytes charged for each digest, newest first.
    #[cfg(any(test, loom, feature = "test-util"))]
    pub(crate) fn charges(&self) -> impl Iterator<Item = (&D, &usize)> {
        self.digests.iter().rev()
    }

    #[cfg(any(test, loom, feature = "test-util"))]
    pub(crate) fn len(&self) -> usize {
        self.digests.len()
    }
}

/// One primary peer's entry in the deques map: its deque, and its `peer_total{sequencer}`
/// handle once a frame from it was counted. Keeping the handle here lets a frame from a primary
/// sender find both with the one map lookup an insert makes anyway (the per-sender counter then
/// costs one atomic load and one add per frame); senders without a deque fall back to the
/// buffer's own map of handles (`crate::receive`).
pub(crate) struct PeerEntry<D> {
    deque: Mutex<PeerDeque<D>>,
    /// Metrics only, outside the concurrency protocol: a `std` cell even under loom.
    counter: OnceLock<Counter>,
}

impl<D> PeerEntry<D> {
    fn new(deque: PeerDeque<D>) -> Self {
        Self {
            deque: Mutex::new(deque),
            counter: OnceLock::new(),
        }
    }

    /// Locks the deque.
    pub(crate) fn lock(&self) -> MutexGuard<'_, PeerDeque<D>> {
        self.deque.lock()
    }

    /// The sender's `peer_total` handle, if a frame from it was counted through this entry.
    pub(crate) fn counter(&self) -> Option<&Counter> {
        self.counter.get()
    }

    /// Keeps `counter` as the sender's handle (the first one set wins; all are the same series).
    pub(crate) fn keep_counter(&self, counter: Counter) {
        let _ = self.counter.set(counter);
    }
}

/// A shared handle to one peer's deque.
pub(crate) type DequeRef<D> = Arc<PeerEntry<D>>;

/// The peer half of the buffer: who may cache, and what each peer holds.
pub(crate) struct Peers<P, D> {
    pub(crate) deques: ShardedMap<ByOrd<P>, DequeRef<D>>,
    pub(crate) primary: SwapCell<PeerSet<P>>,
    /// Serialises peer-set updates (store + evict), so the last one to start wins whole; `true`
    /// once the buffer closed, after which no update applies.
    update: Mutex<bool>,
    pub(crate) live: AtomicUsize,
}

impl<P, D> Peers<P, D>
where
    P: Clone + Ord + Hash,
    D: Copy + Eq + Hash,
{
    pub(crate) fn new(shards: usize) -> Self {
        Self {
            deques: ShardedMap::new(shards),
            primary: SwapCell::new(PeerSet::default()),
            update: Mutex::new(false),
            live: AtomicUsize::new(0),
        }
    }

    pub(crate) fn is_primary(&self, peer: &P) -> bool {
        self.primary.with(|set| set.contains(ByOrd::of(peer)))
    }

    /// The deque of `peer`, created if needed; `None` when `peer` may not cache.
    ///
    /// Creation re-reads the primary set under the `peers` shard write lock (the peer-set-swap
    /// race of the `buffer` module docs): an update stores its set before it scans the shards,
    /// so either this re-check sees the new set, or the update's scan (which must take this
    /// shard lock after us) sees the deque.
    pub(crate) fn deque(&self, peer: &P) -> Option<DequeRef<D>> {
        if !self.is_primary(peer) {
            return None;
        }
        if let Some(deque) = self.deques.read(ByOrd::of(peer), Arc::clone) {
            return Some(deque);
        }
        let key = ByOrd(peer.clone());
        let (deque, _) = self.deques.update(key, |entry| match entry {
            Some(deque) => (Op::Keep, Some(deque.clone())),
            None => {
                let eligible = mutation("skip_create_recheck") || self.is_primary(peer);
                if !eligible {
                    return (Op::Keep, None);
                }
                let deque = Arc::new(PeerEntry::new(PeerDeque::new()));
                self.live.fetch_add(1, Ordering::Relaxed);
                (Op::Insert(deque.clone()), Some(deque))
            }
        });
        deque
    }

    /// Stores `set` as the primary set, then retires the deque of every peer outside it and
    /// calls `release` on each digest they held, after the deque lock is released and while the
    /// update is still serialised.
    ///
    /// Store first, evict second: an insert racing with the update either sees the new set and
    /// caches nothing, or created its deque before, and then the scan below finds it.
    /// Does nothing once the buffer closed.
    pub(crate) fn replace(&self, set: PeerSet<P>, release: impl FnMut(D)) {
        let closed = self.update.lock();
        if *closed {
            return;
        }
        self.apply(set, release);
    }

    /// Empties the primary set for good: every deque is retired (its digests released as in
    /// [`replace`](Self::replace)) and no later update applies.
    pub(crate) fn close(&self, release: impl FnMut(D)) {
        let mut closed = self.update.lock();
        *closed = true;
        self.apply(PeerSet::default(), release);
    }

    /// [`replace`](Self::replace)'s work; the caller holds the update lock.
    fn apply(&self, set: PeerSet<P>, mut release: impl FnMut(D)) {
        #[cfg(loom)]
        if mutation("evict_before_store") {
            return self.evict_before_store(set, release);
        }
        self.primary.store(set);
        let mut leaving = Vec::new();
        self.primary.with(|set| {
            self.deques.for_each(|peer, _| {
                if !set.contains(peer) {
                    leaving.push(peer.clone());
                }
            })
        });
        self.retire(leaving, &mut release);
    }

    pub(super) fn retire(&self, leaving: Vec<ByOrd<P>>, release: &mut impl FnMut(D)) {
        for peer in leaving {
            let Some(deque) = self.deques.remove(&peer) else {
                continue;
            };
            self.live.fetch_sub(1, Ordering::Relaxed);
            let digests = deque.lock().retire();
            digests.into_iter().for_each(&mut *release);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn newest_first(deque: &PeerDeque<u32>) -> Vec<u32> {
        deque.newest_first().copied().collect()
    }

    #[test]
    fn push_keeps_newest_first_and_evicts_the_oldest_beyond_capacity() {
        let mut deque = PeerDeque::new();
        for d in 0..3 {
            assert!(matches!(deque.push(d, 3), Push::Added { evicted: None }));
        }
        assert!(matches!(deque.push(3, 3), Push::Added { evicted: Some(0) }));
        assert_eq!(newest_first(&deque), [3, 2, 1]);
    }

    #[test]
    fn duplicate_moves_to_newest_so_the_next_overflow_evicts_another() {
        let mut deque = PeerDeque::new();
        for d in 0..3 {
            let _ = deque.push(d, 3);
        }
        assert!(matches!(deque.push(0, 3), Push::Duplicate));
        assert_eq!(newest_first(&deque), [0, 2, 1]);
        assert!(matches!(deque.push(9, 3), Push::Added { evicted: Some(1) }));
    }

    #[test]
    fn make_room_pops_the_oldest_only_when_full() {
        let mut deque = PeerDeque::new();
        assert_eq!(deque.make_room(1), None);
        deque.push_newest(5, 1);
        assert_eq!(deque.make_room(2), None);
        assert_eq!(deque.make_room(1), Some(5));
        assert_eq!(deque.len(), 0);
    }

    #[test]
    fn replace_retires_only_peers_that_left_and_releases_their_digests() {
        let peers: Peers<&str, u32> = Peers::new(4);
        peers.replace(
            ["a", "b"].into_iter().map(ByOrd).collect(),
            |_| unreachable!(),
        );
        let a = peers.deque(&"a").unwrap();
        let b = peers.deque(&"b").unwrap();
        assert!(
            peers.deque(&"c").is_none(),
            "non-primary peers get no deque"
        );
        let _ = a.lock().push(1, 4);
        let _ = a.lock().push(2, 4);
        let _ = b.lock().push(3, 4);

        let mut released = Vec::new();
        peers.replace(["b", "c"].into_iter().map(ByOrd).collect(), |d| {
            released.push(d)
        });
        released.sort();
        assert_eq!(released, [1, 2]);
        assert!(a.lock().is_retired());
        assert!(!b.lock().is_retired());
        assert!(Arc::ptr_eq(&peers.deque(&"b").unwrap(), &b));
        assert_eq!(peers.live.load(Ordering::Relaxed), 1);
        assert!(peers.deque(&"a").is_none());
    }
}
