//! (c) Arbitrary frames from arbitrary peers into an engine routed over 2 workers, with a byte
//! budget and a frame queue drawn from the input (so frames are parked, shed and held back):
//! every frame is counted exactly once (received, invalid or shed), nothing panics, the queued
//! bytes stay within the budget plus one frame per worker, the engine keeps delivering, and the
//! buffer's invariants hold.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;

#[allow(dead_code, unused_imports)]
#[path = "../../tests/common/node.rs"]
mod node;

use bytes::Bytes;
use shardcast::{Blob, BlobConfig, Codec, Config, EngineConfig, Message};

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(budget) = u.int_in_range(1..=8192usize) else { return };
    let Ok(frame_queue) = u.int_in_range(1..=16usize) else { return };
    let mut frames: Vec<(u32, Bytes)> = Vec::new();
    while frames.len() < 64 {
        let Ok(peer) = u.int_in_range(0..=5u32) else { break };
        let Ok(bytes) = <&[u8]>::arbitrary(&mut u) else { break };
        frames.push((peer, Bytes::copy_from_slice(bytes)));
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    runtime.block_on(async {
        let (tx, rx) = shardcast::net::channel::unbounded();
        let config = EngineConfig::new(BlobConfig { max_payload: 512 })
            .with_workers(2)
            .with_max_frame_size(1024)
            .with_max_queued_bytes(budget)
            .with_frame_queue(frame_queue);
        let engine = node::start::<Blob>(Config::new(3), config, vec![0, 1, 2], rx);
        let count = frames.len() as u64;
        for frame in frames {
            tx.send(frame).unwrap();
        }
        let handled = |stats: shardcast::EngineStats| stats.received + stats.invalid + stats.shed;
        while handled(engine.stats()) < count {
            tokio::task::yield_now().await;
        }
        // A sentinel from a primary peer, sent once the others are handled, must get through.
        let sentinel = Blob::new(&b"sentinel after the fuzzed frames"[..]);
        let sub = engine.buffer().subscribe(sentinel.digest());
        tx.send((1, sentinel.to_bytes())).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(10), sub)
            .await
            .expect("sentinel delivered")
            .expect("the buffer is open");
        let stats = engine.stats();
        assert_eq!(handled(stats), count + 1, "{stats:?}");
        assert_eq!(stats.panicked, 0);
        // The budget, plus at most one frame (1 KiB) per worker beyond its share.
        assert!(stats.queued_bytes_peak <= (2 * budget.div_ceil(2) + 2 * 1024) as u64, "{stats:?}");
        engine.buffer().check_invariants();
        engine.shutdown().await;
    });
});
