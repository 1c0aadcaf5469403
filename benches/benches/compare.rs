//! The comparison harness: shardcast, the actor engine it replaces, and the limit (a bare
//! `DashMap` / a bare `oneshot`), on the same workloads, in one process run, on one tokio runtime
//! (commonware-runtime's tokio runner, 2 worker threads by default).
//!
//! `cargo bench -p shardcast-benches --bench compare -- [--quick] [--runs N] [--threads 1,2]
//! [--out DIR]`. Prints one table (median of the runs, with min-max) and writes `compare.md`,
//! `compare.svg` and `scaling.svg` into DIR (default `target/shardcast-bench`; a relative DIR
//! is taken from the workspace root).

use bytes::Bytes;
use commonware_cryptography::ed25519;
use commonware_runtime::Runner as _;
use dashmap::DashMap;
use shardcast::{Blob, BlobConfig, Buffer, Codec, Config, Message};
use shardcast_benches::actor::{self, Actor, ActorMessage};
use shardcast_benches::shard::Node;
use shardcast_benches::{PeerKey, frames, payload, peer_keys};
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
struct Opts {
    quick: bool,
    /// Run only the scenarios whose name starts with one of these.
    only: Vec<String>,
    /// Leave the metrics recorder out (shows what metrics cost shardcast).
    no_recorder: bool,
    runs: usize,
    threads: Vec<usize>,
    out: PathBuf,
}

fn opts() -> Opts {
    let mut opts = Opts {
        quick: false,
        only: Vec::new(),
        no_recorder: false,
        runs: 3,
        threads: vec![1, 2],
        out: PathBuf::from("target/shardcast-bench"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => opts.quick = true,
            "--no-recorder" => opts.no_recorder = true,
            "--only" => opts
                .only
                .push(args.next().expect("--only get|ingest|wakeup|mixed|scaling")),
            "--runs" => opts.runs = args.next().and_then(|v| v.parse().ok()).expect("--runs N"),
            "--threads" => {
                opts.threads = args
                    .next()
                    .expect("--threads 1,2")
                    .split(',')
                    .map(|t| t.parse().expect("a thread count"))
                    .collect()
            }
            "--out" => opts.out = args.next().expect("--out DIR").into(),
            "--bench" => {} // passed by `cargo bench`
            other => panic!("unknown option {other}"),
        }
    }
    opts.runs = opts.runs.max(1);
    // `cargo bench` runs this from the package directory: resolve against the workspace root.
    if opts.out.is_relative() {
        opts.out = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(&opts.out);
    }
    opts
}

/// Median, min and max of the runs.
#[derive(Clone, Copy, Debug)]
struct Stat {
    median: f64,
    min: f64,
    max: f64,
}

fn stat(mut values: Vec<f64>) -> Stat {
    values.sort_by(f64::total_cmp);
    Stat {
        median: values[values.len() / 2],
        min: values[0],
        max: values[values.len() - 1],
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Better {
    Higher,
    Lower,
}

struct Row {
    scenario: String,
    unit: &'static str,
    better: Better,
    shardcast: Stat,
    actor: Option<Stat>,
    limit: Option<Stat>,
}

impl Row {
    /// How many times better shardcast is than `other` (>1: shardcast wins).
    fn ratio(&self, other: Option<Stat>) -> Option<f64> {
        let other = other?.median;
        Some(match self.better {
            Better::Higher => self.shardcast.median / other,
            Better::Lower => other / self.shardcast.median,
        })
    }
}

fn fmt_stat(stat: Option<Stat>) -> String {
    let Some(s) = stat else { return "-".into() };
    let f = |v: f64| {
        if v >= 1e6 {
            format!("{:.2}M", v / 1e6)
        } else if v >= 1e4 {
            format!("{:.0}k", v / 1e3)
        } else if v >= 100.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        }
    };
    format!("{} ({}-{})", f(s.median), f(s.min), f(s.max))
}

/// Runs `f` `runs` times and keeps every result.
async fn repeat<F, Fut>(runs: usize, mut f: F) -> Vec<f64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = f64>,
{
    let mut out = Vec::with_capacity(runs);
    for _ in 0..runs {
        out.push(f().await);
    }
    out
}

/// `shardcast::net::sim::percentile`, as the `f64` the rows hold.
fn percentile(sorted: &[u64], q: f64) -> f64 {
    shardcast::net::sim::percentile(sorted, q) as f64
}

/// Spawns `tasks` copies of a counting loop; returns total operations per second.
async fn throughput<F, Fut>(tasks: usize, duration: Duration, make: F) -> f64
where
    F: Fn(usize, Instant) -> Fut,
    Fut: std::future::Future<Output = u64> + Send + 'static,
{
    let deadline = Instant::now() + duration;
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| tokio::spawn(make(t, deadline)))
        .collect();
    let mut ops = 0;
    for handle in handles {
        ops += handle.await.expect("task");
    }
    ops as f64 / start.elapsed().as_secs_f64()
}

/// Spawns `tasks` copies of a loop that times each operation; returns sorted latencies (ns).
async fn latencies<F, Fut>(tasks: usize, make: F) -> Vec<u64>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Vec<u64>> + Send + 'static,
{
    let handles: Vec<_> = (0..tasks).map(|t| tokio::spawn(make(t))).collect();
    let mut all = Vec::new();
    for handle in handles {
        all.extend(handle.await.expect("task"));
    }
    all.sort_unstable();
    all
}

struct Bench {
    context: commonware_runtime::tokio::Context,
    opts: Opts,
    rows: Vec<Row>,
    scaling: Vec<(String, usize, f64, f64)>,
    labels: usize,
}

impl Bench {
    fn label(&mut self) -> String {
        self.labels += 1;
        format!("actor{}", self.labels)
    }

    fn duration(&self) -> Duration {
        Duration::from_millis(if self.opts.quick { 150 } else { 600 })
    }

    fn push(&mut self, scenario: String, unit: &'static str, better: Better, runs: [Vec<f64>; 3]) {
        let [s, a, l] = runs;
        let row = Row {
            scenario,
            unit,
            better,
            shardcast: stat(s),
            actor: (!a.is_empty()).then(|| stat(a)),
            limit: (!l.is_empty()).then(|| stat(l)),
        };
        eprintln!(
            "  {:<44} {:>8} shardcast {:<26} actor {:<26} limit {}",
            row.scenario,
            row.unit,
            fmt_stat(Some(row.shardcast)),
            fmt_stat(row.actor),
            fmt_stat(row.limit)
        );
        self.rows.push(row);
    }

    /// `get` hits and misses: throughput and latency, at each thread count.
    async fn get(&mut self) {
        const CACHED: usize = 512;
        let blobs: Vec<Blob> = (0..CACHED as u64)
            .map(|i| Blob::new(payload(1, i, 32)))
            .collect();
        let hits: Arc<Vec<[u8; 32]>> = Arc::new(blobs.iter().map(Message::digest).collect());
        let misses: Arc<Vec<[u8; 32]>> = Arc::new(
            (0..CACHED as u64)
                .map(|i| Blob::new(payload(9, i, 32)).digest())
                .collect(),
        );

        let buffer = Arc::new(Buffer::<u32, Blob>::new(Config::new(CACHED)).unwrap());
        buffer.update_primary([1]);
        let limit: Arc<DashMap<[u8; 32], Blob>> = Arc::new(DashMap::new());
        for blob in &blobs {
            buffer.insert(1, blob.clone());
            limit.insert(blob.digest(), blob.clone());
        }
        let keys = actor::keys(2);
        let label = self.label();
        let actor = Actor::start(&self.context, &label, &keys, CACHED, CACHED + 1);
        for blob in &blobs {
            actor
                .frames
                .send((keys[1].clone(), blob.to_bytes()))
                .await
                .unwrap();
        }
        let last = ActorMessage(blobs[CACHED - 1].payload().to_vec());
        actor
            .mailbox
            .subscribe(commonware_cryptography::Digestible::digest(&last))
            .await
            .await
            .unwrap();
        let to_actor = |d: &[u8; 32]| commonware_cryptography::sha256::Digest::from(*d);
        let actor_hits: Arc<Vec<_>> = Arc::new(
            blobs
                .iter()
                .map(|b| {
                    commonware_cryptography::Digestible::digest(&ActorMessage(b.payload().to_vec()))
                })
                .collect(),
        );
        let actor_misses: Arc<Vec<_>> = Arc::new(misses.iter().map(to_actor).collect());

        for &threads in &self.opts.threads.clone() {
            for (kind, digests, actor_digests) in [
                ("hit", &hits, &actor_hits),
                ("miss", &misses, &actor_misses),
            ] {
                let d = self.duration();
                let runs = self.opts.runs;
                let s = repeat(runs, || {
                    let (buffer, digests) = (buffer.clone(), digests.clone());
                    throughput(threads, d, move |t, deadline| {
                        let (buffer, digests) = (buffer.clone(), digests.clone());
                        async move {
                            let mut n = t * 97;
                            while Instant::now() < deadline {
                                for _ in 0..64 {
                                    black_box(buffer.get(&digests[n % CACHED]));
                                    n += 1;
                                }
                            }
                            (n - t * 97) as u64
                        }
                    })
                })
                .await;
                let a = repeat(runs, || {
                    let (mailbox, digests) = (actor.mailbox.clone(), actor_digests.clone());
                    throughput(threads, d, move |t, deadline| {
                        let (mailbox, digests) = (mailbox.clone(), digests.clone());
                        async move {
                            let mut n = t * 97;
                            while Instant::now() < deadline {
                                black_box(mailbox.get(digests[n % CACHED]).await);
                                n += 1;
                            }
                            (n - t * 97) as u64
                        }
                    })
                })
                .await;
                let l = repeat(runs, || {
                    let (limit, digests) = (limit.clone(), digests.clone());
                    throughput(threads, d, move |t, deadline| {
                        let (limit, digests) = (limit.clone(), digests.clone());
                        async move {
                            let mut n = t * 97;
                            while Instant::now() < deadline {
                                for _ in 0..64 {
                                    black_box(
                                        limit.get(&digests[n % CACHED]).map(|r| r.value().clone()),
                                    );
                                    n += 1;
                                }
                            }
                            (n - t * 97) as u64
                        }
                    })
                })
                .await;
                self.push(
                    format!("get {kind}, {threads} task(s)"),
                    "ops/s",
                    Better::Higher,
                    [s, a.clone(), l],
                );
                // `read`: the cached message lent to a closure, no clone (the limit: the same
                // closure on the bare map's guard). The actor has no such call: its `get`.
                let r = repeat(runs, || {
                    let (buffer, digests) = (buffer.clone(), digests.clone());
                    throughput(threads, d, move |t, deadline| {
                        let (buffer, digests) = (buffer.clone(), digests.clone());
                        async move {
                            let mut n = t * 97;
                            while Instant::now() < deadline {
                                for _ in 0..64 {
                                    black_box(
                                        buffer.read(&digests[n % CACHED], |m| m.payload().len()),
                                    );
                                    n += 1;
                                }
                            }
                            (n - t * 97) as u64
                        }
                    })
                })
                .await;
                let l = repeat(runs, || {
                    let (limit, digests) = (limit.clone(), digests.clone());
                    throughput(threads, d, move |t, deadline| {
                        let (limit, digests) = (limit.clone(), digests.clone());
                        async move {
                            let mut n = t * 97;
                            while Instant::now() < deadline {
                                for _ in 0..64 {
                                    black_box(
                                        limit
                                            .get(&digests[n % CACHED])
                                            .map(|r| r.value().payload().len()),
                                    );
                                    n += 1;
                                }
                            }
                            (n - t * 97) as u64
                        }
                    })
                })
                .await;
                self.push(
                    format!("read {kind} (no clone), {threads} task(s)"),
                    "ops/s",
                    Better::Higher,
                    [r, a, l],
                );

                // Latency: every operation timed (the ~20 ns of two clock reads included).
                let samples = if self.opts.quick { 20_000 } else { 200_000 };
                let mut runs_p = [
                    [Vec::new(), Vec::new(), Vec::new()],
                    [Vec::new(), Vec::new(), Vec::new()],
                ];
                for _ in 0..runs {
                    let (b, dg) = (buffer.clone(), digests.clone());
                    let s = latencies(threads, move |t| {
                        let (b, dg) = (b.clone(), dg.clone());
                        async move {
                            (0..samples)
                                .map(|i| {
                                    let start = Instant::now();
                                    black_box(b.get(&dg[(i + t * 97) % CACHED]));
                                    start.elapsed().as_nanos() as u64
                                })
                                .collect()
                        }
                    })
                    .await;
                    let (m, dg) = (actor.mailbox.clone(), actor_digests.clone());
                    let a = latencies(threads, move |t| {
                        let (m, dg) = (m.clone(), dg.clone());
                        async move {
                            let mut out = Vec::with_capacity(samples / 10);
                            for i in 0..samples / 10 {
                                let start = Instant::now();
                                black_box(m.get(dg[(i + t * 97) % CACHED]).await);
                                out.push(start.elapsed().as_nanos() as u64);
                            }
                            out
                        }
                    })
                    .await;
                    let (lm, dg) = (limit.clone(), digests.clone());
                    let l = latencies(threads, move |t| {
                        let (lm, dg) = (lm.clone(), dg.clone());
                        async move {
                            (0..samples)
                                .map(|i| {
                                    let start = Instant::now();
                                    black_box(
                                        lm.get(&dg[(i + t * 97) % CACHED])
                                            .map(|r| r.value().clone()),
                                    );
                                    start.elapsed().as_nanos() as u64
                                })
                                .collect()
                        }
                    })
                    .await;
                    for (p, q) in [(0, 0.5), (1, 0.99)] {
                        runs_p[p][0].push(percentile(&s, q));
                        runs_p[p][1].push(percentile(&a, q));
                        runs_p[p][2].push(percentile(&l, q));
                    }
                }
                let [p50, p99] = runs_p;
                self.push(
                    format!("get {kind} p50, {threads} task(s)"),
                    "ns",
                    Better::Lower,
                    p50,
                );
                self.push(
                    format!("get {kind} p99, {threads} task(s)"),
                    "ns",
                    Better::Lower,
                    p99,
                );
            }
        }
        actor.stop();
    }

    /// Ingest of new messages: through the receive path (decode + insert) and `insert` alone,
    /// with `u32` and with ed25519 peer keys (the actor always has ed25519 keys; the limit has
    /// no peers).
    async fn ingest(&mut self) {
        let count = if self.opts.quick { 20_000 } else { 100_000 };
        for len in [32usize, 1024] {
            for peers in [4usize, 32] {
                let frames = Arc::new(frames(peers, count, len, 1));
                for &threads in &self.opts.threads.clone() {
                    let runs = self.opts.runs;
                    let s = repeat(runs, || {
                        receive_shardcast::<u32>(peers, threads, frames.clone())
                    })
                    .await;
                    let s_ed = repeat(runs, || {
                        receive_shardcast::<ed25519::PublicKey>(peers, threads, frames.clone())
                    })
                    .await;
                    let mut a = Vec::new();
                    for _ in 0..runs {
                        let label = self.label();
                        a.push(receive_actor(&self.context, &label, peers, frames.clone()).await);
                    }
                    let l = repeat(runs, || receive_limit(peers, threads, frames.clone())).await;
                    // The bare API: each task decodes its share and calls `receive`, as the
                    // limit does on its map (no transport, no reader, no hand-off).
                    let b =
                        repeat(runs, || receive_bare::<u32>(peers, threads, frames.clone())).await;
                    let b_ed = repeat(runs, || {
                        receive_bare::<ed25519::PublicKey>(peers, threads, frames.clone())
                    })
                    .await;
                    let name =
                        format!("ingest decode+insert {len} B, {peers} peers, {threads} thr");
                    self.push(
                        name.clone(),
                        "msg/s",
                        Better::Higher,
                        [s, a.clone(), l.clone()],
                    );
                    self.push(
                        format!("{name}, ed25519"),
                        "msg/s",
                        Better::Higher,
                        [s_ed, a.clone(), l.clone()],
                    );
                    let name = format!(
                        "ingest decode+receive, bare API {len} B, {peers} peers, {threads} thr"
                    );
                    self.push(
                        name.clone(),
                        "msg/s",
                        Better::Higher,
                        [b, a.clone(), l.clone()],
                    );
                    self.push(
                        format!("{name}, ed25519"),
                        "msg/s",
                        Better::Higher,
                        [b_ed, a, l],
                    );
                    let blobs: Arc<Vec<(usize, Blob)>> = Arc::new(
                        frames
                            .iter()
                            .map(|(p, f)| {
                                (*p, Blob::decode(f.clone(), &BlobConfig::default()).unwrap())
                            })
                            .collect(),
                    );
                    let s = repeat(runs, || {
                        insert_shardcast::<u32>(peers, threads, blobs.clone())
                    })
                    .await;
                    let s_ed = repeat(runs, || {
                        insert_shardcast::<ed25519::PublicKey>(peers, threads, blobs.clone())
                    })
                    .await;
                    let l = repeat(runs, || insert_limit(peers, threads, blobs.clone())).await;
                    let name = format!("ingest insert only {len} B, {peers} peers, {threads} thr");
                    self.push(
                        name.clone(),
                        "msg/s",
                        Better::Higher,
                        [s, Vec::new(), l.clone()],
                    );
                    self.push(
                        format!("{name}, ed25519"),
                        "msg/s",
                        Better::Higher,
                        [s_ed, Vec::new(), l],
                    );
                }
            }
        }
    }

    /// Subscribe, then deliver a frame to the receive path: latency until the subscriber runs.
    async fn wakeup(&mut self) {
        let rounds = if self.opts.quick { 300 } else { 2_000 };
        let frames = frames(1, rounds, 32, 7);
        let mut runs = [
            [Vec::new(), Vec::new(), Vec::new()],
            [Vec::new(), Vec::new(), Vec::new()],
        ];
        let mut runs_ed = [Vec::new(), Vec::new()];
        let mut runs_direct = [Vec::new(), Vec::new()];
        for run in 0..self.opts.runs {
            // shardcast: through its engine (reader -> worker -> insert -> wake).
            let lat = wakeup_shardcast::<u32>(&frames).await;
            runs[0][0].push(percentile(&lat, 0.5));
            runs[1][0].push(percentile(&lat, 0.99));
            let lat = wakeup_shardcast::<ed25519::PublicKey>(&frames).await;
            runs_ed[0].push(percentile(&lat, 0.5));
            runs_ed[1].push(percentile(&lat, 0.99));
            // The same without the engine: this task decodes and inserts, as a worker would.
            // Isolates the buffer's waiter slot from the receive path's hand-off.
            let lat = wakeup_direct(&frames).await;
            runs_direct[0].push(percentile(&lat, 0.5));
            runs_direct[1].push(percentile(&lat, 0.99));

            // actor: subscribe through the mailbox, deliver through its receiver.
            let keys = actor::keys(2);
            let label = format!("wake{run}");
            let actor = Actor::start(&self.context, &label, &keys, 128, 1024);
            let mut lat = Vec::with_capacity(rounds);
            for (_, frame) in &frames {
                let rx = actor.mailbox.subscribe(actor_digest(frame)).await;
                // A round trip behind the subscription: it is registered once this returns.
                let _ = actor
                    .mailbox
                    .get(commonware_cryptography::sha256::Digest::from([0; 32]))
                    .await;
                let waiter = tokio::spawn(async move {
                    rx.await.unwrap();
                    Instant::now()
                });
                settle().await;
                let start = Instant::now();
                actor
                    .frames
                    .send((keys[1].clone(), frame.clone()))
                    .await
                    .unwrap();
                lat.push((waiter.await.unwrap() - start).as_nanos() as u64);
            }
            actor.stop();
            lat.sort_unstable();
            runs[0][1].push(percentile(&lat, 0.5));
            runs[1][1].push(percentile(&lat, 0.99));

            // limit: a bare oneshot hand-off.
            let mut lat = Vec::with_capacity(rounds);
            for _ in 0..rounds {
                let (tx, rx) = tokio::sync::oneshot::channel::<()>();
                let waiter = tokio::spawn(async move {
                    rx.await.unwrap();
                    Instant::now()
                });
                settle().await;
                let start = Instant::now();
                tx.send(()).unwrap();
                lat.push((waiter.await.unwrap() - start).as_nanos() as u64);
            }
            lat.sort_unstable();
            runs[0][2].push(percentile(&lat, 0.5));
            runs[1][2].push(percentile(&lat, 0.99));
        }
        let [p50, p99] = runs;
        let [p50_ed, p99_ed] = runs_ed;
        let p50_ed = [p50_ed, p50[1].clone(), p50[2].clone()];
        let p99_ed = [p99_ed, p99[1].clone(), p99[2].clone()];
        let [p50_direct, p99_direct] = runs_direct;
        let p50_direct = [p50_direct, p50[1].clone(), p50[2].clone()];
        let p99_direct = [p99_direct, p99[1].clone(), p99[2].clone()];
        self.push("subscribe wake-up p50".into(), "ns", Better::Lower, p50);
        self.push(
            "subscribe wake-up p50, ed25519".into(),
            "ns",
            Better::Lower,
            p50_ed,
        );
        self.push("subscribe wake-up p99".into(), "ns", Better::Lower, p99);
        self.push(
            "subscribe wake-up p99, ed25519".into(),
            "ns",
            Better::Lower,
            p99_ed,
        );
        self.push(
            "subscribe wake-up p50, direct insert".into(),
            "ns",
            Better::Lower,
            p50_direct,
        );
        self.push(
            "subscribe wake-up p99, direct insert".into(),
            "ns",
            Better::Lower,
            p99_direct,
        );
    }

    /// 2 ingest sources and 2 `get` callers at once: total ops/s and `get` p99.
    async fn mixed(&mut self) {
        const CACHED: usize = 512;
        let d = self.duration();
        let pool = Arc::new(frames(
            4,
            if self.opts.quick { 100_000 } else { 400_000 },
            32,
            3,
        ));
        let mut total = [Vec::new(), Vec::new(), Vec::new()];
        let mut p99 = [Vec::new(), Vec::new(), Vec::new()];
        let (mut total_ed, mut p99_ed) = (Vec::new(), Vec::new());
        for _ in 0..self.opts.runs {
            // shardcast: ingest tasks decode and `receive` directly (as receive workers do).
            let (ops, lat) = mixed_shardcast::<u32>(d, pool.clone()).await;
            total[0].push(ops);
            p99[0].push(lat);
            let (ops, lat) = mixed_shardcast::<ed25519::PublicKey>(d, pool.clone()).await;
            total_ed.push(ops);
            p99_ed.push(lat);

            // actor: ingest tasks push frames into its receiver; get through the mailbox.
            let keys = actor::keys(5);
            let label = self.label();
            let actor = Actor::start(&self.context, &label, &keys, CACHED, 1024);
            let hot: Vec<ActorMessage> = (0..CACHED as u64)
                .map(|i| ActorMessage(payload(9, i, 32)))
                .collect();
            for m in &hot {
                let frame = Blob::new(m.0.clone()).to_bytes();
                actor.frames.send((keys[0].clone(), frame)).await.unwrap();
            }
            let last = commonware_cryptography::Digestible::digest(&hot[CACHED - 1]);
            actor.mailbox.subscribe(last).await.await.unwrap();
            let hot: Arc<Vec<_>> = Arc::new(
                hot.iter()
                    .map(commonware_cryptography::Digestible::digest)
                    .collect(),
            );
            let frames_tx = actor.frames.clone();
            let (ops, lat) = mixed_run_async(d, pool.clone(), keys.clone(), frames_tx, {
                let mailbox = actor.mailbox.clone();
                move |i| {
                    let mailbox = mailbox.clone();
                    let hot = hot.clone();
                    async move { black_box(mailbox.get(hot[i % CACHED]).await).is_some() }
                }
            })
            .await;
            actor.stop();
            total[1].push(ops);
            p99[1].push(lat);

            // limit: decode and insert into a bare DashMap.
            let limit: Arc<DashMap<[u8; 32], Blob>> = Arc::new(DashMap::new());
            let hot: Vec<Blob> = (0..CACHED as u64)
                .map(|i| Blob::new(payload(9, i, 32)))
                .collect();
            for b in &hot {
                limit.insert(b.digest(), b.clone());
            }
            let hot: Arc<Vec<[u8; 32]>> = Arc::new(hot.iter().map(Message::digest).collect());
            let (ops, lat) = mixed_run(
                d,
                pool.clone(),
                {
                    let limit = limit.clone();
                    move |_, frame: Bytes| {
                        let blob = Blob::decode(frame, &BlobConfig::default()).unwrap();
                        limit.insert(blob.digest(), blob);
                    }
                },
                {
                    let limit = limit.clone();
                    move |i| {
                        let limit = limit.clone();
                        let hot = hot.clone();
                        async move {
                            black_box(limit.get(&hot[i % CACHED]).map(|r| r.value().clone()))
                                .is_some()
                        }
                    }
                },
            )
            .await;
            total[2].push(ops);
            p99[2].push(lat);
        }
        let [_, a, l] = &total;
        let total_ed = [total_ed, a.clone(), l.clone()];
        let [_, a, l] = &p99;
        let p99_ed = [p99_ed, a.clone(), l.clone()];
        self.push(
            "mixed 2 ingest + 2 get: total".into(),
            "ops/s",
            Better::Higher,
            total,
        );
        self.push(
            "mixed 2 ingest + 2 get: total, ed25519".into(),
            "ops/s",
            Better::Higher,
            total_ed,
        );
        self.push(
            "mixed 2 ingest + 2 get: get p99".into(),
            "ns",
            Better::Lower,
            p99,
        );
        self.push(
            "mixed 2 ingest + 2 get: get p99, ed25519".into(),
            "ns",
            Better::Lower,
            p99_ed,
        );
    }

    /// Per-insert cost as the deque and the peer count grow: new messages and duplicates.
    async fn scaling(&mut self) {
        let configs: Vec<(usize, usize)> = [16, 128, 1024, 8192]
            .iter()
            .map(|d| (*d, 4))
            .chain([(128, 32), (128, 256)])
            .collect();
        let measured = if self.opts.quick { 10_000 } else { 50_000 };
        for (deque, peers) in configs {
            let fill = deque * peers;
            let all = frames(peers, fill + measured, 32, 11);
            let blobs: Vec<(usize, Blob)> = all
                .iter()
                .map(|(p, f)| (*p, Blob::decode(f.clone(), &BlobConfig::default()).unwrap()))
                .collect();
            // Duplicates: each peer's deque contents, oldest first (the actor scans to the end).
            let dups: Vec<(usize, Blob)> = (0..measured)
                .map(|i| {
                    let peer = i % peers;
                    let slot = (i / peers) % deque;
                    blobs[slot * peers + peer].clone()
                })
                .collect();
            let mut s_new = Vec::new();
            let mut s_dup = Vec::new();
            let mut e_new = Vec::new();
            let mut e_dup = Vec::new();
            let mut a_new = Vec::new();
            let mut a_dup = Vec::new();
            for _ in 0..self.opts.runs {
                let (fresh, dup) =
                    scaling_shardcast::<u32>(deque, peers, &blobs[..fill], &blobs[fill..], &dups);
                s_new.push(fresh);
                s_dup.push(dup);
                let (fresh, dup) = scaling_shardcast::<ed25519::PublicKey>(
                    deque,
                    peers,
                    &blobs[..fill],
                    &blobs[fill..],
                    &dups,
                );
                e_new.push(fresh);
                e_dup.push(dup);

                let label = self.label();
                a_new.push(
                    actor_per_frame(
                        &self.context,
                        &label,
                        peers,
                        deque,
                        &all[..fill],
                        &all[fill..],
                    )
                    .await,
                );
                let label = self.label();
                let dup_frames: Vec<(usize, Bytes)> =
                    dups.iter().map(|(p, b)| (*p, b.to_bytes())).collect();
                a_dup.push(
                    actor_per_frame(
                        &self.context,
                        &label,
                        peers,
                        deque,
                        &all[..fill],
                        &dup_frames,
                    )
                    .await,
                );
            }
            let name = format!("deque {deque}, {peers} peers");
            self.scaling.push((
                format!("new, {peers} peers"),
                deque,
                stat(s_new.clone()).median,
                stat(a_new.clone()).median,
            ));
            self.scaling.push((
                format!("duplicate, {peers} peers"),
                deque,
                stat(s_dup.clone()).median,
                stat(a_dup.clone()).median,
            ));
            self.push(
                format!("insert new: {name}"),
                "ns/msg",
                Better::Lower,
                [s_new, a_new.clone(), Vec::new()],
            );
            self.push(
                format!("insert new: {name}, ed25519"),
                "ns/msg",
                Better::Lower,
                [e_new, a_new, Vec::new()],
            );
            self.push(
                format!("insert duplicate: {name}"),
                "ns/msg",
                Better::Lower,
                [s_dup, a_dup.clone(), Vec::new()],
            );
            self.push(
                format!("insert duplicate: {name}, ed25519"),
                "ns/msg",
                Better::Lower,
                [e_dup, a_dup, Vec::new()],
            );
        }
    }
}

/// Sorted latencies, ns, from pushing each frame into a shardcast engine's receiver (from its
/// second peer) to a task awaiting its subscription running.
async fn wakeup_shardcast<P: PeerKey>(frames: &[(usize, Bytes)]) -> Vec<u64> {
    // Made before timing: an ed25519 key costs tens of µs to derive.
    let keys = peer_keys::<P>(2);
    let sender = keys[1].clone();
    let node = Node::<P>::start(keys, 128, 1, Vec::new());
    let mut lat = Vec::with_capacity(frames.len());
    for (_, frame) in frames {
        let digest = Blob::decode(frame.clone(), &BlobConfig::default())
            .unwrap()
            .digest();
        let sub = node.engine.buffer().subscribe(digest);
        let waiter = tokio::spawn(async move {
            sub.await.expect("the buffer is open");
            Instant::now()
        });
        settle().await;
        let start = Instant::now();
        node.frames
            .send_async((sender.clone(), frame.clone()))
            .await
            .unwrap();
        lat.push((waiter.await.unwrap() - start).as_nanos() as u64);
    }
    node.engine.shutdown().await;
    lat.sort_unstable();
    lat
}

/// Sorted latencies, ns, from this task decoding a frame and inserting it into a buffer (no
/// engine) to a task awaiting its subscription running.
async fn wakeup_direct(frames: &[(usize, Bytes)]) -> Vec<u64> {
    let buffer = Arc::new(Buffer::<u32, Blob>::new(Config::new(128)).unwrap());
    buffer.update_primary([1]);
    let mut lat = Vec::with_capacity(frames.len());
    for (_, frame) in frames {
        let digest = Blob::decode(frame.clone(), &BlobConfig::default())
            .unwrap()
            .digest();
        let sub = buffer.subscribe(digest);
        let waiter = tokio::spawn(async move {
            sub.await.expect("the buffer is open");
            Instant::now()
        });
        settle().await;
        let start = Instant::now();
        let blob = Blob::decode(frame.clone(), &BlobConfig::default()).unwrap();
        buffer.insert(1, blob);
        lat.push((waiter.await.unwrap() - start).as_nanos() as u64);
    }
    lat.sort_unstable();
    lat
}

/// The actor's digest of the message in a frame.
fn actor_digest(frame: &Bytes) -> commonware_cryptography::sha256::Digest {
    let blob = Blob::decode(frame.clone(), &BlobConfig::default()).expect("a valid frame");
    commonware_cryptography::Digestible::digest(&ActorMessage(blob.payload().to_vec()))
}

/// Lets freshly spawned tasks run until they park.
async fn settle() {
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
}

async fn receive_shardcast<P: PeerKey>(
    peers: usize,
    workers: usize,
    frames: Arc<Vec<(usize, Bytes)>>,
) -> f64 {
    let n = frames.len() as u64;
    let keys = peer_keys::<P>(peers + 1);
    let preloaded = frames
        .iter()
        .map(|(p, f)| (keys[p + 1].clone(), f.clone()))
        .collect();
    let node = Node::<P>::start(keys, 128, workers, preloaded);
    let give_up = Instant::now() + Duration::from_secs(120);
    while node.engine.stats().received < n {
        assert!(Instant::now() < give_up, "shardcast ingest stalled");
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let rate = n as f64 / node.started.elapsed().as_secs_f64();
    node.engine.shutdown().await;
    rate
}

/// Decode + `receive` on a bare buffer from `threads` tasks, each with the frames of its share
/// of the peers (as the engine routes them: a peer's deque is touched by one task).
async fn receive_bare<P: PeerKey>(
    peers: usize,
    threads: usize,
    frames: Arc<Vec<(usize, Bytes)>>,
) -> f64 {
    let keys = Arc::new(peer_keys::<P>(peers + 1));
    let buffer = Arc::new(Buffer::<P, Blob>::new(Config::new(128)).unwrap());
    buffer.update_primary(keys.iter().cloned());
    rate(threads, frames.len(), |t| {
        let (buffer, frames, keys) = (buffer.clone(), frames.clone(), keys.clone());
        async move {
            for (p, frame) in frames.iter().filter(|(p, _)| p % threads == t) {
                let blob = Blob::decode(frame.clone(), &BlobConfig::default()).unwrap();
                black_box(buffer.receive(keys[p + 1].clone(), blob));
            }
        }
    })
    .await
}

async fn receive_actor(
    context: &commonware_runtime::tokio::Context,
    label: &str,
    peers: usize,
    frames: Arc<Vec<(usize, Bytes)>>,
) -> f64 {
    let keys = actor::keys(peers + 1);
    let last = actor_digest(&frames.last().unwrap().1);
    let preloaded = frames
        .iter()
        .map(|(p, f)| (keys[p + 1].clone(), f.clone()))
        .collect();
    // The frames wait in its receiver; the engine takes them after its first peer-set update.
    let (actor, started) =
        Actor::start_preloaded(context, label, &keys, 128, frames.len() + 1, preloaded);
    let give_up = Instant::now() + Duration::from_secs(120);
    while actor.mailbox.get(last).await.is_none() {
        assert!(Instant::now() < give_up, "actor ingest stalled");
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let rate = frames.len() as f64 / started.elapsed().as_secs_f64();
    actor.stop();
    rate
}

/// Spawns `threads` tasks made by `task(t)`, waits for them, and returns `count` per second.
async fn rate<F, Fut>(threads: usize, count: usize, task: F) -> f64
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let start = Instant::now();
    let handles: Vec<_> = (0..threads).map(|t| tokio::spawn(task(t))).collect();
    for h in handles {
        h.await.unwrap();
    }
    count as f64 / start.elapsed().as_secs_f64()
}

/// The limit's stand-in for eviction: a bare map that keeps each task's last `window` digests.
struct Windowed {
    map: Arc<DashMap<[u8; 32], Blob>>,
    ring: std::collections::VecDeque<[u8; 32]>,
    window: usize,
}

impl Windowed {
    fn new(map: Arc<DashMap<[u8; 32], Blob>>, window: usize) -> Self {
        let ring = std::collections::VecDeque::with_capacity(window + 1);
        Self { map, ring, window }
    }

    fn insert(&mut self, blob: Blob) {
        self.ring.push_back(blob.digest());
        self.map.insert(blob.digest(), blob);
        if self.ring.len() > self.window {
            self.map.remove(&self.ring.pop_front().unwrap());
        }
    }
}

async fn receive_limit(peers: usize, threads: usize, frames: Arc<Vec<(usize, Bytes)>>) -> f64 {
    let map: Arc<DashMap<[u8; 32], Blob>> = Arc::new(DashMap::new());
    let window = 128 * peers / threads;
    rate(threads, frames.len(), |t| {
        let (mut windowed, frames) = (Windowed::new(map.clone(), window), frames.clone());
        async move {
            for (_, frame) in frames.iter().skip(t).step_by(threads) {
                windowed.insert(Blob::decode(frame.clone(), &BlobConfig::default()).unwrap());
            }
        }
    })
    .await
}

async fn insert_shardcast<P: PeerKey>(
    peers: usize,
    threads: usize,
    blobs: Arc<Vec<(usize, Blob)>>,
) -> f64 {
    let keys = Arc::new(peer_keys::<P>(peers));
    let buffer = Arc::new(Buffer::<P, Blob>::new(Config::new(128)).unwrap());
    buffer.update_primary(keys.iter().cloned());
    rate(threads, blobs.len(), |t| {
        let (buffer, blobs, keys) = (buffer.clone(), blobs.clone(), keys.clone());
        async move {
            for (p, blob) in blobs.iter().filter(|(p, _)| p % threads == t) {
                black_box(buffer.insert(keys[*p].clone(), blob.clone()));
            }
        }
    })
    .await
}

/// ns per insert into a buffer of `peers` deques of `deque`, after `fill`: of `new` messages,
/// and (on a buffer refilled the same way) of `dups`.
fn scaling_shardcast<P: PeerKey>(
    deque: usize,
    peers: usize,
    fill: &[(usize, Blob)],
    new: &[(usize, Blob)],
    dups: &[(usize, Blob)],
) -> (f64, f64) {
    let keys = peer_keys::<P>(peers);
    let filled = || {
        let buffer = Buffer::<P, Blob>::new(Config::new(deque)).unwrap();
        buffer.update_primary(keys.iter().cloned());
        for (p, b) in fill {
            buffer.insert(keys[*p].clone(), b.clone());
        }
        buffer
    };
    let time = |buffer: Buffer<P, Blob>, blobs: &[(usize, Blob)]| {
        let start = Instant::now();
        for (p, b) in blobs {
            black_box(buffer.insert(keys[*p].clone(), b.clone()));
        }
        start.elapsed().as_nanos() as f64 / blobs.len() as f64
    };
    (time(filled(), new), time(filled(), dups))
}

async fn insert_limit(peers: usize, threads: usize, blobs: Arc<Vec<(usize, Blob)>>) -> f64 {
    let map: Arc<DashMap<[u8; 32], Blob>> = Arc::new(DashMap::new());
    let window = 128 * peers / threads;
    rate(threads, blobs.len(), |t| {
        let (mut windowed, blobs) = (Windowed::new(map.clone(), window), blobs.clone());
        async move {
            for (_, blob) in blobs.iter().filter(|(p, _)| p % threads == t) {
                windowed.insert(blob.clone());
            }
        }
    })
    .await
}

/// The mixed scenario on shardcast, with peer keys `P`: 2 ingest tasks decode and `receive`
/// (as receive workers do) from the 4 peers of `pool`, beside 2 tasks reading 512 hot digests.
async fn mixed_shardcast<P: PeerKey>(d: Duration, pool: Arc<Vec<(usize, Bytes)>>) -> (f64, f64) {
    const CACHED: usize = 512;
    let keys = Arc::new(peer_keys::<P>(5));
    let buffer = Arc::new(Buffer::<P, Blob>::new(Config::new(CACHED)).unwrap());
    buffer.update_primary(keys.iter().cloned());
    let hot: Vec<Blob> = (0..CACHED as u64)
        .map(|i| Blob::new(payload(9, i, 32)))
        .collect();
    for b in &hot {
        buffer.insert(keys[0].clone(), b.clone());
    }
    let hot: Arc<Vec<[u8; 32]>> = Arc::new(hot.iter().map(Message::digest).collect());
    mixed_run(
        d,
        pool,
        {
            let buffer = buffer.clone();
            move |peer, frame: Bytes| {
                let blob = Blob::decode(frame, &BlobConfig::default()).unwrap();
                buffer.receive(keys[peer + 1].clone(), blob);
            }
        },
        move |i| {
            let buffer = buffer.clone();
            let hot = hot.clone();
            async move { black_box(buffer.get(&hot[i % CACHED])).is_some() }
        },
    )
    .await
}

/// Runs 2 ingest tasks (`ingest`, synchronous) and 2 get tasks (`get`, timed) for `d`.
async fn mixed_run<I, G, Fut>(
    d: Duration,
    pool: Arc<Vec<(usize, Bytes)>>,
    ingest: I,
    get: G,
) -> (f64, f64)
where
    I: Fn(usize, Bytes) + Clone + Send + Sync + 'static,
    G: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let deadline = Instant::now() + d;
    let start = Instant::now();
    let ingesters: Vec<_> = (0..2)
        .map(|t| {
            let (pool, ingest) = (pool.clone(), ingest.clone());
            tokio::spawn(async move {
                let mut n = 0u64;
                for (peer, frame) in pool.iter().skip(t).step_by(2) {
                    if n.is_multiple_of(64) && Instant::now() >= deadline {
                        break;
                    }
                    ingest(*peer, frame.clone());
                    n += 1;
                }
                n
            })
        })
        .collect();
    finish_mixed(start, deadline, ingesters, get, || 0).await
}

/// `mixed_run` for the actor: ingest means pushing frames into its receiver.
async fn mixed_run_async<G, Fut>(
    d: Duration,
    pool: Arc<Vec<(usize, Bytes)>>,
    keys: Vec<actor::PublicKey>,
    frames: tokio::sync::mpsc::Sender<(actor::PublicKey, Bytes)>,
    get: G,
) -> (f64, f64)
where
    G: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let deadline = Instant::now() + d;
    let start = Instant::now();
    let ingesters: Vec<_> = (0..2)
        .map(|t| {
            let (pool, keys, frames) = (pool.clone(), keys.clone(), frames.clone());
            tokio::spawn(async move {
                let mut n = 0u64;
                for (peer, frame) in pool.iter().skip(t).step_by(2) {
                    if Instant::now() >= deadline {
                        break;
                    }
                    frames
                        .send((keys[peer + 1].clone(), frame.clone()))
                        .await
                        .unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    // Frames still queued in the engine's channel at the end were pushed but not ingested.
    let queued = move || (frames.max_capacity() - frames.capacity()) as u64;
    finish_mixed(start, deadline, ingesters, get, queued).await
}

/// Runs 2 timed `get` tasks until `deadline` beside the running `ingesters`, joins them all,
/// and returns (operations per second, less the `not_done()` ingests counted after the joins;
/// `get` p99 in ns).
async fn finish_mixed<G, Fut>(
    start: Instant,
    deadline: Instant,
    ingesters: Vec<tokio::task::JoinHandle<u64>>,
    get: G,
    not_done: impl FnOnce() -> u64,
) -> (f64, f64)
where
    G: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let getters: Vec<_> = (0..2)
        .map(|t| {
            let get = get.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut i = t * 101;
                while Instant::now() < deadline {
                    let s = Instant::now();
                    get(i).await;
                    lat.push(s.elapsed().as_nanos() as u64);
                    i += 1;
                }
                lat
            })
        })
        .collect();
    let mut ops = 0u64;
    for h in ingesters {
        ops += h.await.unwrap();
    }
    let mut lat = Vec::new();
    for h in getters {
        lat.extend(h.await.unwrap());
    }
    ops = ops.saturating_sub(not_done()) + lat.len() as u64;
    lat.sort_unstable();
    (
        ops as f64 / start.elapsed().as_secs_f64(),
        percentile(&lat, 0.99),
    )
}

/// ns per frame for the actor: fill its deques with `fill`, then time `measured`.
async fn actor_per_frame(
    context: &commonware_runtime::tokio::Context,
    label: &str,
    peers: usize,
    deque: usize,
    fill: &[(usize, Bytes)],
    measured: &[(usize, Bytes)],
) -> f64 {
    let keys = actor::keys(peers + 1);
    let actor = Actor::start(
        context,
        label,
        &keys,
        deque,
        fill.len() + measured.len() + 2,
    );
    let marker = |i: u64| Blob::new(payload(u32::MAX, i, 32));
    // A fill, then a marker from our own key (cached: we are primary) to know it is done.
    for (p, f) in fill {
        actor
            .frames
            .try_send((keys[p + 1].clone(), f.clone()))
            .unwrap();
    }
    let m0 = marker(0);
    actor
        .frames
        .try_send((keys[0].clone(), m0.to_bytes()))
        .unwrap();
    let d0 = commonware_cryptography::Digestible::digest(&ActorMessage(m0.payload().to_vec()));
    actor.mailbox.subscribe(d0).await.await.unwrap();
    let m1 = marker(1);
    let d1 = commonware_cryptography::Digestible::digest(&ActorMessage(m1.payload().to_vec()));
    let done = actor.mailbox.subscribe(d1).await;
    let _ = actor.mailbox.get(d0).await; // the subscription is registered
    let start = Instant::now();
    for (p, f) in measured {
        actor
            .frames
            .try_send((keys[p + 1].clone(), f.clone()))
            .unwrap();
    }
    actor
        .frames
        .try_send((keys[0].clone(), m1.to_bytes()))
        .unwrap();
    done.await.unwrap();
    let ns = start.elapsed().as_nanos() as f64 / measured.len() as f64;
    actor.stop();
    ns
}

fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    writeln!(
        out,
        "| scenario | unit | shardcast | actor | limit | shardcast vs actor | shardcast vs limit |\n|---|---|---|---|---|---|---|"
    )
    .unwrap();
    for row in rows {
        let ratio = |r: Option<f64>| r.map_or("-".into(), |r| format!("{r:.2}x"));
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            row.scenario,
            row.unit,
            fmt_stat(Some(row.shardcast)),
            fmt_stat(row.actor),
            fmt_stat(row.limit),
            ratio(row.ratio(row.actor)),
            ratio(row.ratio(row.limit)),
        )
        .unwrap();
    }
    out
}

/// A horizontal bar chart of "x better than the actor" per scenario, log scale.
fn ratio_svg(rows: &[Row]) -> String {
    let rows: Vec<(&str, f64, Option<f64>)> = rows
        .iter()
        .filter_map(|r| Some((r.scenario.as_str(), r.ratio(r.actor)?, r.ratio(r.limit))))
        .collect();
    let (left, width, bar, gap) = (330.0, 520.0, 14.0, 8.0);
    let height = 60.0 + rows.len() as f64 * (bar + gap);
    let max = rows
        .iter()
        .map(|r| r.1)
        .fold(1.0, f64::max)
        .log10()
        .ceil()
        .max(1.0);
    let x = |v: f64| left + width * (v.max(0.1).log10() + 1.0) / (max + 1.0);
    let mut svg = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='{}' height='{height}' font-family='sans-serif' font-size='11'>\n<rect width='100%' height='100%' fill='white'/>\n<text x='10' y='18' font-size='13'>shardcast vs the actor engine: times better (log scale; 1x = parity)</text>\n",
        left + width + 60.0
    );
    for decade in -1..=(max as i32) {
        let v = 10f64.powi(decade);
        let xv = x(v);
        writeln!(svg, "<line x1='{xv}' y1='28' x2='{xv}' y2='{}' stroke='#ddd'/><text x='{xv}' y='{}' text-anchor='middle'>{v}x</text>", height - 20.0, height - 6.0).unwrap();
    }
    for (i, (name, ratio, _)) in rows.iter().enumerate() {
        let y = 34.0 + i as f64 * (bar + gap);
        let x0 = x(1.0);
        let x1 = x(*ratio);
        let (from, to) = if x1 >= x0 { (x0, x1) } else { (x1, x0) };
        let color = if *ratio >= 1.0 { "#2b7bb9" } else { "#c44" };
        writeln!(svg, "<text x='{}' y='{}' text-anchor='end'>{name}</text><rect x='{from}' y='{y}' width='{}' height='{bar}' fill='{color}'/><text x='{}' y='{}'>{ratio:.1}x</text>", left - 6.0, y + bar - 3.0, (to - from).max(1.0), to + 4.0, y + bar - 3.0).unwrap();
    }
    svg.push_str("</svg>\n");
    svg
}

/// ns per insert against deque size, shardcast and the actor, log-log.
fn scaling_svg(points: &[(String, usize, f64, f64)]) -> String {
    let series: Vec<(&str, bool)> = vec![
        ("new, 4 peers", false),
        ("duplicate, 4 peers", false),
        ("new, 4 peers", true),
        ("duplicate, 4 peers", true),
    ];
    let (left, top, width, height) = (60.0, 30.0, 520.0, 300.0);
    let all: Vec<f64> = points.iter().flat_map(|p| [p.2, p.3]).collect();
    let lo = all
        .iter()
        .cloned()
        .fold(f64::MAX, f64::min)
        .max(1.0)
        .log10()
        .floor();
    let hi = all.iter().cloned().fold(1.0, f64::max).log10().ceil();
    let x = |deque: usize| left + width * ((deque as f64).log2() - 4.0) / 9.0;
    let y = |ns: f64| top + height * (1.0 - (ns.log10() - lo) / (hi - lo).max(1.0));
    let mut svg = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='{}' height='{}' font-family='sans-serif' font-size='11'>\n<rect width='100%' height='100%' fill='white'/>\n<text x='10' y='18' font-size='13'>ns per insert vs deque size (4 peers, log-log): shardcast (blue) is O(1), the actor (red) scans its deque</text>\n",
        left + width + 170.0,
        top + height + 40.0
    );
    for deque in [16usize, 128, 1024, 8192] {
        writeln!(
            svg,
            "<text x='{}' y='{}' text-anchor='middle'>deque {deque}</text>",
            x(deque),
            top + height + 18.0
        )
        .unwrap();
    }
    for e in (lo as i32)..=(hi as i32) {
        let v = 10f64.powi(e);
        writeln!(svg, "<line x1='{left}' y1='{0}' x2='{1}' y2='{0}' stroke='#ddd'/><text x='{2}' y='{0}' text-anchor='end'>{v} ns</text>", y(v), left + width, left - 4.0).unwrap();
    }
    for (name, actor) in series {
        let pts: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.0 == name)
            .map(|p| (x(p.1), y(if actor { p.3 } else { p.2 })))
            .collect();
        let color = if actor { "#c44" } else { "#2b7bb9" };
        let dash = if name.starts_with("dup") {
            " stroke-dasharray='5,3'"
        } else {
            ""
        };
        let path: Vec<String> = pts.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
        writeln!(
            svg,
            "<polyline fill='none' stroke='{color}' stroke-width='2'{dash} points='{}'/>",
            path.join(" ")
        )
        .unwrap();
        if let Some((a, b)) = pts.last() {
            let who = if actor { "actor" } else { "shardcast" };
            writeln!(
                svg,
                "<text x='{}' y='{}' fill='{color}'>{who}: {name}</text>",
                a + 6.0,
                b + 4.0
            )
            .unwrap();
        }
    }
    svg.push_str("</svg>\n");
    svg
}

fn bench_selected(opts: &Opts, name: &str) -> bool {
    opts.only.is_empty() || opts.only.iter().any(|o| o == name)
}

fn main() {
    let opts = opts();
    // shardcast's metrics go to a real Prometheus recorder, as in production.
    if !opts.no_recorder {
        metrics::set_global_recorder(
            metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder(),
        )
        .expect("no other recorder");
    }
    let workers = opts.threads.iter().copied().max().unwrap_or(2).max(2);
    let runner = commonware_runtime::tokio::Runner::new(
        commonware_runtime::tokio::Config::new().with_worker_threads(workers),
    );
    let started = Instant::now();
    let (rows, scaling) = runner.start(|context| {
        let opts = opts.clone();
        async move {
            let mut bench = Bench {
                context,
                opts,
                rows: Vec::new(),
                scaling: Vec::new(),
                labels: 0,
            };
            let selected = bench.opts.clone();
            let run = |name: &str| bench_selected(&selected, name);
            if run("get") {
                eprintln!("get:");
                bench.get().await;
            }
            if run("ingest") {
                eprintln!("ingest:");
                bench.ingest().await;
            }
            if run("wakeup") {
                eprintln!("subscribe wake-up:");
                bench.wakeup().await;
            }
            if run("mixed") {
                eprintln!("mixed:");
                bench.mixed().await;
            }
            if run("scaling") {
                eprintln!("scaling with the work:");
                bench.scaling().await;
            }
            (bench.rows, bench.scaling)
        }
    });
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let header = format!(
        "shardcast vs actor vs limit: {} runs each (median, min-max), {} runtime workers, {cores} cores{}, {:.0} s\n\n",
        opts.runs,
        workers,
        if opts.quick { ", --quick" } else { "" },
        started.elapsed().as_secs_f64()
    );
    let md = format!("{header}{}", table(&rows));
    println!("{md}");
    std::fs::create_dir_all(&opts.out).expect("output directory");
    std::fs::write(opts.out.join("compare.md"), &md).expect("write");
    std::fs::write(opts.out.join("compare.svg"), ratio_svg(&rows)).expect("write");
    std::fs::write(opts.out.join("scaling.svg"), scaling_svg(&scaling)).expect("write");
    eprintln!(
        "wrote {}/compare.{{md,svg}} and scaling.svg",
        opts.out.display()
    );
}
