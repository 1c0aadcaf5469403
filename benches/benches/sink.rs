//! The two metric backends side by side, in one run: the same buffer operations on a buffer
//! reporting through the `metrics` facade (a real Prometheus recorder installed) and on one
//! reporting to a commonware runtime's registry (`shardcast_commonware_2026_4::Engine::new`).
//!
//! `cargo bench -p shardcast-benches --bench sink [-- --quick]`
//!
//! Prints, per operation, the median time per call of each backend over interleaved runs and
//! their ratio (registry / facade): 1.00 means the hot path costs the same whichever backs it.

use commonware_cryptography::{Signer as _, ed25519};
use commonware_runtime::{Metrics as _, Runner as _};
use shardcast::{Blob, BlobConfig, Buffer, Config, Message};
use shardcast_benches::actor::OneSetProvider;
use shardcast_benches::{median, ns_per_call as time, payload, side_by_side};
use shardcast_commonware_2026_4::{Blob as CwBlob, Config as CwConfig, Engine, Options, Wire};
use std::hint::black_box;
use std::sync::Arc;

type Key = ed25519::PublicKey;
const CACHED: usize = 1024;

/// One buffer under test. Both backends cache the same message type (the 2026.4 adapter's
/// `Wire<Blob>`), so that only the metrics backend differs between the two.
struct Under(Arc<Buffer<Key, Wire<CwBlob>>>, Key, Vec<Wire<CwBlob>>);

impl Under {
    fn get(&self, i: usize) -> bool {
        self.0.get(&self.2[i % CACHED].digest()).is_some()
    }
    fn insert(&self, i: usize) {
        black_box(
            self.0
                .insert(self.1.clone(), self.2[i % self.2.len()].clone()),
        );
    }
}

fn main() {
    let (runs, n) = side_by_side(2_000_000);
    let runner = commonware_runtime::deterministic::Runner::default();
    runner.start(|context| async move {
        let key = ed25519::PrivateKey::from_seed(0).public_key();
        let blobs: Vec<Wire<CwBlob>> = (0..CACHED * 8)
            .map(|i| Wire::new(CwBlob(Blob::new(payload(0, i as u64, 32)))))
            .collect();

        let facade = Arc::new(Buffer::new(Config::new(CACHED)).unwrap());
        facade.update_primary([key.clone()]);
        let (_engine, mailbox) = Engine::with_options(
            context.with_label("bench"),
            CwConfig {
                public_key: key.clone(),
                mailbox_size: 1024,
                deque_size: CACHED,
                priority: false,
                codec_config: BlobConfig::default(),
                peer_provider: OneSetProvider::new(vec![key.clone()]),
            },
            Options::default().with_peer_metrics(false),
        );
        let registry = mailbox.buffer().clone();
        registry.update_primary([key.clone()]);
        for blob in &blobs[..CACHED] {
            facade.insert(key.clone(), blob.clone());
            registry.insert(key.clone(), blob.clone());
        }
        let facade = Under(facade, key.clone(), blobs.clone());
        let registry = Under(registry, key, blobs);

        println!(
            "metric backends side by side ({runs} interleaved runs of {n} calls, median ns/call)\n"
        );
        println!("| operation | facade | registry | registry / facade |");
        println!("|---|---|---|---|");
        type Op = fn(&Under, usize);
        let ops: [(&str, Op); 2] = [
            ("get hit", |u, i| {
                black_box(u.get(i));
            }),
            ("insert (new + eviction, deque 1,024)", |u, i| u.insert(i)),
        ];
        for (name, op) in ops {
            let (mut f, mut r) = (Vec::new(), Vec::new());
            for _ in 0..runs {
                f.push(time(n, |i| op(&facade, i)));
                r.push(time(n, |i| op(&registry, i)));
            }
            let (f, r) = (median(f), median(r));
            println!("| {name} | {f:.1} | {r:.1} | {:.2} |", r / f);
        }
        let lines = context
            .encode()
            .lines()
            .filter(|l| l.starts_with("bench_get_total"))
            .count();
        assert_eq!(lines, 2, "the registry buffer reported its gets");
    });
}
