// One seeded sequence of operations against `buffered` (the including module says which).

use commonware_broadcast::Broadcaster as _;
use commonware_codec::RangeCfg;
use commonware_cryptography::{Digested, Digestible, ed25519};
use commonware_p2p::{Manager as _, Recipients, simulated};
use commonware_parallel::Sequential;
use commonware_runtime::{Clock as _, Runner as _, Supervisor as _, deterministic};
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
        let mut mailboxes: Vec<buffered::Mailbox<Key, Note>> = Vec::new();
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
            drop(engine.start(channel));
            mailboxes.push(mailbox);
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
            match draw.below(7) {
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
                    let accepted = mailboxes[from]
                        .broadcast(recipients, Digested::precomputed(n.clone(), n.digest()))
                        .accepted();
                    seen.push(format!("broadcast {id} from {from}: {accepted}"));
                }
                2 => {
                    let at = draw.below(NODES);
                    let id = draw.below(12);
                    subscriptions.push((at, id, mailboxes[at].subscribe(note(id).digest())));
                    seen.push(format!("subscribe {id} at {at}"));
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
                _ => {}
            }
            // Quiescent point: longer than the links' latency.
            context.sleep(Duration::from_millis(200)).await;
            for (at, mailbox) in mailboxes.iter().enumerate() {
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
        trace
    })
}
