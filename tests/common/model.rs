//! The sequential reference model of the buffer (the reference engine's cache transcribed with
//! BTreeMaps and a linearly scanned VecDeque, the way the reference engine does it, plus
//! shardcast's `close`), and a runner that applies
//! the same operations to a `Buffer` and to the model and compares everything. Shared by
//! `tests/model.rs` (proptest) and the `buffer_ops` fuzz target.
#![allow(dead_code)]

use super::{Msg, TestBuffer, buffer, buffer_with_budget};
use shardcast::Message;
use shardcast::{Closed, Insert, Stats, Subscription};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::task::{Context, Waker};

/// Fails the run with both sides printed when they differ.
macro_rules! check_eq {
    ($left:expr, $right:expr $(,)?) => {{
        let (left, right) = (&$left, &$right);
        if left != right {
            return Err(format!("{} != {}: {:?} vs {:?}", stringify!($left), stringify!($right), left, right));
        }
    }};
    ($left:expr, $right:expr, $($fmt:tt)+) => {{
        let (left, right) = (&$left, &$right);
        if left != right {
            return Err(format!("{}: {:?} vs {:?}", format!($($fmt)+), left, right));
        }
    }};
}

/// One operation.
#[derive(Clone, Debug)]
pub enum Op {
    Insert {
        peer: u32,
        id: u64,
        copy: u32,
    },
    UpdatePrimary(BTreeSet<u32>),
    Get(u64),
    Subscribe(u64),
    /// Drop the n-th live subscription (modulo their number).
    Drop(usize),
    /// Poll the n-th live subscription (modulo their number).
    Poll(usize),
    /// Close the buffer.
    Close,
}

/// The reference engine's cache, transcribed: insert, subscribe, peer-set update; plus close.
#[derive(Default)]
pub struct Model {
    pub deque_size: usize,
    /// Per-peer byte budget, if any: each deque's stored copies' sizes sum to at most this.
    pub peer_bytes: Option<usize>,
    pub items: BTreeMap<u64, Msg>,
    pub deques: BTreeMap<u32, VecDeque<u64>>,
    counts: BTreeMap<u64, usize>,
    primary: BTreeSet<u32>,
    /// Subscription ids waiting per digest.
    waiters: BTreeMap<u64, Vec<usize>>,
    /// What each subscription should resolve to (None while pending).
    pub resolved: BTreeMap<usize, Option<Result<Msg, Closed>>>,
    /// Closed: nothing is cached, no update applies, subscriptions resolve to `Closed`.
    closed: bool,
}

impl Model {
    pub fn insert(&mut self, peer: u32, msg: Msg) -> Insert {
        let digest = msg.id;
        for waiter in self.waiters.remove(&digest).unwrap_or_default() {
            self.resolved.insert(waiter, Some(Ok(msg.clone())));
        }
        if !self.primary.contains(&peer) {
            return Insert::Ineligible;
        }
        let deque = self.deques.entry(peer).or_default();
        if self.peer_bytes.is_some_and(|limit| msg.size() > limit) {
            return Insert::TooLarge;
        }
        if let Some(i) = deque.iter().position(|d| *d == digest) {
            let d = deque.remove(i).unwrap();
            deque.push_front(d);
            return Insert::Duplicate;
        }
        // A deque is charged the stored copy's size: the first copy cached.
        let charge = self.items.get(&digest).map_or(msg.size(), Message::size);
        if self.peer_bytes.is_some_and(|limit| charge > limit) {
            return Insert::TooLarge;
        }
        deque.push_front(digest);
        let count = self.counts.entry(digest).or_insert(0);
        *count += 1;
        if *count == 1 {
            self.items.insert(digest, msg);
        }
        if deque.len() > self.deque_size {
            let stale = deque.pop_back().unwrap();
            Self::decrement(&mut self.counts, &mut self.items, stale);
        }
        if let Some(limit) = self.peer_bytes {
            loop {
                let bytes: usize = deque.iter().map(|d| self.items[d].size()).sum();
                if bytes <= limit {
                    break;
                }
                let stale = deque.pop_back().unwrap();
                Self::decrement(&mut self.counts, &mut self.items, stale);
            }
        }
        Insert::Added
    }

    fn decrement(counts: &mut BTreeMap<u64, usize>, items: &mut BTreeMap<u64, Msg>, digest: u64) {
        let count = counts.get_mut(&digest).expect("count exists");
        *count -= 1;
        if *count == 0 {
            counts.remove(&digest);
            items.remove(&digest);
        }
    }

    pub fn update_primary(&mut self, peers: BTreeSet<u32>) {
        if self.closed {
            return;
        }
        let leaving: Vec<u32> = self
            .deques
            .keys()
            .filter(|p| !peers.contains(p))
            .copied()
            .collect();
        for peer in leaving {
            for digest in self.deques.remove(&peer).unwrap() {
                Self::decrement(&mut self.counts, &mut self.items, digest);
            }
        }
        self.primary = peers;
    }

    pub fn subscribe(&mut self, id: usize, digest: u64) {
        if self.closed {
            self.resolved.insert(id, Some(Err(Closed)));
            return;
        }
        match self.items.get(&digest) {
            Some(msg) => {
                self.resolved.insert(id, Some(Ok(msg.clone())));
            }
            None => {
                self.resolved.insert(id, None);
                self.waiters.entry(digest).or_default().push(id);
            }
        }
    }

    pub fn drop_subscription(&mut self, id: usize) {
        self.resolved.remove(&id);
        self.waiters.retain(|_, ids| {
            ids.retain(|w| *w != id);
            !ids.is_empty()
        });
    }

    /// Every waiter resolves to `Closed`; the cache and the primary set empty for good.
    pub fn close(&mut self) {
        self.update_primary(BTreeSet::new());
        self.closed = true;
        for waiter in std::mem::take(&mut self.waiters).into_values().flatten() {
            self.resolved.insert(waiter, Some(Err(Closed)));
        }
    }

    pub fn stats(&self) -> Stats {
        let mut stats = Stats::default();
        stats.cached = self.items.len();
        stats.cached_bytes = self.items.values().map(Message::size).sum();
        stats.peers = self.deques.len();
        stats.primary = self.primary.len();
        stats.waiters = self.waiters.len();
        stats.subscriptions = self.waiters.values().map(Vec::len).sum();
        stats
    }
}

/// Runs `ops` on a `Buffer` and on the model; the first disagreement is the error.
pub fn run(deque_size: usize, ops: Vec<Op>) -> Result<(), String> {
    run_with(deque_size, None, ops)
}

/// [`run`] with a per-peer byte budget.
pub fn run_with(deque_size: usize, peer_bytes: Option<usize>, ops: Vec<Op>) -> Result<(), String> {
    let buffer: TestBuffer = match peer_bytes {
        Some(limit) => buffer_with_budget(deque_size, limit),
        None => buffer(deque_size),
    };
    let mut model = Model {
        deque_size,
        peer_bytes,
        ..Model::default()
    };
    // Live subscriptions: (model id, future).
    let mut subs: Vec<(usize, Subscription<Msg>)> = Vec::new();
    let mut next_id = 0;

    for op in ops {
        match op {
            Op::Insert { peer, id, copy } => {
                let msg = Msg { id, copy };
                check_eq!(buffer.insert(peer, msg.clone()), model.insert(peer, msg));
            }
            Op::UpdatePrimary(peers) => {
                buffer.update_primary(peers.iter().copied());
                model.update_primary(peers);
            }
            Op::Get(id) => check_eq!(buffer.get(&id), model.items.get(&id).cloned()),
            Op::Subscribe(digest) => {
                model.subscribe(next_id, digest);
                subs.push((next_id, buffer.subscribe(digest)));
                next_id += 1;
            }
            Op::Drop(n) if !subs.is_empty() => {
                let (id, sub) = subs.remove(n % subs.len());
                drop(sub);
                model.drop_subscription(id);
            }
            Op::Poll(n) if !subs.is_empty() => {
                let index = n % subs.len();
                let expected = model.resolved[&subs[index].0].clone();
                let polled =
                    Pin::new(&mut subs[index].1).poll(&mut Context::from_waker(Waker::noop()));
                match polled {
                    Poll::Ready(outcome) => {
                        check_eq!(Some(outcome), expected);
                        let (id, _) = subs.remove(index);
                        model.resolved.remove(&id);
                    }
                    Poll::Pending => check_eq!(None, expected),
                }
            }
            Op::Drop(_) | Op::Poll(_) => {}
            Op::Close => {
                buffer.close();
                model.close();
            }
        }

        buffer.check_invariants();
        check_eq!(buffer.stats(), model.stats());
        for (id, sub) in &subs {
            check_eq!(
                sub.is_ready(),
                model.resolved[id].is_some(),
                "subscription {}",
                id
            );
        }
        for peer in 0..5 {
            let expected = model.deques.get(&peer).map(|d| d.iter().copied().collect());
            check_eq!(buffer.peer_digests(&peer), expected, "deque of {}", peer);
        }
    }
    Ok(())
}
