//! `shardcast`: runs a cluster of shardcast nodes on the simulated WAN and reports how well it
//! disseminated (`shardcast demo --help`).

use clap::{Args, Parser, Subcommand};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use indicatif::{ProgressBar, ProgressStyle};
use shardcast::net::Recipients;
use shardcast::net::sim::{Link, Network, SimConfig, SimSender};
use shardcast::{Blob, BlobConfig, Buffer, Config, Engine, EngineConfig, Message};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "A lock-sharded, actor-free broadcast buffer: demo cluster"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    demo: DemoArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a cluster on the simulated WAN (the default).
    Demo(DemoArgs),
}

#[derive(Args, Debug, Clone)]
struct DemoArgs {
    /// Nodes in the cluster.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    nodes: u32,
    /// Messages each node broadcasts.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    messages: u64,
    /// Payload bytes per message (at least 12: node and sequence number make it unique).
    #[arg(long, default_value_t = 1_024, value_parser = clap::value_parser!(u64).range(12..=1_048_000))]
    payload: u64,
    /// Digests cached per primary peer.
    #[arg(long, default_value_t = 128)]
    deque_size: usize,
    /// One-way link latency in milliseconds.
    #[arg(long, default_value_t = 50)]
    latency_ms: u64,
    /// Latency jitter (+/-) in milliseconds.
    #[arg(long, default_value_t = 10)]
    jitter_ms: u64,
    /// Probability that a message is lost on a link.
    #[arg(long, default_value_t = 0.01, value_parser = parse_loss)]
    loss: f64,
    /// Seed of the network's random generator and of the payloads.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Serve Prometheus metrics on this address (e.g. 127.0.0.1:9000) while running.
    #[arg(long)]
    metrics_addr: Option<SocketAddr>,
    /// Receive workers per node.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    workers: u64,
    /// Re-send undelivered messages every this many milliseconds (the application-level
    /// acknowledgement loop that lossy links need).
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(1..))]
    retry_ms: u64,
    /// Give up after this many re-send rounds.
    #[arg(long, default_value_t = 40)]
    max_rounds: u32,
}

fn parse_loss(s: &str) -> Result<f64, String> {
    let loss: f64 = s.parse().map_err(|e| format!("not a number: {e}"))?;
    if (0.0..1.0).contains(&loss) {
        Ok(loss)
    } else {
        Err(format!("{loss} is not in [0, 1)"))
    }
}

type Node = Engine<u32, Blob, SimSender<u32>>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = match cli.command {
        Some(Command::Demo(args)) => args,
        None => cli.demo,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(demo(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// A deterministic payload: node, index, then seeded filler.
fn payload(seed: u64, node: u32, index: u64, len: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(len);
    bytes.extend_from_slice(&node.to_le_bytes());
    bytes.extend_from_slice(&index.to_le_bytes());
    let mut state = seed ^ (u64::from(node) << 40) ^ index;
    while bytes.len() < len {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        bytes.push((state >> 33) as u8);
    }
    bytes.truncate(len);
    bytes
}

struct Shared {
    start: Instant,
    nodes: usize,
    messages: usize,
    /// When each message (origin, index) was first broadcast, in µs since start (+1; 0 = not yet).
    sent_at: Vec<AtomicU64>,
    /// delivered[(receiver * nodes + origin) * messages + index]
    delivered: Vec<AtomicBool>,
    /// Latencies (µs) per receiving node.
    latencies: Vec<Mutex<Vec<u64>>>,
}

impl Shared {
    fn slot(&self, receiver: usize, origin: usize, index: usize) -> usize {
        (receiver * self.nodes + origin) * self.messages + index
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank]
}

fn ms(micros: u64) -> String {
    format!("{:.1}", micros as f64 / 1000.0)
}

async fn demo(args: DemoArgs) -> Result<bool, String> {
    let nodes = args.nodes as usize;
    let messages = args.messages as usize;
    let server = match args.metrics_addr {
        Some(addr) => {
            let server = shardcast::prometheus::serve(addr)
                .await
                .map_err(|e| e.to_string())?;
            eprintln!("metrics: http://{}/metrics", server.local_addr());
            Some(server)
        }
        None => None,
    };

    let network = Network::new(SimConfig {
        seed: args.seed,
        ..SimConfig::default()
    });
    let ids: Vec<u32> = (0..args.nodes).collect();
    let endpoints: Vec<_> = ids.iter().map(|id| network.register(*id)).collect();
    network.link_all(Link::new(
        Duration::from_millis(args.latency_ms),
        Duration::from_millis(args.jitter_ms),
        1.0 - args.loss,
    ));
    network.track(0, ids.clone(), vec![]);

    let mut engines: Vec<Node> = Vec::with_capacity(nodes);
    for (id, (sender, receiver)) in ids.iter().zip(endpoints) {
        let buffer = Buffer::new(Config::new(args.deque_size)).map_err(|e| e.to_string())?;
        let mut config = EngineConfig::new(BlobConfig {
            max_payload: args.payload as usize,
        });
        config.workers = args.workers as usize;
        let engine = Engine::start(
            Arc::new(buffer),
            *id,
            sender,
            receiver,
            network.peer_sets(),
            config,
        )
        .map_err(|e| e.to_string())?;
        engines.push(engine);
    }

    eprintln!(
        "shardcast demo: {nodes} nodes x {messages} messages of {} B, deque {}, link {} ms +/- {} ms, loss {:.1}%, seed {}",
        args.payload,
        args.deque_size,
        args.latency_ms,
        args.jitter_ms,
        args.loss * 100.0,
        args.seed
    );
    let blobs: Arc<Vec<Vec<Blob>>> = Arc::new(
        ids.iter()
            .map(|node| {
                (0..messages as u64)
                    .map(|i| Blob::new(payload(args.seed, *node, i, args.payload as usize)))
                    .collect()
            })
            .collect(),
    );
    let shared = Arc::new(Shared {
        start: Instant::now(),
        nodes,
        messages,
        sent_at: (0..nodes * messages).map(|_| AtomicU64::new(0)).collect(),
        delivered: (0..nodes * nodes * messages)
            .map(|_| AtomicBool::new(false))
            .collect(),
        latencies: (0..nodes).map(|_| Mutex::new(Vec::new())).collect(),
    });
    let expected = (nodes * (nodes - 1) * messages) as u64;
    let progress = ProgressBar::new(expected).with_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} deliveries ({per_sec}, eta {eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );

    // Every node subscribes to every digest it expects, before anything is sent.
    let mut collectors = Vec::new();
    for (receiver, engine) in engines.iter().enumerate() {
        let mut pending = FuturesUnordered::new();
        for (origin, mine) in blobs.iter().enumerate() {
            if origin == receiver {
                continue;
            }
            for (index, blob) in mine.iter().enumerate() {
                let sub = engine.buffer().subscribe(blob.digest());
                pending.push(async move {
                    sub.await;
                    (origin, index)
                });
            }
        }
        let shared = shared.clone();
        let progress = progress.clone();
        collectors.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(pending.len());
            while let Some((origin, index)) = pending.next().await {
                let now = shared.start.elapsed().as_micros() as u64;
                let sent = shared.sent_at[origin * shared.messages + index].load(Ordering::Acquire);
                latencies.push(now.saturating_sub(sent.saturating_sub(1)));
                shared.delivered[shared.slot(receiver, origin, index)]
                    .store(true, Ordering::Release);
                progress.inc(1);
            }
            *shared.latencies[receiver].lock().unwrap() = latencies;
        }));
    }

    // Every node broadcasts its messages to all, as fast as the engine takes them.
    let broadcasters: Vec<_> = engines
        .iter()
        .enumerate()
        .map(|(origin, engine)| {
            let engine = engine.clone();
            let blobs = blobs.clone();
            let shared = shared.clone();
            tokio::spawn(async move {
                for (index, blob) in blobs[origin].iter().enumerate() {
                    let now = shared.start.elapsed().as_micros() as u64 + 1;
                    shared.sent_at[origin * shared.messages + index].store(now, Ordering::Release);
                    engine.broadcast(Recipients::All, blob.clone()).await;
                }
            })
        })
        .collect();
    for broadcaster in broadcasters {
        broadcaster.await.map_err(|e| e.to_string())?;
    }

    // Re-send what has not arrived, the way an application with acknowledgements would.
    let mut rounds = 0;
    let mut resident_max = vec![0usize; nodes];
    loop {
        tokio::time::sleep(Duration::from_millis(args.retry_ms)).await;
        for (node, engine) in engines.iter().enumerate() {
            resident_max[node] = resident_max[node].max(engine.buffer().stats().cached);
        }
        if progress.position() == expected || rounds == args.max_rounds {
            break;
        }
        rounds += 1;
        for (origin, engine) in engines.iter().enumerate() {
            for index in 0..messages {
                let missing: Vec<u32> = (0..nodes)
                    .filter(|r| {
                        *r != origin
                            && !shared.delivered[shared.slot(*r, origin, index)]
                                .load(Ordering::Acquire)
                    })
                    .map(|r| r as u32)
                    .collect();
                if !missing.is_empty() {
                    engine
                        .broadcast(Recipients::Some(missing), blobs[origin][index].clone())
                        .await;
                }
            }
        }
    }
    let elapsed = shared.start.elapsed();
    progress.finish_and_clear();
    for engine in &engines {
        engine.shutdown().await;
    }
    drop(network);
    // Subscriptions still pending stay pending: stop waiting for them.
    for collector in &collectors {
        collector.abort();
    }
    for collector in collectors {
        let _ = collector.await;
    }

    // The table.
    println!(
        "{:>5} {:>15} {:>9} {:>9} {:>9} {:>17} {:>8} {:>9}",
        "node", "delivered", "p50 ms", "p99 ms", "max ms", "resident/bound", "invalid", "duplicate"
    );
    let bound = nodes * args.deque_size;
    let mut all = Vec::new();
    let mut delivered_total = 0u64;
    for (node, engine) in engines.iter().enumerate() {
        let mut latencies = std::mem::take(&mut *shared.latencies[node].lock().unwrap());
        let got = (0..nodes)
            .flat_map(|origin| (0..messages).map(move |index| (origin, index)))
            .filter(|(origin, index)| {
                *origin != node
                    && shared.delivered[shared.slot(node, *origin, *index)].load(Ordering::Acquire)
            })
            .count() as u64;
        delivered_total += got;
        latencies.sort_unstable();
        let stats = engine.stats();
        println!(
            "{:>5} {:>15} {:>9} {:>9} {:>9} {:>17} {:>8} {:>9}",
            node,
            format!("{got}/{}", (nodes - 1) * messages),
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.99)),
            ms(latencies.last().copied().unwrap_or(0)),
            format!("{}/{}", resident_max[node], bound),
            stats.invalid,
            stats.duplicate,
        );
        all.extend(latencies);
    }
    all.sort_unstable();
    println!(
        "total: {delivered_total}/{expected} deliveries in {:.2} s ({:.0} deliveries/s), latency p50 {} ms p99 {} ms max {} ms, {rounds} re-send rounds",
        elapsed.as_secs_f64(),
        delivered_total as f64 / elapsed.as_secs_f64(),
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.99)),
        ms(all.last().copied().unwrap_or(0)),
    );
    drop(server);
    if delivered_total == expected {
        println!("full delivery");
        Ok(true)
    } else {
        println!(
            "INCOMPLETE delivery: {} missing",
            expected - delivered_total
        );
        Ok(false)
    }
}
