//! What a resident message costs, and what that does to an insert as the deques grow, side by
//! side in one run: shardcast (with `u32` and with ed25519 peers) against the limit, a bare
//! `DashMap<[u8; 32], Blob>` that keeps the same number of messages with a ring of digests (no
//! per-peer order, no refcounts, no waiters, no metrics).
//!
//! `cargo bench -p shardcast-benches --bench footprint [-- --quick]`
//!
//! For each deque size (4 peers, 32-byte payloads): heap bytes per resident message (a
//! counting allocator, payloads excluded: they are allocated before and shared by every
//! structure), and the median ns per insert of a new message into a full structure, with its
//! ratio to deque 16. If the bare map grows as much as shardcast from deque 16 to 8,192, the
//! growth is memory (cache misses on a working set past the caches), not our algorithm.

use commonware_cryptography::ed25519;
use dashmap::DashMap;
use shardcast::{Blob, Buffer, Config, Message};
use shardcast_benches::{PeerKey, median, payload, peer_keys, side_by_side};
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

/// Counts live heap bytes.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const PEERS: usize = 4;

/// The limit: a bare map holding the last `window` messages inserted.
struct Windowed {
    map: DashMap<[u8; 32], Blob>,
    ring: VecDeque<[u8; 32]>,
    window: usize,
}

impl Windowed {
    fn new(window: usize) -> Self {
        Self {
            map: DashMap::new(),
            ring: VecDeque::with_capacity(window + 1),
            window,
        }
    }

    fn insert(&mut self, blob: Blob) {
        let digest = blob.digest();
        self.ring.push_back(digest);
        self.map.insert(digest, blob);
        if self.ring.len() > self.window
            && let Some(old) = self.ring.pop_front()
        {
            self.map.remove(&old);
        }
    }
}

/// A full shardcast buffer (each of the `PEERS` deques holds `deque` messages), the heap bytes
/// it took per resident message, and its keys.
fn shardcast<P: PeerKey>(deque: usize, blobs: &[Blob]) -> (Buffer<P, Blob>, f64, Vec<P>) {
    let keys = peer_keys::<P>(PEERS);
    let before = LIVE.load(Ordering::Relaxed);
    let buffer = Buffer::new(Config::new(deque)).unwrap();
    buffer.update_primary(keys.iter().cloned());
    let fill = deque * PEERS;
    for (i, blob) in blobs[..fill].iter().enumerate() {
        buffer.insert(keys[i % PEERS].clone(), blob.clone());
    }
    let bytes = (LIVE.load(Ordering::Relaxed) - before) as f64 / fill as f64;
    (buffer, bytes, keys)
}

fn limit(deque: usize, blobs: &[Blob]) -> (Windowed, f64) {
    let before = LIVE.load(Ordering::Relaxed);
    let fill = deque * PEERS;
    let mut map = Windowed::new(fill);
    for blob in &blobs[..fill] {
        map.insert(blob.clone());
    }
    let bytes = (LIVE.load(Ordering::Relaxed) - before) as f64 / fill as f64;
    (map, bytes)
}

fn main() {
    let (runs, _) = side_by_side(0);
    let quick = std::env::args().any(|a| a == "--quick");
    let measured = if quick { 20_000 } else { 100_000 };
    let deques = [16usize, 128, 1024, 8192];
    let total = deques.iter().max().unwrap() * PEERS + measured;
    let blobs: Vec<Blob> = (0..total as u64)
        .map(|i| Blob::new(payload((i % PEERS as u64) as u32, i, 32)))
        .collect();
    println!(
        "{PEERS} peers, 32 B payloads; insert = median ns per new message into a full structure over {runs} interleaved runs of {measured}\n"
    );
    println!(
        "| deque | bytes/msg: shardcast | bare map | insert ns: shardcast u32 | shardcast ed25519 | bare map |"
    );
    println!("|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    for &deque in &deques {
        let fill = deque * PEERS;
        let fresh = &blobs[fill..fill + measured];
        let (mut s, mut e, mut l) = (Vec::new(), Vec::new(), Vec::new());
        let (mut s_bytes, mut l_bytes) = (0.0, 0.0);
        for _ in 0..runs {
            let (buffer, bytes, keys) = shardcast::<u32>(deque, &blobs);
            s_bytes = bytes;
            let start = Instant::now();
            for (i, blob) in fresh.iter().enumerate() {
                black_box(buffer.insert(keys[i % PEERS], blob.clone()));
            }
            s.push(start.elapsed().as_nanos() as f64 / measured as f64);
            drop(buffer);

            let (buffer, _, keys) = shardcast::<ed25519::PublicKey>(deque, &blobs);
            let start = Instant::now();
            for (i, blob) in fresh.iter().enumerate() {
                black_box(buffer.insert(keys[i % PEERS].clone(), blob.clone()));
            }
            e.push(start.elapsed().as_nanos() as f64 / measured as f64);
            drop(buffer);

            let (mut map, bytes) = limit(deque, &blobs);
            l_bytes = bytes;
            let start = Instant::now();
            for blob in fresh {
                map.insert(blob.clone());
            }
            l.push(start.elapsed().as_nanos() as f64 / measured as f64);
            black_box(&map);
        }
        let row = (deque, s_bytes, l_bytes, median(s), median(e), median(l));
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} |",
            row.0, row.1, row.2, row.3, row.4, row.5
        );
        rows.push(row);
    }
    let base = rows[0];
    let last = rows[rows.len() - 1];
    println!(
        "\ndeque {} / deque {}: shardcast u32 {:.2}x, shardcast ed25519 {:.2}x, bare map {:.2}x",
        last.0,
        base.0,
        last.3 / base.3,
        last.4 / base.4,
        last.5 / base.5
    );
}
