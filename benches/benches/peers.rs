//! The cost of the peer key, side by side in one run: the same inserts and `get`s with `u32`
//! peers and with commonware `ed25519::PublicKey` peers (whose `==` compares decompressed curve
//! points in constant time, where `Ord` compares 32 bytes). A real Prometheus recorder is
//! installed, as in production.
//!
//! `cargo bench -p shardcast-benches --bench peers [-- --quick]`

use commonware_cryptography::{Signer as _, ed25519};
use shardcast::{Blob, Buffer, Config};
use shardcast_benches::{median, ns_per_call, payload, side_by_side};
use std::hint::black_box;
use std::time::Instant;

const PEERS: usize = 4;

fn buffer<P>(peers: &[P], deque: usize) -> Buffer<P, Blob>
where
    P: shardcast::Peer,
{
    let buffer = Buffer::new(Config::new(deque)).unwrap();
    buffer.update_primary(peers.iter().cloned());
    buffer
}

fn main() {
    let (runs, n) = side_by_side(1_000_000);
    let small: Vec<u32> = (0..PEERS as u32).collect();
    let keys: Vec<ed25519::PublicKey> = (0..PEERS as u64)
        .map(|i| ed25519::PrivateKey::from_seed(i).public_key())
        .collect();
    let blobs: Vec<Blob> = (0..65_536u64)
        .map(|i| Blob::new(payload((i % PEERS as u64) as u32, i, 32)))
        .collect();

    // What one comparison costs, for the record.
    let (a, b) = (keys[0].clone(), keys[1].clone());
    let start = Instant::now();
    for _ in 0..1_000_000 {
        black_box(black_box(&a) == black_box(&b));
    }
    let eq = start.elapsed().as_nanos() as f64 / 1e6;
    let start = Instant::now();
    for _ in 0..1_000_000 {
        black_box(black_box(&a).cmp(black_box(&b)));
    }
    let cmp = start.elapsed().as_nanos() as f64 / 1e6;
    println!("ed25519::PublicKey: == {eq:.1} ns, cmp {cmp:.1} ns\n");

    println!("{runs} interleaved runs of {n} calls, {PEERS} peers, median ns/call\n");
    println!("| operation | u32 peers | ed25519 peers | ed25519 / u32 |");
    println!("|---|---|---|---|");
    for (name, deque) in [
        ("insert new, deque 16", 16usize),
        ("insert new, deque 8,192", 8_192),
    ] {
        let (mut u, mut e) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let b = buffer(&small, deque);
            u.push(ns_per_call(n, |i| {
                black_box(b.insert(small[i % PEERS], blobs[i % blobs.len()].clone()));
            }));
            let b = buffer(&keys, deque);
            e.push(ns_per_call(n, |i| {
                black_box(b.insert(keys[i % PEERS].clone(), blobs[i % blobs.len()].clone()));
            }));
        }
        let (u, e) = (median(u), median(e));
        println!("| {name} | {u:.1} | {e:.1} | {:.2} |", e / u);
    }
    // Duplicates: the same 16 digests again and again, each peer's deque already holding them.
    let (mut u, mut e) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let b = buffer(&small, 16);
        let k = buffer(&keys, 16);
        for (i, blob) in blobs[..16 * PEERS].iter().enumerate() {
            b.insert(small[i % PEERS], blob.clone());
            k.insert(keys[i % PEERS].clone(), blob.clone());
        }
        u.push(ns_per_call(n, |i| {
            black_box(b.insert(small[i % PEERS], blobs[i % (16 * PEERS)].clone()));
        }));
        e.push(ns_per_call(n, |i| {
            black_box(k.insert(keys[i % PEERS].clone(), blobs[i % (16 * PEERS)].clone()));
        }));
    }
    let (u, e) = (median(u), median(e));
    println!(
        "| insert duplicate, deque 16 | {u:.1} | {e:.1} | {:.2} |",
        e / u
    );
}
