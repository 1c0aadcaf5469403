//! The 20 scenarios of the reference engine's test suite (its `buffered` module tests), on engines connected by the
//! simulated network, with the reference's sizes: 100 ms latency, no jitter, 1 MiB messages,
//! deque 10. Time is tokio's paused clock: simulated latency costs no wall time, and waits are
//! on events (a subscription resolving, a peer set applied); the few fixed waits are simulated
//! time that a *negative* check needs (nothing arrives), as in the reference.
//!
//! Where shardcast differs on purpose (no mailbox, no actor), the test checks the documented
//! behaviour and says why.

use shardcast::net::sim::{Link, Network, SimConfig};
use shardcast::net::{Recipients, Sender as _};
use shardcast::{Blob, BlobConfig, Buffer, Closed, Config, Engine, EngineConfig, Message};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{sleep, timeout};

const DEQUE: usize = 10;
const LATENCY: Duration = Duration::from_millis(100);
/// Long enough for any delivery in these tests (the reference waits 200 ms).
const PROPAGATION: Duration = Duration::from_millis(200);
/// "Instant" in the reference.
const INSTANT: Duration = Duration::from_millis(10);

type Peer = u32;

/// The engine, with `broadcast` returning `sent_to` the way the reference's tests read it
/// (`mailbox.broadcast(..).await.await`, an error read as `[]`).
struct TestEngine(Engine<Peer, Blob>);

impl TestEngine {
    async fn broadcast(&self, recipients: Recipients<Peer>, message: Blob) -> Vec<Peer> {
        self.0
            .broadcast(recipients, message)
            .await
            .await
            .unwrap_or_default()
    }
}

impl std::ops::Deref for TestEngine {
    type Target = Engine<Peer, Blob>;
    fn deref(&self) -> &Engine<Peer, Blob> {
        &self.0
    }
}

struct Node {
    id: Peer,
    buffer: Arc<Buffer<Peer, Blob>>,
    engine: TestEngine,
}

struct Cluster {
    network: Network<Peer>,
    nodes: Vec<Node>,
}

struct Setup {
    peers: u32,
    success_rate: f64,
    tracked_peer_sets: usize,
    seed: u64,
    /// Track set 0 (every peer primary) before the engines start.
    track: bool,
    workers: usize,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            peers: 4,
            success_rate: 1.0,
            tracked_peer_sets: 1,
            seed: 0,
            track: true,
            workers: 2,
        }
    }
}

impl Setup {
    fn start(self) -> Cluster {
        let network = Network::new(SimConfig {
            tracked_peer_sets: self.tracked_peer_sets,
            seed: self.seed,
            ..SimConfig::default()
        });
        let ids: Vec<Peer> = (0..self.peers).collect();
        let endpoints: Vec<_> = ids.iter().map(|id| network.register(*id)).collect();
        network.link_all(Link::new(LATENCY, Duration::ZERO, self.success_rate));
        if self.track {
            network.track(0, ids.clone(), vec![]);
        }
        let nodes = ids
            .iter()
            .zip(endpoints)
            .map(|(id, (sender, receiver))| {
                let buffer = Arc::new(Buffer::new(Config::new(DEQUE)).unwrap());
                let mut config = EngineConfig::new(BlobConfig::default());
                config = config.with_workers(self.workers);
                let engine = Engine::start(
                    buffer.clone(),
                    *id,
                    sender,
                    receiver,
                    network.peer_sets(),
                    config,
                )
                .unwrap();
                Node {
                    id: *id,
                    buffer,
                    engine: TestEngine(engine),
                }
            })
            .collect();
        Cluster { network, nodes }
    }
}

fn cluster(peers: u32) -> Cluster {
    Setup {
        peers,
        ..Setup::default()
    }
    .start()
}

fn blob(text: &str) -> Blob {
    Blob::new(text.as_bytes().to_vec())
}

/// Waits (on the event) until `node` has the message with this digest.
async fn delivered(node: &Node, digest: [u8; 32]) -> Blob {
    timeout(Duration::from_secs(30), node.buffer.subscribe(digest))
        .await
        .unwrap_or_else(|_| panic!("node {} never got {digest:02x?}", node.id))
        .expect("the buffer is open")
}

/// Whether `node` can serve the digest within `INSTANT`.
async fn has_within_instant(node: &Node, digest: [u8; 32]) -> bool {
    timeout(INSTANT, node.buffer.subscribe(digest))
        .await
        .is_ok()
}

/// #1 `test_broadcast`.
#[tokio::test(start_paused = true)]
async fn broadcast_reaches_every_peer() {
    let c = cluster(4);
    let message = blob("hello");
    let sent_to = c.nodes[0]
        .engine
        .broadcast(Recipients::All, message.clone())
        .await;
    assert_eq!(sent_to.len(), 3);
    for node in &c.nodes {
        assert_eq!(delivered(node, message.digest()).await, message);
    }
    // A second broadcast whose result nobody looks at is still delivered.
    let second = blob("second");
    drop(
        c.nodes[0]
            .engine
            .broadcast(Recipients::All, second.clone())
            .await,
    );
    assert_eq!(delivered(&c.nodes[1], second.digest()).await, second);
    assert!(c.nodes[1].buffer.get(&second.digest()).is_some());
}

/// #2 `test_self_retrieval`.
#[tokio::test(start_paused = true)]
async fn self_retrieval() {
    let c = cluster(1);
    let node = &c.nodes[0];
    let message = blob("self");
    assert_eq!(node.buffer.get(&message.digest()), None);
    let waiting = node.buffer.subscribe(message.digest());
    let sent_to = node
        .engine
        .broadcast(Recipients::All, message.clone())
        .await;
    assert!(sent_to.is_empty());
    // The local insert happens before broadcast returns: the subscriber is already served.
    assert!(waiting.is_ready());
    assert_eq!(waiting.await, Ok(message.clone()));
    assert_eq!(node.buffer.get(&message.digest()), Some(message.clone()));
    assert!(node.buffer.subscribe(message.digest()).is_ready());
}

/// #3 `test_packet_loss`: 10% of messages arrive; re-broadcast every 200 ms until all have it.
#[tokio::test(start_paused = true)]
async fn packet_loss_is_overcome_by_rebroadcasting() {
    let c = Setup {
        peers: 10,
        success_rate: 0.1,
        ..Setup::default()
    }
    .start();
    let message = blob("lossy");
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(rounds <= 100, "not everyone had it after 100 rounds");
        let sent_to = c.nodes[0]
            .engine
            .broadcast(Recipients::All, message.clone())
            .await;
        assert_eq!(sent_to.len(), 9);
        sleep(PROPAGATION).await;
        let mut everyone = true;
        for node in &c.nodes {
            everyone &= has_within_instant(node, message.digest()).await;
        }
        if everyone {
            break;
        }
    }
    assert!(rounds > 1, "with 90% loss one round cannot be enough");
}

/// #4 `test_get_cached`.
#[tokio::test(start_paused = true)]
async fn cached_message_is_served_instantly() {
    let c = cluster(2);
    let message = blob("cached");
    c.nodes[0]
        .engine
        .broadcast(Recipients::All, message.clone())
        .await;
    sleep(PROPAGATION).await;
    let sub = c.nodes[1].buffer.subscribe(message.digest());
    assert!(sub.is_ready(), "resolved at once, not after a wait");
    assert_eq!(sub.await, Ok(message));
}

/// #5 `test_get_nonexistent`: kept and dropped subscriptions on both peers.
#[tokio::test(start_paused = true)]
async fn dropped_subscriptions_do_not_disturb_kept_ones() {
    let c = cluster(2);
    let message = blob("later");
    let kept = c.nodes[0].buffer.subscribe(message.digest());
    drop(c.nodes[0].buffer.subscribe(message.digest()));
    drop(c.nodes[1].buffer.subscribe(message.digest()));
    c.nodes[0]
        .engine
        .broadcast(Recipients::All, message.clone())
        .await;
    assert_eq!(timeout(PROPAGATION, kept).await.unwrap(), Ok(message));
    assert_eq!(c.nodes[1].buffer.stats().subscriptions, 0);
}

/// #6 `test_cache_eviction_single_peer`.
#[tokio::test(start_paused = true)]
async fn cache_eviction_single_peer() {
    let c = cluster(2);
    let messages: Vec<Blob> = (0..=10).map(|i| blob(&format!("m{i}"))).collect();
    for message in &messages {
        c.nodes[0]
            .engine
            .broadcast(Recipients::All, message.clone())
            .await;
    }
    delivered(&c.nodes[1], messages[10].digest()).await;
    for message in &messages[1..] {
        assert!(has_within_instant(&c.nodes[1], message.digest()).await);
    }
    assert!(!has_within_instant(&c.nodes[1], messages[0].digest()).await);
}

/// #7 `test_cache_eviction_multi_peer`.
#[tokio::test(start_paused = true)]
async fn cache_eviction_multi_peer() {
    let c = cluster(3);
    let (a, b, cc) = (&c.nodes[0], &c.nodes[1], &c.nodes[2]);
    let m1 = blob("m1");
    a.engine.broadcast(Recipients::All, m1.clone()).await;
    cc.engine.broadcast(Recipients::All, m1.clone()).await;
    sleep(PROPAGATION).await;
    assert_eq!(b.buffer.peer_digests(&a.id), Some(vec![m1.digest()]));
    assert_eq!(b.buffer.peer_digests(&cc.id), Some(vec![m1.digest()]));
    let mut last = None;
    for i in 0..10 {
        let m = blob(&format!("a{i}"));
        a.engine.broadcast(Recipients::All, m.clone()).await;
        last = Some(m);
    }
    delivered(b, last.unwrap().digest()).await;
    assert!(
        has_within_instant(b, m1.digest()).await,
        "still in C's deque"
    );
    let mut last = None;
    for i in 0..10 {
        let m = blob(&format!("c{i}"));
        cc.engine.broadcast(Recipients::All, m.clone()).await;
        last = Some(m);
    }
    delivered(b, last.unwrap().digest()).await;
    assert!(!has_within_instant(b, m1.digest()).await);
}

/// #8 `test_selective_recipients`.
#[tokio::test(start_paused = true)]
async fn selective_recipients() {
    let c = cluster(3);
    let message = blob("only for 1");
    let sent_to = c.nodes[0]
        .engine
        .broadcast(Recipients::One(1), message.clone())
        .await;
    assert_eq!(sent_to, vec![1]);
    delivered(&c.nodes[1], message.digest()).await;
    sleep(PROPAGATION).await; // anything sent to node 2 would have arrived by now
    assert_eq!(c.nodes[2].buffer.get(&message.digest()), None);
}

/// #9 `test_ref_count_across_peers`.
#[tokio::test(start_paused = true)]
async fn ref_count_across_peers() {
    let c = cluster(3);
    let (p0, p1, observer) = (&c.nodes[0], &c.nodes[1], &c.nodes[2]);
    let dup = blob("dup");
    p0.engine.broadcast(Recipients::All, dup.clone()).await;
    p1.engine.broadcast(Recipients::All, dup.clone()).await;
    sleep(PROPAGATION).await;
    assert!(observer.buffer.contains(&dup.digest()));
    for (sender, tag) in [(p0, "p0"), (p1, "p1")] {
        let mut last = None;
        for i in 0..10 {
            let m = blob(&format!("{tag}-{i}"));
            sender.engine.broadcast(Recipients::All, m.clone()).await;
            last = Some(m);
        }
        delivered(observer, last.unwrap().digest()).await;
        let expected = tag == "p0"; // still held by p1's deque after p0's ten
        assert_eq!(
            observer.buffer.get(&dup.digest()).is_some(),
            expected,
            "after {tag}"
        );
    }
}

/// #10 `test_deterministic_retrieval`: same seed, same results.
#[tokio::test(start_paused = true)]
async fn deterministic_retrieval() {
    async fn run(seed: u64) -> Vec<Option<Vec<u8>>> {
        let c = Setup {
            peers: 1,
            seed,
            ..Setup::default()
        }
        .start();
        let mut results = Vec::new();
        for i in 0..3 {
            let m = blob(&format!("seed {seed} message {i}"));
            c.nodes[0]
                .engine
                .broadcast(Recipients::All, m.clone())
                .await;
            results.push(
                c.nodes[0]
                    .buffer
                    .get(&m.digest())
                    .map(|b| b.payload().to_vec()),
            );
        }
        results
    }
    for seed in 0..10 {
        let first = run(seed).await;
        assert!(first.iter().all(Option::is_some));
        assert_eq!(first, run(seed).await, "seed {seed}");
    }
}

/// #11 `test_malformed_network_payload_does_not_break_valid_traffic`.
#[tokio::test(start_paused = true)]
async fn malformed_payload_does_not_break_valid_traffic() {
    // Node 2's engine is never used: its raw sender plays a peer that sends garbage. One worker
    // on the victim, so the frames are handled in arrival order.
    let c = Setup {
        peers: 3,
        workers: 1,
        ..Setup::default()
    }
    .start();
    let (mut raw, _raw_rx) = c.network.register(2);
    c.network.link_all(Link::new(LATENCY, Duration::ZERO, 1.0));
    let victim = &c.nodes[1];
    raw.send(Recipients::One(victim.id), vec![0xFF].into(), false)
        .await
        .unwrap();
    let message = blob("valid");
    let sent_to = c.nodes[0]
        .engine
        .broadcast(Recipients::One(victim.id), message.clone())
        .await;
    assert_eq!(sent_to, vec![victim.id]);
    assert_eq!(delivered(victim, message.digest()).await, message);
    let stats = victim.engine.stats();
    assert_eq!((stats.invalid, stats.added), (1, 1));
}

/// #12 `test_dropped_waiters_for_missing_digest_are_cleaned_up`: the gauge drops to 0 the
/// moment the subscriptions are dropped (the reference needs a later event and a sweep).
#[tokio::test(start_paused = true)]
async fn dropped_waiters_for_missing_digest_are_cleaned_up() {
    let c = cluster(2);
    let missing = blob("missing").digest();
    let first = c.nodes[0].buffer.subscribe(missing);
    let second = c.nodes[0].buffer.subscribe(missing);
    assert_eq!(c.nodes[0].buffer.get(&missing), None);
    assert!(c.nodes[0].buffer.stats().waiters > 0);
    drop((first, second));
    assert_eq!(c.nodes[0].buffer.stats().waiters, 0);
}

/// #13 `test_operations_after_shutdown_do_not_panic`. As in the reference: after shutdown
/// `broadcast` yields `[]` (its receiver reads the channel's error) and inserts nothing, `get`
/// finds nothing (the engine closed its buffer, freeing the cache), and a subscription
/// resolves to an error (`Closed`, the reference's `Canceled`) at once.
#[tokio::test(start_paused = true)]
async fn operations_after_shutdown_do_not_panic() {
    let c = cluster(2);
    let cached = blob("before");
    c.nodes[0]
        .engine
        .broadcast(Recipients::All, cached.clone())
        .await;
    let pending = c.nodes[1].buffer.subscribe(blob("never").digest());
    for node in &c.nodes {
        node.engine.shutdown().await;
    }
    assert_eq!(pending.await, Err(Closed), "a pending subscription ends");
    sleep(PROPAGATION).await;
    let after = blob("after");
    assert!(
        c.nodes[0]
            .engine
            .broadcast(Recipients::All, after.clone())
            .await
            .is_empty()
    );
    assert_eq!(
        c.nodes[0].buffer.get(&after.digest()),
        None,
        "nothing inserted"
    );
    assert_eq!(c.nodes[0].buffer.get(&cached.digest()), None, "cache freed");
    assert_eq!(
        c.nodes[1].buffer.subscribe(after.digest()).await,
        Err(Closed)
    );
}

/// #14 `test_clean_shutdown`, seeds 0..25: after shutdown no engine task is left running.
#[tokio::test(start_paused = true)]
async fn clean_shutdown_leaves_no_task() {
    for seed in 0..25 {
        let c = Setup {
            peers: 2,
            seed,
            ..Setup::default()
        }
        .start();
        let runtime = tokio::runtime::Handle::current().metrics();
        // Per node: the reader (which also applies peer-set updates), the workers, the sender
        // and the stop watcher; plus one sim delivery task.
        let per_node = 2 + 3;
        for node in &c.nodes {
            assert_eq!(node.engine.running_tasks(), per_node);
        }
        assert_eq!(runtime.num_alive_tasks(), c.nodes.len() * (per_node + 1));
        let message = blob(&format!("seed {seed}"));
        c.nodes[0]
            .engine
            .broadcast(Recipients::All, message.clone())
            .await;
        delivered(&c.nodes[1], message.digest()).await;
        for node in &c.nodes {
            node.engine.shutdown().await;
            assert_eq!(node.engine.running_tasks(), 0);
        }
        // Only the simulated network's delivery tasks remain; they end with the network.
        assert_eq!(runtime.num_alive_tasks(), c.nodes.len());
        drop(c);
        // Let them observe it (each needs one poll; bounded, no sleeping).
        for _ in 0..100 {
            if runtime.num_alive_tasks() == 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(
            runtime.num_alive_tasks(),
            0,
            "seed {seed}: a task outlived everything"
        );
    }
}

/// #15 `test_peer_set_update_evicts_disconnected_peer_buffers`.
#[tokio::test(start_paused = true)]
async fn peer_set_update_evicts_disconnected_peer() {
    let c = cluster(3);
    let message = blob("from A");
    c.nodes[0]
        .engine
        .broadcast(Recipients::All, message.clone())
        .await;
    delivered(&c.nodes[1], message.digest()).await;
    assert!(c.nodes[1].buffer.contains(&message.digest()));
    c.network.track(1, vec![1, 2], vec![]);
    c.nodes[1].engine.wait_for_peer_set(1).await;
    assert_eq!(c.nodes[1].buffer.get(&message.digest()), None);
}

/// #16 `test_peer_set_update_evicts_peers_not_in_latest_set_even_if_still_in_overlap`.
#[tokio::test(start_paused = true)]
async fn peer_not_in_latest_set_is_evicted_even_if_still_tracked() {
    let c = Setup {
        peers: 3,
        tracked_peer_sets: 2,
        ..Setup::default()
    }
    .start();
    let first = blob("first");
    c.nodes[0]
        .engine
        .broadcast(Recipients::All, first.clone())
        .await;
    delivered(&c.nodes[1], first.digest()).await;
    c.network.track(1, vec![1, 2], vec![]); // A is still tracked through set 0
    c.nodes[1].engine.wait_for_peer_set(1).await;
    assert_eq!(c.nodes[1].buffer.get(&first.digest()), None);
    let fresh = blob("fresh");
    let sent_to = c.nodes[0]
        .engine
        .broadcast(Recipients::All, fresh.clone())
        .await;
    assert_eq!(sent_to.len(), 2);
    delivered(&c.nodes[1], fresh.digest()).await; // waiters are served, even from A
    assert_eq!(
        c.nodes[1].buffer.get(&fresh.digest()),
        None,
        "but A may not cache"
    );
}

/// #17 `test_initial_latest_peer_set_blocks_sender_not_in_latest_primary`.
#[tokio::test(start_paused = true)]
async fn initial_set_blocks_sender_not_in_latest_primary() {
    let c = Setup {
        peers: 3,
        track: false,
        ..Setup::default()
    }
    .start();
    c.network.track(0, vec![1, 2], vec![0]);
    for node in &c.nodes {
        node.engine.wait_for_peer_set(0).await;
    }
    let message = blob("from a secondary");
    let sent_to = c.nodes[0]
        .engine
        .broadcast(Recipients::All, message.clone())
        .await;
    assert_eq!(sent_to.len(), 2);
    assert_eq!(c.nodes[0].buffer.get(&message.digest()), None);
    delivered(&c.nodes[1], message.digest()).await;
    assert_eq!(c.nodes[1].buffer.get(&message.digest()), None);
}

/// #18 `test_broadcast_queued_before_start_respects_initial_latest_primary`. `Engine::start`
/// has no mailbox to queue in before it runs; the equivalent guarantee is that it applies a
/// peer set the source already has before it returns, so the first broadcast sees it. (The
/// commonware drop-in, which has a mailbox before `start`, is checked in `tests/deterministic.rs`.)
#[tokio::test(start_paused = true)]
async fn first_broadcast_after_start_respects_initial_primary() {
    let c = cluster(1);
    let message = blob("first");
    let sent_to = c.nodes[0]
        .engine
        .broadcast(Recipients::All, message.clone())
        .await;
    assert!(sent_to.is_empty());
    assert_eq!(c.nodes[0].buffer.get(&message.digest()), Some(message));
}

/// #19 `test_engine_starts_before_initial_peer_set_and_delivers_after_tracking`.
#[tokio::test(start_paused = true)]
async fn engine_started_before_any_peer_set_delivers_after_tracking() {
    let c = Setup {
        peers: 2,
        track: false,
        ..Setup::default()
    }
    .start();
    let early = blob("early");
    assert!(
        c.nodes[0]
            .engine
            .broadcast(Recipients::All, early.clone())
            .await
            .is_empty()
    );
    sleep(PROPAGATION).await;
    assert_eq!(c.nodes[0].buffer.get(&early.digest()), None);
    assert_eq!(c.nodes[1].buffer.get(&early.digest()), None);
    c.network.track(0, vec![0, 1], vec![]);
    for node in &c.nodes {
        node.engine.wait_for_peer_set(0).await;
    }
    let late = blob("late");
    assert_eq!(
        c.nodes[0]
            .engine
            .broadcast(Recipients::All, late.clone())
            .await
            .len(),
        1
    );
    delivered(&c.nodes[1], late.digest()).await;
    assert_eq!(c.nodes[1].buffer.get(&late.digest()), Some(late));
}

/// #20 `test_peer_set_update_preserves_shared_messages`.
#[tokio::test(start_paused = true)]
async fn peer_set_update_preserves_shared_messages() {
    let c = cluster(3);
    let shared = blob("shared");
    c.nodes[0]
        .engine
        .broadcast(Recipients::All, shared.clone())
        .await;
    c.nodes[2]
        .engine
        .broadcast(Recipients::All, shared.clone())
        .await;
    sleep(PROPAGATION).await;
    assert_eq!(
        c.nodes[1].buffer.peer_digests(&0),
        Some(vec![shared.digest()])
    );
    assert_eq!(
        c.nodes[1].buffer.peer_digests(&2),
        Some(vec![shared.digest()])
    );
    c.network.track(1, vec![1, 2], vec![]);
    c.nodes[1].engine.wait_for_peer_set(1).await;
    assert_eq!(c.nodes[1].buffer.get(&shared.digest()), Some(shared));
}

/// Not in the reference: many receive workers on a multi-threaded runtime (wall clock, no
/// latency), four senders at once; every message reaches every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_workers_deliver_everything() {
    let network = Network::new(SimConfig::default());
    let ids: Vec<Peer> = (0..4).collect();
    let endpoints: Vec<_> = ids.iter().map(|id| network.register(*id)).collect();
    network.link_all(Link::new(Duration::ZERO, Duration::ZERO, 1.0));
    network.track(0, ids.clone(), vec![]);
    let mut engines = Vec::new();
    for (id, (sender, receiver)) in ids.iter().zip(endpoints) {
        let buffer = Arc::new(Buffer::new(Config::new(512)).unwrap());
        let mut config = EngineConfig::new(BlobConfig::default());
        config = config.with_workers(4);
        let engine =
            Engine::start(buffer, *id, sender, receiver, network.peer_sets(), config).unwrap();
        engines.push(engine);
    }
    let messages: Vec<Vec<Blob>> = ids
        .iter()
        .map(|id| (0..100).map(|i| blob(&format!("{id}/{i}"))).collect())
        .collect();
    let subs: Vec<_> = engines
        .iter()
        .map(|e| {
            messages
                .iter()
                .flatten()
                .map(|m| e.buffer().subscribe(m.digest()))
                .collect::<Vec<_>>()
        })
        .collect();
    let senders: Vec<_> = engines
        .iter()
        .zip(messages.clone())
        .map(|(engine, mine)| {
            let engine = engine.clone();
            tokio::spawn(async move {
                for m in mine {
                    engine.broadcast(Recipients::All, m).await;
                }
            })
        })
        .collect();
    for sender in senders {
        sender.await.unwrap();
    }
    for node_subs in subs {
        for sub in node_subs {
            timeout(Duration::from_secs(30), sub)
                .await
                .expect("delivered")
                .expect("the buffer is open");
        }
    }
    for engine in &engines {
        engine.buffer().check_invariants();
        engine.shutdown().await;
    }
}

/// Every out-of-range engine setting is refused by name when the engine starts.
#[tokio::test]
async fn out_of_range_engine_config_is_refused_by_name() {
    use shardcast::net::channel::{self, NullSender, StaticPeerSet};
    use shardcast::{ConfigError, EngineError};
    let cases = [
        (
            EngineConfig::new(BlobConfig::default()).with_workers(0),
            ConfigError::Workers,
        ),
        (
            EngineConfig::new(BlobConfig::default()).with_frame_queue(0),
            ConfigError::FrameQueue,
        ),
        (
            EngineConfig::new(BlobConfig::default()).with_max_queued_bytes(0),
            ConfigError::MaxQueuedBytes,
        ),
    ];
    for (config, expected) in cases {
        let buffer = Arc::new(Buffer::<u32, Blob>::new(Config::new(4)).unwrap());
        let (_frames, rx) = channel::unbounded::<u32>();
        let started = Engine::start(
            buffer,
            0,
            NullSender,
            rx,
            StaticPeerSet::new(vec![0, 1]),
            config,
        );
        let err = started.err().expect("refused");
        assert_eq!(err, EngineError::Config(expected.clone()));
        assert!(err.to_string().contains(&expected.to_string()), "{err}");
    }
}

/// A sender that records every frame it is handed, in order, each send waiting for a permit.
struct RecordingSender {
    permits: Arc<tokio::sync::Semaphore>,
    sent: tokio::sync::mpsc::UnboundedSender<bytes::Bytes>,
}

impl shardcast::net::Sender<Peer> for RecordingSender {
    async fn send(
        &mut self,
        _recipients: Recipients<Peer>,
        message: bytes::Bytes,
        _priority: bool,
    ) -> Result<Vec<Peer>, shardcast::net::SendError> {
        self.permits.acquire().await.expect("open").forget();
        let _ = self.sent.send(message);
        Ok(vec![1])
    }
}

/// `try_broadcast` never waits: past a full outbox its broadcasts wait in the overflow, the
/// outbox depth counts them, and the sender task sends every one in the order accepted, the
/// overflow's included after the last handle dropped.
#[tokio::test(start_paused = true)]
async fn try_broadcast_overflows_in_order_and_drains_on_drop() {
    use shardcast::{Codec as _, Enqueued};

    let permits = Arc::new(tokio::sync::Semaphore::new(0));
    let (sent, mut frames) = tokio::sync::mpsc::unbounded_channel();
    let (_network, buffer, engine) = on_a_channel(
        RecordingSender {
            permits: permits.clone(),
            sent,
        },
        vec![0, 1],
        DEQUE,
        EngineConfig::new(BlobConfig::default()).with_outbox(2),
    );
    let blobs: Vec<Blob> = (0..6).map(|i| blob(&format!("m{i}"))).collect();
    let placed: Vec<Enqueued> = blobs
        .iter()
        .map(|b| engine.try_broadcast(Recipients::All, b.clone()))
        .collect();
    // The sender task has not run yet: two fit in the outbox, the rest overflow.
    assert_eq!(
        placed,
        [
            Enqueued::Outbox,
            Enqueued::Outbox,
            Enqueued::Overflow,
            Enqueued::Overflow,
            Enqueued::Overflow,
            Enqueued::Overflow
        ]
    );
    assert_eq!(engine.stats().outbox, 6);
    for b in &blobs {
        assert!(buffer.get(&b.digest()).is_some(), "inserted at once");
    }
    // Two sent, then two more accepted while the overflow still holds older ones.
    permits.add_permits(2);
    let mut order = Vec::new();
    for _ in 0..2 {
        order.push(frames.recv().await.unwrap());
    }
    let later: Vec<Blob> = (6..8).map(|i| blob(&format!("m{i}"))).collect();
    for b in &later {
        assert_eq!(
            engine.try_broadcast(Recipients::All, b.clone()),
            Enqueued::Overflow,
            "behind the overflow, whatever room the outbox has"
        );
    }
    drop(engine);
    permits.add_permits(100);
    while let Some(frame) = frames.recv().await {
        order.push(frame);
    }
    let expected: Vec<bytes::Bytes> = blobs.iter().chain(&later).map(|b| b.to_bytes()).collect();
    assert_eq!(
        order, expected,
        "every broadcast sent once, in the order accepted"
    );
}

#[tokio::test(start_paused = true)]
async fn try_broadcast_after_shutdown_is_closed_and_inserts_nothing() {
    use shardcast::Enqueued;
    let Cluster { nodes, .. } = cluster(2);
    let node = &nodes[0];
    node.engine.shutdown().await;
    let late = blob("late");
    assert_eq!(
        node.engine.try_broadcast(Recipients::All, late.clone()),
        Enqueued::Closed
    );
    assert!(node.buffer.get(&late.digest()).is_none());
}

/// A message that counts its encodes, and whose encode panics when its payload starts with
/// 0xEE.
#[derive(Clone, Debug)]
struct Encoded(Blob, Arc<std::sync::atomic::AtomicUsize>);

impl Message for Encoded {
    type Digest = [u8; 32];
    fn digest(&self) -> [u8; 32] {
        self.0.digest()
    }
}

impl shardcast::Codec for Encoded {
    type Config = BlobConfig;
    fn encode(&self, buf: &mut bytes::BytesMut) {
        assert!(self.0.payload()[0] != 0xEE, "encode panicked (on purpose)");
        self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.0.encode(buf);
    }
    fn read(buf: &mut bytes::Bytes, config: &BlobConfig) -> Result<Self, shardcast::DecodeError> {
        Ok(Self(Blob::read(buf, config)?, Arc::default()))
    }
}

/// `try_broadcast` does not encode on the caller's task: the sender task encodes each
/// broadcast when it sends it (an 8 MiB block's encode would otherwise stall marshal's loop,
/// which calls the buffer's `send` on itself). An encode that panics loses that broadcast
/// only: the sender task sends the ones behind it.
#[tokio::test(start_paused = true)]
async fn broadcasts_are_encoded_by_the_sender_task_and_an_encode_panic_loses_only_that_one() {
    use shardcast::Codec as _;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let permits = Arc::new(tokio::sync::Semaphore::new(0));
    let (sent, mut frames) = tokio::sync::mpsc::unbounded_channel();
    let (_network, buffer, engine) = on_a_channel(
        RecordingSender {
            permits: permits.clone(),
            sent,
        },
        vec![0, 1],
        DEQUE,
        EngineConfig::new(BlobConfig::default()),
    );
    let encodes = Arc::new(AtomicUsize::new(0));
    let first = Encoded(Blob::new(b"first".to_vec()), encodes.clone());
    let bomb = Encoded(Blob::new(vec![0xEE, 1, 2]), encodes.clone());
    let last = Encoded(Blob::new(b"last".to_vec()), encodes.clone());
    for message in [&first, &bomb, &last] {
        engine.try_broadcast(Recipients::All, message.clone());
    }
    assert_eq!(
        encodes.load(Ordering::SeqCst),
        0,
        "nothing encoded by the caller"
    );
    assert!(buffer.get(&first.digest()).is_some(), "cached at once");
    permits.add_permits(10);
    assert_eq!(frames.recv().await.unwrap(), first.0.to_bytes());
    assert_eq!(frames.recv().await.unwrap(), last.0.to_bytes());
    assert_eq!(encodes.load(Ordering::SeqCst), 2);
    assert!(buffer.get(&bomb.digest()).is_some(), "cached even so");
    drop(engine);
    assert!(
        frames.recv().await.is_none(),
        "the sender task drained and stopped"
    );
}

/// What [`on_a_channel`] starts: the network's pushing half (keep it, or the input ends and
/// the engine stops), the buffer and the engine.
type OnAChannel<M> = (
    shardcast::net::channel::FrameSender<Peer>,
    Arc<Buffer<Peer, M>>,
    Engine<Peer, M>,
);

/// Node 0's engine on the channel transport, with `primary` as its one peer set and deques of
/// `deque` messages.
fn on_a_channel<M, S>(
    sender: S,
    primary: Vec<Peer>,
    deque: usize,
    config: EngineConfig<BlobConfig>,
) -> OnAChannel<M>
where
    M: Message + shardcast::Codec<Config = BlobConfig>,
    S: shardcast::net::Sender<Peer>,
{
    let (network, receiver) = shardcast::net::channel::unbounded::<Peer>();
    let buffer = Arc::new(Buffer::new(Config::new(deque)).unwrap());
    let engine = Engine::start(
        buffer.clone(),
        0,
        sender,
        receiver,
        shardcast::net::channel::StaticPeerSet::new(primary),
        config,
    )
    .unwrap();
    (network, buffer, engine)
}

/// Yields to the runtime's other tasks until `done`; fails, rather than hangs, if that never
/// comes (under paused time a timeout would not fire).
async fn yield_until(mut done: impl FnMut() -> bool, what: &str) {
    for _ in 0..100_000 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("never happened: {what}");
}

/// A message shared behind an `Arc`, as commonware's blocks are: its clone is a pointer's.
/// It counts its encodes, and `freed` counts the drops of its shared payload (the last holder
/// gone: the free an 8 MiB block pays in `munmap`).
#[derive(Clone, Debug)]
struct Shared(Arc<Payload>);

#[derive(Debug)]
struct Payload {
    blob: Blob,
    encodes: Arc<std::sync::atomic::AtomicUsize>,
    freed: Arc<std::sync::atomic::AtomicUsize>,
}

impl Drop for Payload {
    fn drop(&mut self) {
        self.freed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Message for Shared {
    type Digest = [u8; 32];
    fn digest(&self) -> [u8; 32] {
        self.0.blob.digest()
    }
}

impl shardcast::Codec for Shared {
    type Config = BlobConfig;
    fn encode(&self, buf: &mut bytes::BytesMut) {
        self.0
            .encodes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.0.blob.encode(buf);
    }
    fn read(buf: &mut bytes::Bytes, config: &BlobConfig) -> Result<Self, shardcast::DecodeError> {
        Ok(Self(Arc::new(Payload {
            blob: Blob::read(buf, config)?,
            encodes: Arc::default(),
            freed: Arc::default(),
        })))
    }
}

/// `broadcast_cloned_to` (the 2026.4 drop-in's `broadcast`, which marshal awaits on its loop)
/// leaves both slow steps of a broadcast to the sender task: the encode of the message, and the
/// free of what its insert evicted from the cache. It has inserted the message when it returns.
#[tokio::test(start_paused = true)]
async fn broadcast_cloned_to_neither_encodes_nor_frees_on_the_callers_task() {
    use shardcast::Codec as _;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let permits = Arc::new(tokio::sync::Semaphore::new(0));
    let (sent, mut frames) = tokio::sync::mpsc::unbounded_channel();
    // One message per deque: each insert under our id evicts the one before.
    let (_network, buffer, engine) = on_a_channel(
        RecordingSender {
            permits: permits.clone(),
            sent,
        },
        vec![0, 1],
        1,
        EngineConfig::new(BlobConfig::default()),
    );
    let (encodes, freed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let shared = |text: &str| {
        Shared(Arc::new(Payload {
            blob: Blob::new(text.as_bytes().to_vec()),
            encodes: encodes.clone(),
            freed: freed.clone(),
        }))
    };
    // Cached under our id by a direct insert: the cache holds the only copy.
    let old = shared("old");
    let old_digest = old.digest();
    buffer.insert(0, old);
    let new = shared("new");
    let (sent_to, answer) = tokio::sync::oneshot::channel();
    engine
        .broadcast_cloned_to(Recipients::All, new.clone(), sent_to)
        .await;
    assert!(buffer.get(&new.digest()).is_some(), "inserted on return");
    assert!(buffer.get(&old_digest).is_none(), "the old one evicted");
    assert_eq!(
        encodes.load(Ordering::SeqCst),
        0,
        "not encoded by the caller"
    );
    assert_eq!(
        freed.load(Ordering::SeqCst),
        0,
        "the evicted one not freed by the caller"
    );
    permits.add_permits(1);
    assert_eq!(frames.recv().await.unwrap(), new.0.blob.to_bytes());
    assert_eq!(answer.await, Ok(vec![1]));
    assert_eq!(
        encodes.load(Ordering::SeqCst),
        1,
        "encoded once, by the sender task"
    );
    assert_eq!(freed.load(Ordering::SeqCst), 1, "freed by the sender task");
    engine.shutdown().await;
}

/// When the engine stops, what `try_broadcast` left in the overflow is freed at once, as what
/// waits in the outbox is, not when the last engine handle goes. Before the fix the overflow
/// kept its messages (8 MiB blocks, on a chain) for as long as anyone held a handle.
#[tokio::test(start_paused = true)]
async fn the_overflow_is_freed_when_the_engine_stops() {
    use shardcast::Enqueued;
    use std::sync::atomic::{AtomicUsize, Ordering};

    // No permits: the sender task takes the first broadcast and waits to send it.
    let permits = Arc::new(tokio::sync::Semaphore::new(0));
    let (sent, _frames) = tokio::sync::mpsc::unbounded_channel();
    let (_network, _buffer, engine) = on_a_channel(
        RecordingSender { permits, sent },
        vec![0, 1],
        DEQUE,
        EngineConfig::new(BlobConfig::default()).with_outbox(1),
    );
    let freed = Arc::new(AtomicUsize::new(0));
    let message = |i: usize| {
        Shared(Arc::new(Payload {
            blob: Blob::new(format!("m{i}").into_bytes()),
            encodes: Arc::default(),
            freed: freed.clone(),
        }))
    };
    assert_eq!(
        engine.try_broadcast(Recipients::All, message(0)),
        Enqueued::Outbox
    );
    // The sender task takes it out of the outbox, and waits for a permit to send it.
    yield_until(|| engine.stats().outbox == 0, "the sender task took it").await;
    let placed: Vec<Enqueued> = (1..4)
        .map(|i| engine.try_broadcast(Recipients::All, message(i)))
        .collect();
    assert_eq!(
        placed,
        [Enqueued::Outbox, Enqueued::Overflow, Enqueued::Overflow]
    );
    engine.shutdown().await;
    // The cache, the sender task, the outbox and the overflow let go of all four, the handle
    // still alive.
    assert_eq!(freed.load(Ordering::SeqCst), 4, "every broadcast freed");
    assert_eq!(engine.stats().outbox, 0);
    drop(engine);
}

/// A message whose next clone runs a hook once: the hook runs inside the engine, between the
/// steps of a broadcast.
#[derive(Debug)]
struct Tripwire {
    blob: Blob,
    hook: Arc<std::sync::Mutex<Option<Hook>>>,
}

struct Hook(Box<dyn FnOnce() + Send>);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hook")
    }
}

impl Clone for Tripwire {
    fn clone(&self) -> Self {
        let hook = self.hook.lock().unwrap().take();
        if let Some(Hook(hook)) = hook {
            hook();
        }
        Self {
            blob: self.blob.clone(),
            hook: self.hook.clone(),
        }
    }
}

impl Message for Tripwire {
    type Digest = [u8; 32];
    fn digest(&self) -> [u8; 32] {
        self.blob.digest()
    }
}

impl shardcast::Codec for Tripwire {
    type Config = BlobConfig;
    fn encode(&self, buf: &mut bytes::BytesMut) {
        self.blob.encode(buf);
    }
    fn read(buf: &mut bytes::Bytes, config: &BlobConfig) -> Result<Self, shardcast::DecodeError> {
        Ok(Self {
            blob: Blob::read(buf, config)?,
            hook: Arc::default(),
        })
    }
}

/// A broadcast that reserved room in the outbox just before the engine stopped resolves its
/// `sent_to` to `Closed`, as one made after the stop does. Before the fix, it was queued into
/// the outbox after the sender task had let go of it, and its `sent_to` stayed pending until
/// the last engine handle dropped: forever, for a caller that holds one and awaits it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_racing_the_engine_stop_resolves_closed() {
    use shardcast::net::channel::NullSender;
    use tokio::sync::oneshot::error::TryRecvError;

    let (network, _buffer, engine) = on_a_channel(
        NullSender,
        vec![0, 1],
        DEQUE,
        EngineConfig::new(BlobConfig::default()),
    );
    let message = Tripwire {
        blob: blob("late"),
        hook: Arc::default(),
    };
    // The broadcast's first clone (its insert, after it reserved room in the outbox) ends the
    // engine's input, which stops the engine, and waits until every engine task has ended.
    let watched = engine.clone();
    *message.hook.lock().unwrap() = Some(Hook(Box::new(move || {
        drop(network);
        // A guard against a hang, not a measure of speed.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while watched.running_tasks() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the engine's tasks did not end"
            );
            std::thread::yield_now();
        }
    })));
    let (sent_to, mut answer) = tokio::sync::oneshot::channel();
    engine
        .broadcast_cloned_to(Recipients::All, message, sent_to)
        .await;
    assert!(engine.is_shut_down());
    assert_eq!(
        answer.try_recv(),
        Err(TryRecvError::Closed),
        "resolved, the engine handle still alive"
    );
    drop(engine);
}

/// A message whose payload's `Drop` panics when armed.
#[derive(Clone, Debug)]
struct Fused(Arc<Fuse>);

#[derive(Debug)]
struct Fuse {
    blob: Blob,
    armed: bool,
    dropped: Arc<std::sync::atomic::AtomicUsize>,
}

impl Drop for Fuse {
    fn drop(&mut self) {
        self.dropped
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if self.armed {
            panic!("this message's drop panics");
        }
    }
}

impl Message for Fused {
    type Digest = [u8; 32];
    fn digest(&self) -> [u8; 32] {
        self.0.blob.digest()
    }
}

impl shardcast::Codec for Fused {
    type Config = BlobConfig;
    fn encode(&self, buf: &mut bytes::BytesMut) {
        self.0.blob.encode(buf);
    }
    fn read(buf: &mut bytes::Bytes, config: &BlobConfig) -> Result<Self, shardcast::DecodeError> {
        Ok(Self(Arc::new(Fuse {
            blob: Blob::read(buf, config)?,
            armed: false,
            dropped: Arc::default(),
        })))
    }
}

/// A sender task that panics drops, while it unwinds, what waits behind it in the outbox and
/// the overflow. A message whose `Drop` panics there must not abort the process (a second
/// panic during unwinding would); afterwards a broadcast is refused as `Closed`.
#[tokio::test(start_paused = true)]
async fn a_panicking_drop_while_the_sender_task_unwinds_does_not_abort() {
    use shardcast::Enqueued;
    use shardcast::net::channel::NullSender;
    use std::sync::atomic::{AtomicUsize, Ordering};

    // Our id (0) is not primary: nothing of ours is cached, the outbox holds the only copies.
    let (_network, buffer, engine) = on_a_channel(
        NullSender,
        vec![1],
        DEQUE,
        EngineConfig::new(BlobConfig::default()).with_outbox(1),
    );
    let dropped = Arc::new(AtomicUsize::new(0));
    let message = |text: &str, armed: bool| {
        Fused(Arc::new(Fuse {
            blob: blob(text),
            armed,
            dropped: dropped.clone(),
        }))
    };
    // The first panics in the sender task once encoded; the second waits in the overflow.
    let placed = [
        engine.try_broadcast(Recipients::All, message("first", true)),
        engine.try_broadcast(Recipients::All, message("second", true)),
    ];
    assert_eq!(placed, [Enqueued::Outbox, Enqueued::Overflow]);
    assert!(buffer.get(&blob("second").digest()).is_none());
    yield_until(|| dropped.load(Ordering::SeqCst) == 2, "both dropped").await;
    assert_eq!(
        engine.try_broadcast(Recipients::All, message("third", false)),
        Enqueued::Closed,
        "no sender task to take it"
    );
    assert_eq!(engine.stats().outbox, 0);
    engine.shutdown().await;
}

/// A transport `Sender` that panics.
struct PanickingSender;

impl shardcast::net::Sender<Peer> for PanickingSender {
    async fn send(
        &mut self,
        _recipients: Recipients<Peer>,
        _message: bytes::Bytes,
        _priority: bool,
    ) -> Result<Vec<Peer>, shardcast::net::SendError> {
        panic!("the transport's sender panics");
    }
}

/// A panic in user code on one of the engine's tasks (here the transport's `Sender`, on the
/// sender task) stops the whole engine, as a panic ends the reference's one loop: the buffer
/// closes and its subscriptions resolve `Closed`. Before, the engine ran on without its sender
/// task, receiving and caching, while every broadcast was refused.
#[tokio::test(start_paused = true)]
async fn a_panic_on_an_engine_task_stops_the_engine() {
    use shardcast::Enqueued;

    let (_network, buffer, engine) = on_a_channel(
        PanickingSender,
        vec![0, 1],
        DEQUE,
        EngineConfig::new(BlobConfig::default()),
    );
    let pending = buffer.subscribe(blob("never sent").digest());
    let tasks = engine.running_tasks();
    assert_eq!(
        engine.try_broadcast(Recipients::All, blob("boom")),
        Enqueued::Outbox
    );
    // The sender task takes the broadcast and panics in the transport.
    yield_until(|| engine.running_tasks() < tasks, "the sender task ended").await;
    assert!(engine.is_shut_down(), "the engine stopped");
    engine.stopped().await;
    assert_eq!(pending.await, Err(Closed), "the buffer closed");
    engine.shutdown().await;
    assert_eq!(engine.running_tasks(), 0);
}
