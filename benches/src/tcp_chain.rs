//! The marshal chain on the tokio runtime over commonware-p2p's authenticated network on
//! 127.0.0.1, with shardcast and with the reference's `buffered` engine as the block buffer,
//! one after the other in one process: validators proposing in turn through marshal, blocks
//! finalized with real certificates. Run by `benches/chain.rs` and by the demo binary's `chain`
//! subcommand.
//!
//! For each buffer it reports the latency from a block's proposal to every validator's
//! application holding it (p50, p99) and the CPU time the process used.

use crate::chain::{
    App, Backfill, Blk, Key, S, Seat, cpu_seconds, fixture, propose_and_finalize, reached,
    start_marshal,
};
use commonware_broadcast::buffered;
use commonware_consensus::marshal::core::Mailbox as Marshal;
use commonware_consensus::marshal::standard::Standard;
use commonware_consensus::types::Height;
use commonware_cryptography::{Digestible, Hasher, Sha256};
use commonware_p2p::authenticated::lookup;
use commonware_p2p::{Address, AddressableManager as _};
use commonware_runtime::{Clock, Metrics as _, Quota, Runner as _, tokio as cw};
use commonware_utils::ordered::Map;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

const RESOLVER_CHANNEL: u64 = 1;
const BUFFER_CHANNEL: u64 = 2;

/// The block buffer a chain runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// shardcast's commonware engine, through `shardcast_commonware_2026_4::marshal::buffer_for_marshal`.
    Shardcast,
    /// The reference: commonware-broadcast 2026.4.0's `buffered::Engine`.
    Reference,
}

/// The shape of a chain.
#[derive(Clone, Copy, Debug)]
pub struct Opts {
    /// Validators, each with its own network, marshal and buffer.
    pub validators: usize,
    /// Blocks proposed, in turn by the validators.
    pub blocks: u64,
    /// Payload bytes per block.
    pub payload: usize,
}

impl Default for Opts {
    /// 16 validators, 40 blocks of 1 MiB.
    fn default() -> Self {
        Self {
            validators: 16,
            blocks: 40,
            payload: 1 << 20,
        }
    }
}

/// Ports the OS says are free on 127.0.0.1 right now.
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<_> = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// What one chain measured.
#[derive(Clone, Copy, Debug)]
pub struct Figures {
    /// Median latency from a block's proposal to every application holding it, ms.
    pub p50_ms: f64,
    /// The 99th percentile of the same, ms.
    pub p99_ms: f64,
    /// CPU time the process used while the blocks were proposed, s.
    pub cpu_s: f64,
    /// Wall-clock time of the same, s.
    pub wall_s: f64,
    /// Subscriptions (made before each proposal) that the buffer answered.
    pub answered: usize,
    /// Subscriptions made.
    pub subscriptions: usize,
}

/// Runs one chain with `kind` as every validator's buffer, on a fresh tokio runtime with 2
/// worker threads. Panics if a height is not reached within 60 s.
pub fn run(kind: Kind, opts: &Opts) -> Figures {
    let storage =
        std::env::temp_dir().join(format!("shardcast-chain-{kind:?}-{}", std::process::id()));
    let config = cw::Config::new()
        .with_worker_threads(2)
        .with_storage_directory(storage.clone());
    let (validators, blocks, payload) = (opts.validators, opts.blocks, opts.payload);
    let figures = cw::Runner::new(config).start(|mut context| async move {
        let fixture = fixture(&mut context, validators as u32);
        let keys: Vec<Key> = fixture.participants.clone();
        let addrs: Vec<SocketAddr> = free_ports(validators)
            .into_iter()
            .map(|port| SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
            .collect();
        let peers: Map<Key, Address> = keys
            .iter()
            .cloned()
            .zip(addrs.iter().map(|a| Address::from(*a)))
            .collect::<Vec<_>>()
            .try_into()
            .expect("distinct keys");
        let max_message = u32::try_from(payload + 4096).unwrap_or(u32::MAX);
        let mut marshals: Vec<Marshal<S, Standard<Blk>>> = Vec::new();
        let mut apps = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let net_config = lookup::Config::local(
                fixture.private_keys[i].clone(),
                b"shardcast-chain",
                addrs[i],
                max_message,
            );
            let (mut network, mut oracle) =
                lookup::Network::new(context.with_label(&format!("net{i}")), net_config);
            oracle.track(0, peers.clone()).await;
            let quota = Quota::per_second(NonZeroU32::MAX);
            let resolver_channel = network.register(RESOLVER_CHANNEL, quota, 1024);
            let buffer_channel = network.register(BUFFER_CHANNEL, quota, 1024);
            network.start();
            let app = App::default();
            let seat = Seat {
                index: i,
                key,
                scheme: fixture.schemes[i].clone(),
            };
            let backfill = Backfill {
                peer_provider: oracle.clone(),
                blocker: oracle.clone(),
                channel: resolver_channel,
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
                            peer_provider: oracle.clone(),
                        },
                        shardcast_commonware_2026_4::Options::default().with_workers(2),
                    );
                    engine.start(buffer_channel);
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
                            peer_provider: oracle.clone(),
                        },
                    );
                    engine.start(buffer_channel);
                    start_marshal(&context, seat, buffer, app.clone(), backfill, payload).await
                }
            };
            marshals.push(marshal);
            apps.push(app);
        }
        // Let the authenticated connections come up before the first block.
        context.sleep(Duration::from_secs(6)).await;

        let cpu = cpu_seconds();
        let start = Instant::now();
        let (mut latencies, mut answered, mut subscriptions) = (Vec::new(), 0, 0);
        let mut parent = Sha256::hash(b"");
        for h in 1..=blocks {
            let mut bytes = vec![0u8; payload];
            bytes[..8].copy_from_slice(&h.to_le_bytes());
            let block = Blk::new(parent, Height::new(h), bytes);
            parent = block.digest();
            let (got, proposed) = propose_and_finalize(
                &context,
                &mut marshals,
                &fixture.schemes,
                h,
                &block,
                Duration::from_secs(5),
            )
            .await;
            subscriptions += validators - 1;
            answered += got;
            for app in &apps {
                let ok = reached(&context, app, h, Duration::from_secs(60)).await;
                assert!(ok, "{kind:?}: height {h} not reached");
            }
            let last = apps
                .iter()
                .map(|app| app.arrivals.lock().unwrap()[h as usize - 1])
                .max()
                .expect("validators");
            latencies.push(last.duration_since(proposed).as_micros() as u64);
        }
        let wall_s = start.elapsed().as_secs_f64();
        let cpu_s = cpu_seconds() - cpu;
        latencies.sort_unstable();
        let at = |q: f64| shardcast::net::sim::percentile(&latencies, q) as f64 / 1e3;
        Figures {
            p50_ms: at(0.5),
            p99_ms: at(0.99),
            cpu_s,
            wall_s,
            answered,
            subscriptions,
        }
    });
    let _ = std::fs::remove_dir_all(storage);
    figures
}

/// Runs the chain with shardcast, then with the reference, and returns the report: a Markdown
/// table with both rows and their ratios.
pub fn compare(opts: &Opts) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    writeln!(
        out,
        "marshal chain over commonware-p2p's authenticated network on 127.0.0.1 (tokio, 2 worker threads): {} validators, {} blocks of {} bytes\n",
        opts.validators, opts.blocks, opts.payload
    )
    .unwrap();
    let shardcast = run(Kind::Shardcast, opts);
    let reference = run(Kind::Reference, opts);
    writeln!(
        out,
        "| buffer | proposal -> every app, p50 | p99 | CPU | wall | subscriptions answered by the buffer |"
    )
    .unwrap();
    writeln!(out, "|---|---|---|---|---|---|").unwrap();
    for (name, f) in [("shardcast", &shardcast), ("reference", &reference)] {
        writeln!(
            out,
            "| {name} | {:.1} ms | {:.1} ms | {:.2} s | {:.2} s | {}/{} |",
            f.p50_ms, f.p99_ms, f.cpu_s, f.wall_s, f.answered, f.subscriptions
        )
        .unwrap();
    }
    writeln!(
        out,
        "| shardcast / reference | {:.2}x | {:.2}x | {:.2}x | {:.2}x | |",
        shardcast.p50_ms / reference.p50_ms,
        shardcast.p99_ms / reference.p99_ms,
        shardcast.cpu_s / reference.cpu_s,
        shardcast.wall_s / reference.wall_s
    )
    .unwrap();
    out
}
