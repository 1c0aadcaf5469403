//! Hostile load: floods from primary and non-primary peers, the subscription bound, and panics
//! in user code. Meant for release mode (`cargo test --release`).

#[path = "common/node.rs"]
mod node;

use bytes::{Bytes, BytesMut};
use shardcast::{
    Blob, BlobConfig, Buffer, Codec, Config, DecodeError, EngineConfig, Message, SubscribeError,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn blob(peer: u32, seq: u64) -> Blob {
    let mut payload = peer.to_le_bytes().to_vec();
    payload.extend_from_slice(&seq.to_le_bytes());
    payload.resize(32, 0xAB);
    Blob::new(payload)
}

/// Awaits a subscription, failing the test (not hanging it) after a generous bound.
async fn served<M: Message>(sub: shardcast::Subscription<M>) -> M {
    tokio::time::timeout(Duration::from_secs(60), sub)
        .await
        .expect("subscription never served")
        .expect("the buffer is open")
}

/// Guarantee 1: one primary peer floods 1,000,000 distinct messages while three others send at a normal
/// rate: resident messages never exceed |primary| x deque_size (sampled throughout), the others'
/// messages stay cached, and their subscribers are all served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_from_one_primary_peer_stays_bounded_and_spares_the_others() {
    const DEQUE: usize = 64;
    const FLOOD: u64 = 1_000_000;
    const ROUNDS: u64 = 50; // messages from each normal peer (< DEQUE: all stay cached)
    let primary = vec![0, 1, 2, 3, 4];
    let bound = primary.len() * DEQUE;
    let (tx, rx) = shardcast::net::channel::bounded(1024);
    let engine = node::start::<Blob>(
        Config::new(DEQUE),
        EngineConfig::new(BlobConfig::default()),
        primary,
        rx,
    );
    let buffer = engine.buffer().clone();

    let normal: Vec<Blob> = (2..=4u32)
        .flat_map(|peer| (0..ROUNDS).map(move |seq| blob(peer, seq)))
        .collect();
    let subs: Vec<_> = normal
        .iter()
        .map(|m| buffer.subscribe(m.digest()))
        .collect();
    let last_flood = buffer.subscribe(blob(1, FLOOD - 1).digest());

    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (buffer, done) = (buffer.clone(), done.clone());
        std::thread::spawn(move || {
            let (mut samples, mut max) = (0u64, 0usize);
            while !done.load(Ordering::Relaxed) {
                max = max.max(buffer.stats().cached);
                samples += 1;
                std::thread::yield_now();
            }
            (samples, max)
        })
    };
    let producer = std::thread::spawn(move || {
        let every = FLOOD / ROUNDS;
        for seq in 0..FLOOD {
            tx.send((1, blob(1, seq).to_bytes())).unwrap();
            if seq % every == every / 2 {
                for peer in 2..=4 {
                    tx.send((peer, blob(peer, seq / every).to_bytes())).unwrap();
                }
            }
        }
        tx // keep the channel open until the engine is done
    });

    served(last_flood).await;
    for (sub, expected) in subs.into_iter().zip(&normal) {
        assert_eq!(&served(sub).await, expected);
    }
    let _tx = producer.join().unwrap();
    done.store(true, Ordering::Relaxed);
    let (samples, max) = sampler.join().unwrap();
    eprintln!(
        "figure: flood: {FLOOD} messages, {samples} samples, most resident {max} (bound {bound})"
    );

    assert!(
        samples > 100,
        "the sampler ran during the flood ({samples})"
    );
    assert!(max <= bound, "{max} resident > bound {bound}");
    for m in &normal {
        assert!(
            buffer.contains(&m.digest()),
            "a normal peer's message was evicted"
        );
    }
    assert_eq!(buffer.peer_digests(&1).unwrap().len(), DEQUE);
    assert!(engine.stats().received >= FLOOD);
    engine.shutdown().await;
    buffer.check_invariants();
}

/// Guarantee 2: a peer outside the primary set floods: nothing is cached for it, but every subscriber
/// waiting for one of its messages is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_from_non_primary_caches_nothing_and_serves_waiters() {
    const FLOOD: u64 = 100_000;
    let (tx, rx) = shardcast::net::channel::bounded(1024);
    let engine = node::start::<Blob>(
        Config::new(16),
        EngineConfig::new(BlobConfig::default()),
        vec![0, 1],
        rx,
    );
    let buffer = engine.buffer().clone();
    let wanted: Vec<Blob> = (0..FLOOD).step_by(1000).map(|seq| blob(9, seq)).collect();
    let subs: Vec<_> = wanted
        .iter()
        .map(|m| buffer.subscribe(m.digest()))
        .collect();
    let last = buffer.subscribe(blob(9, FLOOD - 1).digest());
    let producer = std::thread::spawn(move || {
        for seq in 0..FLOOD {
            tx.send((9, blob(9, seq).to_bytes())).unwrap();
        }
        tx
    });
    served(last).await;
    for (sub, expected) in subs.into_iter().zip(&wanted) {
        assert_eq!(&served(sub).await, expected);
    }
    let _tx = producer.join().unwrap();
    let stats = buffer.stats();
    assert_eq!(
        (stats.cached, stats.peers),
        (0, 0),
        "nothing cached for a non-primary peer"
    );
    assert_eq!((stats.subscriptions, stats.waiters), (0, 0));
    assert!(engine.stats().ineligible >= wanted.len() as u64);
    engine.shutdown().await;
    buffer.check_invariants();
}

/// Guarantee 4: the subscription bound: `try_subscribe` refuses at the limit (the gauge shows it), a
/// dropped subscription frees its place at once, and a million subscribe/drop cycles leave no
/// registration behind.
#[test]
fn subscription_bound_holds_and_a_million_cycles_leave_nothing() {
    const LIMIT: usize = 1_000;
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let buffer: Buffer<u32, Blob> = metrics::with_local_recorder(&recorder, || {
        Buffer::new(Config::new(4).with_max_subscriptions(Some(LIMIT)))
    })
    .unwrap();
    buffer.update_primary([1]);
    let digests: Vec<[u8; 32]> = (0..=LIMIT as u64).map(|s| blob(7, s).digest()).collect();
    let mut held: Vec<_> = digests[..LIMIT]
        .iter()
        .map(|d| buffer.try_subscribe(*d).expect("below the limit"))
        .collect();
    assert_eq!(
        buffer.try_subscribe(digests[LIMIT]).unwrap_err(),
        SubscribeError::Full { limit: LIMIT }
    );
    assert!(
        handle
            .render()
            .contains(&format!("shardcast_subscriptions {LIMIT}"))
    );
    held.pop();
    held.push(
        buffer
            .try_subscribe(digests[LIMIT])
            .expect("a dropped one frees its place"),
    );
    drop(held);
    assert_eq!(buffer.stats().subscriptions, 0);

    for i in 0..1_000_000u64 {
        let d = digests[(i % digests.len() as u64) as usize];
        drop(buffer.try_subscribe(d).expect("never at the limit"));
    }
    let stats = buffer.stats();
    assert_eq!((stats.subscriptions, stats.waiters), (0, 0));
    assert!(handle.render().contains("shardcast_subscriptions 0"));
    assert!(handle.render().contains("shardcast_waiters 0"));
    buffer.check_invariants();
}

/// A message whose user code panics on demand: `decode` when the payload starts with 0xEE,
/// `digest` with 0xDD, `clone` with 0xCC.
#[derive(Debug, PartialEq, Eq)]
struct Touchy(Blob);

impl Clone for Touchy {
    fn clone(&self) -> Self {
        assert!(self.0.payload()[0] != 0xCC, "clone panicked (on purpose)");
        Self(self.0.clone())
    }
}

impl Message for Touchy {
    type Digest = [u8; 32];
    fn digest(&self) -> [u8; 32] {
        assert!(self.0.payload()[0] != 0xDD, "digest panicked (on purpose)");
        self.0.digest()
    }
}

impl Codec for Touchy {
    type Config = BlobConfig;
    fn encode(&self, buf: &mut BytesMut) {
        self.0.encode(buf);
    }
    fn read(buf: &mut Bytes, config: &BlobConfig) -> Result<Self, DecodeError> {
        let blob = Blob::read(buf, config)?;
        assert!(
            blob.payload()[..1] != [0xEE],
            "decode panicked (on purpose)"
        );
        Ok(Self(blob))
    }
}

/// Guarantee 6: panics in user code (`Codec::decode`, `Message::digest`, and `Clone` under the store's
/// lock) take down neither the engine nor the buffer: no poisoned lock, no stuck worker, no
/// broken invariant; each is counted (`panicked`, `invalid`) and logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_in_user_code_are_contained_and_counted() {
    let (tx, rx) = shardcast::net::channel::unbounded();
    let mut config = EngineConfig::new(BlobConfig::default());
    config = config.with_workers(1); // frames in arrival order
    let engine = node::start::<Touchy>(Config::new(4), config, vec![0, 1], rx);
    let buffer = engine.buffer().clone();
    let touchy = |first: u8, seq: u8| Touchy(Blob::new(vec![first, seq, 1, 2, 3]));

    // A waiter makes the insert clone the message under the store's lock.
    let clone_bomb = touchy(0xCC, 0);
    let waiting = buffer.subscribe(clone_bomb.0.digest());
    let before = touchy(0x01, 0);
    let after = touchy(0x01, 1);
    let last = buffer.subscribe(after.0.digest());
    for frame in [
        before.to_bytes(),
        touchy(0xEE, 0).to_bytes(),
        touchy(0xDD, 0).to_bytes(),
        clone_bomb.to_bytes(),
        after.to_bytes(),
    ] {
        tx.send((1, frame)).unwrap();
    }
    assert_eq!(served(last).await, after);
    // Counters are added once a frame is handled: wait until `after` is counted.
    tokio::time::timeout(Duration::from_secs(60), async {
        while engine.stats().received + engine.stats().invalid < 5 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("every frame counted");
    let stats = engine.stats();
    assert_eq!((stats.panicked, stats.invalid, stats.added), (3, 3, 2));
    assert_eq!(buffer.get(&before.0.digest()), Some(before));
    assert!(!buffer.contains(&clone_bomb.0.digest()));
    // The panicking insert changed nothing it could not finish: the waiter is still
    // registered, the deque lock (poisoned) still works, every invariant holds.
    assert!(!waiting.is_ready());
    assert_eq!(buffer.stats().subscriptions, 1);
    buffer.check_invariants();
    drop(waiting);
    let next = touchy(0x02, 0);
    tx.send((1, next.to_bytes())).unwrap();
    assert_eq!(served(buffer.subscribe(next.0.digest())).await, next);
    buffer.check_invariants();
    engine.shutdown().await;
}

/// One primary peer sends messages of every size from 1 B to 8 MiB (doubling, 20 times over)
/// as fast as it can, through the engine, with a byte budget of 32 MiB per peer: cached bytes,
/// sampled throughout, never exceed |primary| x budget, and another peer's small messages stay
/// cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_mixed_sizes_stays_within_the_byte_budget() {
    const BUDGET: usize = 32 << 20;
    const CYCLES: u64 = 20;
    let primary = vec![1, 2];
    let bound = primary.len() * BUDGET;
    let (tx, rx) = shardcast::net::channel::bounded(64);
    let mut config = EngineConfig::new(BlobConfig {
        max_payload: 8 << 20,
    });
    config = config.with_workers(2);
    let engine = node::start::<Blob>(
        Config::new(1024).with_peer_bytes(BUDGET),
        config,
        primary,
        rx,
    );
    let buffer = engine.buffer().clone();
    let others: Vec<Blob> = (0..10).map(|seq| blob(2, seq)).collect();
    let last = Blob::new(vec![0xEE; 8 << 20]);
    let last_sub = buffer.subscribe(last.digest());
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (buffer, done) = (buffer.clone(), done.clone());
        std::thread::spawn(move || {
            let (mut samples, mut max) = (0u64, 0usize);
            while !done.load(Ordering::Relaxed) {
                max = max.max(buffer.stats().cached_bytes);
                samples += 1;
                std::thread::yield_now();
            }
            (samples, max)
        })
    };
    let producer = {
        let others = others.clone();
        let last = last.clone();
        std::thread::spawn(move || {
            for other in others {
                tx.send((2, other.to_bytes())).unwrap();
            }
            for cycle in 0..CYCLES {
                for shift in 0..=23u32 {
                    let mut payload = vec![(cycle as u8) ^ (shift as u8); 1 << shift];
                    payload[0] = shift as u8;
                    payload[(1 << shift) - 1] = cycle as u8;
                    tx.send((1, Blob::new(payload).to_bytes())).unwrap();
                }
            }
            tx.send((1, last.to_bytes())).unwrap();
            tx
        })
    };
    served(last_sub).await;
    let _tx = producer.join().unwrap();
    done.store(true, Ordering::Relaxed);
    let (samples, max) = sampler.join().unwrap();
    let stats = buffer.stats();
    eprintln!(
        "figure: mixed sizes: {} messages of 1 B to 8 MiB, {samples} samples, most cached {max} bytes ({:.1} MiB), bound {bound} bytes ({} MiB)",
        CYCLES * 24 + 1,
        max as f64 / (1 << 20) as f64,
        bound >> 20
    );
    assert!(
        samples > 100,
        "the sampler ran during the flood ({samples})"
    );
    assert!(max <= bound, "{max} bytes cached > bound {bound}");
    assert!(stats.cached_bytes <= bound);
    for other in &others {
        assert!(
            buffer.contains(&other.digest()),
            "the other peer's message was evicted"
        );
    }
    buffer.check_invariants();
    engine.shutdown().await;
}
