#![allow(missing_docs)] // criterion_group! generates undocumented items
//! Criterion micro-benchmarks of single operations: shardcast's `get`, `insert` (new and
//! duplicate) at several deque sizes with `u32` and with ed25519 peer keys, beside a bare
//! `DashMap`.

use commonware_cryptography::ed25519;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use dashmap::DashMap;
use shardcast::{Blob, Buffer, Config, Message};
use shardcast_benches::{PeerKey, payload};
use std::hint::black_box;

fn get(c: &mut Criterion) {
    let mut group = c.benchmark_group("get");
    let blobs: Vec<Blob> = (0..512).map(|i| Blob::new(payload(1, i, 32))).collect();
    let buffer = Buffer::<u32, Blob>::new(Config::new(512)).unwrap();
    buffer.update_primary([1]);
    let map = DashMap::new();
    for b in &blobs {
        buffer.insert(1, b.clone());
        map.insert(b.digest(), b.clone());
    }
    let digests: Vec<[u8; 32]> = blobs.iter().map(Message::digest).collect();
    let mut i = 0;
    group.bench_function("shardcast hit", |b| {
        b.iter(|| {
            i = (i + 1) % 512;
            black_box(buffer.get(&digests[i]))
        })
    });
    group.bench_function("dashmap hit", |b| {
        b.iter(|| {
            i = (i + 1) % 512;
            black_box(map.get(&digests[i]).map(|r| r.value().clone()))
        })
    });
    let missing = Blob::new(payload(2, 0, 32)).digest();
    group.bench_function("shardcast miss", |b| {
        b.iter(|| black_box(buffer.get(&missing)))
    });
    group.finish();
}

fn insert(c: &mut Criterion) {
    insert_with::<u32>(c);
    insert_with::<ed25519::PublicKey>(c);
}

fn insert_with<P: PeerKey>(c: &mut Criterion) {
    let mut group = c.benchmark_group(format!("insert, {} peer", P::NAME));
    let peer = P::nth(1);
    for deque in [16usize, 128, 1024, 8192] {
        let filled = || {
            let buffer = Buffer::<P, Blob>::new(Config::new(deque)).unwrap();
            buffer.update_primary([peer.clone()]);
            buffer
        };
        let resident: Vec<Blob> = (0..deque as u64)
            .map(|i| Blob::new(payload(1, i, 32)))
            .collect();
        let buffer = filled();
        for b in &resident {
            buffer.insert(peer.clone(), b.clone());
        }
        let fresh: Vec<Blob> = (0..4096u64).map(|i| Blob::new(payload(3, i, 32))).collect();
        let mut i = 0;
        group.bench_with_input(BenchmarkId::new("new", deque), &deque, |b, _| {
            b.iter(|| {
                i = (i + 1) % fresh.len();
                black_box(buffer.insert(peer.clone(), fresh[i].clone()))
            })
        });
        let buffer = filled();
        for b in &resident {
            buffer.insert(peer.clone(), b.clone());
        }
        let mut j = 0;
        group.bench_with_input(BenchmarkId::new("duplicate", deque), &deque, |b, _| {
            b.iter(|| {
                j = (j + 1) % deque;
                black_box(buffer.insert(peer.clone(), resident[j].clone()))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, get, insert);
criterion_main!(benches);
