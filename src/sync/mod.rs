//! The synchronisation facade.
//!
//! Every piece of shared state in shardcast is built from the types in this module, never from
//! `std::sync`, `dashmap` or `arc_swap` directly. Under `--cfg loom` the same names resolve to
//! loom-instrumented versions with the same method signatures, so the protocol code in
//! [`crate::buffer`] compiles unchanged against both and the loom suite checks the exact code that
//! production runs (the pattern of tokio's `src/loom/` and quick_cache's `shim.rs`).
//!
//! | name | production | `cfg(loom)` |
//! |---|---|---|
//! | [`ShardedMap`] | `dashmap::DashMap` with a seeded `foldhash` | `Vec<loom RwLock<HashMap>>`, fixed-seed `foldhash` |
//! | [`SwapCell`] | `arc_swap::ArcSwap` | loom `RwLock<Arc<T>>` |
//! | [`Mutex`] | `std::sync::Mutex`, poison ignored | loom `Mutex`, poison ignored |
//! | [`Arc`], [`AtomicUsize`] | `std` | loom |
//! | [`RandomState`] | `foldhash::fast::RandomState` | `foldhash::fast::FixedState` (replays must hash alike) |
//!
//! Maps are used only through closures ([`ShardedMap::read`], [`ShardedMap::update`], ...), so a
//! shard guard can never outlive the call, cross an `.await`, or be alive while a waiter is woken.

/// What an [`ShardedMap::update`] closure asks the map to do with the entry afterwards.
#[derive(Debug)]
pub(crate) enum Op<V> {
    /// Leave the entry as it is (including any in-place change through the `&mut V`).
    Keep,
    /// Remove the entry (no-op when it was vacant).
    Remove,
    /// Store this value, replacing any value that was there.
    Insert(V),
}

#[cfg(not(loom))]
mod prod;
#[cfg(not(loom))]
pub(crate) use prod::*;

#[cfg(loom)]
mod loom;
#[cfg(loom)]
pub(crate) use self::loom::*;

/// Whether the loom suite switched on the deliberately wrong ordering `name` (see
/// `buffer::wrong`). Outside loom it is a constant `false`, so the production build compiles the
/// check away and the protocol code reads the same in both builds.
#[cfg(not(loom))]
#[inline(always)]
pub(crate) const fn mutation(_name: &str) -> bool {
    false
}
