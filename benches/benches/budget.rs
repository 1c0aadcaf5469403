//! What byte accounting costs, side by side in one run: the same inserts into a buffer with no
//! byte budget, with a budget that never binds, and with one that evicts by bytes on most
//! inserts (a real Prometheus recorder installed, as in production), with `u32` and with
//! ed25519 peer keys.
//!
//! `cargo bench -p shardcast-benches --bench budget [-- --quick]`
//!
//! Prints the median time per insert of each over interleaved runs, and the ratio to the
//! buffer without a budget.

use commonware_cryptography::ed25519;
use shardcast::{Blob, Buffer, Config};
use shardcast_benches::{PeerKey, median, ns_per_call, payload, peer_keys, side_by_side};
use std::hint::black_box;

const PEERS: u32 = 4;

/// A buffer whose deques hold at most `deque` digests, and `budget` bytes when given.
fn buffer<P: PeerKey>(keys: &[P], deque: usize, budget: Option<usize>) -> Buffer<P, Blob> {
    let mut config = Config::new(deque);
    if let Some(limit) = budget {
        config = config.with_peer_bytes(limit);
    }
    let buffer = Buffer::new(config).unwrap();
    buffer.update_primary(keys.iter().cloned());
    buffer
}

/// Median ns per insert for each case, with peer keys `P`, over `runs` interleaved runs.
fn measure<P: PeerKey>(
    cases: &[(&str, Option<usize>)],
    blobs: &[Blob],
    deque: usize,
    runs: usize,
    n: usize,
) -> Vec<f64> {
    let keys = peer_keys::<P>(PEERS as usize);
    let mut results = vec![Vec::new(); cases.len()];
    for _ in 0..runs {
        for (case, (_, budget)) in cases.iter().enumerate() {
            let under = buffer(&keys, deque, *budget);
            results[case].push(ns_per_call(n, |i| {
                let blob = &blobs[i % blobs.len()];
                black_box(under.insert(keys[i % keys.len()].clone(), blob.clone()));
            }));
        }
    }
    results.into_iter().map(median).collect()
}

fn main() {
    let (runs, n) = side_by_side(1_000_000);
    // Blobs of 32 to 1,056 bytes, so that a byte budget binds at different counts.
    let blobs: Vec<Blob> = (0..65_536u64)
        .map(|i| {
            Blob::new(payload(
                (i % u64::from(PEERS)) as u32,
                i,
                32 + (i as usize % 33) * 32,
            ))
        })
        .collect();
    let deque = 16;
    let average = blobs.iter().map(shardcast::Message::size).sum::<usize>() / blobs.len();
    let cases: [(&str, Option<usize>); 3] = [
        ("no budget", None),
        ("budget that never binds", Some(usize::MAX / 4)),
        ("budget binding (8 average messages)", Some(8 * average)),
    ];
    println!(
        "insert of new messages, deque {deque}, {PEERS} peers, {runs} interleaved runs of {n} inserts (median ns/insert)\n"
    );
    println!("| buffer | peers | ns/insert | vs no budget |");
    println!("|---|---|---|---|");
    for (peers, medians) in [
        ("u32", measure::<u32>(&cases, &blobs, deque, runs, n)),
        (
            "ed25519",
            measure::<ed25519::PublicKey>(&cases, &blobs, deque, runs, n),
        ),
    ] {
        for ((name, _), ns) in cases.iter().zip(&medians) {
            println!("| {name} | {peers} | {ns:.1} | {:.2} |", ns / medians[0]);
        }
    }
}
