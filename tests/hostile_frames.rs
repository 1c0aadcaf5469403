//! Guarantee 3: malformed and oversized frames. Random bytes, truncated frames, frames with
//! trailing bytes, frames over the engine's maximum, and frames whose length prefix claims a
//! terabyte are each counted as invalid; the engine keeps running and the valid traffic
//! interleaved with them is fully delivered; no frame makes the process allocate anything near
//! what it claims (a counting allocator in this test binary checks the largest allocation).

#[path = "common/node.rs"]
mod node;

use bytes::{BufMut, Bytes, BytesMut};
use shardcast::net::sim::SplitMix;
use shardcast::put_varint;
use shardcast::{Blob, BlobConfig, Codec, Config, EngineConfig, Message};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The system allocator, recording the largest single allocation.
struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MAX_PAYLOAD: usize = 2048;
const MAX_FRAME: usize = 4096;

/// Bad frames of every kind, each rejected by the engine.
fn hostile(seed: u64, valid: &Blob) -> Vec<Bytes> {
    let mut rng = SplitMix::new(seed);
    let mut frames = Vec::new();
    let encoded = valid.to_bytes();
    // Truncated at every length, and with trailing bytes.
    for cut in 0..encoded.len() {
        frames.push(encoded.slice(..cut));
    }
    for extra in 1..4 {
        let mut f = BytesMut::from(&encoded[..]);
        f.put_bytes(0, extra);
        frames.push(f.freeze());
    }
    // Over the engine's maximum frame size (never decoded).
    frames.push(Bytes::from(vec![0u8; MAX_FRAME + 1]));
    frames.push(Bytes::from(vec![0xFFu8; 1 << 20]));
    // Length prefixes claiming far more than the frame holds or the codec allows.
    for claim in [MAX_PAYLOAD as u64 + 1, 1 << 20, 1 << 40, u64::MAX] {
        let mut f = BytesMut::new();
        put_varint(&mut f, claim);
        f.put_slice(b"tiny");
        frames.push(f.freeze());
    }
    // Overlong and over-64-bit varints.
    frames.push(Bytes::from_static(b"\x80\x00"));
    frames.push(Bytes::from_static(
        b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f",
    ));
    // Random bytes of random lengths. (A random frame decodes only if its prefix happens to
    // state its exact remaining length: drop those, they are not garbage.)
    while frames.len() < 400 {
        let len = (rng.next_u64() % 200) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        let frame = Bytes::from(bytes);
        if Blob::decode(
            frame.clone(),
            &BlobConfig {
                max_payload: MAX_PAYLOAD,
            },
        )
        .is_err()
        {
            frames.push(frame);
        }
    }
    frames
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_frames_are_counted_and_valid_traffic_flows() {
    let (tx, rx) = shardcast::net::channel::bounded(256);
    let mut config = EngineConfig::new(BlobConfig {
        max_payload: MAX_PAYLOAD,
    });
    config = config.with_max_frame_size(MAX_FRAME);
    let engine = node::start::<Blob>(Config::new(512), config, vec![0, 1, 2], rx);
    let buffer = engine.buffer().clone();

    let valid: Vec<Blob> = (0..200u32)
        .map(|i| Blob::new(format!("valid message {i}").into_bytes()))
        .collect();
    let subs: Vec<_> = valid.iter().map(|m| buffer.subscribe(m.digest())).collect();
    // Frames are built before the measured phase: only what the engine allocates counts.
    let mut script = Vec::new();
    let mut bad = 0u64;
    for (i, message) in valid.iter().enumerate() {
        let garbage = hostile(i as u64, message);
        bad += garbage.len() as u64;
        for frame in garbage {
            script.push(((i % 2) as u32 + 1, frame));
        }
        script.push((1, message.to_bytes()));
    }
    let largest_frame = script.iter().map(|(_, f)| f.len()).max().unwrap();

    LARGEST.store(0, Ordering::Relaxed);
    let producer = std::thread::spawn(move || {
        for item in script {
            tx.send(item).unwrap();
        }
        tx
    });
    for (sub, expected) in subs.into_iter().zip(&valid) {
        let got = tokio::time::timeout(Duration::from_secs(60), sub)
            .await
            .expect("delivered")
            .expect("open");
        assert_eq!(&got, expected);
    }
    // A subscriber is served inside the insert, before the frame is counted: wait until every
    // frame is.
    tokio::time::timeout(Duration::from_secs(60), async {
        while engine.stats().invalid + engine.stats().received < bad + valid.len() as u64 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("every bad frame counted");
    let largest = LARGEST.load(Ordering::Relaxed);
    let _tx = producer.join().unwrap();
    eprintln!("figure: {bad} bad frames rejected; largest allocation meanwhile: {largest} bytes");

    let stats = engine.stats();
    assert_eq!(stats.invalid, bad, "each bad frame counted once");
    assert_eq!(stats.added, valid.len() as u64);
    assert_eq!(stats.panicked, 0);
    assert!(!engine.is_shut_down());
    assert!(
        largest < 256 * 1024,
        "largest allocation while handling hostile frames: {largest} bytes (largest frame {largest_frame})"
    );
    buffer.check_invariants();
    engine.shutdown().await;
}
