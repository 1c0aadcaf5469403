// One seeded sequence of operations against `buffered` (the including module says which).

use commonware_broadcast::Broadcaster as _;
use commonware_codec::RangeCfg;
use commonware_cryptography::{Digested, Digestible, ed25519};
use commonware_p2p::{Manager as _, Recipients, simulated};
use commonware_parallel::Sequential;
use commonware_runtime::{Clock as _, Metrics as _, Runner as _, Supervisor as _, deterministic};
use commonware_utils::{NZUsize, ordered::Set, probability};
use std::time::Duration;

type Key = ed25519::PublicKey;
const NODES: usize = 4;
const STEPS: usize = 24;

use crate::common::note::Note;

/// The generator: splitmix64, so both arms draw the same operations.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn note(id: usize) -> Note {
    Note(format!("note {id}").into_bytes())
}

const LATENCY: Duration = Duration::from_millis(50);

fn link() -> simulated::Link {
    simulated::Link {
        latency: LATENCY,
        jitter: Duration::ZERO,
        success_rate: probability!(1.0),
    }
}

/// What was observed after each step.
pub fn run(seed: u64) -> Vec<Vec<String>> {
    let config = deterministic::Config::new().with_seed(seed);
    deterministic::Runner::new(config).start(|context| async move {
        let mut draw = Draw(seed);
        let mut net = crate::common::network_with(&context, NODES, 2, LATENCY).await;
        let (keys, oracle) = (net.peers.clone(), net.oracle.clone());
        // A node's mailbox, `None` once the op dropped it; its engine's handle.
        let mut mailboxes: Vec<Option<buffered::Mailbox<Key, Note>>> = Vec::new();
        let mut handles = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let channel = net.networks[i].take().unwrap();
            let (engine, mailbox) = buffered::Engine::new(
                context.child("node").with_attribute("key", key),
                buffered::Config {
                    public_key: key.clone(),
                    mailbox_size: NZUsize!(1024),
                    deque_size: 3,
                    priority: false,
                    codec_config: RangeCfg::from(..),
                    peer_provider: oracle.manager(),
                    strategy: Sequential,
                },
            );
            handles.push(engine.start(channel));
            mailboxes.push(Some(mailbox));
        }
        context.sleep(Duration::from_millis(10)).await;

        let mut set_id = 0u64;
        let mut cut: Vec<(usize, usize)> = Vec::new();
        let mut subscriptions: Vec<(
            usize,
            usize,
            commonware_utils::channel::oneshot::Receiver<Digested<Note>>,
        )> = Vec::new();
        let mut trace = Vec::new();
        for step in 0..STEPS {
            let mut seen = Vec::new();
            match draw.below(10) {
                0 | 1 => {
                    let from = draw.below(NODES);
                    let id = draw.below(12);
                    let recipients = if draw.below(2) == 0 {
                        Recipients::All
                    } else {
                        let to = draw.below(NODES);
                        Recipients::Some(vec![keys[to].clone()])
                    };
                    let n = note(id);
                    match &mailboxes[from] {
                        Some(mailbox) => {
                            let feedback = mailbox.broadcast(
                                recipients,
                                Digested::precomputed(n.clone(), n.digest()),
                            );
                            seen.push(format!("broadcast {id} from {from}: {feedback:?}"));
                        }
                        None => seen.push(format!("{from} has no mailbox")),
                    }
                }
                2 => {
                    let at = draw.below(NODES);
                    let id = draw.below(12);
                    match &mailboxes[at] {
                        Some(mailbox) => {
                            subscriptions.push((at, id, mailbox.subscribe(note(id).digest())));
                            seen.push(format!("subscribe {id} at {at}"));
                        }
                        None => seen.push(format!("{at} has no mailbox")),
                    }
                }
                3 if !subscriptions.is_empty() => {
                    let (at, id, _) = subscriptions.remove(draw.below(subscriptions.len()));
                    seen.push(format!("drop subscription {id} at {at}"));
                }
                4 => {
                    set_id += 1;
                    let members: Vec<Key> = keys
                        .iter()
                        .filter(|_| draw.below(3) != 0)
                        .cloned()
                        .collect();
                    let members = if members.is_empty() {
                        vec![keys[0].clone()]
                    } else {
                        members
                    };
                    seen.push(format!("track {set_id}: {} members", members.len()));
                    let _ = oracle
                        .manager()
                        .track(set_id, Set::from_iter_dedup(members));
                }
                5 => {
                    // Cut a link pair, or heal it if it is cut.
                    let a = draw.below(NODES);
                    let b = (a + 1 + draw.below(NODES - 1)) % NODES;
                    let pair = (a.min(b), a.max(b));
                    let (x, y) = (keys[pair.0].clone(), keys[pair.1].clone());
                    if let Some(at) = cut.iter().position(|p| *p == pair) {
                        cut.remove(at);
                        oracle.add_link(x.clone(), y.clone(), link()).await.unwrap();
                        oracle.add_link(y, x, link()).await.unwrap();
                        seen.push(format!("heal {pair:?}"));
                    } else {
                        cut.push(pair);
                        oracle.remove_link(x.clone(), y.clone()).await.unwrap();
                        oracle.remove_link(y, x).await.unwrap();
                        seen.push(format!("cut {pair:?}"));
                    }
                }
                6 => {
                    // Abort a node's engine (a crash): its mailbox answers `Closed`, `get`
                    // finds nothing, its subscriptions close.
                    let at = draw.below(NODES);
                    handles[at].abort();
                    seen.push(format!("abort {at}"));
                }
                7 if draw.below(3) == 0 => {
                    // Drop a node's only mailbox: its engine sends what it accepted and stops.
                    let at = draw.below(NODES);
                    mailboxes[at] = None;
                    seen.push(format!("drop mailbox {at}"));
                }
                _ => {}
            }
            // Quiescent point: longer than the links' latency.
            context.sleep(Duration::from_millis(200)).await;
            for (at, mailbox) in mailboxes.iter().enumerate() {
                let Some(mailbox) = mailbox else { continue };
                for id in 0..12 {
                    if let Some(found) = mailbox.get(note(id).digest()).await {
                        assert_eq!(found.inner(), &note(id));
                        seen.push(format!("step {step}: {at} has {id}"));
                    }
                }
            }
            for (at, id, receiver) in &mut subscriptions {
                let state = match receiver.try_recv() {
                    Ok(got) => format!("answered with {}", got.inner() == &note(*id)),
                    Err(commonware_utils::channel::oneshot::error::TryRecvError::Empty) => {
                        "pending".to_owned()
                    }
                    Err(commonware_utils::channel::oneshot::error::TryRecvError::Closed) => {
                        "closed".to_owned()
                    }
                };
                seen.push(format!("subscription {id} at {at}: {state}"));
            }
            trace.push(seen);
        }
        // The reference's metrics, as exported: every counter and gauge of its names, per
        // node and label, of the engines still running (a stopped engine's leave the
        // registry); shardcast's own metrics are left out.
        let mut metrics: Vec<String> = context
            .encode()
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter(|line| {
                [
                    "receive_total",
                    "subscribe_total",
                    "get_total",
                    "peer_total",
                    "waiters",
                ]
                .iter()
                .any(|name| line.starts_with(&format!("node_{name}")))
            })
            // The one deliberate difference: a subscription dropped before it was served is
            // `get_total{Dropped}` in the reference (swept away by its loop) and
            // `subscribe_total{Dropped}` in shardcast; both are counted here as abandoned.
            .map(|line| {
                if line.contains("status=\"Dropped\"")
                    && (line.starts_with("node_get_total")
                        || line.starts_with("node_subscribe_total"))
                {
                    let (_, rest) = line.split_once('{').unwrap();
                    format!("abandoned{{{rest}")
                } else {
                    line.to_owned()
                }
            })
            .collect();
        // The exposition's order is not part of it.
        metrics.sort();
        trace.push(metrics);
        trace
    })
}
