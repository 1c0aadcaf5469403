//! (c) Arbitrary frames from arbitrary peers into an engine: every frame is either received or
//! counted invalid, nothing panics, the engine keeps delivering, and the buffer's invariants hold.
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
            .with_max_frame_size(1024);
        let engine = node::start::<Blob>(Config::new(3), config, vec![0, 1, 2], rx);
        let count = frames.len() as u64;
        for frame in frames {
            tx.send(frame).unwrap();
        }
        // A sentinel from a primary peer must still get through.
        let sentinel = Blob::new(&b"sentinel after the fuzzed frames"[..]);
        let sub = engine.buffer().subscribe(sentinel.digest());
        tx.send((1, sentinel.to_bytes())).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(10), sub)
            .await
            .expect("sentinel delivered")
            .expect("the buffer is open");
        while engine.stats().received + engine.stats().invalid < count + 1 {
            tokio::task::yield_now().await;
        }
        let stats = engine.stats();
        assert_eq!(stats.received + stats.invalid, count + 1);
        assert_eq!(stats.panicked, 0);
        engine.buffer().check_invariants();
        engine.shutdown().await;
    });
});
