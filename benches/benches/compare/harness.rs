//! What every scenario shares: options, statistics, rows, the timing loops, and `Bench`, which
//! runs the scenarios and collects their rows. Also the prelude the scenario modules import.

pub(crate) use bytes::Bytes;
pub(crate) use commonware_cryptography::ed25519;
pub(crate) use dashmap::DashMap;
pub(crate) use shardcast::{Blob, BlobConfig, Buffer, Codec, Config, Message};
pub(crate) use shardcast_benches::actor::{self, Actor, ActorMessage};
pub(crate) use shardcast_benches::shard::Node;
pub(crate) use shardcast_benches::{PeerKey, frames, payload, peer_keys};
pub(crate) use std::hint::black_box;
pub(crate) use std::path::PathBuf;
pub(crate) use std::sync::Arc;
pub(crate) use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub(crate) struct Opts {
    pub(crate) quick: bool,
    /// Run only the scenarios whose name starts with one of these.
    pub(crate) only: Vec<String>,
    /// Leave the metrics recorder out (shows what metrics cost shardcast).
    pub(crate) no_recorder: bool,
    pub(crate) runs: usize,
    pub(crate) threads: Vec<usize>,
    pub(crate) out: PathBuf,
}

pub(crate) fn opts() -> Opts {
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
pub(crate) struct Stat {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

pub(crate) fn stat(mut values: Vec<f64>) -> Stat {
    values.sort_by(f64::total_cmp);
    Stat {
        median: values[values.len() / 2],
        min: values[0],
        max: values[values.len() - 1],
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Better {
    Higher,
    Lower,
}

pub(crate) struct Row {
    pub(crate) scenario: String,
    pub(crate) unit: &'static str,
    pub(crate) better: Better,
    pub(crate) shardcast: Stat,
    pub(crate) actor: Option<Stat>,
    pub(crate) limit: Option<Stat>,
}

impl Row {
    /// How many times better shardcast is than `other` (>1: shardcast wins).
    pub(crate) fn ratio(&self, other: Option<Stat>) -> Option<f64> {
        let other = other?.median;
        Some(match self.better {
            Better::Higher => self.shardcast.median / other,
            Better::Lower => other / self.shardcast.median,
        })
    }
}

pub(crate) fn fmt_stat(stat: Option<Stat>) -> String {
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
pub(crate) async fn repeat<F, Fut>(runs: usize, mut f: F) -> Vec<f64>
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
pub(crate) fn percentile(sorted: &[u64], q: f64) -> f64 {
    shardcast::net::sim::percentile(sorted, q) as f64
}

/// Spawns `tasks` copies of a counting loop; returns total operations per second.
pub(crate) async fn throughput<F, Fut>(tasks: usize, duration: Duration, make: F) -> f64
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
pub(crate) async fn latencies<F, Fut>(tasks: usize, make: F) -> Vec<u64>
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

pub(crate) struct Bench {
    pub(crate) context: commonware_runtime::tokio::Context,
    pub(crate) opts: Opts,
    pub(crate) rows: Vec<Row>,
    pub(crate) scaling: Vec<(String, usize, f64, f64)>,
    pub(crate) labels: usize,
}

impl Bench {
    pub(crate) fn label(&mut self) -> String {
        self.labels += 1;
        format!("actor{}", self.labels)
    }

    pub(crate) fn duration(&self) -> Duration {
        Duration::from_millis(if self.opts.quick { 150 } else { 600 })
    }

    /// Pushes two rows sharing the actor's and the limit's runs: `scenario` with shardcast on
    /// `u32` peers, and `scenario, ed25519` with shardcast on ed25519 peers.
    pub(crate) fn push_keyed(
        &mut self,
        scenario: String,
        unit: &'static str,
        better: Better,
        [small, ed25519]: [Vec<f64>; 2],
        actor: Vec<f64>,
        limit: Vec<f64>,
    ) {
        let ed_name = format!("{scenario}, ed25519");
        self.push(
            scenario,
            unit,
            better,
            [small, actor.clone(), limit.clone()],
        );
        self.push(ed_name, unit, better, [ed25519, actor, limit]);
    }

    pub(crate) fn push(
        &mut self,
        scenario: String,
        unit: &'static str,
        better: Better,
        runs: [Vec<f64>; 3],
    ) {
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
}

/// The actor's digest of the message in a frame.
pub(crate) fn actor_digest(frame: &Bytes) -> commonware_cryptography::sha256::Digest {
    let blob = Blob::decode(frame.clone(), &BlobConfig::default()).expect("a valid frame");
    commonware_cryptography::Digestible::digest(&ActorMessage(blob.payload().to_vec()))
}

/// Lets freshly spawned tasks run until they park.
pub(crate) async fn settle() {
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
}

/// Spawns `threads` tasks made by `task(t)`, waits for them, and returns `count` per second.
pub(crate) async fn rate<F, Fut>(threads: usize, count: usize, task: F) -> f64
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
pub(crate) struct Windowed {
    pub(crate) map: Arc<DashMap<[u8; 32], Blob>>,
    pub(crate) ring: std::collections::VecDeque<[u8; 32]>,
    pub(crate) window: usize,
}

impl Windowed {
    pub(crate) fn new(map: Arc<DashMap<[u8; 32], Blob>>, window: usize) -> Self {
        let ring = std::collections::VecDeque::with_capacity(window + 1);
        Self { map, ring, window }
    }

    pub(crate) fn insert(&mut self, blob: Blob) {
        self.ring.push_back(blob.digest());
        self.map.insert(blob.digest(), blob);
        if self.ring.len() > self.window {
            self.map.remove(&self.ring.pop_front().unwrap());
        }
    }
}

pub(crate) fn bench_selected(opts: &Opts, name: &str) -> bool {
    opts.only.is_empty() || opts.only.iter().any(|o| o == name)
}
