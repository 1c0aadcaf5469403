//! The latency of marshal's buffer calls while tempo-sized blocks (8 MiB) travel, with
//! shardcast and with commonware-broadcast 2026.10.0's `buffered` as marshal's buffer, side by
//! side in one process.
//!
//! 4 validators run commonware-consensus 2026.10's marshal (its actor, archives and p2p
//! resolver) on commonware's tokio runtime (2 worker threads) over an in-process network with
//! 10 ms links (commonware's simulated network needs the deterministic runtime's sockets). The chain is pipelined as consensus runs it: at each height the other
//! validators subscribe to the new block, its proposer sends it, and every validator is
//! handed the finalization of the previous height, which makes marshal look the previous
//! block up in its buffer (`find_by_*`) while the new one is being received, decoded and
//! hashed. Every call marshal makes to its buffer is timed at the `Buffer` trait (a wrapper
//! that records the time each call takes, the awaited `find_by_*` included).
//!
//! The reference's `find_by_*` is a request to its engine's loop, which is busy decoding and
//! hashing each 8 MiB block it receives; shardcast reads its cache in marshal's own task.
//!
//! `cargo bench --bench chain [-- --quick] [-- --payload BYTES --blocks N --runs N]` from
//! `adapters/commonware-2026.10`.

mod support;
use support::{Feed, OneSet};

#[path = "../tests/common/chain.rs"]
#[allow(dead_code)]
mod chain;

use ::tokio::sync::mpsc;
use chain::{App, Backfill, Blk, Buffers, Chain, Key, Kind, finalization, fixture, reached, round};
use commonware_actor::{Feedback, Unreliable};
use commonware_consensus::Reporter as _;
use commonware_consensus::marshal::core::{Buffer, DigestFallback};
use commonware_consensus::marshal::standard::Standard;
use commonware_consensus::simplex::types::Activity;
use commonware_consensus::types::{Height, Round};
use commonware_cryptography::{Digested, Digestible, sha256};
use commonware_p2p::{BlockedSubscription, Blocker, CheckedSender, LimitedSender, Recipients};
use commonware_runtime::{Clock as _, IoBuf, IoBufs, Runner as _, Supervisor as _, tokio};
use commonware_utils::channel::{oneshot, ring};
use commonware_utils::{NZUsize, ordered::Set};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

const VALIDATORS: usize = 4;

/// What marshal called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    Find,
    Subscribe,
    Send,
}

/// The time each call took, in ns, by kind.
type Log = Arc<Mutex<Vec<(Call, u64)>>>;

/// A buffer that times every call marshal makes to the one it wraps.
#[derive(Clone)]
struct Timed {
    inner: Buffers,
    log: Log,
}

impl Timed {
    fn record(&self, call: Call, start: Instant) {
        let ns = start.elapsed().as_nanos() as u64;
        self.log.lock().unwrap().push((call, ns));
    }
}

impl Buffer<Standard<Blk>> for Timed {
    type PublicKey = Key;

    async fn find_by_digest(&self, digest: sha256::Digest) -> Option<Digested<Blk>> {
        let start = Instant::now();
        let found = self.inner.find_by_digest(digest).await;
        self.record(Call::Find, start);
        found
    }

    async fn find_by_commitment(&self, commitment: sha256::Digest) -> Option<Digested<Blk>> {
        let start = Instant::now();
        let found = self.inner.find_by_commitment(commitment).await;
        self.record(Call::Find, start);
        found
    }

    fn subscribe_by_digest(
        &self,
        digest: sha256::Digest,
    ) -> Option<oneshot::Receiver<Digested<Blk>>> {
        let start = Instant::now();
        let receiver = self.inner.subscribe_by_digest(digest);
        self.record(Call::Subscribe, start);
        receiver
    }

    fn subscribe_by_commitment(
        &self,
        commitment: sha256::Digest,
    ) -> Option<oneshot::Receiver<Digested<Blk>>> {
        let start = Instant::now();
        let receiver = self.inner.subscribe_by_commitment(commitment);
        self.record(Call::Subscribe, start);
        receiver
    }

    fn send(&self, round: Round, block: Digested<Blk>, recipients: Recipients<Key>) {
        let start = Instant::now();
        self.inner.send(round, block, recipients);
        self.record(Call::Send, start);
    }
}

// ---- an in-process network on tokio: the simulated one binds simulated sockets, which only
// the deterministic runtime has ----

/// Every registered (peer, channel) inbox.
type Inboxes = Arc<Mutex<HashMap<(Key, u64), mpsc::UnboundedSender<(Key, IoBuf)>>>>;

/// The hub: delivers each message to its recipients' inboxes on the same channel, after
/// `latency` (a timer task per message).
#[derive(Clone)]
struct Hub {
    inboxes: Inboxes,
    peers: Vec<Key>,
    latency: Duration,
}

impl Hub {
    /// `peer`'s sender and receiver on `channel`.
    fn register(&self, peer: &Key, channel: u64) -> (HubSender, Feed) {
        let (tx, rx) = mpsc::unbounded_channel();
        self.inboxes
            .lock()
            .unwrap()
            .insert((peer.clone(), channel), tx);
        let sender = HubSender {
            hub: self.clone(),
            me: peer.clone(),
            channel,
        };
        (sender, Feed(rx))
    }
}

#[derive(Clone)]
struct HubSender {
    hub: Hub,
    me: Key,
    channel: u64,
}

struct HubChecked {
    sender: HubSender,
    to: Vec<Key>,
}

impl CheckedSender for HubChecked {
    type PublicKey = Key;
    fn recipients(&self) -> Vec<Key> {
        self.to.clone()
    }
    fn send(self, message: impl Into<IoBufs> + Send, _priority: bool) -> Unreliable<Feedback> {
        let message = message.into().coalesce();
        let HubSender { hub, me, channel } = self.sender;
        let inboxes: Vec<_> = {
            let inboxes = hub.inboxes.lock().unwrap();
            self.to
                .iter()
                .filter_map(|to| inboxes.get(&(to.clone(), channel)).cloned())
                .collect()
        };
        ::tokio::spawn(async move {
            ::tokio::time::sleep(hub.latency).await;
            for inbox in inboxes {
                let _ = inbox.send((me.clone(), message.clone()));
            }
        });
        Unreliable::new(Feedback::Ok)
    }
}

impl LimitedSender for HubSender {
    type PublicKey = Key;
    type Checked<'a> = HubChecked;
    fn check(&mut self, recipients: Recipients<Key>) -> Result<HubChecked, SystemTime> {
        let to = match recipients {
            Recipients::All => self
                .hub
                .peers
                .iter()
                .filter(|p| **p != self.me)
                .cloned()
                .collect(),
            Recipients::Some(peers) => peers.into_iter().filter(|p| *p != self.me).collect(),
            Recipients::One(peer) => vec![peer],
        };
        Ok(HubChecked {
            sender: self.clone(),
            to,
        })
    }
}

/// A blocker that blocks no one (every validator is honest here).
#[derive(Clone, Debug)]
struct NoBlock;

impl Blocker for NoBlock {
    type PublicKey = Key;
    fn block(&mut self, _peer: Key) -> Feedback {
        Feedback::Ok
    }
    fn blocked(&mut self) -> BlockedSubscription<Key> {
        let (sender, receiver) = ring::channel(NZUsize!(1));
        std::mem::forget(sender);
        receiver
    }
}

/// What one chain run measured.
struct Measured {
    calls: Vec<(Call, u64)>,
    complete: bool,
    wall: Duration,
}

/// Runs `blocks` heights of `payload`-byte blocks with `kind` as every validator's buffer.
fn run(kind: Kind, blocks: u64, payload: usize, seed: u64) -> Measured {
    let config = tokio::Config::default().with_worker_threads(2);
    tokio::Runner::new(config).start(|mut context| async move {
        let fixture = fixture(&mut context, VALIDATORS as u32);
        let keys: Vec<Key> = fixture.participants.clone();
        let hub = Hub {
            inboxes: Arc::default(),
            peers: keys.clone(),
            latency: Duration::from_millis(10),
        };
        let validators = OneSet(Set::from_iter_dedup(keys.iter().cloned()));
        let log: Log = Arc::default();
        let mut marshals: Vec<Chain> = Vec::new();
        let mut apps = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let backfill = Backfill {
                peer_provider: validators.clone(),
                blocker: NoBlock,
                channel: hub.register(key, 1),
            };
            let channel = hub.register(key, 2);
            let buffer = chain::start_buffer(
                context.child("buffer").with_attribute("index", i),
                kind,
                key,
                validators.clone(),
                payload,
                2,
                channel,
            )
            .map(|inner| Timed {
                inner,
                log: log.clone(),
            });
            let app = App::default();
            let scheme = fixture.schemes[i].clone();
            let marshal = chain::start_marshal(
                &context,
                i,
                key,
                scheme,
                buffer,
                app.clone(),
                backfill,
                payload,
            )
            .await;
            marshals.push(marshal);
            apps.push(app);
        }
        context.sleep(Duration::from_millis(50)).await;

        // Distinct payloads, made before the clock starts.
        let mut chain_blocks = Vec::new();
        let mut parent = Blk::genesis().digest();
        for h in 1..=blocks {
            let mut bytes = vec![(h % 251) as u8; payload];
            bytes[..8].copy_from_slice(&(h ^ seed).to_be_bytes());
            let block = Blk::new(parent, Height::new(h), bytes);
            parent = block.digest();
            chain_blocks.push(block);
        }
        log.lock().unwrap().clear();
        let start = Instant::now();
        let wait = Duration::from_secs(60);
        for (index, block) in chain_blocks.iter().enumerate() {
            let h = index as u64 + 1;
            let proposer = (h % VALIDATORS as u64) as usize;
            let waiting: Vec<_> = marshals
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != proposer)
                .map(|(_, m)| m.subscribe_by_digest(block.digest(), DigestFallback::Wait))
                .collect();
            let (durable, _) = oneshot::channel();
            let _ =
                marshals[proposer].proposed(round(h), block.digested(), Recipients::All, durable);
            // The previous height finalizes while this block travels.
            if h > 1 {
                let previous = finalization(&fixture.schemes, h - 1, &chain_blocks[index - 1]);
                for marshal in marshals.iter_mut() {
                    let _ = marshal.report(Activity::Finalization(previous.clone()));
                }
            }
            for receiver in waiting {
                let got = context.timeout(wait, receiver).await;
                assert!(
                    matches!(got, Ok(Ok(_))),
                    "{kind:?}: height {h} not delivered"
                );
            }
        }
        let last = finalization(&fixture.schemes, blocks, chain_blocks.last().unwrap());
        for marshal in marshals.iter_mut() {
            let _ = marshal.report(Activity::Finalization(last.clone()));
        }
        let mut complete = true;
        for app in &apps {
            complete &= reached(&context, app, blocks, wait).await;
        }
        let wall = start.elapsed();
        let calls = log.lock().unwrap().clone();
        Measured {
            calls,
            complete,
            wall,
        }
    })
}

fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize] as f64
}

fn arg(name: &str) -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1)?.parse().ok()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let payload = arg("--payload").unwrap_or(8 << 20);
    let blocks = arg("--blocks").unwrap_or(if quick { 4 } else { 12 }) as u64;
    let runs = arg("--runs").unwrap_or(if quick { 1 } else { 3 });
    let kinds = [Kind::Reference, Kind::Shardcast];
    let mut finds: [Vec<u64>; 2] = [Vec::new(), Vec::new()];
    let mut sends: [Vec<u64>; 2] = [Vec::new(), Vec::new()];
    let mut all: [Vec<u64>; 2] = [Vec::new(), Vec::new()];
    let mut walls = [Vec::new(), Vec::new()];
    for seed in 0..runs as u64 {
        for (slot, kind) in kinds.into_iter().enumerate() {
            let measured = run(kind, blocks, payload, seed);
            assert!(measured.complete, "{kind:?}: the chain did not complete");
            for (call, ns) in measured.calls {
                all[slot].push(ns);
                match call {
                    Call::Find => finds[slot].push(ns),
                    Call::Send => sends[slot].push(ns),
                    Call::Subscribe => {}
                }
            }
            walls[slot].push(measured.wall.as_secs_f64() * 1e3);
        }
    }
    println!(
        "marshal's buffer calls, {VALIDATORS} validators, {blocks} blocks of {payload} B, pipelined, {runs} run(s) each (calls pooled)\n"
    );
    println!(
        "| buffer | `find_*` calls | `find_*` p50 | `find_*` p99 | `send` p99 | all calls p50 | all calls p99 | chain wall (median) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (slot, kind) in kinds.into_iter().enumerate() {
        finds[slot].sort_unstable();
        sends[slot].sort_unstable();
        all[slot].sort_unstable();
        walls[slot].sort_by(f64::total_cmp);
        let us = |ns: f64| ns / 1e3;
        println!(
            "| {kind:?} | {} | {:.1} µs | {:.1} µs | {:.1} µs | {:.1} µs | {:.1} µs | {:.0} ms |",
            finds[slot].len(),
            us(percentile(&finds[slot], 0.5)),
            us(percentile(&finds[slot], 0.99)),
            us(percentile(&sends[slot], 0.99)),
            us(percentile(&all[slot], 0.5)),
            us(percentile(&all[slot], 0.99)),
            walls[slot][walls[slot].len() / 2],
        );
    }
    let ratio = |q| percentile(&finds[0], q) / percentile(&finds[1], q);
    println!(
        "\n`find_*` reference / shardcast: p50 {:.1}x, p99 {:.1}x",
        ratio(0.5),
        ratio(0.99)
    );
}
