//! Model-based test: a plain sequential model of the reference engine's cache (SPEC §4, written
//! with BTreeMaps and a linearly scanned VecDeque, the way the reference does it) and `Buffer`
//! run the same random operation sequences. Every return value, every subscription's state and
//! value, every deque and `stats()` must agree, and `check_invariants()` holds after each step.

mod common;

use common::{Msg, TestBuffer, buffer, poll_once};
use proptest::prelude::*;
use shardcast::{Insert, Stats, Subscription};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::task::Poll;

#[derive(Clone, Debug)]
enum Op {
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
}

fn op() -> impl Strategy<Value = Op> {
    let peer = 0u32..5;
    let id = 0u64..8;
    prop_oneof![
        6 => (peer.clone(), id.clone(), 0u32..3).prop_map(|(peer, id, copy)| Op::Insert { peer, id, copy }),
        1 => proptest::collection::btree_set(peer, 0..5).prop_map(Op::UpdatePrimary),
        2 => id.clone().prop_map(Op::Get),
        2 => id.prop_map(Op::Subscribe),
        1 => any::<usize>().prop_map(Op::Drop),
        1 => any::<usize>().prop_map(Op::Poll),
    ]
}

/// The reference engine's cache, transcribed (SPEC §4.2, §4.5, §4.6).
#[derive(Default)]
struct Model {
    deque_size: usize,
    items: BTreeMap<u64, Msg>,
    deques: BTreeMap<u32, VecDeque<u64>>,
    counts: BTreeMap<u64, usize>,
    primary: BTreeSet<u32>,
    /// Subscription ids waiting per digest.
    waiters: BTreeMap<u64, Vec<usize>>,
    /// What each subscription should resolve to (None while pending).
    resolved: BTreeMap<usize, Option<Msg>>,
}

impl Model {
    fn insert(&mut self, peer: u32, msg: Msg) -> Insert {
        let digest = msg.id;
        for waiter in self.waiters.remove(&digest).unwrap_or_default() {
            self.resolved.insert(waiter, Some(msg.clone()));
        }
        if !self.primary.contains(&peer) {
            return Insert::Ineligible;
        }
        let deque = self.deques.entry(peer).or_default();
        if let Some(i) = deque.iter().position(|d| *d == digest) {
            let d = deque.remove(i).unwrap();
            deque.push_front(d);
            return Insert::Duplicate;
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
        Insert::Inserted
    }

    fn decrement(counts: &mut BTreeMap<u64, usize>, items: &mut BTreeMap<u64, Msg>, digest: u64) {
        let count = counts.get_mut(&digest).expect("count exists");
        *count -= 1;
        if *count == 0 {
            counts.remove(&digest);
            items.remove(&digest);
        }
    }

    fn update_primary(&mut self, peers: BTreeSet<u32>) {
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

    fn subscribe(&mut self, id: usize, digest: u64) {
        match self.items.get(&digest) {
            Some(msg) => {
                self.resolved.insert(id, Some(msg.clone()));
            }
            None => {
                self.resolved.insert(id, None);
                self.waiters.entry(digest).or_default().push(id);
            }
        }
    }

    fn drop_subscription(&mut self, id: usize) {
        self.resolved.remove(&id);
        self.waiters.retain(|_, ids| {
            ids.retain(|w| *w != id);
            !ids.is_empty()
        });
    }

    fn stats(&self) -> Stats {
        Stats {
            cached: self.items.len(),
            peers: self.deques.len(),
            primary: self.primary.len(),
            waiting_digests: self.waiters.len(),
            subscriptions: self.waiters.values().map(Vec::len).sum(),
        }
    }
}

fn run(deque_size: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let buffer: TestBuffer = buffer(deque_size);
    let mut model = Model {
        deque_size,
        ..Model::default()
    };
    // Live subscriptions: (model id, future).
    let mut subs: Vec<(usize, Subscription<Msg>)> = Vec::new();
    let mut next_id = 0;

    for op in ops {
        match op {
            Op::Insert { peer, id, copy } => {
                let msg = Msg { id, copy };
                prop_assert_eq!(buffer.insert(peer, msg.clone()), model.insert(peer, msg));
            }
            Op::UpdatePrimary(peers) => {
                buffer.update_primary(peers.iter().copied());
                model.update_primary(peers);
            }
            Op::Get(id) => prop_assert_eq!(buffer.get(&id), model.items.get(&id).cloned()),
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
                match poll_once(&mut subs[index].1) {
                    Poll::Ready(msg) => {
                        prop_assert_eq!(Some(msg), expected);
                        let (id, _) = subs.remove(index);
                        model.resolved.remove(&id);
                    }
                    Poll::Pending => prop_assert_eq!(None, expected),
                }
            }
            Op::Drop(_) | Op::Poll(_) => {}
        }

        buffer.check_invariants();
        prop_assert_eq!(buffer.stats(), model.stats());
        for (id, sub) in &subs {
            prop_assert_eq!(
                sub.is_ready(),
                model.resolved[id].is_some(),
                "subscription {}",
                id
            );
        }
        for peer in 0..5 {
            let expected = model.deques.get(&peer).map(|d| d.iter().copied().collect());
            prop_assert_eq!(buffer.peer_digests(&peer), expected, "deque of {}", peer);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn buffer_agrees_with_the_sequential_reference_model(
        deque_size in 0usize..5,
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        run(deque_size, ops)?;
    }
}
