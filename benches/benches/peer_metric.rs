//! The cost of `peer{sequencer}`, which the commonware drop-in now registers by default as the
//! reference does: ingest (decode a frame, then `Buffer::receive`, the engine worker's two
//! steps) on two buffers built by `shardcast_commonware_2026_4::Engine::with_options`, one with the
//! per-sender counter and one without, interleaved in one run. 32 ed25519 senders, 32-byte
//! and 1 KiB payloads, every sender primary.
//!
//! shardcast formats a sender's label once, when its series is created; afterwards a frame
//! costs one read of a sharded map (keyed by `Ord`) and one counter increment.
//!
//! `cargo bench -p shardcast-benches --bench peer_metric [-- --quick]`

use bytes::Bytes;
use commonware_cryptography::ed25519;
use commonware_runtime::{Metrics as _, Runner as _};
use shardcast::{BlobConfig, Codec};
use shardcast_benches::actor::OneSetProvider;
use shardcast_benches::{PeerKey, median, ns_per_call as time, payload, peer_keys, side_by_side};
use shardcast_commonware_2026_4::Blob;
use shardcast_commonware_2026_4::{Config, Engine, Mailbox, Options, Wire};
use std::hint::black_box;

type Key = ed25519::PublicKey;
const PEERS: usize = 32;
const DEQUE: usize = 64;

fn main() {
    let (runs, n) = side_by_side(1_000_000);
    let runner = commonware_runtime::deterministic::Runner::default();
    runner.start(|context| async move {
        let keys: Vec<Key> = peer_keys::<Key>(PEERS);
        // The engine is kept (never started): dropping it would close the mailbox's buffer, and
        // every frame would then be measured on the ineligible path.
        let build = |label: &str, peer_metrics: bool| {
            let (engine, mailbox) = Engine::with_options(
                context.with_label(label),
                Config {
                    public_key: Key::nth(0),
                    mailbox_size: 1024,
                    deque_size: DEQUE,
                    priority: false,
                    codec_config: BlobConfig::default(),
                    peer_provider: OneSetProvider::new(keys.clone()),
                },
                Options::default().with_peer_metrics(peer_metrics),
            );
            mailbox.buffer().update_primary(keys.iter().cloned());
            (engine, mailbox)
        };
        let (_on_engine, on) = build("on", true);
        let (_off_engine, off) = build("off", false);
        println!(
            "ingest with and without peer{{sequencer}} ({runs} interleaved runs of {n} frames, \
             median ns/frame, {PEERS} ed25519 senders)\n"
        );
        println!("| payload | counter off | counter on | on / off |");
        println!("|---|---|---|---|");
        for len in [32usize, 1024] {
            // Distinct messages, more than the deques hold: every frame is a new insert.
            let frames: Vec<(Key, Bytes)> = (0..(PEERS * DEQUE * 4))
                .map(|i| {
                    let peer = keys[i % PEERS].clone();
                    let blob = Blob::new(payload((i % PEERS) as u32, i as u64, len));
                    (peer, blob.0.to_bytes())
                })
                .collect();
            let config = BlobConfig::default();
            let ingest = |mailbox: &Mailbox<Key, Blob>, i: usize| {
                let (peer, frame) = &frames[i % frames.len()];
                let message = Wire::<Blob>::decode(frame.clone(), &config).unwrap();
                black_box(mailbox.buffer().receive(peer.clone(), message));
            };
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for _ in 0..runs {
                a.push(time(n, |i| ingest(&off, i)));
                b.push(time(n, |i| ingest(&on, i)));
            }
            for mailbox in [&on, &off] {
                let stats = mailbox.buffer().stats();
                assert_eq!(
                    (stats.peers, stats.cached),
                    (PEERS, PEERS * DEQUE),
                    "every frame was measured on the insert path"
                );
            }
            let (a, b) = (median(a), median(b));
            println!("| {len} B | {a:.1} | {b:.1} | {:.3} |", b / a);
        }
        let series = context
            .encode()
            .lines()
            .filter(|l| l.starts_with("on_peer_total{"))
            .count();
        assert_eq!(
            series, PEERS,
            "one series per sender on the buffer with the counter"
        );
        assert!(
            !context.encode().contains("off_peer_total{"),
            "no series without it"
        );
    });
}
