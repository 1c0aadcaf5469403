//! `shardcast`: runs a cluster of shardcast nodes on the simulated WAN (or on commonware-p2p) and
//! reports how well it disseminated (`shardcast demo --help`), or a marshal chain with shardcast
//! and with the reference buffer (`shardcast chain --help`, feature `chain`).

use clap::{Args, Parser, Subcommand};
#[cfg(feature = "commonware")]
use commonware_cryptography::ed25519;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use indicatif::{ProgressBar, ProgressStyle};
use shardcast::net::Recipients;
use shardcast::net::sim::{Link, Network, SimConfig, percentile};
use shardcast::{Blob, BlobConfig, Buffer, Config, Engine, EngineConfig, EngineStats, Message};
#[cfg(feature = "commonware")]
use shardcast_commonware_2026_4 as cw;
use std::future::Future;
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
    /// Run a commonware-consensus marshal chain over commonware-p2p on 127.0.0.1 (tokio), with
    /// shardcast and then with the reference's buffered engine as every validator's block
    /// buffer, and print the latency and CPU of each (needs the `chain` feature).
    Chain(ChainArgs),
}

#[derive(Args, Debug, Clone)]
struct ChainArgs {
    /// Validators, each with its own network, marshal and buffer.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(2..=64))]
    validators: u64,
    /// Blocks proposed, in turn by the validators.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    blocks: u64,
    /// Payload bytes per block.
    #[arg(long, default_value_t = 1 << 20, value_parser = clap::value_parser!(u64).range(1..=(16 << 20)))]
    payload: u64,
}

#[derive(Args, Debug, Clone)]
struct DemoArgs {
    /// Nodes in the cluster [default: 16 on the simulated WAN, 8 over commonware].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    nodes: Option<u32>,
    /// The network: the embedded simulated WAN, or commonware-p2p's authenticated network over
    /// TCP on 127.0.0.1 (needs the `commonware` feature).
    #[arg(long, value_enum, default_value_t = NetworkKind::Sim)]
    network: NetworkKind,
    /// With `--network commonware`: node i listens on 127.0.0.1:(base-port + i).
    #[arg(long, default_value_t = 30_500)]
    base_port: u16,
    /// Messages each node broadcasts.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    messages: u64,
    /// Payload bytes per message (at least 12: node and sequence number make it unique).
    #[arg(long, default_value_t = 1_024, value_parser = clap::value_parser!(u64).range(12..=1_048_000))]
    payload: u64,
    /// Digests cached per primary peer.
    #[arg(long, default_value_t = 128)]
    deque_size: usize,
    /// Bytes cached per primary peer, on top of --deque-size (default: count only).
    #[arg(long)]
    peer_bytes: Option<usize>,
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

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum NetworkKind {
    /// The embedded simulated WAN (latency, jitter and loss flags apply).
    Sim,
    /// commonware-p2p's authenticated, encrypted network over TCP on 127.0.0.1.
    Commonware,
}

impl DemoArgs {
    fn nodes(&self, default: u32) -> usize {
        self.nodes.unwrap_or(default) as usize
    }
}

fn parse_loss(s: &str) -> Result<f64, String> {
    let loss: f64 = s.parse().map_err(|e| format!("not a number: {e}"))?;
    if (0.0..1.0).contains(&loss) {
        Ok(loss)
    } else {
        Err(format!("{loss} is not in [0, 1)"))
    }
}

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
        Some(Command::Chain(args)) => return chain(args),
        None => cli.demo,
    };
    let result = match args.network {
        NetworkKind::Sim => match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(demo_sim(args)),
            Err(err) => Err(format!("cannot start the runtime: {err}")),
        },
        #[cfg(feature = "commonware")]
        NetworkKind::Commonware => {
            use commonware_runtime::Runner as _;
            let runner = commonware_runtime::tokio::Runner::new(
                commonware_runtime::tokio::Config::new().with_worker_threads(2),
            );
            runner.start(|context| demo_commonware(context, args))
        }
        #[cfg(not(feature = "commonware"))]
        NetworkKind::Commonware => Err("this binary was built without the `commonware` feature: \
             cargo run --release -p shardcast-demo --features commonware -- --network commonware"
            .to_string()),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The marshal chain, with each buffer in turn.
#[cfg(feature = "chain")]
fn chain(args: ChainArgs) -> ExitCode {
    let opts = shardcast_benches::tcp_chain::Opts {
        validators: args.validators as usize,
        blocks: args.blocks,
        payload: args.payload as usize,
    };
    print!("{}", shardcast_benches::tcp_chain::compare(&opts));
    ExitCode::SUCCESS
}

#[cfg(not(feature = "chain"))]
fn chain(_: ChainArgs) -> ExitCode {
    eprintln!(
        "error: this binary was built without the `chain` feature: \
         cargo run --release -p shardcast-demo --features chain -- chain"
    );
    ExitCode::FAILURE
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

fn ms(micros: u64) -> String {
    format!("{:.1}", micros as f64 / 1000.0)
}

async fn metrics_server(
    args: &DemoArgs,
) -> Result<Option<shardcast::prometheus::MetricsServer>, String> {
    let Some(addr) = args.metrics_addr else {
        return Ok(None);
    };
    let server = shardcast::prometheus::serve(addr)
        .await
        .map_err(|e| e.to_string())?;
    eprintln!("metrics: http://{}/metrics", server.local_addr());
    Ok(Some(server))
}

/// A node's shared buffer and its engine settings.
type NodeConfig<P> = (Arc<Buffer<P, Blob>>, EngineConfig<BlobConfig>);

/// A node's buffer and engine settings, from the flags.
fn node_config<P>(args: &DemoArgs) -> Result<NodeConfig<P>, String>
where
    P: shardcast::Peer,
{
    let mut buffer_config = Config::new(args.deque_size);
    if let Some(limit) = args.peer_bytes {
        buffer_config = buffer_config.with_peer_bytes(limit);
    }
    let buffer = Buffer::new(buffer_config).map_err(|e| e.to_string())?;
    let mut config = EngineConfig::new(BlobConfig {
        max_payload: args.payload as usize,
    });
    config = config.with_workers(args.workers as usize);
    Ok((Arc::new(buffer), config))
}

/// The cluster on the simulated WAN.
async fn demo_sim(args: DemoArgs) -> Result<bool, String> {
    let nodes = args.nodes(16);
    let server = metrics_server(&args).await?;

    let network = Network::new(SimConfig {
        seed: args.seed,
        ..SimConfig::default()
    });
    let ids: Vec<u32> = (0..nodes as u32).collect();
    let endpoints: Vec<_> = ids.iter().map(|id| network.register(*id)).collect();
    network.link_all(Link::new(
        Duration::from_millis(args.latency_ms),
        Duration::from_millis(args.jitter_ms),
        1.0 - args.loss,
    ));
    network.track(0, ids.clone(), vec![]);

    let mut engines = Vec::with_capacity(nodes);
    for (id, (sender, receiver)) in ids.iter().zip(endpoints) {
        let (buffer, config) = node_config(&args)?;
        let engine = Engine::start(buffer, *id, sender, receiver, network.peer_sets(), config)
            .map_err(|e| e.to_string())?;
        engines.push(engine);
    }

    eprintln!(
        "shardcast demo: {nodes} nodes x {} messages of {} B, deque {}, simulated link {} ms +/- {} ms, loss {:.1}%, seed {}",
        args.messages,
        args.payload,
        args.deque_size,
        args.latency_ms,
        args.jitter_ms,
        args.loss * 100.0,
        args.seed
    );
    let delivered = run_cluster(&args, engines, ids).await?;
    drop(network);
    drop(server);
    Ok(delivered)
}

/// The cluster on commonware-p2p's authenticated network over TCP on 127.0.0.1.
#[cfg(feature = "commonware")]
async fn demo_commonware(
    context: commonware_runtime::tokio::Context,
    args: DemoArgs,
) -> Result<bool, String> {
    use commonware_cryptography::Signer as _;
    use commonware_p2p::{Address, AddressableManager as _, authenticated::lookup};
    use commonware_runtime::{Metrics as _, Quota};
    use std::net::{Ipv4Addr, SocketAddr};

    let nodes = args.nodes(8);
    let server = metrics_server(&args).await?;
    let secrets: Vec<ed25519::PrivateKey> = (0..nodes as u64)
        .map(|i| ed25519::PrivateKey::from_seed(args.seed + i))
        .collect();
    let ids: Vec<ed25519::PublicKey> = secrets.iter().map(|s| s.public_key()).collect();
    let addrs: Vec<SocketAddr> = (0..nodes)
        .map(|i| {
            let port = u16::try_from(u32::from(args.base_port) + i as u32).map_err(|_| {
                format!(
                    "--base-port {} leaves no room for {nodes} nodes",
                    args.base_port
                )
            })?;
            Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        })
        .collect::<Result<_, String>>()?;
    let peers: commonware_utils::ordered::Map<ed25519::PublicKey, Address> = ids
        .iter()
        .cloned()
        .zip(addrs.iter().map(|a| Address::from(*a)))
        .collect::<Vec<_>>()
        .try_into()
        .map_err(|_| "duplicate keys".to_string())?;
    let max_message = u32::try_from(args.payload + 16).unwrap_or(u32::MAX);
    let mut engines = Vec::with_capacity(nodes);
    for (i, secret) in secrets.iter().enumerate() {
        let config =
            lookup::Config::local(secret.clone(), b"shardcast-demo", addrs[i], max_message);
        let (mut network, mut oracle) =
            lookup::Network::new(context.with_label(&format!("node{i}")), config);
        oracle.track(0, peers.clone()).await;
        let backlog = (args.messages as usize * nodes).clamp(1024, 1 << 20);
        let (sender, receiver) =
            network.register(0, Quota::per_second(std::num::NonZeroU32::MAX), backlog);
        network.start();
        let mut options = cw::Options::default()
            .with_workers(args.workers as usize)
            .with_peer_metrics(false);
        if let Some(limit) = args.peer_bytes {
            options = options.with_peer_bytes(limit);
        }
        let (engine, mailbox) = cw::Engine::try_new(
            context.with_label(&format!("node{i}_engine")),
            cw::Config {
                public_key: ids[i].clone(),
                mailbox_size: 1024,
                deque_size: args.deque_size,
                priority: false,
                codec_config: BlobConfig {
                    max_payload: args.payload as usize,
                },
                peer_provider: oracle,
            },
            options,
        )
        .map_err(|err| err.to_string())?;
        let handle = engine.start((sender, receiver));
        engines.push(CommonwareNode {
            mailbox,
            handle: Arc::new(handle),
        });
    }
    eprintln!(
        "shardcast demo: {nodes} nodes x {} messages of {} B, deque {}, commonware-p2p authenticated network over TCP on 127.0.0.1:{}..{}",
        args.messages,
        args.payload,
        args.deque_size,
        args.base_port,
        u32::from(args.base_port) + nodes as u32 - 1,
    );
    let delivered = run_cluster(&args, engines, ids).await?;
    // The engines registered their metrics in the runtime's registry, beside the network's.
    println!("node 0's engine metrics, from context.encode():");
    for line in context.encode().lines() {
        if line.starts_with("node0_engine_") {
            println!("  {line}");
        }
    }
    drop(server);
    Ok(delivered)
}

/// One node of the cluster, as the traffic sees it: the tokio engine on the simulated WAN, or
/// the commonware drop-in (its mailbox) on commonware-p2p.
trait Node<P>: Clone + Send + Sync + 'static {
    /// Broadcasts `blob` and waits until it is queued (not sent).
    fn broadcast(&self, to: Recipients<P>, blob: Blob) -> impl Future<Output = ()> + Send;
    /// Resolves to `true` once `blob` arrived at this node, `false` if it never will.
    fn subscribe(&self, blob: &Blob) -> impl Future<Output = bool> + Send + 'static;
    /// Messages resident in the node's cache.
    fn cached(&self) -> usize;
    /// The receive path's counts.
    fn stats(&self) -> EngineStats;
    /// Stops the node.
    fn shutdown(&self) -> impl Future<Output = ()> + Send;
}

impl<P> Node<P> for Engine<P, Blob>
where
    P: shardcast::Peer,
{
    async fn broadcast(&self, to: Recipients<P>, blob: Blob) {
        // The insert is done and the send queued: `sent_to` is of no interest here.
        drop(Engine::broadcast(self, to, blob).await);
    }

    fn subscribe(&self, blob: &Blob) -> impl Future<Output = bool> + Send + 'static {
        let subscription = self.buffer().subscribe(blob.digest());
        async move { subscription.await.is_ok() }
    }

    fn cached(&self) -> usize {
        self.buffer().stats().cached
    }

    fn stats(&self) -> EngineStats {
        Engine::stats(self)
    }

    async fn shutdown(&self) {
        Engine::shutdown(self).await;
    }
}

/// A node on the commonware drop-in: its mailbox and its engine's task.
#[cfg(feature = "commonware")]
#[derive(Clone)]
struct CommonwareNode {
    mailbox: cw::Mailbox<ed25519::PublicKey, cw::Blob>,
    handle: Arc<commonware_runtime::Handle<()>>,
}

#[cfg(feature = "commonware")]
impl Node<ed25519::PublicKey> for CommonwareNode {
    async fn broadcast(&self, to: Recipients<ed25519::PublicKey>, blob: Blob) {
        let to = match to {
            Recipients::All => commonware_p2p::Recipients::All,
            Recipients::Some(peers) => commonware_p2p::Recipients::Some(peers),
            Recipients::One(peer) => commonware_p2p::Recipients::One(peer),
        };
        drop(self.mailbox.broadcast(to, cw::Blob(blob)).await);
    }

    fn subscribe(&self, blob: &Blob) -> impl Future<Output = bool> + Send + 'static {
        let mailbox = self.mailbox.clone();
        let digest = shardcast::Message::digest(blob).into();
        async move { mailbox.subscribe(digest).await.await.is_ok() }
    }

    fn cached(&self) -> usize {
        self.mailbox.buffer().stats().cached
    }

    fn stats(&self) -> EngineStats {
        self.mailbox.stats()
    }

    async fn shutdown(&self) {
        // Aborting the engine's task closes its buffer, which cancels every pending
        // subscription: wait for that, on one that can never be served.
        let closed = self
            .mailbox
            .subscribe(commonware_cryptography::Digestible::digest(&cw::Blob::new(
                &b"never sent"[..],
            )))
            .await;
        self.handle.abort();
        let _ = closed.await;
    }
}

/// Runs the traffic on started engines (`ids[i]` is `engines[i]`'s id) and prints the table:
/// every node subscribes to everything it expects, broadcasts its own messages, re-sends what
/// did not arrive, and the run ends with a report. Returns whether delivery was full.
async fn run_cluster<P, N>(args: &DemoArgs, engines: Vec<N>, ids: Vec<P>) -> Result<bool, String>
where
    P: shardcast::Peer,
    N: Node<P>,
{
    let traffic = Traffic::new(args, engines.len());
    let collectors = subscribe_all(&engines, &traffic);
    broadcast_all(&engines, &traffic).await?;
    let (rounds, resident_max) = resend_until_delivered(args, &engines, &ids, &traffic).await;
    let elapsed = traffic.shared.start.elapsed();
    traffic.progress.finish_and_clear();
    let stats: Vec<EngineStats> = engines.iter().map(Node::stats).collect();
    for engine in &engines {
        engine.shutdown().await;
    }
    // Subscriptions still pending end with their node (Closed, or Canceled on commonware).
    for collector in collectors {
        let _ = collector.await;
    }
    Ok(report(
        args,
        &traffic,
        &stats,
        &resident_max,
        rounds,
        elapsed,
    ))
}

/// What every node sends, and what arrived where and when.
struct Traffic {
    /// `blobs[origin][index]`.
    blobs: Arc<Vec<Vec<Blob>>>,
    shared: Arc<Shared>,
    /// Deliveries expected: every node gets every other node's messages.
    expected: u64,
    progress: ProgressBar,
}

impl Traffic {
    fn new(args: &DemoArgs, nodes: usize) -> Self {
        let messages = args.messages as usize;
        let blobs = (0..nodes as u32)
            .map(|node| {
                (0..messages as u64)
                    .map(|i| Blob::new(payload(args.seed, node, i, args.payload as usize)))
                    .collect()
            })
            .collect();
        let shared = Shared {
            start: Instant::now(),
            nodes,
            messages,
            sent_at: (0..nodes * messages).map(|_| AtomicU64::new(0)).collect(),
            delivered: (0..nodes * nodes * messages)
                .map(|_| AtomicBool::new(false))
                .collect(),
            latencies: (0..nodes).map(|_| Mutex::new(Vec::new())).collect(),
        };
        let expected = (nodes * (nodes - 1) * messages) as u64;
        let progress = ProgressBar::new(expected).with_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len} deliveries ({per_sec}, eta {eta})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        Self {
            blobs: Arc::new(blobs),
            shared: Arc::new(shared),
            expected,
            progress,
        }
    }

    /// Whether `receiver` got `origin`'s message `index`.
    fn arrived(&self, receiver: usize, origin: usize, index: usize) -> bool {
        self.shared.delivered[self.shared.slot(receiver, origin, index)].load(Ordering::Acquire)
    }
}

/// Every node subscribes to every digest it expects, before anything is sent; one collector
/// task per node records arrivals and latencies.
fn subscribe_all<P: shardcast::Peer, N: Node<P>>(
    engines: &[N],
    traffic: &Traffic,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut collectors = Vec::new();
    for (receiver, engine) in engines.iter().enumerate() {
        let mut pending = FuturesUnordered::new();
        for (origin, mine) in traffic.blobs.iter().enumerate() {
            if origin == receiver {
                continue;
            }
            for (index, blob) in mine.iter().enumerate() {
                let sub = engine.subscribe(blob);
                pending.push(async move { (sub.await, origin, index) });
            }
        }
        let shared = traffic.shared.clone();
        let progress = traffic.progress.clone();
        collectors.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(pending.len());
            while let Some((arrived, origin, index)) = pending.next().await {
                if !arrived {
                    continue; // the node stopped first
                }
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
    collectors
}

/// Every node broadcasts its messages to all, as fast as its engine takes them.
async fn broadcast_all<P: shardcast::Peer, N: Node<P>>(
    engines: &[N],
    traffic: &Traffic,
) -> Result<(), String> {
    let broadcasters: Vec<_> = engines
        .iter()
        .enumerate()
        .map(|(origin, engine)| {
            let engine = engine.clone();
            let blobs = traffic.blobs.clone();
            let shared = traffic.shared.clone();
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
    Ok(())
}

/// Re-sends what has not arrived, every `retry_ms`, at most `max_rounds` times, the way an
/// application with acknowledgements would. Returns the rounds run and the most messages each
/// node held at once.
async fn resend_until_delivered<P: shardcast::Peer, N: Node<P>>(
    args: &DemoArgs,
    engines: &[N],
    ids: &[P],
    traffic: &Traffic,
) -> (u32, Vec<usize>) {
    let (nodes, messages) = (engines.len(), args.messages as usize);
    let mut rounds = 0;
    let mut resident_max = vec![0usize; nodes];
    loop {
        tokio::time::sleep(Duration::from_millis(args.retry_ms)).await;
        for (node, engine) in engines.iter().enumerate() {
            resident_max[node] = resident_max[node].max(engine.cached());
        }
        if traffic.progress.position() == traffic.expected || rounds == args.max_rounds {
            return (rounds, resident_max);
        }
        rounds += 1;
        for (origin, engine) in engines.iter().enumerate() {
            for index in 0..messages {
                let missing: Vec<P> = (0..nodes)
                    .filter(|r| *r != origin && !traffic.arrived(*r, origin, index))
                    .map(|r| ids[r].clone())
                    .collect();
                if !missing.is_empty() {
                    let blob = traffic.blobs[origin][index].clone();
                    engine.broadcast(Recipients::Some(missing), blob).await;
                }
            }
        }
    }
}

/// Prints the per-node table and the total; returns whether delivery was full.
fn report(
    args: &DemoArgs,
    traffic: &Traffic,
    stats: &[EngineStats],
    resident_max: &[usize],
    rounds: u32,
    elapsed: Duration,
) -> bool {
    let (nodes, messages) = (stats.len(), args.messages as usize);
    println!(
        "{:>5} {:>15} {:>9} {:>9} {:>9} {:>17} {:>8} {:>9}",
        "node", "delivered", "p50 ms", "p99 ms", "max ms", "resident/bound", "invalid", "duplicate"
    );
    let bound = nodes * args.deque_size;
    let mut all = Vec::new();
    let mut delivered_total = 0u64;
    for (node, stats) in stats.iter().enumerate() {
        let mut latencies = std::mem::take(&mut *traffic.shared.latencies[node].lock().unwrap());
        let got = (0..nodes)
            .flat_map(|origin| (0..messages).map(move |index| (origin, index)))
            .filter(|(origin, index)| *origin != node && traffic.arrived(node, *origin, *index))
            .count() as u64;
        delivered_total += got;
        latencies.sort_unstable();
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
    let expected = traffic.expected;
    println!(
        "total: {delivered_total}/{expected} deliveries in {:.2} s ({:.0} deliveries/s), latency p50 {} ms p99 {} ms max {} ms, {rounds} re-send rounds",
        elapsed.as_secs_f64(),
        delivered_total as f64 / elapsed.as_secs_f64(),
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.99)),
        ms(all.last().copied().unwrap_or(0)),
    );
    if delivered_total == expected {
        println!("full delivery");
        true
    } else {
        println!(
            "INCOMPLETE delivery: {} missing",
            expected - delivered_total
        );
        false
    }
}
