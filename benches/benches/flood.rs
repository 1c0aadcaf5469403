//! A quiet peer's frame during a flood, side by side in one run: the latency from handing one
//! 256 B frame of a quiet peer to the receiver until its subscriber runs,
//!
//! - with 2 workers and no flood (the baseline),
//! - with 2 workers while another peer, routed to the other worker, floods 64 KiB frames as
//!   fast as the receiver takes them (its worker's share of the byte budget is full: the
//!   reader sheds what it has no room for and passes on),
//! - with 1 worker under the same flood (the quiet peer shares the one worker: it waits behind
//!   the flood's frames that came first, as every peer waits behind the reference's one loop).
//!
//! The engine runs on a tokio runtime of 2 threads, with an 8 MiB byte budget; the flood comes
//! from a thread that keeps at most 256 frames waiting in the receiver. Rounds of the three
//! cases are interleaved; read the ratios to the baseline, not the times (shared machines).
//!
//! `cargo bench -p shardcast-benches --bench flood [-- --quick]`

use shardcast::net::channel::{ChannelReceiver, FrameSender, NullSender, StaticPeerSet};
use shardcast::{Blob, BlobConfig, Buffer, Codec, Config, Engine, EngineConfig, Message};
use shardcast_benches::{median, payload};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const FLOODER: u32 = 1;
const FRAME: usize = 64 << 10;
const BUDGET: usize = 8 << 20;

fn start(workers: usize, frames: ChannelReceiver<u32>) -> Engine<u32, Blob> {
    let buffer = Arc::new(Buffer::new(Config::new(16)).unwrap());
    Engine::start(
        buffer,
        0,
        NullSender,
        frames,
        StaticPeerSet::new((1..16).collect()),
        EngineConfig::new(BlobConfig {
            max_payload: 1 << 20,
        })
        .with_workers(workers)
        .with_max_queued_bytes(BUDGET),
    )
    .unwrap()
}

/// Floods `frames` with 64 KiB frames of [`FLOODER`] until `stop`.
fn flood(frames: FrameSender<u32>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    let pool: Vec<bytes::Bytes> = (0..512u64)
        .map(|seq| Blob::new(payload(FLOODER, seq, FRAME)).to_bytes())
        .collect();
    std::thread::spawn(move || {
        let mut sent = 0u64;
        while !stop.load(Ordering::Acquire) {
            if frames.len() >= 256 {
                std::thread::yield_now();
                continue;
            }
            if frames
                .send((FLOODER, pool[sent as usize % pool.len()].clone()))
                .is_err()
            {
                break;
            }
            sent += 1;
        }
        sent
    })
}

/// One case: `rounds` quiet frames, one at a time; their latencies in µs, sorted, and the
/// frames shed.
async fn case(workers: usize, flooding: bool, rounds: usize, tag: u64) -> (Vec<f64>, u64) {
    let (frames, receiver) = shardcast::net::channel::unbounded();
    let engine = start(workers, receiver);
    let quiet = (2..16)
        .find(|peer| workers == 1 || engine.worker_of(peer) != engine.worker_of(&FLOODER))
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flooder = flooding.then(|| flood(frames.clone(), stop.clone()));
    if flooding {
        // The flood is under way: its worker's share is full.
        while engine.stats().queued_bytes < (BUDGET / workers / 2) as u64 {
            tokio::task::yield_now().await;
        }
    }
    let mut latencies = Vec::with_capacity(rounds);
    for round in 0..rounds as u64 {
        let message = Blob::new(payload(quiet, tag << 32 | round, 256));
        let arrived = engine.buffer().subscribe(message.digest());
        let started = Instant::now();
        frames.send((quiet, message.to_bytes())).unwrap();
        arrived.await.expect("open");
        latencies.push(started.elapsed().as_secs_f64() * 1e6);
        if !flooding {
            // Let the quiet frame's path go idle again, as between two real messages.
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
    stop.store(true, Ordering::Release);
    if let Some(flooder) = flooder {
        flooder.join().unwrap();
    }
    let shed = engine.stats().shed;
    engine.shutdown().await;
    latencies.sort_by(f64::total_cmp);
    (latencies, shed)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (runs, rounds) = if quick { (3, 50) } else { (7, 200) };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cases = [
        ("2 workers, no flood (baseline)", 2, false),
        ("2 workers, flood on the other worker", 2, true),
        ("1 worker, flood (shared worker)", 1, true),
    ];
    let mut p50 = vec![Vec::new(); cases.len()];
    let mut p99 = vec![Vec::new(); cases.len()];
    let mut shed = vec![0u64; cases.len()];
    runtime.block_on(async {
        for run in 0..runs {
            for (i, (_, workers, flooding)) in cases.iter().enumerate() {
                let tag = (run * cases.len() + i) as u64;
                let (latencies, s) = case(*workers, *flooding, rounds, tag).await;
                p50[i].push(percentile(&latencies, 0.5));
                p99[i].push(percentile(&latencies, 0.99));
                shed[i] += s;
            }
        }
    });
    println!(
        "a quiet peer's 256 B frame, {runs} interleaved runs of {rounds} frames each, 64 KiB flood frames, budget 8 MiB, tokio with 2 threads (medians of each run's p50 and p99)\n"
    );
    println!("| case | p50 µs | p99 µs | p50 vs baseline | p99 vs baseline | flood frames shed |");
    println!("|---|---|---|---|---|---|");
    let (base50, base99) = (median(p50[0].clone()), median(p99[0].clone()));
    for (i, (name, _, _)) in cases.iter().enumerate() {
        let (m50, m99) = (median(p50[i].clone()), median(p99[i].clone()));
        println!(
            "| {name} | {m50:.1} | {m99:.1} | {:.2}x | {:.2}x | {} |",
            m50 / base50,
            m99 / base99,
            shed[i]
        );
    }
}
