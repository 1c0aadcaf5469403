//! shardcast against commonware-broadcast 2026.10.0's `buffered`, side by side in one run on
//! commonware's tokio runtime (2 worker threads), both through their mailboxes, built from the
//! same seven-field `Config` literal and fed by the same frames:
//!
//! - `get` hit, from one task;
//! - ingest: frames from 4 ed25519 peers waiting in the receiver when the engine starts, until
//!   all are decoded, hashed and cached; beside the limit, the same decode + SHA-256 + insert
//!   on a bare `DashMap` from 2 tasks (no deques, no refcounts, no waiters, no metrics); and,
//!   below the table, the CPU time each spent per frame (the process's CPU clock over the run,
//!   both threads), which is what bounds a ratio on 2 cores;
//! - wake-up: a subscriber waiting, then one frame into the receiver; latency until the
//!   subscriber runs (p50, p99);
//! - mixed: 2 tasks feeding frames into the receiver and 2 tasks calling `get` on 512 cached
//!   digests, at once, each yielding every 64 operations (a task that never yields would hold
//!   its thread to the end); operations per second in all, frames ingested and `get`s per
//!   second, and the `get` p99.
//!
//! shardcast runs with 2 receive workers (`Options::with_workers(2)`, one per core); the
//! reference has its one loop. The network is a stand-in: a receiver fed from a channel, a
//! sender that drops what it is given, a provider whose one set holds every peer as primary.
//!
//! Every figure is the median of interleaved runs; read the ratios, not the rates (the
//! machines are shared). `cargo bench --bench compare [-- --quick] [-- --only get|ingest|wakeup|mixed]` from
//! `adapters/commonware-2026.10`.

use commonware_broadcast::{Broadcaster, buffered as reference};
use commonware_codec::{Decode as _, Encode as _, RangeCfg};
use commonware_cryptography::{Digested, Digestible, Signer as _, ed25519, sha256};
use commonware_p2p::{CheckedSender, LimitedSender, Recipients};
use commonware_parallel::Sequential;
use commonware_runtime::{
    Clock, Handle, IoBuf, IoBufs, Metrics as _, Runner as _, Supervisor as _, tokio,
};
use commonware_utils::{NZUsize, ordered::Set};
use dashmap::DashMap;
use shardcast_commonware_2026_10 as shardcast;
use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use support::Key;
type Frames = Arc<Vec<(Key, IoBuf)>>;

mod support;
use support::{Feed, OneSet};

#[path = "../tests/common/note.rs"]
#[allow(dead_code)]
mod note;
use note::Note;

/// Each peer's deque in the ingest and mixed scenarios.
const DEQUE: usize = 128;

// ---- the stand-in network ----

/// A sender that drops what it is given.
#[derive(Clone, Debug)]
struct Discard;

struct Discarded;

impl CheckedSender for Discarded {
    type PublicKey = Key;
    fn recipients(&self) -> Vec<Key> {
        Vec::new()
    }
    fn send(
        self,
        _message: impl Into<IoBufs> + Send,
        _priority: bool,
    ) -> commonware_actor::Unreliable<commonware_actor::Feedback> {
        commonware_actor::Unreliable::new(commonware_actor::Feedback::Ok)
    }
}

impl LimitedSender for Discard {
    type PublicKey = Key;
    type Checked<'a> = Discarded;
    fn check(&mut self, _recipients: Recipients<Key>) -> Result<Discarded, SystemTime> {
        Ok(Discarded)
    }
}

// ---- the two engines behind one face ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Reference,
    Shardcast,
}

#[derive(Clone)]
enum Node {
    Reference(reference::Mailbox<Key, Note>),
    Shardcast(shardcast::Mailbox<Key, Note>),
}

impl Node {
    async fn get(&self, digest: sha256::Digest) -> Option<Digested<Note>> {
        match self {
            Self::Reference(m) => m.get(digest).await,
            Self::Shardcast(m) => m.get(digest).await,
        }
    }

    fn subscribe(
        &self,
        digest: sha256::Digest,
    ) -> ::tokio::sync::oneshot::Receiver<Digested<Note>> {
        match self {
            Self::Reference(m) => m.subscribe(digest),
            Self::Shardcast(m) => m.subscribe(digest),
        }
    }

    fn broadcast(&self, note: Digested<Note>) {
        let accepted = match self {
            Self::Reference(m) => m.broadcast(Recipients::All, note),
            Self::Shardcast(m) => m.broadcast(Recipients::All, note),
        };
        assert!(accepted.accepted());
    }
}

/// A running engine of `side`: its mailbox, its feed, its handle, when it was started.
struct Running {
    node: Node,
    /// Its metrics' prefix and its `run` attribute.
    label: &'static str,
    run: u64,
    feed: ::tokio::sync::mpsc::UnboundedSender<(Key, IoBuf)>,
    handle: Handle<()>,
    started: Instant,
}

/// Starts `side`'s engine as `keys[0]`, every key primary, with `preloaded` frames already
/// waiting in its receiver (the time to fill it is not the engine's).
fn start(
    context: &tokio::Context,
    side: Side,
    keys: &[Key],
    deque_size: usize,
    preloaded: &[(Key, IoBuf)],
) -> Running {
    let (feed, frames) = ::tokio::sync::mpsc::unbounded_channel();
    for frame in preloaded {
        feed.send(frame.clone()).unwrap();
    }
    let provider = OneSet(Set::from_iter_dedup(keys.iter().cloned()));
    let network = (Discard, Feed(frames));
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let run = RUNS.fetch_add(1, Ordering::Relaxed);
    let label = match side {
        Side::Reference => "reference",
        Side::Shardcast => "shardcast",
    };
    let context = context.child(label).with_attribute("run", run);
    let started = Instant::now();
    let (node, handle) = match side {
        Side::Reference => {
            let (engine, mailbox) = reference::Engine::new(
                context,
                reference::Config {
                    public_key: keys[0].clone(),
                    mailbox_size: NZUsize!(1024),
                    deque_size,
                    priority: false,
                    codec_config: RangeCfg::from(..),
                    peer_provider: provider,
                    strategy: Sequential,
                },
            );
            (Node::Reference(mailbox), engine.start(network))
        }
        Side::Shardcast => {
            let (engine, mailbox) = shardcast::Engine::with_options(
                context,
                shardcast::Config {
                    public_key: keys[0].clone(),
                    mailbox_size: NZUsize!(1024),
                    deque_size,
                    priority: false,
                    codec_config: RangeCfg::from(..),
                    peer_provider: provider,
                    strategy: Sequential,
                },
                shardcast::Options::default().with_workers(2),
            );
            (Node::Shardcast(mailbox), engine.start(network))
        }
    };
    Running {
        node,
        label,
        run,
        feed,
        handle,
        started,
    }
}

// ---- inputs and statistics ----

fn keys(n: usize) -> Vec<Key> {
    (0..n as u64)
        .map(|i| ed25519::PrivateKey::from_seed(i).public_key())
        .collect()
}

/// A distinct payload of `len` bytes.
fn payload(tag: u64, i: u64, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len.max(16)];
    bytes[..8].copy_from_slice(&tag.to_be_bytes());
    bytes[8..16].copy_from_slice(&i.to_be_bytes());
    bytes.truncate(len.max(16));
    bytes
}

/// `count` frames of `len`-byte notes from the peers `keys[1..]`, round robin.
fn frames(keys: &[Key], count: usize, len: usize, tag: u64) -> Vec<(Key, IoBuf)> {
    (0..count)
        .map(|i| {
            let peer = keys[1 + i % (keys.len() - 1)].clone();
            let frame = Note(payload(tag, i as u64, len)).encode();
            (peer, IoBuf::from(frame))
        })
        .collect()
}

fn digest_of(frame: &IoBuf) -> sha256::Digest {
    Note::decode_cfg(frame.clone(), &RangeCfg::from(..))
        .unwrap()
        .digest()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn percentile(sorted: &[u64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize] as f64
}

async fn settle() {
    for _ in 0..8 {
        ::tokio::task::yield_now().await;
    }
}

/// One row of the table: the reference, shardcast, the limit where there is one.
struct Row {
    name: String,
    unit: &'static str,
    higher_is_better: bool,
    reference: f64,
    shardcast: f64,
    limit: Option<f64>,
}

impl Row {
    fn print(&self) {
        let ratio = if self.higher_is_better {
            self.shardcast / self.reference
        } else {
            self.reference / self.shardcast
        };
        let limit = self.limit.map_or("".to_string(), |l| format!("{l:.0}"));
        let of_limit = self.limit.map_or("".to_string(), |l| {
            format!("{:.0}%", 100.0 * self.shardcast / l)
        });
        println!(
            "| {} | {} | {:.0} | {:.0} | {} | **{ratio:.1}x** | {of_limit} |",
            self.name, self.unit, self.reference, self.shardcast, limit
        );
    }
}

// ---- the scenarios ----

/// `get` of a cached digest from one task, ns per call.
async fn get(context: &tokio::Context, runs: usize, n: usize) -> Row {
    const CACHED: usize = 1000;
    let keys = keys(1);
    let notes: Vec<Digested<Note>> = (0..CACHED as u64)
        .map(|i| Note(payload(1, i, 32)).digested())
        .collect();
    let engines: Vec<Running> = [Side::Reference, Side::Shardcast]
        .into_iter()
        .map(|side| start(context, side, &keys, CACHED, &[]))
        .collect();
    for running in &engines {
        for note in &notes {
            running.node.broadcast(note.clone());
        }
        for note in &notes {
            assert!(running.node.get(note.digest()).await.is_some(), "cached");
        }
    }
    let digests: Vec<sha256::Digest> = notes.iter().map(|n| n.digest()).collect();
    let mut times = [Vec::new(), Vec::new()];
    for _ in 0..runs {
        for (slot, running) in engines.iter().enumerate() {
            let start = Instant::now();
            for i in 0..n {
                black_box(running.node.get(digests[i % CACHED]).await);
            }
            times[slot].push(start.elapsed().as_nanos() as f64 / n as f64);
        }
    }
    for running in engines {
        running.handle.abort();
    }
    let [r, s] = times;
    Row {
        name: format!("`get` hit, 1 task, {CACHED} cached"),
        unit: "ns/call",
        higher_is_better: false,
        reference: median(r),
        shardcast: median(s),
        limit: None,
    }
}

/// The CPU time this process has used, on every thread.
fn cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` writes one `timespec` through a valid pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0, "the process CPU clock");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// What one ingest run did: messages per second, and CPU nanoseconds per frame.
#[derive(Clone, Copy)]
struct Ingested {
    rate: f64,
    cpu_per_frame: f64,
}

/// Ingests `frames` (all new) through `side`'s engine: messages per second, from the engine's
/// start until every frame is cached, and the CPU time that took per frame.
async fn ingest_engine(
    context: &tokio::Context,
    side: Side,
    keys: &[Key],
    frames: &Frames,
) -> Ingested {
    let n = frames.len() as u64;
    let last = digest_of(&frames.last().unwrap().1);
    let running = start(context, side, keys, DEQUE, frames);
    let cpu = cpu_time();
    let give_up = Instant::now() + Duration::from_secs(300);
    loop {
        let done = match &running.node {
            // One loop, in order: the last frame cached means every frame was.
            Node::Reference(m) => m.get(last).await.is_some(),
            Node::Shardcast(m) => {
                let stats = m.stats();
                stats.added + stats.duplicate + stats.shed >= n
            }
        };
        if done {
            break;
        }
        assert!(Instant::now() < give_up, "{side:?} ingest stalled");
        context.sleep(Duration::from_micros(200)).await;
    }
    let rate = n as f64 / running.started.elapsed().as_secs_f64();
    let cpu_per_frame = (cpu_time() - cpu).as_nanos() as f64 / n as f64;
    running.handle.abort();
    Ingested {
        rate,
        cpu_per_frame,
    }
}

/// The limit: 2 tasks decode their half of `frames`, hash and insert into a bare `DashMap`,
/// each dropping what falls out of a window as large as the engines' deques hold.
async fn ingest_limit(frames: &Frames, window: usize) -> Ingested {
    let map: Arc<DashMap<sha256::Digest, Note>> = Arc::new(DashMap::new());
    let start = Instant::now();
    let cpu = cpu_time();
    let tasks: Vec<_> = (0..2)
        .map(|t| {
            let (map, frames) = (map.clone(), frames.clone());
            ::tokio::spawn(async move {
                let mut window_of = VecDeque::with_capacity(window);
                for (_, frame) in frames.iter().skip(t).step_by(2) {
                    let note = Note::decode_cfg(frame.clone(), &RangeCfg::from(..)).unwrap();
                    let digest = note.digest();
                    map.insert(digest, note);
                    window_of.push_back(digest);
                    if window_of.len() > window {
                        map.remove(&window_of.pop_front().unwrap());
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    Ingested {
        rate: frames.len() as f64 / start.elapsed().as_secs_f64(),
        cpu_per_frame: (cpu_time() - cpu).as_nanos() as f64 / frames.len() as f64,
    }
}

/// The ingest row for `len`-byte frames, and the CPU nanoseconds per frame of the reference,
/// shardcast and the limit (medians).
async fn ingest(
    context: &tokio::Context,
    runs: usize,
    count: usize,
    len: usize,
) -> (Row, [f64; 3]) {
    const PEERS: usize = 4;
    let keys = keys(PEERS + 1);
    let frames: Frames = Arc::new(frames(&keys, count, len, len as u64));
    let mut runs_of: [Vec<Ingested>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..runs {
        runs_of[0].push(ingest_engine(context, Side::Reference, &keys, &frames).await);
        runs_of[1].push(ingest_engine(context, Side::Shardcast, &keys, &frames).await);
        runs_of[2].push(ingest_limit(&frames, DEQUE * PEERS / 2).await);
    }
    let rate = |i: usize| median(runs_of[i].iter().map(|r| r.rate).collect());
    let cpu = |i: usize| median(runs_of[i].iter().map(|r| r.cpu_per_frame).collect());
    let row = Row {
        name: format!("ingest {len} B, {PEERS} peers, {count} frames"),
        unit: "msg/s",
        higher_is_better: true,
        reference: rate(0),
        shardcast: rate(1),
        limit: Some(rate(2)),
    };
    (row, [cpu(0), cpu(1), cpu(2)])
}

/// Wake-up latencies through `side`'s engine: for each frame, a subscriber waits, then the
/// frame enters the receiver; the time until the subscriber runs, sorted.
async fn wakeup_engine(
    context: &tokio::Context,
    side: Side,
    keys: &[Key],
    frames: &[(Key, IoBuf)],
) -> Vec<u64> {
    let running = start(context, side, keys, DEQUE, &[]);
    let mut latencies = Vec::with_capacity(frames.len());
    for (peer, frame) in frames {
        let waiting = running.node.subscribe(digest_of(frame));
        // A round trip behind the subscription: registered once it returns (the reference
        // registers it on its loop).
        let _ = running.node.get(sha256::Digest::from([0; 32])).await;
        let waiter = ::tokio::spawn(async move {
            waiting.await.unwrap();
            Instant::now()
        });
        settle().await;
        let start = Instant::now();
        running.feed.send((peer.clone(), frame.clone())).unwrap();
        latencies.push((waiter.await.unwrap() - start).as_nanos() as u64);
    }
    running.handle.abort();
    latencies.sort_unstable();
    latencies
}

async fn wakeup(context: &tokio::Context, runs: usize, rounds: usize) -> [Row; 2] {
    let keys = keys(2);
    let frames = frames(&keys, rounds, 32, 7);
    let mut p = [[Vec::new(), Vec::new()], [Vec::new(), Vec::new()]];
    for _ in 0..runs {
        for (slot, side) in [Side::Reference, Side::Shardcast].into_iter().enumerate() {
            let latencies = wakeup_engine(context, side, &keys, &frames).await;
            p[0][slot].push(percentile(&latencies, 0.5));
            p[1][slot].push(percentile(&latencies, 0.99));
        }
    }
    let [[r50, s50], [r99, s99]] = p;
    let row = |name: &str, r, s| Row {
        name: name.to_string(),
        unit: "ns",
        higher_is_better: false,
        reference: median(r),
        shardcast: median(s),
        limit: None,
    };
    [
        row("subscribe wake-up p50, 32 B", r50, s50),
        row("subscribe wake-up p99, 32 B", r99, s99),
    ]
}

/// 2 tasks feed `pool` into `side`'s receiver while 2 tasks `get` 512 cached digests, for
/// `d`, each task yielding every 64 operations.
async fn mixed_engine(
    context: &tokio::Context,
    side: Side,
    keys: &[Key],
    pool: &Frames,
    d: Duration,
) -> Mixed {
    const CACHED: usize = 512;
    let running = start(context, side, keys, CACHED, &[]);
    let hot: Vec<Digested<Note>> = (0..CACHED as u64)
        .map(|i| Note(payload(9, i, 32)).digested())
        .collect();
    for note in &hot {
        running.node.broadcast(note.clone());
    }
    let hot: Arc<Vec<sha256::Digest>> = Arc::new(hot.iter().map(|n| n.digest()).collect());
    assert!(running.node.get(hot[CACHED - 1]).await.is_some());
    let deadline = Instant::now() + d;
    let start = Instant::now();
    let feeders: Vec<_> = (0..2)
        .map(|t| {
            let (pool, feed) = (pool.clone(), running.feed.clone());
            ::tokio::spawn(async move {
                let mut n = 0u64;
                // Round and round: by the time a frame comes again its sender's deque has
                // evicted it, so it is a new insert, and no engine runs out of frames.
                for frame in pool.iter().skip(t).step_by(2).cycle() {
                    if n.is_multiple_of(64) && Instant::now() >= deadline {
                        break;
                    }
                    feed.send(frame.clone()).unwrap();
                    n += 1;
                    if n.is_multiple_of(64) {
                        ::tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    let getters: Vec<_> = (0..2)
        .map(|t| {
            let (node, hot) = (running.node.clone(), hot.clone());
            ::tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut i = t * 101;
                while Instant::now() < deadline {
                    let s = Instant::now();
                    black_box(node.get(hot[i % CACHED]).await);
                    latencies.push(s.elapsed().as_nanos() as u64);
                    i += 1;
                    // As the feeders do: a `get` that is ready at once never yields, and two
                    // tasks that never yield would hold both threads, starving the engine.
                    if latencies.len().is_multiple_of(64) {
                        ::tokio::task::yield_now().await;
                    }
                }
                latencies
            })
        })
        .collect();
    for feeder in feeders {
        feeder.await.unwrap();
    }
    let mut latencies = Vec::new();
    for getter in getters {
        latencies.extend(getter.await.unwrap());
    }
    let elapsed = start.elapsed().as_secs_f64();
    // What was ingested by the deadline: the frames each engine counted in `receive`.
    let ingested = received(context, &running);
    running.handle.abort();
    latencies.sort_unstable();
    let got = latencies.len() as u64;
    // Both kinds of work ran: a scenario where one starves the other measures that one alone.
    assert!(
        ingested >= 1_000 && got >= 100,
        "{side:?}: mixed load did not mix ({ingested} frames ingested, {got} gets)"
    );
    Mixed {
        total: (ingested + got) as f64 / elapsed,
        ingested: ingested as f64 / elapsed,
        got: got as f64 / elapsed,
        p99: percentile(&latencies, 0.99),
    }
}

/// What one mixed run did, per second, and its `get` p99 in ns.
struct Mixed {
    total: f64,
    ingested: f64,
    got: f64,
    p99: f64,
}

/// The frames `running` counted in its `receive{status}` metric (the reference's name, which
/// shardcast keeps), read from the runtime's encoded metrics.
fn received(context: &tokio::Context, running: &Running) -> u64 {
    let prefix = format!("{}_receive_total{{", running.label);
    let run = format!("run=\"{}\"", running.run);
    context
        .encode()
        .lines()
        .filter(|line| line.starts_with(&prefix) && line.contains(&run))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

async fn mixed(context: &tokio::Context, runs: usize, d: Duration, pool_size: usize) -> [Row; 4] {
    let keys = keys(5);
    let pool: Frames = Arc::new(frames(&keys, pool_size, 32, 3));
    let mut results: [Vec<Mixed>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..runs {
        for (slot, side) in [Side::Reference, Side::Shardcast].into_iter().enumerate() {
            results[slot].push(mixed_engine(context, side, &keys, &pool, d).await);
        }
    }
    let row = |name: &str, unit, higher_is_better, value: fn(&Mixed) -> f64| Row {
        name: format!("mixed 2 feeders + 2 `get` tasks: {name}"),
        unit,
        higher_is_better,
        reference: median(results[0].iter().map(value).collect()),
        shardcast: median(results[1].iter().map(value).collect()),
        limit: None,
    };
    [
        row("total", "ops/s", true, |m| m.total),
        row("ingested", "msg/s", true, |m| m.ingested),
        row("`get`", "ops/s", true, |m| m.got),
        row("`get` p99", "ns", false, |m| m.p99),
    ]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    // `--only get|ingest|wakeup|mixed` (repeatable) runs those scenarios alone.
    let only: Vec<&str> = args
        .windows(2)
        .filter(|w| w[0] == "--only")
        .map(|w| w[1].as_str())
        .collect();
    let wanted = |name: &str| only.is_empty() || only.contains(&name);
    let runs = if quick { 1 } else { 3 };
    let config = tokio::Config::default().with_worker_threads(2);
    tokio::Runner::new(config).start(|context| async move {
        let mut rows = Vec::new();
        if wanted("get") {
            rows.push(get(&context, runs, if quick { 20_000 } else { 200_000 }).await);
        }
        let mut cpu = Vec::new();
        if wanted("ingest") {
            let count = if quick { 20_000 } else { 100_000 };
            for len in [32, 1024] {
                let (row, per_frame) = ingest(&context, runs, count, len).await;
                rows.push(row);
                cpu.push((len, per_frame));
            }
        }
        if wanted("wakeup") {
            rows.extend(wakeup(&context, runs, if quick { 300 } else { 2_000 }).await);
        }
        if wanted("mixed") {
            let d = Duration::from_millis(if quick { 500 } else { 2_000 });
            rows.extend(mixed(&context, runs, d, if quick { 200_000 } else { 1_000_000 }).await);
        }
        println!(
            "commonware 2026.10.0, tokio runtime with 2 worker threads, {runs} interleaved run(s) each, medians\n"
        );
        println!(
            "| scenario | unit | reference 2026.10 | shardcast (2 workers) | limit | shardcast vs reference | shardcast of limit |"
        );
        println!("|---|---|---|---|---|---|---|");
        for row in &rows {
            row.print();
        }
        if !cpu.is_empty() {
            println!(
                "\nCPU time per ingested frame (the process's CPU clock over each ingest run, both threads; medians):\n"
            );
            println!("| frames | reference 2026.10 | shardcast (2 workers) | limit |");
            println!("|---|---|---|---|");
            for (len, [r, s, l]) in cpu {
                println!("| {len} B | {r:.0} ns | {s:.0} ns | {l:.0} ns |");
            }
        }
    });
}
