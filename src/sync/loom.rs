//! Model-checking backend of the facade: the same methods as `prod.rs` over loom primitives.
//!
//! Built only with `RUSTFLAGS="--cfg loom"` (see `loom-tests/`).

use super::Op;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

pub(crate) use loom::sync::Arc;
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicUsize};

/// Fixed-seed hasher: a replayed execution must pick the same shards.
pub(crate) type RandomState = foldhash::fast::FixedState;

/// A sharded map built from loom `RwLock`s, with the same methods as the dashmap wrapper.
pub(crate) struct ShardedMap<K, V> {
    hasher: RandomState,
    shards: Box<[loom::sync::RwLock<HashMap<K, V, RandomState>>]>,
}

impl<K: Eq + Hash, V> ShardedMap<K, V> {
    pub(crate) fn new(shards: usize) -> Self {
        Self {
            hasher: RandomState::default(),
            shards: (0..shards)
                .map(|_| loom::sync::RwLock::new(HashMap::with_hasher(RandomState::default())))
                .collect(),
        }
    }

    fn shard(&self, key: &K) -> &loom::sync::RwLock<HashMap<K, V, RandomState>> {
        let hash = self.hasher.hash_one(key) as usize;
        &self.shards[hash % self.shards.len()]
    }

    pub(crate) fn read<R>(&self, key: &K, f: impl FnOnce(&V) -> R) -> Option<R> {
        let guard = self.shard(key).read().unwrap_or_else(|e| e.into_inner());
        guard.get(key).map(f)
    }

    pub(crate) fn update<R>(
        &self,
        key: K,
        f: impl FnOnce(Option<&mut V>) -> (Op<V>, R),
    ) -> (R, Option<V>) {
        let mut guard = self.shard(&key).write().unwrap_or_else(|e| e.into_inner());
        let (op, result) = f(guard.get_mut(&key));
        let old = match op {
            Op::Keep => None,
            Op::Remove => guard.remove(&key),
            Op::Insert(value) => guard.insert(key, value),
        };
        drop(guard);
        (result, old)
    }

    pub(crate) fn remove(&self, key: &K) -> Option<V> {
        let mut guard = self.shard(key).write().unwrap_or_else(|e| e.into_inner());
        guard.remove(key)
    }

    pub(crate) fn for_each(&self, mut f: impl FnMut(&K, &V)) {
        for shard in self.shards.iter() {
            let guard = shard.read().unwrap_or_else(|e| e.into_inner());
            for (k, v) in guard.iter() {
                f(k, v);
            }
        }
    }

    pub(crate) fn retain(&self, mut f: impl FnMut(&K, &mut V) -> bool) {
        for shard in self.shards.iter() {
            let mut guard = shard.write().unwrap_or_else(|e| e.into_inner());
            guard.retain(|k, v| f(k, v));
        }
    }
}

/// `ArcSwap` stand-in: a loom `RwLock` around a `std` `Arc`.
pub(crate) struct SwapCell<T> {
    inner: loom::sync::RwLock<std::sync::Arc<T>>,
}

impl<T> SwapCell<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            inner: loom::sync::RwLock::new(std::sync::Arc::new(value)),
        }
    }

    pub(crate) fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        let current = self.inner.read().unwrap_or_else(|e| e.into_inner()).clone();
        f(&current)
    }

    pub(crate) fn store(&self, value: T) {
        *self.inner.write().unwrap_or_else(|e| e.into_inner()) = std::sync::Arc::new(value);
    }
}

/// Loom mutex with the production wrapper's poison-ignoring `lock`.
#[derive(Debug, Default)]
pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

/// The guard [`Mutex::lock`] returns.
pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(loom::sync::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Whether the wrong ordering `name` is switched on (`SHARDCAST_LOOM_MUTATION=name`).
///
/// Exists only under `cfg(loom)`: the loom suite applies one wrong ordering at a time to show
/// that its models catch it (see `loom-tests/README.md`). A normal build has no such switch.
pub(crate) fn mutation(name: &str) -> bool {
    static ACTIVE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    ACTIVE
        .get_or_init(|| std::env::var("SHARDCAST_LOOM_MUTATION").ok())
        .as_deref()
        == Some(name)
}
