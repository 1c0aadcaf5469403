//! The receive path, on the public API (`Engine::start` over `net::channel`, on a
//! multi-threaded runtime): each peer's frames are inserted in the order the receiver yielded
//! them, for any number of workers; a flooding peer does not starve another; what waits for the
//! workers stays within its byte budget.
//!
//! `cargo test --release --test receive_path -- --nocapture` prints the figures.

#[path = "common/node.rs"]
mod node;

use bytes::Bytes;
use shardcast::{Blob, BlobConfig, Codec, Config, Engine, EngineConfig, Message};
use std::collections::HashMap;
use std::time::Duration;

type Frames = shardcast::net::channel::FrameSender<u32>;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

fn engine(deque: usize, workers: usize, primary: Vec<u32>) -> (Engine<u32, Blob>, Frames) {
    engine_with(deque, workers, primary, |config| config)
}

fn engine_with(
    deque: usize,
    workers: usize,
    primary: Vec<u32>,
    configure: impl FnOnce(EngineConfig<BlobConfig>) -> EngineConfig<BlobConfig>,
) -> (Engine<u32, Blob>, Frames) {
    let (tx, rx) = shardcast::net::channel::unbounded();
    let config = configure(
        EngineConfig::new(BlobConfig {
            max_payload: 4 << 20,
        })
        .with_workers(workers),
    );
    (
        node::start(Config::new(deque).with_shards(16), config, primary, rx),
        tx,
    )
}

/// A distinct blob of `len` bytes for (peer, seq).
fn blob(peer: u32, seq: u64, len: usize) -> Blob {
    let mut bytes = vec![0u8; len.max(12)];
    bytes[..4].copy_from_slice(&peer.to_le_bytes());
    bytes[4..12].copy_from_slice(&seq.to_le_bytes());
    Blob::new(bytes)
}

/// Waits (yielding, on the counter) until the engine has handled (or shed) `frames` frames.
async fn handled(engine: &Engine<u32, Blob>, frames: u64) {
    tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let stats = engine.stats();
            if stats.received + stats.invalid + stats.shed >= frames {
                break;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("every frame handled");
}

/// One peer sends a burst of 128 frames of 64 KiB; once the reader has taken the burst, one
/// more frame alone. That last frame must end up the peer's newest digest: before frames were
/// routed by peer, it could be handled while a worker still held part of the burst, and then
/// be evicted by older frames.
#[test]
fn a_lone_frame_after_a_burst_is_the_newest() {
    let runtime = runtime();
    for workers in [1, 2, 4] {
        for round in 0..40u64 {
            runtime.block_on(async {
                let (engine, frames) = engine(8, workers, vec![1]);
                for seq in 0..128 {
                    frames.send((1, blob(1, seq, 64 << 10).to_bytes())).unwrap();
                }
                // The reader has taken the whole burst off the channel.
                while !frames.is_empty() {
                    tokio::task::yield_now().await;
                }
                let last = blob(1, 1_000 + round, 64 << 10);
                frames.send((1, last.to_bytes())).unwrap();
                handled(&engine, 129).await;
                let newest = engine.buffer().peer_digests(&1).unwrap();
                assert_eq!(
                    newest.first(),
                    Some(&last.digest()),
                    "workers {workers}, round {round}: the last frame is not the newest"
                );
                assert_eq!(newest.len(), 8);
                engine.shutdown().await;
            });
        }
    }
}

/// Many peers, interleaved, with re-sent frames: every peer's deque is exactly its last
/// `deque_size` distinct frames, newest first, whatever the number of workers. Each worker
/// may hold the whole burst, so that none is ever full and nothing is shed.
#[test]
fn every_peers_deque_holds_its_last_frames_in_arrival_order() {
    const PEERS: u32 = 32;
    const PER_PEER: u64 = 400;
    const DEQUE: usize = 8;
    let runtime = runtime();
    for workers in [1, 2, 4] {
        runtime.block_on(async {
            let (engine, frames) = engine_with(DEQUE, workers, (0..PEERS).collect(), |config| {
                config.with_frame_queue(PEERS as usize * PER_PEER as usize * 2)
            });
            // What each peer sent, in order; a re-send of a recent frame moves it to the front.
            let mut sent: HashMap<u32, Vec<[u8; 32]>> = HashMap::new();
            let mut state = 0x9e37_79b9_u64 ^ workers as u64;
            let mut next = |bound: u64| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (state >> 33) % bound
            };
            let mut seqs = vec![0u64; PEERS as usize];
            let mut total = 0u64;
            while seqs.iter().any(|s| *s < PER_PEER) {
                let peer = next(u64::from(PEERS)) as u32;
                let seq = &mut seqs[peer as usize];
                if *seq >= PER_PEER {
                    continue;
                }
                let history = sent.entry(peer).or_default();
                let frame = if *seq > 4 && next(5) == 0 {
                    // Re-send one of this peer's recent frames.
                    let back = next(4) + 1;
                    blob(peer, *seq - back, 64 + (*seq - back) as usize % 512)
                } else {
                    *seq += 1;
                    blob(peer, *seq - 1, 64 + (*seq - 1) as usize % 512)
                };
                history.push(frame.digest());
                frames.send((peer, frame.to_bytes())).unwrap();
                total += 1;
            }
            handled(&engine, total).await;
            assert_eq!(engine.stats().shed, 0);
            for (peer, history) in &sent {
                let mut expected: Vec<[u8; 32]> = Vec::new();
                for digest in history.iter().rev() {
                    if !expected.contains(digest) {
                        expected.push(*digest);
                    }
                    if expected.len() == DEQUE {
                        break;
                    }
                }
                assert_eq!(
                    engine.buffer().peer_digests(peer).unwrap(),
                    expected,
                    "workers {workers}: peer {peer}'s deque"
                );
            }
            engine.buffer().check_invariants();
            engine.shutdown().await;
        });
    }
}

/// One peer floods; another's messages, sent between the flood's frames, keep arriving while
/// the flood goes on. A peer's frames all go to one worker, so a flood occupies that worker:
/// a peer routed to the same worker waits behind the flood's frames that arrived before its
/// own (first come, first served), a peer routed to another worker does not wait at all.
#[test]
fn a_flooding_peer_does_not_starve_another() {
    const OTHER: u64 = 100;
    let runtime = runtime();
    for workers in [1, 2] {
        runtime.block_on(async {
            let (engine, frames) = engine(16, workers, vec![1, 2]);
            let others: Vec<Blob> = (0..OTHER).map(|i| blob(2, i, 256)).collect();
            let subs: Vec<_> = others
                .iter()
                .map(|b| engine.buffer().subscribe(b.digest()))
                .collect();
            let flood_done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let producer = {
                let (frames, others, flood_done) = (frames.clone(), others.clone(), flood_done.clone());
                std::thread::spawn(move || {
                    let mut seq = 0u64;
                    let mut other = others.into_iter();
                    // The flood goes on until every other message was delivered, at most
                    // 2,000,000 frames.
                    while !flood_done.load(std::sync::atomic::Ordering::Acquire) && seq < 2_000_000 {
                        frames.send((1, blob(1, seq, 256).to_bytes())).unwrap();
                        seq += 1;
                        if seq.is_multiple_of(100)
                            && let Some(b) = other.next()
                        {
                            frames.send((2, b.to_bytes())).unwrap();
                        }
                        while frames.len() > 10_000 {
                            std::thread::yield_now();
                        }
                    }
                    seq
                })
            };
            for sub in subs {
                tokio::time::timeout(Duration::from_secs(120), sub)
                    .await
                    .expect("the other peer's message arrived during the flood")
                    .expect("open");
            }
            let flooding_at_the_end = !producer.is_finished();
            flood_done.store(true, std::sync::atomic::Ordering::Release);
            let flood = producer.join().unwrap();
            assert!(flooding_at_the_end, "workers {workers}: the flood had ended first");
            println!(
                "figure: workers {workers}: all {OTHER} messages of the other peer delivered during a flood of {flood} frames"
            );
            engine.shutdown().await;
        });
    }
}

/// A flood of maximum-size frames (4 MiB), all ready at once, far faster than they decode:
/// what waits for the workers never exceeds the byte budget (16 MiB here), and every frame
/// is handled or, when its worker was full while the other one was idle, shed.
#[test]
fn queued_bytes_stay_within_the_budget_under_a_flood_of_large_frames() {
    const FRAME: usize = 4 << 20;
    const BUDGET: usize = 16 << 20;
    const COUNT: u64 = 48;
    let runtime = runtime();
    let flood: Vec<(u32, Bytes)> = (0..COUNT)
        .map(|seq| {
            let peer = 1 + (seq % 2) as u32;
            (peer, blob(peer, seq, FRAME - 8).to_bytes())
        })
        .collect();
    runtime.block_on(async {
        let (engine, frames) = engine_with(4, 2, vec![1, 2], |mut config| {
            config = config.with_max_queued_bytes(BUDGET);
            config
        });
        let producer = std::thread::spawn(move || {
            for frame in flood {
                frames.send(frame).unwrap();
            }
            frames
        });
        handled(&engine, COUNT).await;
        drop(producer.join().unwrap());
        let stats = engine.stats();
        println!(
            "figure: {COUNT} frames of {} MiB: peak queued {} bytes ({:.1} MiB), budget {BUDGET} bytes",
            FRAME >> 20,
            stats.queued_bytes_peak,
            stats.queued_bytes_peak as f64 / (1 << 20) as f64
        );
        assert!(stats.queued_bytes_peak <= BUDGET as u64, "{stats:?}");
        assert!(stats.queued_bytes_peak > 0);
        assert_eq!(stats.queued_bytes, 0);
        assert_eq!(stats.received + stats.shed, COUNT);
        engine.shutdown().await;
    });
}

/// Regression (found by the `engine_frames` fuzz target): frames over `max_frame_size` were
/// parked and queued before their worker rejected them, so they counted against the byte
/// budget, and the queue could hold several of them beyond it. They are now rejected by the
/// reader and never queued.
#[test]
fn frames_over_the_frame_limit_are_never_queued() {
    const COUNT: u64 = 64;
    let runtime = runtime();
    runtime.block_on(async {
        let (engine, frames) = engine_with(4, 2, vec![1, 2], |config| {
            config.with_max_frame_size(1024).with_max_queued_bytes(4096)
        });
        // Sent before the engine's reader can take them one by one: they arrive in batches.
        for seq in 0..COUNT {
            let peer = 1 + (seq % 2) as u32;
            frames
                .send((peer, blob(peer, seq, 64 << 10).to_bytes()))
                .unwrap();
        }
        handled(&engine, COUNT).await;
        let stats = engine.stats();
        assert_eq!(stats.invalid, COUNT, "{stats:?}");
        assert_eq!(stats.shed, 0, "{stats:?}");
        assert_eq!(stats.queued_bytes_peak, 0, "{stats:?}");
        engine.shutdown().await;
    });
}

/// Closed, decoding the flood peer's frames waits: its worker stays busy for as long as the
/// test needs, with no timing involved.
static GATE: (std::sync::Mutex<bool>, std::sync::Condvar) =
    (std::sync::Mutex::new(true), std::sync::Condvar::new());

/// The peer whose frames wait at the gate.
const FLOODER: u32 = 1;

fn set_gate(closed: bool) {
    *GATE.0.lock().unwrap() = closed;
    GATE.1.notify_all();
}

/// Opens the gate when dropped, so that a failing test does not leave a worker blocked.
struct OpenOnDrop;

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        set_gate(false);
    }
}

/// A [`Blob`] whose decode, for [`FLOODER`]'s frames, waits while the gate is closed.
#[derive(Clone, Debug)]
struct Gated(Blob);

impl Message for Gated {
    type Digest = [u8; 32];
    fn digest(&self) -> [u8; 32] {
        self.0.digest()
    }
    fn size(&self) -> usize {
        self.0.size()
    }
}

impl Codec for Gated {
    type Config = BlobConfig;
    fn encode(&self, buf: &mut bytes::BytesMut) {
        self.0.encode(buf);
    }
    fn read(buf: &mut Bytes, config: &BlobConfig) -> Result<Self, shardcast::DecodeError> {
        let blob = Blob::read(buf, config)?;
        if blob.payload()[..4] == FLOODER.to_le_bytes() {
            let mut closed = GATE.0.lock().unwrap();
            while *closed {
                closed = GATE.1.wait(closed).unwrap();
            }
        }
        Ok(Self(blob))
    }
}

/// A sustained flood of 64 KiB frames from one peer, at 2 workers, whose worker cannot keep
/// up (it is held on the flood's first frame): a frame from a quiet peer routed to the other
/// worker, sent in the middle of the flood, is inserted while the flood is still queued. The
/// flood's worker holds its share of the budget; what it had no room for was shed (counted),
/// and what it did take is inserted in the order sent. Before frames were shed, the reader
/// waited on the flooded worker and the quiet frame stayed behind the flood in the receiver.
#[test]
fn a_quiet_peers_frame_passes_a_flood_that_fills_its_worker() {
    const FRAME: usize = 64 << 10;
    const BUDGET: usize = 1 << 20;
    const DEQUE: usize = 16;
    let runtime = runtime();
    runtime.block_on(async {
        set_gate(true);
        let _open = OpenOnDrop;
        let (tx, rx) = shardcast::net::channel::unbounded();
        let engine: Engine<u32, Gated> = node::start(
            Config::new(DEQUE).with_shards(16),
            EngineConfig::new(BlobConfig {
                max_payload: 4 << 20,
            })
            .with_workers(2)
            .with_max_queued_bytes(BUDGET),
            (1..16).collect(),
            rx,
        );
        let quiet = (2..16)
            .find(|peer| engine.worker_of(peer) != engine.worker_of(&FLOODER))
            .expect("a peer routed to the other worker");
        let message = blob(quiet, 0, 256);
        let arrived = engine.buffer().subscribe(message.digest());
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let producer = {
            let (tx, stop, message) = (tx.clone(), stop.clone(), message.clone());
            std::thread::spawn(move || {
                let mut seq = 0u64;
                // The flood goes on until the quiet frame arrived (at most 1,000,000 frames),
                // never more than 256 frames ahead of the reader.
                while !stop.load(std::sync::atomic::Ordering::Acquire) && seq < 1_000_000 {
                    tx.send((FLOODER, blob(FLOODER, seq, FRAME).to_bytes()))
                        .unwrap();
                    seq += 1;
                    if seq == 64 {
                        tx.send((quiet, message.to_bytes())).unwrap();
                    }
                    while tx.len() > 256 {
                        std::thread::yield_now();
                    }
                }
                seq
            })
        };
        tokio::time::timeout(Duration::from_secs(30), arrived)
            .await
            .expect("the quiet peer's frame was inserted while the flood's worker was held")
            .expect("open");
        let during = engine.stats();
        let still_flooding = !producer.is_finished();
        stop.store(true, std::sync::atomic::Ordering::Release);
        let flood = producer.join().unwrap();
        assert!(still_flooding, "the flood had ended first");
        // The flood is still queued: its worker holds its share, and has inserted nothing.
        assert!(during.queued_bytes >= FRAME as u64, "{during:?}");
        assert!(during.queued_bytes_peak <= BUDGET as u64, "{during:?}");
        assert_eq!(during.added, 1, "{during:?}");
        assert!(during.shed > 0, "{during:?}");
        assert_eq!(engine.buffer().peer_digests(&FLOODER), None);

        set_gate(false);
        tokio::time::timeout(Duration::from_secs(120), async {
            loop {
                let stats = engine.stats();
                if stats.received + stats.shed > flood {
                    break;
                }
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("every frame handled or shed");
        let after = engine.stats();
        assert_eq!(after.received + after.shed, flood + 1, "{after:?}");
        assert_eq!(after.invalid, 0);
        // What the flood's worker took is inserted in the order sent: its deque, newest
        // first, holds decreasing sequence numbers.
        let seq_of: HashMap<[u8; 32], u64> = (0..flood)
            .map(|seq| (blob(FLOODER, seq, FRAME).digest(), seq))
            .collect();
        let seqs: Vec<u64> = engine
            .buffer()
            .peer_digests(&FLOODER)
            .expect("the flood's frames taken are cached")
            .iter()
            .map(|digest| seq_of[digest])
            .collect();
        assert_eq!(seqs.len(), DEQUE.min(after.added as usize - 1));
        assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");
        assert!(engine.buffer().contains(&message.digest()));
        engine.buffer().check_invariants();
        println!(
            "figure: a flood of {flood} frames of 64 KiB: the quiet frame passed it; {} frames shed, peak queued {} bytes",
            after.shed, after.queued_bytes_peak
        );
        engine.shutdown().await;
    });
}
