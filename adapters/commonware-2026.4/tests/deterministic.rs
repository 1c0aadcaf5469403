//! The reference engine's 20 scenarios, run the way the reference runs them: on commonware's
//! deterministic runtime, over `commonware_p2p::simulated`, with `oracle.manager()` as the peer
//! provider, through the drop-in API (`shardcast_commonware_2026_4::{Engine, Mailbox}`), with metrics
//! read from `context.encode()` and tasks counted with `count_running_tasks`. Plus two checks
//! that an execution is a function of its seed, with one worker and with several.
//!
//! Links have 100 ms latency and 10 ms jitter (and 90% loss in #3), messages up to 1 MiB,
//! deque 10, as in the reference's set-up; "instant" is 10 ms of simulated time, propagation
//! 200 ms. Time is simulated: the runtime skips idle time, so the waits cost nothing.
//!
//! `cargo test --release -p shardcast-commonware-2026-4 --test deterministic`

mod common;

use common::note::Note;
use commonware_codec::RangeCfg;
use commonware_cryptography::{Digestible, Hasher, Sha256, Signer, ed25519, sha256};
use commonware_p2p::simulated::{self, Link, Oracle};
use commonware_p2p::{Manager as _, Recipients, Sender as _, TrackedPeers};
use commonware_runtime::{
    Clock, Handle, IoBuf, Metrics as _, Quota, Runner as _, Spawner as _, deterministic,
};
use commonware_utils::ordered::Set;
use shardcast_commonware_2026_4::{Config, Engine, Mailbox, Options};
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

type Key = ed25519::PublicKey;
type Context = deterministic::Context;
type TestEngine = Engine<Context, Key, Note, simulated::Manager<Key, Context>>;
type Channel = (simulated::Sender<Key, Context>, simulated::Receiver<Key>);

const DEQUE: usize = 10;
const LATENCY: Duration = Duration::from_millis(100);
const JITTER: Duration = Duration::from_millis(10);
const PROPAGATION: Duration = Duration::from_millis(200);
/// "Instant" in the reference's tests.
const INSTANT: Duration = Duration::from_millis(10);
/// How long the reference lets an engine apply its first peer set.
const A_JIFFY: Duration = Duration::from_millis(10);

/// How a scenario's network and engines are set up.
#[derive(Clone)]
struct Setup {
    peers: usize,
    success_rate: f64,
    tracked_peer_sets: usize,
    /// Track set 0 (every peer primary) before the engines start.
    track: bool,
    workers: usize,
    /// The network's largest message.
    max_size: u32,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            peers: 4,
            success_rate: 1.0,
            tracked_peer_sets: 1,
            track: true,
            workers: 1,
            max_size: 1024 * 1024,
        }
    }
}

/// One peer: its key, its mailbox and its engine's task.
struct Peer {
    key: Key,
    mailbox: Mailbox<Key, Note>,
    handle: Handle<()>,
}

/// The network, its oracle, and one running engine per peer (sorted by key, as the
/// reference sorts them).
struct Net {
    oracle: Oracle<Key, Context>,
    keys: Vec<Key>,
    peers: Vec<Peer>,
}

/// Runs `scenario` on the deterministic runtime with `seed`.
fn run<F, Fut, T>(seed: u64, scenario: F) -> T
where
    F: FnOnce(Context) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let config = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(600)));
    deterministic::Runner::new(config).start(scenario)
}

fn keys(n: usize) -> Vec<Key> {
    let mut keys: Vec<Key> = (0..n as u64)
        .map(|seed| ed25519::PrivateKey::from_seed(seed).public_key())
        .collect();
    keys.sort();
    keys
}

fn set(keys: &[Key]) -> Set<Key> {
    Set::from_iter_dedup(keys.iter().cloned())
}

/// The simulated network with every peer linked to every other and registered on channel 0.
async fn network(
    context: &Context,
    setup: &Setup,
    keys: &[Key],
) -> (Oracle<Key, Context>, Vec<Channel>) {
    let (network, oracle) = simulated::Network::new(
        context.with_label("network"),
        simulated::Config {
            max_size: setup.max_size,
            disconnect_on_block: true,
            tracked_peer_sets: NonZeroUsize::new(setup.tracked_peer_sets).unwrap(),
        },
    );
    network.start();
    let mut channels = Vec::new();
    for key in keys {
        let channel = oracle
            .control(key.clone())
            .register(0, Quota::per_second(NonZeroU32::MAX))
            .await
            .unwrap();
        channels.push(channel);
    }
    for a in keys {
        for b in keys {
            if a != b {
                let link = Link {
                    latency: LATENCY,
                    jitter: JITTER,
                    success_rate: setup.success_rate,
                };
                oracle.add_link(a.clone(), b.clone(), link).await.unwrap();
            }
        }
    }
    if setup.track {
        oracle.manager().track(0, set(keys)).await;
    }
    (oracle, channels)
}

/// An engine for `key`, not started yet.
fn engine(
    context: &Context,
    index: usize,
    key: &Key,
    oracle: &Oracle<Key, Context>,
    workers: usize,
) -> (TestEngine, Mailbox<Key, Note>) {
    Engine::with_options(
        context.with_label(&format!("engine_{index}")),
        Config {
            public_key: key.clone(),
            mailbox_size: 1024,
            deque_size: DEQUE,
            priority: false,
            codec_config: RangeCfg::from(..),
            peer_provider: oracle.manager(),
        },
        Options::default().with_workers(workers),
    )
}

/// Starts an engine for each key on its channel (peer `i` on `channels[i]`).
fn start_engines(
    context: &Context,
    oracle: &Oracle<Key, Context>,
    keys: &[Key],
    channels: Vec<Channel>,
    workers: usize,
) -> Vec<Peer> {
    keys.iter()
        .zip(channels)
        .enumerate()
        .map(|(index, (key, channel))| {
            let (engine, mailbox) = engine(context, index, key, oracle, workers);
            Peer {
                key: key.clone(),
                mailbox,
                handle: engine.start(channel),
            }
        })
        .collect()
}

impl Setup {
    async fn start(self, context: &Context) -> Net {
        let keys = keys(self.peers);
        let (oracle, channels) = network(context, &self, &keys).await;
        let peers = start_engines(context, &oracle, &keys, channels, self.workers);
        context.sleep(A_JIFFY).await;
        Net {
            oracle,
            keys,
            peers,
        }
    }
}

fn note(text: &str) -> Note {
    Note::new(text)
}

/// Broadcasts and waits for `sent_to` (an error reads as `[]`, as in the reference's tests).
async fn broadcast(peer: &Peer, recipients: Recipients<Key>, message: &Note) -> Vec<Key> {
    peer.mailbox
        .broadcast(recipients, message.clone())
        .await
        .await
        .unwrap_or_default()
}

/// Whether `peer` can serve `digest` within `wait`, through `subscribe`.
async fn has_within(
    context: &Context,
    peer: &Peer,
    digest: sha256::Digest,
    wait: Duration,
) -> bool {
    let receiver = peer.mailbox.subscribe(digest).await;
    matches!(context.timeout(wait, receiver).await, Ok(Ok(_)))
}

/// Waits (on the event) until `peer` has the message, and checks it.
async fn delivered(peer: &Peer, message: &Note) {
    let got = peer.mailbox.subscribe(message.digest()).await.await;
    assert_eq!(got.as_ref(), Ok(message));
}

/// The value of the metric line that starts with `prefix` in `context.encode()`.
fn metric(context: &Context, prefix: &str) -> Option<String> {
    context
        .encode()
        .lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .map(str::to_owned)
}

/// Tasks still running whose name starts with `prefix`, from the runtime's own task gauge
/// (`runtime_tasks_running{name=..,kind="Task"}` in `context.encode()`).
fn running_tasks(context: &Context, prefix: &str) -> usize {
    context
        .encode()
        .lines()
        .filter(|line| line.starts_with("runtime_tasks_running{") && line.ends_with(" 1"))
        .filter(|line| line.contains("kind=\"Task\""))
        .filter(|line| {
            line.split("name=\"")
                .nth(1)
                .is_some_and(|rest| rest.starts_with(prefix))
        })
        .count()
}

/// #1 `test_broadcast`.
#[test]
fn broadcast_reaches_every_peer() {
    run(0, |context| async move {
        let net = Setup::default().start(&context).await;
        let message = note("hello");
        let sent_to = broadcast(&net.peers[0], Recipients::All, &message).await;
        assert_eq!(sent_to.len(), 3);
        context.sleep(Duration::from_secs(1)).await;
        for peer in &net.peers {
            assert!(has_within(&context, peer, message.digest(), INSTANT).await);
            delivered(peer, &message).await;
        }
        // A broadcast whose receiver is dropped at once is sent all the same.
        let second = note("nobody waits for sent_to");
        drop(
            net.peers[0]
                .mailbox
                .broadcast(Recipients::All, second.clone())
                .await,
        );
        context.sleep(PROPAGATION).await;
        let mut found = 0;
        for peer in &net.peers[1..] {
            found += usize::from(peer.mailbox.get(second.digest()).await.is_some());
        }
        assert_eq!(found, 3);
    });
}

/// #2 `test_self_retrieval`.
#[test]
fn self_retrieval() {
    run(0, |context| async move {
        let net = Setup {
            peers: 1,
            ..Setup::default()
        }
        .start(&context)
        .await;
        let peer = &net.peers[0];
        let message = note("self");
        assert_eq!(peer.mailbox.get(message.digest()).await, None);
        let mut waiting = peer.mailbox.subscribe(message.digest()).await;
        let sent_to = peer
            .mailbox
            .broadcast(Recipients::All, message.clone())
            .await;
        // The local insert is done when broadcast returns: the subscriber is already served.
        assert_eq!(waiting.try_recv(), Ok(message.clone()));
        assert_eq!(sent_to.await, Ok(vec![]));
        assert_eq!(
            peer.mailbox.get(message.digest()).await,
            Some(message.clone())
        );
        let mut again = peer.mailbox.subscribe(message.digest()).await;
        assert_eq!(
            again.try_recv(),
            Ok(message),
            "served at once from the cache"
        );
    });
}

/// #3 `test_packet_loss`: 10 peers, 10% of messages arrive; re-broadcast every 200 ms.
#[test]
fn packet_loss_is_overcome_by_rebroadcasting() {
    run(0, |context| async move {
        let net = Setup {
            peers: 10,
            success_rate: 0.1,
            ..Setup::default()
        }
        .start(&context)
        .await;
        let message = note("lossy");
        let mut rounds = 0;
        loop {
            rounds += 1;
            assert!(rounds <= 100, "not everywhere after 100 rounds");
            let sent_to = broadcast(&net.peers[0], Recipients::All, &message).await;
            assert_eq!(sent_to.len(), 9);
            context.sleep(PROPAGATION).await;
            let mut everyone = true;
            for peer in &net.peers {
                everyone &= has_within(&context, peer, message.digest(), INSTANT).await;
            }
            if everyone {
                break;
            }
        }
        assert!(rounds > 1, "with 90% loss one round cannot be enough");
    });
}

/// #4 `test_get_cached`.
#[test]
fn get_cached() {
    run(0, |context| async move {
        let net = Setup {
            peers: 2,
            ..Setup::default()
        }
        .start(&context)
        .await;
        let message = note("cached");
        broadcast(&net.peers[0], Recipients::All, &message).await;
        context.sleep(PROPAGATION).await;
        let mut receiver = net.peers[1].mailbox.subscribe(message.digest()).await;
        assert_eq!(receiver.try_recv(), Ok(message), "served at once");
    });
}

/// #5 `test_get_nonexistent`: dropped subscriptions disturb nothing, and leave nothing.
#[test]
fn dropped_subscriptions_disturb_nothing() {
    run(0, |context| async move {
        let net = Setup {
            peers: 2,
            ..Setup::default()
        }
        .start(&context)
        .await;
        let (a, b) = (&net.peers[0], &net.peers[1]);
        let message = note("wanted");
        let kept = a.mailbox.subscribe(message.digest()).await;
        drop(a.mailbox.subscribe(message.digest()).await);
        drop(b.mailbox.subscribe(message.digest()).await);
        assert_eq!(b.mailbox.buffer().stats().subscriptions, 0, "freed at once");
        assert_eq!(a.mailbox.buffer().stats().subscriptions, 1);
        broadcast(a, Recipients::All, &message).await;
        assert_eq!(kept.await, Ok(message));
        assert_eq!(a.mailbox.buffer().stats().subscriptions, 0);
    });
}

/// #6 `test_cache_eviction_single_peer`.
#[test]
fn cache_eviction_single_peer() {
    run(0, |context| async move {
        let net = Setup {
            peers: 2,
            ..Setup::default()
        }
        .start(&context)
        .await;
        let messages: Vec<Note> = (0..=DEQUE).map(|i| note(&format!("m{i}"))).collect();
        for message in &messages {
            broadcast(&net.peers[0], Recipients::All, message).await;
        }
        context.sleep(PROPAGATION).await;
        let receiver = &net.peers[1];
        for message in &messages[1..] {
            assert!(has_within(&context, receiver, message.digest(), INSTANT).await);
        }
        assert!(
            !has_within(&context, receiver, messages[0].digest(), INSTANT).await,
            "the oldest was evicted"
        );
    });
}

/// #7 `test_cache_eviction_multi_peer`: a message held by two senders' deques survives the
/// first eviction and goes with the second.
#[test]
fn cache_eviction_multi_peer() {
    run(0, |context| async move {
        let net = Setup {
            peers: 3,
            ..Setup::default()
        }
        .start(&context)
        .await;
        let (a, b, c) = (&net.peers[0], &net.peers[1], &net.peers[2]);
        let m1 = note("shared");
        broadcast(a, Recipients::All, &m1).await;
        broadcast(c, Recipients::All, &m1).await;
        context.sleep(PROPAGATION).await;
        for i in 0..DEQUE {
            broadcast(a, Recipients::All, &note(&format!("a{i}"))).await;
        }
        context.sleep(PROPAGATION).await;
        assert!(
            has_within(&context, b, m1.digest(), INSTANT).await,
            "C still holds it"
        );
        for i in 0..DEQUE {
            broadcast(c, Recipients::All, &note(&format!("c{i}"))).await;
        }
        context.sleep(PROPAGATION).await;
        assert!(!has_within(&context, b, m1.digest(), INSTANT).await);
    });
}

/// #8 `test_selective_recipients`.
#[test]
fn selective_recipients() {
    run(0, |context| async move {
        let net = Setup::default().start(&context).await;
        let target = net.keys[1].clone();
        let message = note("only for one");
        let sent_to = broadcast(&net.peers[0], Recipients::One(target.clone()), &message).await;
        assert_eq!(sent_to, vec![target]);
        context.sleep(PROPAGATION).await;
        assert_eq!(
            net.peers[1].mailbox.get(message.digest()).await,
            Some(message.clone())
        );
        assert_eq!(net.peers[2].mailbox.get(message.digest()).await, None);
    });
}

/// #9 `test_ref_count_across_peers`.
#[test]
fn ref_count_across_peers() {
    run(0, |context| async move {
        let net = Setup {
            peers: 3,
            ..Setup::default()
        }
        .start(&context)
        .await;
        let (p0, p1, observer) = (&net.peers[0], &net.peers[1], &net.peers[2]);
        let dup = note("dup");
        broadcast(p0, Recipients::All, &dup).await;
        broadcast(p1, Recipients::All, &dup).await;
        context.sleep(PROPAGATION).await;
        assert!(observer.mailbox.get(dup.digest()).await.is_some());
        for (sender, name) in [(p0, "p0"), (p1, "p1")] {
            for i in 0..DEQUE {
                broadcast(sender, Recipients::All, &note(&format!("{name} {i}"))).await;
            }
            context.sleep(PROPAGATION).await;
            let kept = observer.mailbox.get(dup.digest()).await.is_some();
            assert_eq!(kept, name == "p0", "after {name}'s ten");
        }
    });
}

/// #10 `test_deterministic_retrieval`: what `get` returns is a function of the seed.
#[test]
fn retrieval_is_deterministic() {
    let outcome = |seed: u64| {
        run(seed, |context| async move {
            let net = Setup {
                peers: 2,
                ..Setup::default()
            }
            .start(&context)
            .await;
            let messages: Vec<Note> = (0..3).map(|i| note(&format!("seed {seed} m{i}"))).collect();
            for message in &messages {
                broadcast(&net.peers[0], Recipients::All, message).await;
            }
            context.sleep(PROPAGATION).await;
            let mut hasher = Sha256::new();
            for message in &messages {
                let got = net.peers[1].mailbox.get(message.digest()).await;
                hasher.update(&got.expect("delivered").0);
            }
            (hasher.finalize(), context.auditor().state())
        })
    };
    for seed in 0..10 {
        assert_eq!(outcome(seed), outcome(seed), "seed {seed}");
    }
}

/// #11 `test_malformed_network_payload_does_not_break_valid_traffic`.
#[test]
fn malformed_payload_does_not_break_valid_traffic() {
    run(0, |context| async move {
        let setup = Setup {
            peers: 3,
            ..Setup::default()
        };
        let keys = keys(3);
        let (oracle, mut channels) = network(&context, &setup, &keys).await;
        // Peers 0 (the victim) and 1 run engines; peer 2 only has a raw sender.
        let (mut raw, _) = channels.pop().unwrap();
        let peers = start_engines(&context, &oracle, &keys, channels, 1);
        context.sleep(A_JIFFY).await;
        let victim = peers[0].key.clone();
        let sent = raw
            .send(
                Recipients::One(victim.clone()),
                IoBuf::from(vec![0xFF]),
                false,
            )
            .await
            .unwrap();
        assert_eq!(sent, vec![victim.clone()]);
        context.sleep(PROPAGATION).await;
        let message = note("valid");
        let sent_to = broadcast(&peers[1], Recipients::One(victim.clone()), &message).await;
        assert_eq!(sent_to, vec![victim]);
        delivered(&peers[0], &message).await;
        assert_eq!(
            metric(&context, "engine_0_receive_total{status=\"Invalid\"}").as_deref(),
            Some("1")
        );
        assert_eq!(
            metric(&context, "engine_0_receive_total{status=\"Success\"}").as_deref(),
            Some("1")
        );
    });
}

/// #12 `test_dropped_waiters_for_missing_digest_are_cleaned_up`, read from `context.encode()`.
#[test]
fn dropped_waiters_leave_the_gauge_at_zero() {
    run(0, |context| async move {
        let net = Setup {
            peers: 1,
            ..Setup::default()
        }
        .start(&context)
        .await;
        let peer = &net.peers[0];
        let missing = note("never sent").digest();
        let first = peer.mailbox.subscribe(missing).await;
        let second = peer.mailbox.subscribe(missing).await;
        assert_eq!(peer.mailbox.get(missing).await, None);
        context.sleep(INSTANT).await;
        assert_eq!(metric(&context, "engine_0_waiters ").as_deref(), Some("1"));
        assert_eq!(
            metric(&context, "engine_0_subscriptions ").as_deref(),
            Some("2")
        );
        drop(first);
        drop(second);
        assert_eq!(peer.mailbox.get(missing).await, None);
        context.sleep(INSTANT).await;
        let encoded = context.encode();
        let waiters: Vec<&str> = encoded
            .lines()
            .filter(|line| line.starts_with("engine_0_waiters "))
            .collect();
        assert_eq!(waiters, ["engine_0_waiters 0"]);
        assert_eq!(
            metric(&context, "engine_0_subscriptions ").as_deref(),
            Some("0")
        );
        assert_eq!(
            metric(&context, "engine_0_get_total{status=\"Failure\"}").as_deref(),
            Some("2")
        );
        assert_eq!(
            metric(&context, "engine_0_subscribe_total{status=\"Dropped\"}").as_deref(),
            Some("2")
        );
    });
}

/// #13 `test_operations_after_shutdown_do_not_panic`: after every engine is aborted,
/// broadcast yields an error or `[]`, subscribe the channel's error, get `None`.
#[test]
fn operations_after_shutdown() {
    run(0, |context| async move {
        let net = Setup {
            peers: 2,
            ..Setup::default()
        }
        .start(&context)
        .await;
        let cached = note("before");
        broadcast(&net.peers[0], Recipients::All, &cached).await;
        context.sleep(PROPAGATION).await;
        let pending = net.peers[1].mailbox.subscribe(note("never").digest()).await;
        for peer in &net.peers {
            peer.handle.abort();
        }
        context.sleep(Duration::from_millis(100)).await;
        assert_eq!(running_tasks(&context, "engine"), 0, "no engine task left");
        assert!(
            pending.await.is_err(),
            "a pending subscription is cancelled"
        );
        let after = note("after");
        for peer in &net.peers {
            let sent_to = peer.mailbox.broadcast(Recipients::All, after.clone()).await;
            assert!(sent_to.await.map_or(true, |peers| peers.is_empty()));
            assert!(peer.mailbox.subscribe(after.digest()).await.await.is_err());
            assert_eq!(peer.mailbox.get(after.digest()).await, None);
            assert_eq!(peer.mailbox.get(cached.digest()).await, None);
        }
    });
}

/// #14 `test_clean_shutdown`, seeds 0..25: no engine task outlives an abort.
#[test]
fn clean_shutdown_leaves_no_task() {
    for seed in 0..25 {
        run(seed, |context| async move {
            let net = Setup {
                peers: 2,
                ..Setup::default()
            }
            .start(&context)
            .await;
            // Per engine: the engine's own task, the reader (which also applies peer-set
            // updates), one worker, the sender and the stop watcher.
            assert_eq!(running_tasks(&context, "engine"), 2 * 5);
            let message = note(&format!("seed {seed}"));
            broadcast(&net.peers[0], Recipients::All, &message).await;
            delivered(&net.peers[1], &message).await;
            for peer in &net.peers {
                peer.handle.abort();
            }
            context.sleep(Duration::from_millis(100)).await;
            assert_eq!(running_tasks(&context, "engine"), 0, "seed {seed}");
        });
    }
}

/// The engine stops when the runtime does (`context.stop`): `stop` returns (the engine
/// dropped its stop signal), every pending subscription is cancelled, and its tasks end.
#[test]
fn runtime_stop_stops_the_engine() {
    run(0, |context| async move {
        let net = Setup {
            peers: 2,
            ..Setup::default()
        }
        .start(&context)
        .await;
        let pending = net.peers[1].mailbox.subscribe(note("never").digest()).await;
        assert_eq!(running_tasks(&context, "engine"), 2 * 5);
        context
            .clone()
            .stop(0, Some(Duration::from_secs(10)))
            .await
            .expect("every engine let the runtime stop");
        assert!(
            pending.await.is_err(),
            "a pending subscription is cancelled"
        );
        // As after an abort in #13 and #14: the tasks end once the executor next runs them.
        context.sleep(Duration::from_millis(100)).await;
        assert_eq!(running_tasks(&context, "engine"), 0);
    });
}

/// No hidden frame cap: a block of 8 MiB (tempo's size) travels when the network carries it.
#[test]
fn an_8_mib_block_is_delivered() {
    run(0, |context| async move {
        let net = Setup {
            peers: 2,
            max_size: 16 << 20,
            ..Setup::default()
        }
        .start(&context)
        .await;
        let block = Note(vec![0xB1; 8 << 20]);
        let sent_to = broadcast(&net.peers[0], Recipients::All, &block).await;
        assert_eq!(sent_to, vec![net.keys[1].clone()]);
        delivered(&net.peers[1], &block).await;
    });
}

/// Regression: an engine aborted before its task ran (or while it subscribed to the peer
/// provider) left its buffer open, so subscriptions waited forever instead of `Canceled`.
#[test]
fn an_engine_aborted_before_it_ran_cancels_subscriptions() {
    run(0, |context| async move {
        let setup = Setup {
            peers: 1,
            ..Setup::default()
        };
        let keys = keys(1);
        let (oracle, mut channels) = network(&context, &setup, &keys).await;
        let (engine, mailbox) = engine(&context, 0, &keys[0], &oracle, 1);
        let pending = mailbox.subscribe(note("never").digest()).await;
        engine.start(channels.pop().unwrap()).abort();
        let outcome = context.timeout(Duration::from_secs(10), pending).await;
        assert!(matches!(outcome, Ok(Err(_))), "cancelled, not left waiting");
        assert!(
            mailbox
                .subscribe(note("later").digest())
                .await
                .await
                .is_err()
        );
    });
}

/// #15 `test_peer_set_update_evicts_disconnected_peer_buffers`.
#[test]
fn peer_set_update_evicts_a_departed_peers_messages() {
    run(0, |context| async move {
        let net = Setup {
            peers: 3,
            ..Setup::default()
        }
        .start(&context)
        .await;
        let (a, b) = (&net.peers[0], &net.peers[1]);
        let message = note("from A");
        broadcast(a, Recipients::All, &message).await;
        delivered(b, &message).await;
        net.oracle.manager().track(1, set(&net.keys[1..])).await;
        context.sleep(INSTANT).await;
        assert_eq!(b.mailbox.get(message.digest()).await, None);
    });
}

/// #16 `test_peer_set_update_evicts_peers_not_in_latest_set_even_if_still_in_overlap`.
#[test]
fn eviction_follows_the_latest_set_even_in_the_overlap() {
    run(0, |context| async move {
        let net = Setup {
            peers: 3,
            tracked_peer_sets: 2,
            ..Setup::default()
        }
        .start(&context)
        .await;
        let (a, b) = (&net.peers[0], &net.peers[1]);
        let first = note("before the update");
        broadcast(a, Recipients::All, &first).await;
        delivered(b, &first).await;
        net.oracle.manager().track(1, set(&net.keys[1..])).await;
        context.sleep(INSTANT).await;
        assert_eq!(b.mailbox.get(first.digest()).await, None, "evicted at once");
        // A is still tracked (set 0): its broadcast goes out, and serves waiters, but B does
        // not cache it.
        let fresh = note("from A, after");
        let waiting = b.mailbox.subscribe(fresh.digest()).await;
        let sent_to = broadcast(a, Recipients::All, &fresh).await;
        assert_eq!(sent_to.len(), 2);
        assert_eq!(waiting.await, Ok(fresh.clone()));
        assert_eq!(b.mailbox.get(fresh.digest()).await, None);
    });
}

/// #17 `test_initial_latest_peer_set_blocks_sender_not_in_latest_primary`.
#[test]
fn a_secondary_peer_never_caches() {
    run(0, |context| async move {
        let setup = Setup {
            peers: 3,
            track: false,
            ..Setup::default()
        };
        let keys = keys(3);
        let (oracle, channels) = network(&context, &setup, &keys).await;
        oracle
            .manager()
            .track(0, TrackedPeers::new(set(&keys[1..]), set(&keys[..1])))
            .await;
        let peers = start_engines(&context, &oracle, &keys, channels, 1);
        context.sleep(A_JIFFY).await;
        let message = note("from the secondary peer");
        let sent_to = broadcast(&peers[0], Recipients::All, &message).await;
        assert_eq!(sent_to.len(), 2);
        context.sleep(PROPAGATION).await;
        assert_eq!(peers[0].mailbox.get(message.digest()).await, None);
        assert_eq!(peers[1].mailbox.get(message.digest()).await, None);
    });
}

/// #18 `test_broadcast_queued_before_start_respects_initial_latest_primary`: a broadcast made
/// through the mailbox before `start` is inserted after the initial peer set is applied.
#[test]
fn broadcast_before_start_respects_the_initial_set() {
    run(0, |context| async move {
        let setup = Setup {
            peers: 1,
            ..Setup::default()
        };
        let keys = keys(1);
        let (oracle, mut channels) = network(&context, &setup, &keys).await;
        let (engine, mailbox) = engine(&context, 0, &keys[0], &oracle, 1);
        let message = note("queued");
        let sent_to = mailbox.broadcast(Recipients::All, message.clone()).await;
        let _handle = engine.start(channels.pop().unwrap());
        assert_eq!(sent_to.await, Ok(vec![]));
        assert_eq!(mailbox.get(message.digest()).await, Some(message));
    });
}

/// #19 `test_engine_starts_before_initial_peer_set_and_delivers_after_tracking`.
#[test]
fn engines_started_before_any_peer_set_deliver_after_tracking() {
    run(0, |context| async move {
        let net = Setup {
            peers: 2,
            track: false,
            ..Setup::default()
        }
        .start(&context)
        .await;
        let (a, b) = (&net.peers[0], &net.peers[1]);
        let early = note("before any set");
        let sent_to = broadcast(a, Recipients::All, &early).await;
        assert!(sent_to.is_empty(), "nobody is tracked");
        context.sleep(PROPAGATION).await;
        assert_eq!(a.mailbox.get(early.digest()).await, None);
        assert_eq!(b.mailbox.get(early.digest()).await, None);
        net.oracle.manager().track(0, set(&net.keys)).await;
        context.sleep(INSTANT).await;
        let late = note("after tracking");
        let sent_to = broadcast(a, Recipients::All, &late).await;
        assert_eq!(sent_to.len(), 1);
        context.sleep(PROPAGATION).await;
        assert_eq!(b.mailbox.get(late.digest()).await, Some(late));
    });
}

/// #20 `test_peer_set_update_preserves_shared_messages`.
#[test]
fn peer_set_update_preserves_shared_messages() {
    run(0, |context| async move {
        let net = Setup {
            peers: 3,
            ..Setup::default()
        }
        .start(&context)
        .await;
        let (a, b, c) = (&net.peers[0], &net.peers[1], &net.peers[2]);
        let shared = note("held twice");
        broadcast(a, Recipients::All, &shared).await;
        broadcast(c, Recipients::All, &shared).await;
        context.sleep(PROPAGATION).await;
        assert_eq!(
            b.mailbox.buffer().peer_digests(&a.key).map(|d| d.len()),
            Some(1)
        );
        net.oracle.manager().track(1, set(&net.keys[1..])).await;
        context.sleep(INSTANT).await;
        assert_eq!(
            b.mailbox.get(shared.digest()).await,
            Some(shared),
            "C still holds it"
        );
    });
}

/// A busy run: every peer broadcasts to all over lossy, jittery links while the others
/// subscribe; returns what was delivered and the runtime's audit of everything that happened.
fn busy_run(seed: u64, workers: usize) -> (Vec<usize>, String) {
    run(seed, |context| async move {
        let net = Setup {
            peers: 4,
            success_rate: 0.8,
            workers,
            ..Setup::default()
        }
        .start(&context)
        .await;
        let messages: Vec<Note> = (0..40).map(|i| note(&format!("busy {i}"))).collect();
        let mut waiting = Vec::new();
        for peer in &net.peers {
            for message in &messages {
                waiting.push(peer.mailbox.subscribe(message.digest()).await);
            }
        }
        for (i, message) in messages.iter().enumerate() {
            let origin = &net.peers[i % net.peers.len()];
            drop(
                origin
                    .mailbox
                    .broadcast(Recipients::All, message.clone())
                    .await,
            );
        }
        context.sleep(Duration::from_secs(1)).await;
        let mut delivered = Vec::new();
        for (p, peer) in net.peers.iter().enumerate() {
            let mine = waiting.drain(..messages.len());
            let got = mine.filter_map(|mut r| r.try_recv().ok()).count();
            delivered.push(got);
            assert!(
                peer.mailbox.stats().received > 0,
                "peer {p} received nothing"
            );
        }
        (delivered, context.auditor().state())
    })
}

/// The same seed, run twice, gives the same execution.
#[test]
fn the_same_seed_gives_the_same_run() {
    for seed in [0, 7] {
        let first = busy_run(seed, 1);
        assert_eq!(first, busy_run(seed, 1), "seed {seed}");
    }
    assert_ne!(busy_run(0, 1).1, busy_run(1, 1).1, "the seed matters");
}

/// Several receive workers do not make a run depend on anything but its seed.
#[test]
fn several_workers_are_still_deterministic() {
    for seed in [0, 3] {
        let first = busy_run(seed, 4);
        assert_eq!(first, busy_run(seed, 4), "seed {seed}");
    }
}

/// An out-of-range value of the configuration is an error naming it, never clamped: a
/// `max_queued_bytes` of 0 used to become 1 without a word. Nothing is registered when it
/// fails, so a corrected configuration can use the same label.
#[test]
fn out_of_range_config_is_an_error_that_names_the_value() {
    run(0, |context| async move {
        let keys = keys(2);
        let (oracle, _channels) = network(&context, &Setup::default(), &keys).await;
        let config = || Config {
            public_key: keys[0].clone(),
            mailbox_size: 1024,
            deque_size: DEQUE,
            priority: false,
            codec_config: RangeCfg::from(..),
            peer_provider: oracle.manager(),
        };
        let options = |bytes| Options::default().with_max_queued_bytes(bytes);
        let label = context.with_label("engine");
        let err = Engine::<_, _, Note, _>::try_new(label.clone(), config(), options(0))
            .err()
            .expect("0 queued bytes is out of range");
        assert_eq!(err, shardcast::ConfigError::MaxQueuedBytes);
        assert_eq!(err.to_string(), "max_queued_bytes must be at least 1");
        let err = Engine::<_, _, Note, _>::try_new(
            label.clone(),
            Config {
                mailbox_size: 0,
                ..config()
            },
            options(1),
        )
        .err()
        .expect("a mailbox of 0 is out of range");
        assert_eq!(err, shardcast::ConfigError::Outbox);
        assert!(Engine::<_, _, Note, _>::try_new(label, config(), options(1)).is_ok());
    });
}

// ---------------------------------------------------------------------------------------------
// The reference's lifecycle at its edges: what happens when a mailbox drops, before `start`,
// when an input ends, and to requests that wait for each other.
// ---------------------------------------------------------------------------------------------

/// An engine of mailbox size `mailbox_size` for `key` on `provider`, not started.
fn engine_on<D>(
    context: &Context,
    label: &str,
    key: &Key,
    provider: D,
    mailbox_size: usize,
) -> (Engine<Context, Key, Note, D>, Mailbox<Key, Note>)
where
    D: commonware_p2p::Provider<PublicKey = Key>,
{
    engine_with(
        context,
        label,
        key,
        provider,
        mailbox_size,
        Options::default(),
    )
}

/// [`engine_on`] with shardcast's own `options`.
fn engine_with<D>(
    context: &Context,
    label: &str,
    key: &Key,
    provider: D,
    mailbox_size: usize,
    options: Options,
) -> (Engine<Context, Key, Note, D>, Mailbox<Key, Note>)
where
    D: commonware_p2p::Provider<PublicKey = Key>,
{
    Engine::with_options(
        context.with_label(label),
        Config {
            public_key: key.clone(),
            mailbox_size,
            deque_size: DEQUE,
            priority: false,
            codec_config: RangeCfg::from(..),
            peer_provider: provider,
        },
        options,
    )
}

/// Whether `future` completes within a second of simulated time (the engines here settle in
/// a few milliseconds: a second is "never").
async fn within_a_second<F: std::future::Future>(
    context: &Context,
    future: F,
) -> Option<F::Output> {
    tokio::select! {
        biased;
        output = future => Some(output),
        () = context.sleep(Duration::from_secs(1)) => None,
    }
}

/// Issue #1: a broadcast made just before its node drops its last mailbox is still sent, as
/// the reference drains its mailbox before its loop ends; then the engine stops: its handle
/// completes and what it had pending is cancelled.
#[test]
fn a_broadcast_is_sent_when_its_node_drops_its_last_mailbox() {
    for seed in 0..10 {
        run(seed, |context| async move {
            let mut net = Setup {
                peers: 2,
                ..Setup::default()
            }
            .start(&context)
            .await;
            let sender = net.peers.remove(0);
            let pending = sender.mailbox.subscribe(note("never").digest()).await;
            let message = note("last words");
            let sent_to = sender
                .mailbox
                .broadcast(Recipients::All, message.clone())
                .await;
            drop(sender.mailbox);
            delivered(&net.peers[0], &message).await;
            assert_eq!(
                sent_to.await,
                Ok(vec![net.peers[0].key.clone()]),
                "seed {seed}"
            );
            assert!(
                within_a_second(&context, sender.handle).await.is_some(),
                "the engine ends once its mailbox is gone and drained"
            );
            assert!(
                pending.await.is_err(),
                "pending subscriptions are cancelled"
            );
        });
    }
}

/// Issue #1: broadcasts queued before `start` are sent even when the mailbox was dropped
/// before the engine started.
#[test]
fn broadcasts_queued_before_start_survive_their_mailbox() {
    run(0, |context| async move {
        let setup = Setup {
            peers: 2,
            ..Setup::default()
        };
        let keys = keys(2);
        let (oracle, mut channels) = network(&context, &setup, &keys).await;
        let (late, late_mailbox) = engine(&context, 0, &keys[0], &oracle, 1);
        let (early, early_mailbox) = engine(&context, 1, &keys[1], &oracle, 1);
        let receiver_channel = channels.remove(1);
        let _receiver = early.start(receiver_channel);
        let message = note("queued, then orphaned");
        let sent_to = late_mailbox
            .broadcast(Recipients::All, message.clone())
            .await;
        drop(late_mailbox);
        let handle = late.start(channels.remove(0));
        let got = early_mailbox.subscribe(message.digest()).await.await;
        assert_eq!(got, Ok(message));
        assert_eq!(sent_to.await, Ok(vec![keys[1].clone()]));
        assert!(within_a_second(&context, handle).await.is_some());
    });
}

/// Issue #2: requests keep their program order across `start`. A `get` or `subscribe` made
/// after a broadcast sees it, both before `start` (they wait for the engine, as the reference's
/// queued requests do) and right after it, before the engine's task has run.
#[test]
fn program_order_holds_across_start() {
    for workers in [1, 2] {
        run(workers as u64, |context| async move {
            let setup = Setup {
                peers: 1,
                ..Setup::default()
            };
            let keys = keys(1);
            let (oracle, mut channels) = network(&context, &setup, &keys).await;
            let (engine, mailbox) = engine(&context, 0, &keys[0], &oracle, workers);
            let before = note("before start");
            let sent_to = mailbox.broadcast(Recipients::All, before.clone()).await;
            let subscribed = mailbox.subscribe(before.digest()).await;
            let get = context.with_label("get").spawn({
                let mailbox = mailbox.clone();
                let digest = before.digest();
                move |_| async move { mailbox.get(digest).await }
            });
            let _handle = engine.start(channels.pop().unwrap());
            // Right after `start`, before its task ran.
            let after = note("right after start");
            drop(mailbox.broadcast(Recipients::All, after.clone()).await);
            assert_eq!(mailbox.get(after.digest()).await, Some(after));
            assert_eq!(get.await.unwrap(), Some(before.clone()));
            assert_eq!(subscribed.await, Ok(before));
            assert_eq!(sent_to.await, Ok(vec![]));
        });
    }
}

/// Issue #3: when the network receiver fails, the engine ends, as the reference's loop does:
/// its handle completes, pending subscriptions are cancelled, `get` finds nothing.
#[test]
fn the_engine_ends_when_its_network_receiver_fails() {
    run(0, |context| async move {
        let keys = keys(2);
        let (oracle, mut channels) = network(&context, &Setup::default(), &keys).await;
        let (engine, mailbox) = engine(&context, 0, &keys[0], &oracle, 1);
        let (frames, receiver) = common::scripted::frames();
        let (sender, _) = channels.remove(0);
        let handle = engine.start((sender, receiver));
        let cached = note("cached");
        drop(mailbox.broadcast(Recipients::All, cached.clone()).await);
        let pending = mailbox.subscribe(note("never").digest()).await;
        assert_eq!(mailbox.get(cached.digest()).await, Some(cached.clone()));
        drop(frames);
        assert!(within_a_second(&context, handle).await.is_some());
        assert!(pending.await.is_err());
        assert_eq!(mailbox.get(cached.digest()).await, None);
    });
}

/// Issue #3: when the peer-set subscription closes, the engine ends.
#[test]
fn the_engine_ends_when_its_peer_set_subscription_closes() {
    run(0, |context| async move {
        let keys = keys(1);
        let (_oracle, mut channels) = network(&context, &Setup::default(), &keys).await;
        let (updates, provider) = common::scripted::updates();
        updates.push(0, &keys, &[]);
        let (engine, mailbox) = engine_on(&context, "engine_0", &keys[0], provider, 1024);
        let handle = engine.start(channels.pop().unwrap());
        let pending = mailbox.subscribe(note("never").digest()).await;
        mailbox.wait_for_peer_set(0).await;
        drop(updates);
        assert!(within_a_second(&context, handle).await.is_some());
        assert!(pending.await.is_err());
    });
}

/// Issue #3: a provider that hands back a subscription closed from the start ends the engine
/// at once (it could never cache anything), and nothing waits on it.
#[test]
fn a_closed_peer_set_subscription_ends_the_engine_at_once() {
    run(0, |context| async move {
        let keys = keys(1);
        let (_oracle, mut channels) = network(&context, &Setup::default(), &keys).await;
        let (updates, provider) = common::scripted::updates();
        drop(updates);
        let (engine, mailbox) = engine_on(&context, "engine_0", &keys[0], provider, 1024);
        let pending = mailbox.subscribe(note("never").digest()).await;
        let handle = engine.start(channels.pop().unwrap());
        assert!(within_a_second(&context, handle).await.is_some());
        assert!(pending.await.is_err());
        assert!(
            mailbox
                .subscribe(note("later").digest())
                .await
                .await
                .is_err()
        );
    });
}

/// Issue #4: an engine dropped without `start` leaves nothing pending: subscriptions and
/// broadcasts made on its mailbox are cancelled, `get` returns `None`.
#[test]
fn an_engine_dropped_without_start_cancels_its_mailbox() {
    run(0, |context| async move {
        let keys = keys(1);
        let (oracle, _channels) = network(&context, &Setup::default(), &keys).await;
        let (engine, mailbox) = engine(&context, 0, &keys[0], &oracle, 1);
        let pending = mailbox.subscribe(note("never").digest()).await;
        let sent_to = mailbox.broadcast(Recipients::All, note("unsent")).await;
        drop(engine);
        assert!(within_a_second(&context, pending).await.unwrap().is_err());
        assert!(within_a_second(&context, sent_to).await.unwrap().is_err());
        assert_eq!(mailbox.get(note("unsent").digest()).await, None);
        assert!(
            mailbox
                .subscribe(note("later").digest())
                .await
                .await
                .is_err()
        );
    });
}

/// Issue #6: `mailbox_size` bounds the broadcasts waiting to be sent: once that many wait,
/// `broadcast` waits for room (before inserting), and `stats().outbox` reports the depth.
#[test]
fn broadcast_waits_while_the_outbox_is_full() {
    run(0, |context| async move {
        let keys = keys(2);
        let (oracle, _channels) = network(&context, &Setup::default(), &keys).await;
        let (engine, mailbox) = engine_on(&context, "engine_0", &keys[0], oracle.manager(), 2);
        let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
        let sender = common::scripted::GatedSender {
            gate: gate.clone(),
            to: vec![keys[1].clone()],
        };
        let (_frames, receiver) = common::scripted::frames();
        let _handle = engine.start((sender, receiver));
        mailbox.wait_for_peer_set(0).await;
        // The sender task takes the first and waits in its send; two more fill the outbox.
        let first = mailbox.broadcast(Recipients::All, note("in flight")).await;
        context.sleep(INSTANT).await;
        let mut queued = Vec::new();
        for text in ["queued 1", "queued 2"] {
            queued.push(mailbox.broadcast(Recipients::All, note(text)).await);
        }
        assert_eq!(mailbox.stats().outbox, 2);
        let blocked = note("waits for room");
        let waiting = mailbox.broadcast(Recipients::All, blocked.clone());
        let mut waiting = std::pin::pin!(waiting);
        assert!(
            within_a_second(&context, waiting.as_mut()).await.is_none(),
            "a full outbox makes broadcast wait"
        );
        assert_eq!(
            mailbox.get(blocked.digest()).await,
            None,
            "not inserted yet"
        );
        gate.add_permits(1);
        let last = waiting.await;
        assert_eq!(mailbox.get(blocked.digest()).await, Some(blocked));
        assert_eq!(first.await, Ok(vec![keys[1].clone()]));
        gate.add_permits(3);
        for sent_to in queued {
            assert_eq!(sent_to.await, Ok(vec![keys[1].clone()]));
        }
        assert_eq!(last.await, Ok(vec![keys[1].clone()]));
        assert_eq!(mailbox.stats().outbox, 0);
    });
}

/// Issue #8: a `Clone` that panics while waiters are served leaves none of them pending: the
/// one being served and the later ones are cancelled (the reference's loop would die with the
/// panic and cancel everything), and the engine goes on.
#[test]
fn a_panicking_clone_while_serving_waiters_leaves_none_pending() {
    run(0, |context| async move {
        let keys = keys(2);
        let setup = Setup {
            peers: 2,
            track: false,
            ..Setup::default()
        };
        let (oracle, channels) = network(&context, &setup, &keys).await;
        // Peer 1 is secondary: its messages serve waiters without being cached, so each waiter
        // gets a clone.
        oracle
            .manager()
            .track(0, TrackedPeers::new(set(&keys[..1]), set(&keys[1..])))
            .await;
        let peers = start_engines(&context, &oracle, &keys, channels, 1);
        let touchy = note(&format!("{} (a block)", common::note::PANICS_ON_CLONE));
        let waiters = [
            peers[0].mailbox.subscribe(touchy.digest()).await,
            peers[0].mailbox.subscribe(touchy.digest()).await,
            peers[0].mailbox.subscribe(touchy.digest()).await,
        ];
        context.sleep(INSTANT).await;
        drop(peers[1].mailbox.broadcast(Recipients::All, touchy).await);
        for waiter in waiters {
            let outcome = within_a_second(&context, waiter).await;
            assert!(matches!(outcome, Some(Err(_))), "cancelled, not pending");
        }
        // The engine goes on.
        let next = note("after the panic");
        drop(
            peers[1]
                .mailbox
                .broadcast(Recipients::All, next.clone())
                .await,
        );
        let got = peers[0].mailbox.subscribe(next.digest()).await.await;
        assert_eq!(got, Ok(next));
    });
}

/// marshal awaits `broadcast` (its buffer's `send`) on its own loop: the broadcast has inserted
/// the message when it returns, and leaves the encode (milliseconds for an 8 MiB block) to the
/// engine's sender task.
#[test]
fn broadcast_returns_before_the_message_is_encoded() {
    run(0, |context| async move {
        let net = Setup::default().start(&context).await;
        let block = note("encoded by the sender task");
        let sent_to = net.peers[0]
            .mailbox
            .broadcast(Recipients::All, block.clone())
            .await;
        assert_eq!(
            common::note::encodes_of(&block),
            0,
            "not encoded by the caller"
        );
        assert_eq!(
            net.peers[0].mailbox.get(block.digest()).await,
            Some(block.clone()),
            "inserted on return"
        );
        assert_eq!(sent_to.await.map(|peers| peers.len()), Ok(3));
        assert_eq!(
            common::note::encodes_of(&block),
            1,
            "encoded once, then sent"
        );
    });
}

/// Issue #8: a peer-set update is applied before the frames the receiver yields after it, as
/// the reference's loop takes its peer-set subscription first: a new primary's first message
/// is cached. The update and the frame become ready together; the engine must take the update
/// first, whichever of its tasks the runtime runs first.
#[test]
fn an_update_is_applied_before_the_frames_behind_it() {
    for workers in [1, 2] {
        for seed in 0..40 {
            run(seed, |context| async move {
                let keys = keys(2);
                let (_oracle, mut channels) = network(&context, &Setup::default(), &keys).await;
                let (updates, provider) = common::scripted::updates();
                updates.push(0, &keys[..1], &[]);
                let (engine, mailbox) = engine_with(
                    &context,
                    "engine_0",
                    &keys[0],
                    provider,
                    1024,
                    Options::default().with_workers(workers),
                );
                let (frames, receiver) = common::scripted::frames();
                let (sender, _) = channels.remove(0);
                let _handle = engine.start((sender, receiver));
                mailbox.wait_for_peer_set(0).await;
                let block = note("a new primary's first block");
                let frame = commonware_codec::Encode::encode(&block).to_vec();
                // Together, without yielding in between: the update, then the frame.
                updates.push(1, &keys, &[]);
                frames.send((keys[1].clone(), frame)).unwrap();
                context.sleep(INSTANT).await;
                assert_eq!(
                    mailbox.get(block.digest()).await,
                    Some(block),
                    "seed {seed}, {workers} workers"
                );
                drop(updates);
            });
        }
    }
}

/// Issue #8: a `subscribe_prepared` whose responder is already closed counts
/// `subscribe{Dropped}`, as the reference counts a responder it cannot answer, even when the
/// digest is cached.
#[test]
fn a_subscription_with_a_closed_responder_counts_dropped() {
    run(0, |context| async move {
        let net = Setup {
            peers: 1,
            ..Setup::default()
        }
        .start(&context)
        .await;
        let peer = &net.peers[0];
        let cached = note("cached");
        broadcast(peer, Recipients::All, &cached).await;
        for digest in [cached.digest(), note("not cached").digest()] {
            let (responder, receiver) = commonware_utils::channel::oneshot::channel();
            drop(receiver);
            peer.mailbox.subscribe_prepared(digest, responder).await;
        }
        context.sleep(INSTANT).await;
        assert_eq!(
            metric(&context, "engine_0_subscribe_total{status=\"Dropped\"}").as_deref(),
            Some("2")
        );
        assert_eq!(
            metric(&context, "engine_0_subscribe_total{status=\"Success\"}").as_deref(),
            Some("0"),
            "nothing was answered"
        );
        assert_eq!(metric(&context, "engine_0_waiters ").as_deref(), Some("0"));
    });
}

/// Issue #8: `peer{sequencer}` is registered by default and labelled with the key's `Display`
/// form, as the reference labels it.
#[test]
fn the_peer_metric_is_on_by_default_and_labelled_as_the_reference_labels_it() {
    run(0, |context| async move {
        let keys = keys(2);
        let (oracle, mut channels) = network(&context, &Setup::default(), &keys).await;
        let (b, b_mailbox) = engine_on(&context, "engine_1", &keys[1], oracle.manager(), 1024);
        let (a, a_mailbox) = engine_on(&context, "engine_0", &keys[0], oracle.manager(), 1024);
        let _b = b.start(channels.remove(1));
        let _a = a.start(channels.remove(0));
        let message = note("labelled");
        drop(b_mailbox.broadcast(Recipients::All, message.clone()).await);
        assert_eq!(
            a_mailbox.subscribe(message.digest()).await.await,
            Ok(message)
        );
        let line = format!("engine_0_peer_total{{sequencer=\"{}\"}}", keys[1]);
        assert_eq!(metric(&context, &line).as_deref(), Some("1"), "{line}");
    });
}

/// Found by the differential test: once the engine stopped, a `get` counts nothing, as the
/// reference's mailbox no longer reaches a loop that could count it.
#[test]
fn a_get_after_the_engine_stopped_counts_nothing() {
    run(0, |context| async move {
        let net = Setup {
            peers: 1,
            ..Setup::default()
        }
        .start(&context)
        .await;
        let peer = &net.peers[0];
        let probe = note("never sent").digest();
        assert_eq!(peer.mailbox.get(probe).await, None);
        peer.handle.abort();
        context.sleep(INSTANT).await;
        assert_eq!(peer.mailbox.get(probe).await, None);
        assert_eq!(
            metric(&context, "engine_0_get_total{status=\"Failure\"}").as_deref(),
            Some("1"),
            "only the get made while the engine ran"
        );
    });
}
