//! The latency of marshal's buffer calls while tempo-sized blocks (8 MiB) travel, on
//! commonware 2026.4.0: shardcast (`shardcast-commonware-2026-4`) and that release's
//! `buffered` as marshal's buffer, side by side in one process. The same harness as the 2026.10
//! adapter's `benches/chain.rs`, on this release's API:
//!
//! - 4 validators, each with marshal (its actor, archives and p2p resolver), on commonware's
//!   tokio runtime with 2 worker threads;
//! - an in-process network with 10 ms links;
//! - the chain pipelined as consensus runs it. At each height the other validators subscribe to
//!   the new block, its proposer sends it, and every validator is handed the finalization of
//!   the previous height, so marshal looks the previous block up in its buffer while the new
//!   one is received, decoded and hashed;
//! - every call marshal makes to its buffer timed at the `Buffer` trait.
//!
//! `cargo bench -p shardcast-benches --bench marshal_calls [-- --quick] [-- --payload BYTES
//! --blocks N --runs N]`

use commonware_broadcast::buffered;
use commonware_consensus::Reporter as _;
use commonware_consensus::marshal::core::{Buffer, Mailbox as Marshal};
use commonware_consensus::marshal::standard::Standard;
use commonware_consensus::simplex::types::Activity;
use commonware_consensus::types::{Height, Round};
use commonware_cryptography::{Digestible, Hasher, Sha256, sha256};
use commonware_p2p::{Blocker, CheckedSender, LimitedSender, Recipients};
use commonware_runtime::{Clock as _, IoBuf, IoBufs, Metrics as _, Runner as _, tokio as cw};
use commonware_utils::channel::oneshot;
use shardcast_benches::actor::OneSetProvider;
use shardcast_benches::chain::{
    App, Backfill, Blk, Key, S, Seat, finalization, fixture, reached, round, start_marshal,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;

const VALIDATORS: usize = 4;

/// The buffer the validators run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Reference,
    Shardcast,
}

/// What marshal called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    Find,
    Subscribe,
    Send,
    Finalized,
}

/// The time each call took, in ns, by kind.
type Log = Arc<Mutex<Vec<(Call, u64)>>>;

/// A buffer that times every call marshal makes to the one it wraps.
#[derive(Clone)]
struct Timed<B> {
    inner: B,
    log: Log,
}

impl<B> Timed<B> {
    fn record(&self, call: Call, start: Instant) {
        let ns = start.elapsed().as_nanos() as u64;
        self.log.lock().unwrap().push((call, ns));
    }
}

impl<B: Buffer<Standard<Blk>, PublicKey = Key>> Buffer<Standard<Blk>> for Timed<B> {
    type PublicKey = Key;
    type CachedBlock = B::CachedBlock;

    async fn find_by_digest(&self, digest: sha256::Digest) -> Option<B::CachedBlock> {
        let start = Instant::now();
        let found = self.inner.find_by_digest(digest).await;
        self.record(Call::Find, start);
        found
    }

    async fn find_by_commitment(&self, commitment: sha256::Digest) -> Option<B::CachedBlock> {
        let start = Instant::now();
        let found = self.inner.find_by_commitment(commitment).await;
        self.record(Call::Find, start);
        found
    }

    async fn subscribe_by_digest(
        &self,
        digest: sha256::Digest,
    ) -> oneshot::Receiver<B::CachedBlock> {
        let start = Instant::now();
        let receiver = self.inner.subscribe_by_digest(digest).await;
        self.record(Call::Subscribe, start);
        receiver
    }

    async fn subscribe_by_commitment(
        &self,
        commitment: sha256::Digest,
    ) -> oneshot::Receiver<B::CachedBlock> {
        let start = Instant::now();
        let receiver = self.inner.subscribe_by_commitment(commitment).await;
        self.record(Call::Subscribe, start);
        receiver
    }

    async fn finalized(&self, commitment: sha256::Digest) {
        let start = Instant::now();
        self.inner.finalized(commitment).await;
        self.record(Call::Finalized, start);
    }

    async fn send(&self, round: Round, block: Blk, recipients: Recipients<Key>) {
        let start = Instant::now();
        self.inner.send(round, block, recipients).await;
        self.record(Call::Send, start);
    }
}

// ---- an in-process network on tokio, with 2026.4's p2p traits ----

/// Every registered (peer, channel) inbox.
type Inboxes = Arc<Mutex<HashMap<(Key, u64), mpsc::UnboundedSender<(Key, IoBuf)>>>>;

/// Delivers each message to its recipients' inboxes on the same channel after `latency`.
#[derive(Clone)]
struct Hub {
    inboxes: Inboxes,
    peers: Vec<Key>,
    latency: Duration,
}

impl Hub {
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
    type Error = std::io::Error;
    async fn send(
        self,
        message: impl Into<IoBufs> + Send,
        _priority: bool,
    ) -> Result<Vec<Key>, std::io::Error> {
        let message = message.into().coalesce();
        let HubSender { hub, me, channel } = self.sender;
        let inboxes: Vec<_> = {
            let inboxes = hub.inboxes.lock().unwrap();
            self.to
                .iter()
                .filter_map(|to| inboxes.get(&(to.clone(), channel)).cloned())
                .collect()
        };
        tokio::spawn(async move {
            tokio::time::sleep(hub.latency).await;
            for inbox in inboxes {
                let _ = inbox.send((me.clone(), message.clone()));
            }
        });
        Ok(self.to)
    }
}

impl LimitedSender for HubSender {
    type PublicKey = Key;
    type Checked<'a> = HubChecked;
    async fn check(&mut self, recipients: Recipients<Key>) -> Result<HubChecked, SystemTime> {
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

/// The hub is gone.
#[derive(Debug)]
struct Closed;

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("hub closed")
    }
}

impl std::error::Error for Closed {}

/// A receiver fed through a channel.
#[derive(Debug)]
struct Feed(mpsc::UnboundedReceiver<(Key, IoBuf)>);

impl commonware_p2p::Receiver for Feed {
    type Error = Closed;
    type PublicKey = Key;
    async fn recv(&mut self) -> Result<(Key, IoBuf), Closed> {
        self.0.recv().await.ok_or(Closed)
    }
}

/// A blocker that blocks no one (every validator is honest here).
#[derive(Clone, Debug)]
struct NoBlock;

impl Blocker for NoBlock {
    type PublicKey = Key;
    async fn block(&mut self, _peer: Key) {}
}

/// What one chain run measured.
struct Measured {
    calls: Vec<(Call, u64)>,
    complete: bool,
    wall: Duration,
}

/// Runs `blocks` heights of `payload`-byte blocks with `kind` as every validator's buffer.
fn run(kind: Kind, blocks: u64, payload: usize, seed: u64) -> Measured {
    let storage = std::env::temp_dir().join(format!(
        "shardcast-marshal-calls-{kind:?}-{seed}-{}",
        std::process::id()
    ));
    let config = cw::Config::new()
        .with_worker_threads(2)
        .with_storage_directory(storage.clone());
    let measured = cw::Runner::new(config).start(|mut context| async move {
        let fixture = fixture(&mut context, VALIDATORS as u32);
        let keys: Vec<Key> = fixture.participants.clone();
        let hub = Hub {
            inboxes: Arc::default(),
            peers: keys.clone(),
            latency: Duration::from_millis(10),
        };
        let provider = OneSetProvider::new(keys.clone());
        let log: Log = Arc::default();
        let mut marshals: Vec<Marshal<S, Standard<Blk>>> = Vec::new();
        let mut apps = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let backfill = Backfill {
                peer_provider: provider.clone(),
                blocker: NoBlock,
                channel: hub.register(key, 1),
            };
            let channel = hub.register(key, 2);
            let app = App::default();
            let seat = Seat {
                index: i,
                key,
                scheme: fixture.schemes[i].clone(),
            };
            let buffer_context = context.with_label(&format!("buffer{i}"));
            let marshal = match kind {
                Kind::Shardcast => {
                    let (engine, buffer) = shardcast_commonware_2026_4::marshal::buffer_for_marshal(
                        buffer_context,
                        shardcast_commonware_2026_4::Config {
                            public_key: key.clone(),
                            mailbox_size: 1024,
                            deque_size: 10,
                            priority: false,
                            codec_config: payload,
                            peer_provider: provider.clone(),
                        },
                        shardcast_commonware_2026_4::Options::default().with_workers(2),
                    );
                    engine.start(channel);
                    let buffer = Timed {
                        inner: buffer,
                        log: log.clone(),
                    };
                    start_marshal(&context, seat, buffer, app.clone(), backfill, payload).await
                }
                Kind::Reference => {
                    let (engine, buffer) = buffered::Engine::new(
                        buffer_context,
                        buffered::Config {
                            public_key: key.clone(),
                            mailbox_size: 1024,
                            deque_size: 10,
                            priority: false,
                            codec_config: payload,
                            peer_provider: provider.clone(),
                        },
                    );
                    engine.start(channel);
                    let buffer = Timed {
                        inner: buffer,
                        log: log.clone(),
                    };
                    start_marshal(&context, seat, buffer, app.clone(), backfill, payload).await
                }
            };
            marshals.push(marshal);
            apps.push(app);
        }
        context.sleep(Duration::from_millis(50)).await;

        // Distinct payloads, made before the clock starts.
        let mut chain = Vec::new();
        let mut parent = Sha256::hash(b"");
        for h in 1..=blocks {
            let mut bytes = vec![(h % 251) as u8; payload];
            bytes[..8].copy_from_slice(&(h ^ seed).to_be_bytes());
            let block = Blk::new(parent, Height::new(h), bytes);
            parent = block.digest();
            chain.push(block);
        }
        log.lock().unwrap().clear();
        let start = Instant::now();
        let wait = Duration::from_secs(60);
        for (index, block) in chain.iter().enumerate() {
            let h = index as u64 + 1;
            let proposer = (h % VALIDATORS as u64) as usize;
            let mut waiting = Vec::new();
            for (i, marshal) in marshals.iter().enumerate() {
                if i != proposer {
                    waiting.push(marshal.subscribe_by_digest(None, block.digest()).await);
                }
            }
            marshals[proposer].proposed(round(h), block.clone()).await;
            // The previous height finalizes while this block travels.
            if h > 1 {
                let previous = finalization(&fixture.schemes, h - 1, &chain[index - 1]);
                for marshal in marshals.iter_mut() {
                    marshal
                        .report(Activity::Finalization(previous.clone()))
                        .await;
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
        let last = finalization(&fixture.schemes, blocks, chain.last().unwrap());
        for marshal in marshals.iter_mut() {
            marshal.report(Activity::Finalization(last.clone())).await;
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
    });
    let _ = std::fs::remove_dir_all(storage);
    measured
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
                    Call::Subscribe | Call::Finalized => {}
                }
            }
            walls[slot].push(measured.wall.as_secs_f64() * 1e3);
        }
    }
    println!(
        "commonware 2026.4.0: marshal's buffer calls, {VALIDATORS} validators, {blocks} blocks of {payload} B, pipelined, {runs} run(s) each (calls pooled)\n"
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
