//! Guarantee 5: churn soak. 16 nodes on the simulated WAN with continuous traffic and a
//! peer-set change every 200 ms for 60 s of simulated time (tokio's paused clock: the run is
//! reproducible and takes seconds). Eight "core" nodes stay primary throughout; the other
//! eight move in and out of the primary set (staying tracked as secondary when out). At the end
//! every invariant holds on every node, resident state and process memory did not grow after
//! the first 10 s, and every message broadcast by a core node reached every subscriber.

use shardcast::net::Recipients;
use shardcast::net::sim::{Link, Network, SimConfig};
use shardcast::{Blob, BlobConfig, Buffer, Config, Engine, EngineConfig, Message};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

const NODES: u32 = 16;
const CORE: u32 = 8;
const DEQUE: usize = 32;
const TICK: Duration = Duration::from_millis(50);
const TICKS_PER_CHANGE: u64 = 4; // a peer-set change every 200 ms
const TICKS: u64 = 1_200; // 60 s

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    cached: usize,
    subscriptions: usize,
    waiting: usize,
    rss: u64,
}

fn sample(nodes: &[Engine<u32, Blob>]) -> Sample {
    let mut s = Sample {
        cached: 0,
        subscriptions: 0,
        waiting: 0,
        rss: rss_bytes(),
    };
    for node in nodes {
        let stats = node.buffer().stats();
        assert!(
            stats.cached <= stats.primary * DEQUE,
            "{stats:?} over the bound"
        );
        s.cached += stats.cached;
        s.subscriptions += stats.subscriptions;
        s.waiting += stats.waiters;
    }
    s
}

#[tokio::test(start_paused = true)]
async fn churn_soak_sixteen_nodes_sixty_seconds() {
    let network = Network::new(SimConfig {
        seed: 42,
        ..SimConfig::default()
    });
    let ids: Vec<u32> = (0..NODES).collect();
    let endpoints: Vec<_> = ids.iter().map(|id| network.register(*id)).collect();
    network.link_all(Link::new(
        Duration::from_millis(20),
        Duration::from_millis(5),
        1.0,
    ));
    network.track(0, ids.clone(), vec![]);
    let nodes: Vec<_> = ids
        .iter()
        .zip(endpoints)
        .map(|(id, (tx, rx))| {
            let buffer = Arc::new(Buffer::new(Config::new(DEQUE)).unwrap());
            let mut config = EngineConfig::new(BlobConfig::default());
            config = config.with_workers(2);
            Engine::start(buffer, *id, tx, rx, network.peer_sets(), config).unwrap()
        })
        .collect();

    let mut deliveries = JoinSet::new();
    let mut expected = 0u64;
    let mut delivered = 0u64;
    let mut rng = 0x5eed_u64;
    let mut at_10s = None;
    for tick in 0..TICKS {
        if tick > 0 && tick % TICKS_PER_CHANGE == 0 {
            rng = rng
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let (primary, secondary): (Vec<u32>, Vec<u32>) = ids
                .iter()
                .partition(|id| **id < CORE || (rng >> (32 + **id)) & 1 == 1);
            network.track(tick / TICKS_PER_CHANGE, primary, secondary);
        }
        for (origin, engine) in nodes.iter().enumerate() {
            let message = Blob::new(format!("node {origin} tick {tick}").into_bytes());
            if (origin as u32) < CORE {
                for (receiver, other) in nodes.iter().enumerate() {
                    if receiver != origin {
                        let sub = other.buffer().subscribe(message.digest());
                        deliveries.spawn(async move {
                            sub.await.expect("delivered before the buffer closed");
                        });
                        expected += 1;
                    }
                }
            }
            engine.broadcast(Recipients::All, message).await;
        }
        while let Some(done) = deliveries.try_join_next() {
            done.unwrap();
            delivered += 1;
        }
        if tick == TICKS / 6 {
            at_10s = Some(sample(&nodes));
        }
        tokio::time::sleep(TICK).await;
    }
    // Everything still in flight arrives within the link latency.
    tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(done) = deliveries.join_next().await {
            done.unwrap();
            delivered += 1;
        }
    })
    .await
    .expect("every core message reaches every subscriber");
    assert_eq!(delivered, expected);

    let early = at_10s.unwrap();
    let end = sample(&nodes);
    eprintln!("figure: churn after 10 s: {early:?}");
    eprintln!("figure: churn after 60 s: {end:?}");
    eprintln!("figure: churn deliveries checked: {delivered}");
    // One thread runs everything here: nothing is in flight while the invariants are checked.
    for node in &nodes {
        node.buffer().check_invariants();
    }
    assert_eq!(
        (end.subscriptions, end.waiting),
        (0, 0),
        "no registration left behind"
    );
    assert!(
        end.cached <= early.cached + NODES as usize * DEQUE,
        "{early:?} -> {end:?}"
    );
    assert!(
        end.rss <= early.rss + early.rss / 10 + (8 << 20),
        "resident memory grew from {} to {} bytes",
        early.rss,
        end.rss
    );
    for node in &nodes {
        node.shutdown().await;
    }
}
