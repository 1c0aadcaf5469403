//! Shared pieces of the benchmarks: the workload (messages and frames), and the glue that feeds
//! the actor engine (`commonware-broadcast` 2026.4.0, `buffered`) in process: a channel-backed
//! `Receiver`, a `Sender` that drops every send, and a `Provider` with one peer set.

pub mod actor;
pub mod chain;
pub mod shard;
pub mod tcp_chain;

use bytes::Bytes;
use commonware_cryptography::{Signer as _, ed25519};
use shardcast::{Blob, Codec};

/// A peer key type the benches run with: `u32` (cheap to compare, hash and clone) and commonware
/// `ed25519::PublicKey`, the key every commonware user has (its `==` compares decompressed
/// curve points in constant time; shardcast keys its maps by `Ord` to stay off it).
pub trait PeerKey: shardcast::Peer {
    /// How the scenario names spell this key type.
    const NAME: &'static str;
    /// The `i`-th key (deterministic).
    fn nth(i: usize) -> Self;
}

impl PeerKey for u32 {
    const NAME: &'static str = "u32";
    fn nth(i: usize) -> Self {
        i as u32
    }
}

impl PeerKey for ed25519::PublicKey {
    const NAME: &'static str = "ed25519";
    fn nth(i: usize) -> Self {
        ed25519::PrivateKey::from_seed(i as u64).public_key()
    }
}

/// Keys `P::nth(0..n)`.
pub fn peer_keys<P: PeerKey>(n: usize) -> Vec<P> {
    (0..n).map(P::nth).collect()
}

/// A deterministic payload of `len` bytes, unique per `(peer, seq)` (needs `len >= 12`).
pub fn payload(peer: u32, seq: u64, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len.max(12)];
    bytes[..4].copy_from_slice(&peer.to_le_bytes());
    bytes[4..12].copy_from_slice(&seq.to_le_bytes());
    let mut state = seq ^ (u64::from(peer) << 32) ^ 0x9e37_79b9_7f4a_7c15;
    for byte in &mut bytes[12..] {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        *byte = (state >> 56) as u8;
    }
    bytes.truncate(len);
    bytes
}

/// `count` frames, `(sender index, encoded message)`, round-robin over `peers` senders, every
/// message distinct. The encoding is the same for shardcast's `Blob` and the actor's message:
/// `varint(len) || payload`.
pub fn frames(peers: usize, count: usize, len: usize, salt: u64) -> Vec<(usize, Bytes)> {
    (0..count)
        .map(|i| {
            let peer = i % peers;
            let seq = (i / peers) as u64 | salt << 40;
            (peer, Blob::new(payload(peer as u32, seq, len)).to_bytes())
        })
        .collect()
}

/// Nanoseconds per call of `op` over `n` calls (for the interleaved side-by-side benches).
pub fn ns_per_call(n: usize, mut op: impl FnMut(usize)) -> f64 {
    let start = std::time::Instant::now();
    for i in 0..n {
        op(i);
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

/// The median of `values` (not empty).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The set-up every interleaved side-by-side bench shares: installs a real Prometheus recorder
/// (metrics cost what they cost in production) and returns how many runs of how many calls to
/// make: 3 runs of 200,000 with `--quick`, else 9 runs of `calls`.
pub fn side_by_side(calls: usize) -> (usize, usize) {
    metrics::set_global_recorder(
        metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder(),
    )
    .expect("no other recorder");
    if std::env::args().any(|a| a == "--quick") {
        (3, 200_000)
    } else {
        (9, calls)
    }
}
