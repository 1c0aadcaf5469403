//! Production backend of the facade: dashmap, arc-swap and std.

use super::Op;
use std::hash::Hash;

pub(crate) use std::sync::Arc;
pub(crate) use std::sync::atomic::{AtomicBool, AtomicUsize};

/// Seeded hasher for every hash table in the crate.
pub(crate) type RandomState = foldhash::fast::RandomState;

/// A sharded concurrent hash map (dashmap) used only through closures.
pub(crate) struct ShardedMap<K, V> {
    inner: dashmap::DashMap<K, V, RandomState>,
}

impl<K: Eq + Hash, V> ShardedMap<K, V> {
    /// Creates an empty map with `shards` shards (a power of two, at least 2).
    pub(crate) fn new(shards: usize) -> Self {
        Self {
            inner: dashmap::DashMap::with_hasher_and_shard_amount(RandomState::default(), shards),
        }
    }

    /// Runs `f` on the value under the shard's read lock.
    #[inline]
    pub(crate) fn read<R>(&self, key: &K, f: impl FnOnce(&V) -> R) -> Option<R> {
        self.inner.view(key, |_, v| f(v))
    }

    /// Runs `f` on the entry under the shard's write lock, then applies the returned [`Op`].
    ///
    /// Returns `f`'s result and the value that the `Op` removed or replaced, handed back after
    /// the shard lock is released so that the caller decides where it is dropped.
    #[inline]
    pub(crate) fn update<R>(
        &self,
        key: K,
        f: impl FnOnce(Option<&mut V>) -> (Op<V>, R),
    ) -> (R, Option<V>) {
        match self.inner.entry(key) {
            dashmap::Entry::Occupied(mut occupied) => {
                let (op, result) = f(Some(occupied.get_mut()));
                let old = match op {
                    Op::Keep => None,
                    Op::Remove => Some(occupied.remove()),
                    Op::Insert(value) => Some(occupied.insert(value)),
                };
                (result, old)
            }
            dashmap::Entry::Vacant(vacant) => {
                let (op, result) = f(None);
                if let Op::Insert(value) = op {
                    vacant.insert(value);
                }
                (result, None)
            }
        }
    }

    /// Removes the entry and returns its value.
    pub(crate) fn remove(&self, key: &K) -> Option<V> {
        self.inner.remove(key).map(|(_, v)| v)
    }

    /// Calls `f` on every entry, holding one shard's read lock at a time. `f` must not touch
    /// this map.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&K, &V)) {
        for entry in self.inner.iter() {
            f(entry.key(), entry.value());
        }
    }

    /// Keeps the entries for which `f` returns `true`, holding one shard's write lock at a
    /// time. `f` must not touch this map.
    pub(crate) fn retain(&self, f: impl FnMut(&K, &mut V) -> bool) {
        self.inner.retain(f);
    }
}

/// An atomically swappable shared value (arc-swap): lock-free reads, serialised writers.
pub(crate) struct SwapCell<T> {
    inner: arc_swap::ArcSwap<T>,
}

impl<T> SwapCell<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            inner: arc_swap::ArcSwap::from_pointee(value),
        }
    }

    /// Runs `f` on the current value.
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.inner.load())
    }

    /// Replaces the current value; readers that start afterwards see the new one.
    pub(crate) fn store(&self, value: T) {
        self.inner.store(std::sync::Arc::new(value));
    }
}

/// A mutex whose `lock` ignores poisoning: a panic in user code (a `Clone` impl) while a guard
/// is held must not make the buffer unusable, and every critical section leaves the protected
/// state consistent before it calls anything that could panic.
#[derive(Debug, Default)]
pub(crate) struct Mutex<T>(std::sync::Mutex<T>);

/// The guard [`Mutex::lock`] returns.
pub(crate) type MutexGuard<'a, T> = std::sync::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(std::sync::Mutex::new(value))
    }

    #[inline]
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn update_applies_each_op_and_hands_back_the_old_value() {
        let map: ShardedMap<u32, String> = ShardedMap::new(4);
        let (seen, old) = map.update(1, |v| (Op::Insert("a".to_owned()), v.is_some()));
        assert_eq!((seen, old), (false, None));
        let (_, old) = map.update(1, |v| {
            v.unwrap().push('b');
            (Op::Keep, ())
        });
        assert_eq!(old, None);
        assert_eq!(map.read(&1, Clone::clone), Some("ab".to_owned()));
        let (_, old) = map.update(1, |_| (Op::Insert("c".to_owned()), ()));
        assert_eq!(old.as_deref(), Some("ab"));
        let (_, old) = map.update(1, |_| (Op::Remove, ()));
        assert_eq!(old.as_deref(), Some("c"));
        assert_eq!(map.read(&1, Clone::clone), None);
        let (_, old) = map.update(2, |_| (Op::Remove, ()));
        assert_eq!(old, None, "removing a vacant entry is a no-op");
    }

    #[test]
    fn for_each_visits_every_entry_and_remove_takes_it() {
        let map: ShardedMap<u32, u32> = ShardedMap::new(8);
        for i in 0..100 {
            map.update(i, |_| (Op::Insert(i * 2), ()));
        }
        let mut sum = 0;
        map.for_each(|k, v| {
            assert_eq!(*v, k * 2);
            sum += v;
        });
        assert_eq!(sum, (0..100).map(|i| i * 2).sum::<u32>());
        assert_eq!(map.remove(&5), Some(10));
        assert_eq!(map.remove(&5), None);
    }

    #[test]
    fn swap_cell_readers_see_the_latest_store() {
        let cell = SwapCell::new(1);
        assert_eq!(cell.with(|v| *v), 1);
        cell.store(2);
        assert_eq!(cell.with(|v| *v), 2);
    }

    #[test]
    fn mutex_survives_a_panic_while_locked() {
        let mutex = std::sync::Arc::new(Mutex::new(0));
        let clone = mutex.clone();
        let _ = std::thread::spawn(move || {
            let _guard = clone.lock();
            panic!("user code panicked under the lock");
        })
        .join();
        *mutex.lock() += 1;
        assert_eq!(*mutex.lock(), 1);
    }
}
