//! The differential test: seeded sequences of operations run on the reference engine
//! (commonware-broadcast 2026.4.0's `buffered`) and on shardcast side by side, each on its own
//! deterministic runtime with the same seed and the simulated network, every observable result
//! compared after every step.
//!
//! A step is one operation: a broadcast to `All` or to `Some` peers, a subscription, a
//! `subscribe_prepared` (with its receiver kept or already dropped), a dropped subscription, a
//! peer-set update (joins and leaves, primary and secondary), a link cut or restored, a node
//! that drops its mailbox, a node aborted. After each step both runtimes wait longer than the
//! links' latency, then every node answers a `get` for every message of the pool, and the test
//! reads what each held subscription and each broadcast's `sent_to` resolved to, and the
//! metrics the reference exports (`receive`, `subscribe`, `get`, `waiters`, `peer`) from
//! `context.encode()`. Any difference fails with the seed, the step and both observations.
//!
//! Links drop nothing or everything (a cut), never a random share: the two runtimes run
//! different tasks, so they draw different random numbers, and a random loss would differ for
//! reasons that are not the engines'. shardcast runs with its defaults, which behave like the
//! reference (one receive worker, no byte budget).
//!
//! Where shardcast differs on purpose, the comparison normalises it:
//! - a subscription abandoned by its receiver: the reference counts it `get{Dropped}` (when its
//!   loop next sweeps), shardcast `subscribe{Dropped}` (at once); the two are compared summed;
//! - after a node stopped, its `waiters` gauge: the reference's keeps its last value, shardcast's
//!   reads 0 (every waiter was cancelled); it is compared only while the node runs.
//!
//! `cargo test --release -p shardcast-benches --test differential` runs `DIFF_SEEDS` seeds
//! (default 300); `DIFF_SEEDS=10000` for the long run.

#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::time::Duration;

/// Nodes in every run.
const NODES: usize = 4;
/// Messages in the pool: broadcasts draw from it, so duplicates and evictions happen.
const POOL: u8 = 8;
/// Digests cached per peer: small, so that the pool overflows it.
const DEQUE: usize = 3;
/// Steps in a run.
const STEPS: usize = 24;
/// One-way link latency.
const LATENCY: Duration = Duration::from_millis(50);
/// How long both runtimes wait after a step: everything in flight has landed.
const QUIESCE: Duration = Duration::from_millis(200);

/// One step.
#[derive(Clone, Debug)]
pub enum Op {
    /// `node` broadcasts message `id` to everyone (`None`) or to these nodes.
    Broadcast {
        node: usize,
        to: Option<Vec<usize>>,
        id: u8,
    },
    /// `node` subscribes to message `id`; the receiver is kept and observed.
    Subscribe { node: usize, id: u8 },
    /// `node` calls `subscribe_prepared` for `id`; with `dropped`, the receiver is gone first.
    SubscribePrepared { node: usize, id: u8, dropped: bool },
    /// The test drops one of the pending subscriptions it holds (the `index`-th, modulo).
    Unsubscribe { index: usize },
    /// A new peer set: these nodes primary, those secondary, the others not tracked.
    Track {
        primary: Vec<usize>,
        secondary: Vec<usize>,
    },
    /// The link `from -> to` drops everything.
    Cut { from: usize, to: usize },
    /// The link `from -> to` delivers again.
    Heal { from: usize, to: usize },
    /// `node` drops its mailbox (its last one).
    DropMailbox { node: usize },
    /// `node`'s engine is aborted.
    Abort { node: usize },
}

/// A held subscription, as observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sub {
    Pending,
    Got(u8),
    Canceled,
    /// Dropped by the test: no longer observed.
    Dropped,
}

/// A broadcast's `sent_to`, as observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sent {
    Pending,
    To(Vec<usize>),
    Canceled,
}

/// Everything observable after one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// Per node: which messages of the pool `get` found (empty once its mailbox is gone).
    pub found: Vec<Vec<u8>>,
    pub subscriptions: Vec<Sub>,
    pub sent: Vec<Sent>,
    /// Per node: the reference's metrics, normalised (see the module docs).
    pub metrics: Vec<BTreeMap<String, u64>>,
}

/// The message with this id: `id + 1` bytes of `id`.
pub fn message(id: u8) -> shardcast_benches::actor::ActorMessage {
    shardcast_benches::actor::ActorMessage(vec![id; id as usize + 1])
}

/// The id of a message of the pool.
pub fn id_of(message: &shardcast_benches::actor::ActorMessage) -> u8 {
    message.0[0]
}

/// Node `i`'s metrics from `encoded`: the reference's series only, the abandoned-subscription
/// counts summed, zeros left out, `waiters` only while the node runs.
pub fn metrics_of(encoded: &str, node: usize, running: bool) -> BTreeMap<String, u64> {
    let prefix = format!("n{node}_");
    let mut metrics = BTreeMap::new();
    for line in encoded.lines() {
        let Some(rest) = line.strip_prefix(&prefix) else {
            continue;
        };
        let Some((key, value)) = rest.rsplit_once(' ') else {
            continue;
        };
        let name = key.split('{').next().unwrap_or(key);
        if ![
            "receive_total",
            "subscribe_total",
            "get_total",
            "waiters",
            "peer_total",
        ]
        .contains(&name)
            || (name == "waiters" && !running)
        {
            continue;
        }
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let key = match key {
            "subscribe_total{status=\"Dropped\"}" | "get_total{status=\"Dropped\"}" => "abandoned",
            key => key,
        };
        *metrics.entry(key.to_owned()).or_default() += value as u64;
    }
    metrics.retain(|_, value| *value != 0);
    metrics
}

/// A small seeded generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn subset(&mut self) -> Vec<usize> {
        (0..NODES)
            .filter(|_| self.next().is_multiple_of(2))
            .collect()
    }
}

/// The operations of run `seed`.
pub fn script(seed: u64) -> Vec<Op> {
    let mut rng = Rng(seed);
    (0..STEPS)
        .map(|_| {
            let node = rng.below(NODES);
            let id = rng.below(POOL as usize) as u8;
            match rng.below(100) {
                0..=29 => Op::Broadcast { node, to: None, id },
                30..=37 => Op::Broadcast {
                    node,
                    to: Some(rng.subset()),
                    id,
                },
                38..=52 => Op::Subscribe { node, id },
                53..=60 => Op::SubscribePrepared {
                    node,
                    id,
                    dropped: rng.next().is_multiple_of(2),
                },
                61..=67 => Op::Unsubscribe {
                    index: rng.below(64),
                },
                68..=77 => {
                    let primary = rng.subset();
                    let secondary = rng
                        .subset()
                        .into_iter()
                        .filter(|n| !primary.contains(n))
                        .collect();
                    Op::Track { primary, secondary }
                }
                78..=85 => Op::Cut {
                    from: node,
                    to: (node + 1 + rng.below(NODES - 1)) % NODES,
                },
                86..=95 => Op::Heal {
                    from: node,
                    to: (node + 1 + rng.below(NODES - 1)) % NODES,
                },
                96..=97 => Op::DropMailbox { node },
                _ => Op::Abort { node },
            }
        })
        .collect()
}

mod reference {
    use commonware_broadcast::buffered;
    include!("differential/driver.rs");
}

mod shardcast_side {
    use shardcast_commonware_2026_4 as buffered;
    include!("differential/driver.rs");
}

/// Runs `seed` on both and panics at the first step where they differ.
fn compare(seed: u64) {
    let ops = script(seed);
    let expected = reference::run(seed, &ops);
    let actual = shardcast_side::run(seed, &ops);
    for (step, (want, got)) in expected.iter().zip(&actual).enumerate() {
        assert_eq!(
            got,
            want,
            "seed {seed}, step {step} ({:?}); the steps so far: {:#?}",
            ops[step],
            &ops[..=step]
        );
    }
}

#[test]
fn shardcast_and_the_reference_agree_on_every_observable_result() {
    let seeds: u64 = std::env::var("DIFF_SEEDS")
        .ok()
        .and_then(|seeds| seeds.parse().ok())
        .unwrap_or(300);
    for seed in 0..seeds {
        compare(seed);
    }
    println!("figure: {seeds} seeds x {STEPS} steps: no difference");
}
