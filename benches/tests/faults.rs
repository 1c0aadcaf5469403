//! A deterministic fault campaign: a marshal chain on commonware 2026.4.0's deterministic
//! runtime and simulated network, with shardcast as every validator's block buffer and, with the
//! same seeds and the same faults, with the reference's `buffered` engine.
//!
//! Four validators (0 to 3) run marshal with its archives and p2p resolver. The harness plays
//! consensus: blocks of 0 to 4 KiB are proposed in turn through marshal, the others subscribe to
//! each before it is proposed, and every running validator is handed a real ed25519
//! finalization. Faults, alone and all together (a *mix*):
//!
//! - **partition**: heights 3 to 5 run with the validators split {0, 1} | {2, 3}; then it heals;
//! - **lossy**: every link drops half its messages, with 150 ms of jitter on 100 ms;
//! - **crash**: validator 2's tasks are aborted after height 5 and it restarts from its storage
//!   before height 9, with a new buffer;
//! - **byzantine**: a sixth peer, primary in every peer set, sends on the buffer's channel
//!   garbage, frames at the network's size limit, blocks at the codec's payload limit, blocks
//!   whose digest does not match, floods of one block, and blocks for heights that do not exist;
//! - **churn**: before height 10 validator 3 leaves the peer set and validator 4 joins it (it
//!   starts then, and backfills the chain).
//!
//! Each run checks that:
//!
//! - every validator running at the end has received every finalized block, in order, exactly
//!   once (validator 3, when it left, a prefix of them);
//! - shardcast's cached bytes and queued bytes, sampled every 25 ms of simulated time, never
//!   exceed their configured bounds (the reference has no such bound to sample);
//! - once the buffers close, no subscription is still pending: a subscription made to each buffer
//!   when it started, for a block that never exists, resolves as cancelled, and shardcast's
//!   buffer holds no waiter;
//! - the same seed replays to the same auditor state (every seed in CI; one in ten in a
//!   campaign).
//!
//! CI runs 3 seeds per mix. The campaign is the same tests with more seeds:
//! `FAULT_SEEDS=1000 cargo test --release -p shardcast-benches --test faults -- --nocapture`
//! prints, per mix, how many seeds passed with each buffer and the seeds where the two differ.

use commonware_broadcast::buffered;
use commonware_codec::{EncodeSize, Write};
use commonware_consensus::marshal::Update;
use commonware_consensus::marshal::core::Mailbox as Marshal;
use commonware_consensus::marshal::standard::Standard;
use commonware_consensus::simplex::types::Activity;
use commonware_consensus::types::Height;
use commonware_consensus::{Heightable as _, Reporter};
use commonware_cryptography::{Digestible, Hasher, Sha256, sha256};
use commonware_p2p::simulated::{self, Link, Oracle};
use commonware_p2p::{Manager as _, Recipients, Sender as _};
use commonware_runtime::deterministic;
use commonware_runtime::{Clock, Handle, IoBuf, Metrics as _, Quota, Runner as _, Spawner as _};
use commonware_utils::Acknowledgement as _;
use commonware_utils::ordered::Set;
use rand_core::RngCore;
use shardcast_benches::chain::{
    Backfill, Blk, Key, S, Seat, finalization, fixture, round, start_marshal,
};
use std::future::Future;
use std::num::{NonZeroU32, NonZeroUsize};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Context = deterministic::Context;
type Mailbox = shardcast_commonware_2026_4::Mailbox<Key, Blk>;

/// Validators 0 to 3 run from the start; 4 joins with churn; 5 is the byzantine peer.
const VALIDATORS: usize = 4;
const JOINER: usize = 4;
const LEAVER: usize = 3;
const CRASHED: usize = 2;
const BYZANTINE: usize = 5;
const KEYS: u32 = 6;

const BLOCKS: u64 = 12;
const RESOLVER_CHANNEL: u64 = 1;
const BUFFER_CHANNEL: u64 = 2;

/// The simulated network's frame limit.
const MAX_FRAME: usize = 256 << 10;
/// The blocks' codec limit (marshal's and the buffers').
const MAX_PAYLOAD: usize = 64 << 10;
/// shardcast's settings: its per-peer byte budget, its receive path's byte budget, its workers.
const PEER_BYTES: usize = 160 << 10;
const QUEUED_BYTES: usize = 1 << 20;
const WORKERS: usize = 2;
/// Honest blocks carry up to this much payload.
const HONEST_PAYLOAD: u64 = 4 << 10;

/// A digest no block has: each buffer is asked for it when it starts.
fn probe_digest() -> sha256::Digest {
    Sha256::hash(b"shardcast fault campaign: a block that never exists")
}

/// Which buffer the validators run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Shardcast,
    Reference,
}

/// Which faults a run injects.
#[derive(Clone, Copy, Debug, Default)]
struct Mix {
    partition: bool,
    lossy: bool,
    crash: bool,
    byzantine: bool,
    churn: bool,
}

impl Mix {
    fn all() -> Self {
        Self {
            partition: true,
            lossy: true,
            crash: true,
            byzantine: true,
            churn: true,
        }
    }
}

/// A deliberately broken run, to show that each check can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Control {
    /// The run as described.
    None,
    /// The crashed validator never restarts (the delivery check must fail).
    NeverRestart,
    /// The buffers are never closed (the pending-subscription check must fail).
    LeaveOpen,
    /// The cached-bytes bound is a quarter of one peer's budget (the bound check must fail).
    TightBounds,
}

/// What a run produced; two runs of one seed must produce equal outcomes.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// The digests each key's application received, in order (empty for keys that never ran).
    delivered: Vec<Vec<sha256::Digest>>,
    /// What the run's checks found wrong (empty: it passed).
    failures: Vec<String>,
    /// The most cached bytes and queued bytes sampled on any shardcast buffer (0 on the
    /// reference).
    cached_peak: u64,
    queued_peak: u64,
    /// Frames shardcast's receive paths rejected (too large, invalid), over the run.
    rejected: u64,
}

/// An application that records what marshal delivers, without judging it.
#[derive(Clone)]
struct Ledger {
    blocks: Arc<Mutex<Vec<(u64, sha256::Digest)>>>,
    height: tokio::sync::watch::Sender<u64>,
}

impl Default for Ledger {
    fn default() -> Self {
        Self {
            blocks: Arc::default(),
            height: tokio::sync::watch::channel(0).0,
        }
    }
}

impl Reporter for Ledger {
    type Activity = Update<Blk>;

    async fn report(&mut self, activity: Update<Blk>) {
        if let Update::Block(block, ack) = activity {
            let height = block.height().get();
            self.blocks.lock().unwrap().push((height, block.digest()));
            ack.acknowledge();
            self.height
                .send_modify(|reached| *reached = (*reached).max(height));
        }
    }
}

impl Ledger {
    fn digests(&self) -> Vec<sha256::Digest> {
        self.blocks
            .lock()
            .unwrap()
            .iter()
            .map(|(_, d)| *d)
            .collect()
    }

    /// Waits up to `wait` until height `h` has been delivered.
    async fn reached(&self, context: &Context, h: u64, wait: Duration) {
        let mut height = self.height.subscribe();
        let _ = context
            .timeout(wait, async move {
                height.wait_for(|r| *r >= h).await.map(|_| ())
            })
            .await;
    }
}

/// The bounds shardcast's buffers must keep, and the most each sample found.
#[derive(Default)]
struct Bounds {
    cached_limit: u64,
    queued_limit: u64,
    cached_peak: u64,
    queued_peak: u64,
    violations: Vec<String>,
}

impl Bounds {
    fn sample(&mut self, who: &str, mailbox: &Mailbox) {
        let cached = mailbox.buffer().stats().cached_bytes as u64;
        let queued = mailbox.stats().queued_bytes;
        self.cached_peak = self.cached_peak.max(cached);
        self.queued_peak = self.queued_peak.max(queued);
        if cached > self.cached_limit && self.violations.len() < 8 {
            self.violations.push(format!(
                "{who}: cached bytes {cached} over {}",
                self.cached_limit
            ));
        }
        if queued > self.queued_limit && self.violations.len() < 8 {
            self.violations.push(format!(
                "{who}: queued bytes {queued} over {}",
                self.queued_limit
            ));
        }
    }
}

/// A subscription that resolves to whether it was cancelled.
type Probe = Pin<Box<dyn Future<Output = bool> + Send>>;

/// Subscribes through `buffer` to [`probe_digest`].
async fn probe<B>(buffer: &B) -> Probe
where
    B: commonware_consensus::marshal::core::Buffer<Standard<Blk>>,
    B::CachedBlock: Send + 'static,
{
    let receiver = buffer.subscribe_by_digest(probe_digest()).await;
    Box::pin(async move { receiver.await.is_err() })
}

/// One life of a validator, from a start to a crash or to the end of the run.
struct Life {
    marshal: Marshal<S, Standard<Blk>>,
    /// The buffer engine's task: aborting it closes the buffer.
    engine: Handle<()>,
    /// Every task of this life (marshal, resolver, buffer, sampler) descends from it.
    task: Handle<()>,
    /// A subscription to [`probe_digest`], made when the buffer started.
    probe: Probe,
    /// shardcast's mailbox, to read its statistics.
    mailbox: Option<Mailbox>,
}

/// Everything a validator's life needs from the run.
struct Seed {
    kind: Kind,
    index: usize,
    life: usize,
    key: Key,
    scheme: S,
    ledger: Ledger,
    bounds: Arc<Mutex<Bounds>>,
}

/// Starts one life of a validator: its channels, its buffer, its marshal (restarting from its
/// storage if an earlier life wrote it), all spawned under one task.
async fn start_life(context: &Context, oracle: &Oracle<Key, Context>, seed: Seed) -> Life {
    let Seed {
        kind,
        index,
        life,
        key,
        scheme,
        ledger,
        bounds,
    } = seed;
    let control = oracle.control(key.clone());
    let manager = oracle.manager();
    let (tx, rx) = commonware_utils::channel::oneshot::channel();
    let task = context
        .with_label(&format!("life{life}"))
        .spawn(move |context| async move {
            let quota = Quota::per_second(NonZeroU32::MAX);
            let resolver_channel = control.register(RESOLVER_CHANNEL, quota).await.unwrap();
            let buffer_channel = control.register(BUFFER_CHANNEL, quota).await.unwrap();
            let backfill = Backfill {
                peer_provider: manager.clone(),
                blocker: control.clone(),
                channel: resolver_channel,
            };
            let seat = Seat {
                index,
                key: &key,
                scheme,
            };
            let buffer_context = context.with_label(&format!("validator{index}_buffer"));
            let started = match kind {
                Kind::Shardcast => {
                    let (engine, buffer) = shardcast_commonware_2026_4::marshal::buffer_for_marshal(
                        buffer_context,
                        shardcast_commonware_2026_4::Config {
                            public_key: key.clone(),
                            mailbox_size: 1024,
                            deque_size: 10,
                            priority: false,
                            codec_config: MAX_PAYLOAD,
                            peer_provider: manager,
                        },
                        shardcast_commonware_2026_4::Options::default()
                            .with_workers(WORKERS)
                            .with_peer_bytes(PEER_BYTES)
                            .with_max_frame_size(MAX_PAYLOAD + 1024)
                            .with_max_queued_bytes(QUEUED_BYTES),
                    );
                    let engine = engine.start(buffer_channel);
                    let probe = probe(&buffer).await;
                    let sampled = buffer.clone();
                    context
                        .with_label("sampler")
                        .spawn(move |context| async move {
                            let who = format!("validator {index} (life {life})");
                            loop {
                                bounds.lock().unwrap().sample(&who, &sampled);
                                context.sleep(Duration::from_millis(25)).await;
                            }
                        });
                    let mailbox = buffer.clone();
                    let marshal =
                        start_marshal(&context, seat, buffer, ledger, backfill, MAX_PAYLOAD).await;
                    (marshal, engine, probe, Some(mailbox))
                }
                Kind::Reference => {
                    let (engine, buffer) = buffered::Engine::new(
                        buffer_context,
                        buffered::Config {
                            public_key: key.clone(),
                            mailbox_size: 1024,
                            deque_size: 10,
                            priority: false,
                            codec_config: MAX_PAYLOAD,
                            peer_provider: manager,
                        },
                    );
                    let engine = engine.start(buffer_channel);
                    let probe = probe(&buffer).await;
                    let marshal =
                        start_marshal(&context, seat, buffer, ledger, backfill, MAX_PAYLOAD).await;
                    (marshal, engine, probe, None)
                }
            };
            let _ = tx.send(started);
            std::future::pending::<()>().await;
        });
    let (marshal, engine, probe, mailbox) = rx.await.expect("the validator started");
    Life {
        marshal,
        engine,
        task,
        probe,
        mailbox,
    }
}

/// The byzantine peer: registers on the buffer's channel and, every 40 ms, sends one of its
/// attacks to everyone, until the run ends.
fn byzantine(context: &Context, oracle: &Oracle<Key, Context>, key: Key) {
    let control = oracle.control(key);
    context
        .with_label("byzantine")
        .spawn(move |mut context| async move {
            let quota = Quota::per_second(NonZeroU32::MAX);
            let (mut sender, mut receiver) = control.register(BUFFER_CHANNEL, quota).await.unwrap();
            // What honest validators send it is read and dropped.
            context.with_label("drain").spawn(move |_| async move {
                use commonware_p2p::Receiver as _;
                while receiver.recv().await.is_ok() {}
            });
            let encode = |block: &Blk| {
                let mut frame = Vec::with_capacity(block.encode_size());
                block.write(&mut frame);
                frame
            };
            loop {
                context.sleep(Duration::from_millis(40)).await;
                let r = context.next_u64();
                let nowhere = Blk::new(
                    Sha256::hash(&r.to_be_bytes()),
                    Height::new(1_000_000 + r % 1_000),
                    vec![r as u8; (r % 512) as usize],
                );
                let frames: Vec<Vec<u8>> = match r % 6 {
                    // Garbage.
                    0 => {
                        let mut junk = vec![0u8; 1 + (r >> 8) as usize % 1024];
                        context.fill_bytes(&mut junk);
                        vec![junk]
                    }
                    // A frame at the network's size limit.
                    1 => {
                        let mut junk = vec![0u8; MAX_FRAME];
                        context.fill_bytes(&mut junk);
                        vec![junk]
                    }
                    // A valid block at the codec's payload limit, for a height that does not
                    // exist.
                    2 => vec![encode(&Blk::new(
                        nowhere.digest(),
                        Height::new(2_000_000 + r % 1_000),
                        vec![0xB7; MAX_PAYLOAD],
                    ))],
                    // A block whose digest does not match.
                    3 => {
                        let mut frame = encode(&nowhere);
                        let last = frame.len() - 1;
                        frame[last] ^= 1;
                        vec![frame]
                    }
                    // A flood of one block.
                    4 => vec![encode(&nowhere); 16],
                    // A block for a height that does not exist.
                    _ => vec![encode(&nowhere)],
                };
                for frame in frames {
                    let _ = sender
                        .send(Recipients::All, IoBuf::from(frame), false)
                        .await;
                }
            }
        });
}

/// The links between `a` and `b`, both ways.
async fn link(oracle: &Oracle<Key, Context>, a: &Key, b: &Key, mix: Mix) {
    let link = Link {
        latency: Duration::from_millis(100),
        jitter: Duration::from_millis(if mix.lossy { 150 } else { 10 }),
        success_rate: if mix.lossy { 0.5 } else { 1.0 },
    };
    for (from, to) in [(a, b), (b, a)] {
        oracle
            .add_link(from.clone(), to.clone(), link.clone())
            .await
            .unwrap();
    }
}

/// Runs the chain with `kind` under `mix` with `seed`: its outcome and the auditor's state.
fn run(seed: u64, kind: Kind, mix: Mix, control: Control) -> (Outcome, String) {
    let config = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(3_600)));
    deterministic::Runner::new(config).start(|mut context| async move {
        let fixture = fixture(&mut context, KEYS);
        let keys: Vec<Key> = fixture.participants.clone();
        let (network, oracle) = simulated::Network::new(
            context.with_label("network"),
            simulated::Config {
                max_size: MAX_FRAME as u32,
                disconnect_on_block: true,
                tracked_peer_sets: NonZeroUsize::MIN,
            },
        );
        network.start();
        let set = |members: &[usize]| Set::from_iter_dedup(members.iter().map(|&i| keys[i].clone()));
        let mut members: Vec<usize> = (0..VALIDATORS).collect();
        if mix.byzantine {
            members.push(BYZANTINE);
        }
        oracle.manager().track(0, set(&members)).await;
        for a in 0..KEYS as usize {
            for b in a + 1..KEYS as usize {
                link(&oracle, &keys[a], &keys[b], mix).await;
            }
        }

        let ever_primary = members.len() + usize::from(mix.churn);
        let bounds = Arc::new(Mutex::new(Bounds {
            cached_limit: if control == Control::TightBounds {
                (PEER_BYTES / 4) as u64
            } else {
                (ever_primary * PEER_BYTES) as u64
            },
            // The documented exception: at most one frame per worker beyond its share.
            queued_limit: (QUEUED_BYTES + WORKERS * MAX_FRAME) as u64,
            ..Bounds::default()
        }));
        let ledgers: Vec<Ledger> = (0..KEYS).map(|_| Ledger::default()).collect();
        let mut lives_started = 0;
        let mut seat = |index: usize| {
            lives_started += 1;
            Seed {
                kind,
                index,
                life: lives_started,
                key: keys[index].clone(),
                scheme: fixture.schemes[index].clone(),
                ledger: ledgers[index].clone(),
                bounds: bounds.clone(),
            }
        };
        let mut lives: Vec<Option<Life>> = (0..KEYS).map(|_| None).collect();
        for (index, life) in lives.iter_mut().enumerate().take(VALIDATORS) {
            *life = Some(start_life(&context, &oracle, seat(index)).await);
        }
        if mix.byzantine {
            byzantine(&context, &oracle, keys[BYZANTINE].clone());
        }
        let mut failures = Vec::new();
        let mut left = false;
        let mut closed = Vec::new();
        let mut rejected_before_crash = 0;

        let mut chain = Vec::new();
        let mut parent = Sha256::hash(b"");
        for h in 1..=BLOCKS {
            if mix.partition && (h == 3 || h == 6) {
                for a in [0, 1] {
                    for b in [2, 3] {
                        if h == 3 {
                            for (from, to) in [(a, b), (b, a)] {
                                let _ = oracle.remove_link(keys[from].clone(), keys[to].clone()).await;
                            }
                        } else {
                            link(&oracle, &keys[a], &keys[b], mix).await;
                        }
                    }
                }
            }
            // A validator leaves (crashes, or leaves the set) only once every running
            // validator has the chain so far: the harness finalizes a block whoever holds it,
            // and a block only the departing validator held would be lost to every buffer.
            if (mix.crash && h == 6) || (mix.churn && h == 10) {
                for i in (0..BYZANTINE).filter(|&i| lives[i].is_some() && !(left && i == LEAVER)) {
                    ledgers[i].reached(&context, h - 1, Duration::from_secs(120)).await;
                }
            }
            if mix.crash && h == 6 {
                let life = lives[CRASHED].take().unwrap();
                if let Some(mailbox) = &life.mailbox {
                    let stats = mailbox.stats();
                    rejected_before_crash += stats.invalid;
                }
                life.task.abort();
                closed.push((CRASHED, life.probe));
            }
            if mix.crash && h == 9 && control != Control::NeverRestart {
                lives[CRASHED] = Some(start_life(&context, &oracle, seat(CRASHED)).await);
            }
            if mix.churn && h == 10 {
                lives[JOINER] = Some(start_life(&context, &oracle, seat(JOINER)).await);
                members.retain(|&i| i != LEAVER);
                members.push(JOINER);
                oracle.manager().track(1, set(&members)).await;
                left = true;
            }
            let running: Vec<usize> = (0..BYZANTINE)
                .filter(|&i| lives[i].is_some() && !(left && i == LEAVER))
                .collect();
            let proposer = running[h as usize % running.len()];
            let size = context.next_u64() % HONEST_PAYLOAD;
            let block = Blk::new(parent, Height::new(h), vec![h as u8; size as usize]);
            parent = block.digest();
            chain.push(block.digest());
            let mut waiting = Vec::new();
            for &i in &running {
                if i != proposer {
                    let marshal = &lives[i].as_ref().unwrap().marshal;
                    waiting.push(marshal.subscribe_by_digest(None, block.digest()).await);
                }
            }
            lives[proposer]
                .as_ref()
                .unwrap()
                .marshal
                .proposed(round(h), block.clone())
                .await;
            for receiver in waiting {
                let _ = context.timeout(Duration::from_secs(2), receiver).await;
            }
            let finalization = finalization(&fixture.schemes, h, &block);
            for &i in &running {
                let mut marshal = lives[i].as_ref().unwrap().marshal.clone();
                marshal
                    .report(Activity::Finalization(finalization.clone()))
                    .await;
            }
        }

        // Every validator still in the set gets the whole chain, or the run gives up after two
        // minutes of simulated time.
        let finishers: Vec<usize> = (0..BYZANTINE)
            .filter(|&i| (lives[i].is_some() || (mix.crash && i == CRASHED)) && !(left && i == LEAVER))
            .collect();
        for &i in &finishers {
            ledgers[i].reached(&context, BLOCKS, Duration::from_secs(120)).await;
        }
        for &i in &finishers {
            let got = ledgers[i].digests();
            if got != chain {
                failures.push(format!(
                    "validator {i} received {} blocks, not the {} of the chain in order once: heights {:?}",
                    got.len(),
                    chain.len(),
                    ledgers[i].blocks.lock().unwrap().iter().map(|(h, _)| *h).collect::<Vec<_>>()
                ));
            }
        }
        if left {
            let got = ledgers[LEAVER].digests();
            if !chain.starts_with(&got) {
                failures.push(format!(
                    "validator {LEAVER}, which left, received blocks that are not a prefix of the chain: {} blocks",
                    got.len()
                ));
            }
        }

        // Close every buffer; then no subscription may still be pending.
        let mut rejected = rejected_before_crash;
        for (i, life) in lives.iter_mut().enumerate() {
            let Some(life) = life.take() else { continue };
            if control == Control::LeaveOpen {
                closed.push((i, life.probe));
                continue;
            }
            life.engine.abort();
            if let Some(mailbox) = &life.mailbox {
                let stats = mailbox.stats();
                rejected += stats.invalid;
                bounds.lock().unwrap().sample(&format!("validator {i} at close"), mailbox);
                let peak = stats.queued_bytes_peak;
                let limit = bounds.lock().unwrap().queued_limit;
                if peak > limit {
                    failures.push(format!("validator {i}: queued bytes peaked at {peak}, over {limit}"));
                }
            }
            closed.push((i, life.probe));
            // The rest of the validator stops with the buffer.
            life.task.abort();
            if let Some(mailbox) = life.mailbox {
                // Let the engine's stop run before reading the buffer.
                context.sleep(Duration::from_millis(10)).await;
                let stats = mailbox.buffer().stats();
                if stats.waiters != 0 || stats.subscriptions != 0 {
                    failures.push(format!(
                        "validator {i}: {} subscriptions for {} digests still pending after close",
                        stats.subscriptions, stats.waiters
                    ));
                }
            }
        }
        for (i, probe) in closed {
            match context.timeout(Duration::from_secs(1), probe).await {
                Ok(true) => {}
                Ok(false) => failures.push(format!("validator {i}: the probe got a block")),
                Err(_) => failures.push(format!(
                    "validator {i}: a subscription is still pending after its buffer closed"
                )),
            }
        }
        let (cached_peak, queued_peak) = {
            let mut bounds = bounds.lock().unwrap();
            failures.append(&mut bounds.violations);
            (bounds.cached_peak, bounds.queued_peak)
        };
        let outcome = Outcome {
            delivered: ledgers.iter().map(Ledger::digests).collect(),
            failures,
            cached_peak,
            queued_peak,
            rejected,
        };
        (outcome, context.auditor().state())
    })
}

/// A run that panicked fails with the panic's message.
fn checked(seed: u64, kind: Kind, mix: Mix) -> (Outcome, String) {
    match std::panic::catch_unwind(AssertUnwindSafe(|| run(seed, kind, mix, Control::None))) {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let outcome = Outcome {
                delivered: Vec::new(),
                failures: vec![format!("panicked: {message}")],
                cached_peak: 0,
                queued_peak: 0,
                rejected: 0,
            };
            (outcome, String::new())
        }
    }
}

/// Seeds per mix: `FAULT_SEEDS`, or 3.
fn seeds() -> u64 {
    std::env::var("FAULT_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
}

/// Runs `mix` for every seed with both buffers, replays shardcast's runs (every seed when 3 or
/// fewer are asked for, else one in ten), prints a summary, and fails if any shardcast run
/// failed or replayed differently.
fn campaign(name: &str, mix: Mix) {
    let seeds = seeds();
    let start = std::time::Instant::now();
    let (mut shardcast_failed, mut reference_failed) = (Vec::new(), Vec::new());
    let (mut cached_peak, mut queued_peak, mut rejected, mut replayed) = (0, 0, 0, 0);
    let mut first_failure = None;
    for seed in 0..seeds {
        let (outcome, state) = checked(seed, Kind::Shardcast, mix);
        if !outcome.failures.is_empty() {
            first_failure.get_or_insert_with(|| format!("seed {seed}: {:?}", outcome.failures));
            shardcast_failed.push(seed);
        }
        cached_peak = cached_peak.max(outcome.cached_peak);
        queued_peak = queued_peak.max(outcome.queued_peak);
        rejected += outcome.rejected;
        if seeds <= 3 || seed % 10 == 0 {
            let (again, again_state) = checked(seed, Kind::Shardcast, mix);
            if again != outcome || again_state != state {
                first_failure.get_or_insert_with(|| format!("seed {seed}: replayed differently"));
                shardcast_failed.push(seed);
            }
            replayed += 1;
        }
        let (reference, _) = checked(seed, Kind::Reference, mix);
        if !reference.failures.is_empty() {
            println!(
                "{name}: the reference failed seed {seed}: {:?}",
                reference.failures
            );
            reference_failed.push(seed);
        }
    }
    shardcast_failed.dedup();
    let differ: Vec<u64> = (0..seeds)
        .filter(|s| shardcast_failed.contains(s) != reference_failed.contains(s))
        .collect();
    println!(
        "figure: {name}: {seeds} seeds, shardcast passed {}, the reference passed {}; seeds where they differ {differ:?}; shardcast replayed {replayed} seeds; peaks: cached {cached_peak} B (bound 160 KiB x peers ever primary), queued {queued_peak} B (bound {}); frames rejected {rejected}; {:.0} s",
        seeds - shardcast_failed.len() as u64,
        seeds - reference_failed.len() as u64,
        QUEUED_BYTES + WORKERS * MAX_FRAME,
        start.elapsed().as_secs_f64()
    );
    assert!(
        shardcast_failed.is_empty(),
        "{name}: shardcast failed seeds {shardcast_failed:?}; first: {}",
        first_failure.unwrap_or_default()
    );
}

#[test]
fn partition() {
    campaign(
        "partition",
        Mix {
            partition: true,
            ..Mix::default()
        },
    );
}

#[test]
fn lossy() {
    campaign(
        "lossy",
        Mix {
            lossy: true,
            ..Mix::default()
        },
    );
}

#[test]
fn crash() {
    campaign(
        "crash",
        Mix {
            crash: true,
            ..Mix::default()
        },
    );
}

#[test]
fn byzantine_peer() {
    campaign(
        "byzantine",
        Mix {
            byzantine: true,
            ..Mix::default()
        },
    );
}

#[test]
fn churn() {
    campaign(
        "churn",
        Mix {
            churn: true,
            ..Mix::default()
        },
    );
}

#[test]
fn all_faults_at_once() {
    campaign("all", Mix::all());
}

/// Each check fails on a run broken on purpose: a crashed validator that never restarts misses
/// blocks, buffers never closed leave their subscriptions pending, and a bound below what the
/// byzantine peer's blocks take is reported.
#[test]
fn each_check_fails_on_a_run_broken_on_purpose() {
    let cases = [
        (
            Control::NeverRestart,
            Mix {
                crash: true,
                ..Mix::default()
            },
            "validator 2 received",
        ),
        (Control::LeaveOpen, Mix::default(), "still pending"),
        (
            Control::TightBounds,
            Mix {
                byzantine: true,
                ..Mix::default()
            },
            "cached bytes",
        ),
    ];
    for (control, mix, expected) in cases {
        let (outcome, _) = run(0, Kind::Shardcast, mix, control);
        assert!(
            outcome.failures.iter().any(|f| f.contains(expected)),
            "{control:?}: {:?}",
            outcome.failures
        );
        // The same run, unbroken, passes.
        let (outcome, _) = run(0, Kind::Shardcast, mix, Control::None);
        assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    }
}
