//! A simulated chain that proves shardcast as marshal's block buffer: 4 validators, each
//! running commonware-consensus 2026.4.0's marshal with a block buffer and marshal's p2p
//! resolver, on the deterministic runtime over `commonware_p2p::simulated`. Blocks are proposed
//! in turn through marshal and finalized with real ed25519 certificates; before each proposal
//! the other validators subscribe to the block through marshal, as consensus does when it
//! verifies.
//!
//! The harness is generic over the buffer, and runs with shardcast's mailbox, with the
//! reference's `buffered::Mailbox`, and with a buffer that stores and sends nothing:
//!
//! - **buffer only**: every validator's resolver is cut off (its sends go nowhere), so blocks
//!   travel through the buffer alone; shardcast and the reference must both complete the
//!   chain, with the same blocks at every validator;
//! - **negative control**: the same run with the null buffer must not complete, which shows
//!   that the run can fail;
//! - **lossy links**: loss and jitter, the resolver on, backfilling what the buffer missed.
//!
//! `cargo test --release -p shardcast-benches --test chain -- --nocapture`

use commonware_broadcast::buffered;
use commonware_consensus::marshal::core::Mailbox as Marshal;
use commonware_consensus::marshal::standard::Standard;
use commonware_consensus::types::Height;
use commonware_cryptography::{Digestible, Hasher, Sha256, sha256};
use commonware_p2p::Manager as _;
use commonware_p2p::simulated::{self, Link, Oracle};
use commonware_runtime::{Clock, Metrics as _, Quota, Runner as _, deterministic};
use commonware_utils::ordered::Set;
use shardcast_benches::chain::{
    App, Backfill, Blk, Key, NullBuffer, S, Seat, fixture, propose_and_finalize, reached,
    start_marshal,
};
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

type Context = deterministic::Context;

const VALIDATORS: usize = 4;
const RESOLVER_CHANNEL: u64 = 1;
const BUFFER_CHANNEL: u64 = 2;

/// Which buffer the validators run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Shardcast,
    Reference,
    Null,
}

/// How the chain runs.
#[derive(Clone, Copy, Debug)]
struct Setup {
    kind: Kind,
    blocks: u64,
    success_rate: f64,
    jitter: Duration,
    /// The resolvers' sends go nowhere: blocks travel through the buffer alone.
    isolated_resolver: bool,
}

/// What a run produced.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// The digests each validator's application received, in order.
    delivered: Vec<Vec<sha256::Digest>>,
    /// Subscriptions made before a proposal, and how many the buffer answered in time.
    subscriptions: usize,
    answered: usize,
    /// Messages the network carried on the resolver's and the buffer's channels.
    resolver_messages: u64,
    buffer_messages: u64,
}

/// Starts validator `seat`'s marshal with `buffer`, its resolver on the simulated network
/// (cut off from every peer when `isolated`).
async fn validator<B>(
    context: &Context,
    oracle: &Oracle<Key, Context>,
    seat: Seat<'_>,
    buffer: B,
    app: App,
    isolated: bool,
) -> Marshal<S, Standard<Blk>>
where
    B: commonware_consensus::marshal::core::Buffer<Standard<Blk>, PublicKey = Key>,
{
    let key = seat.key.clone();
    let (sender, receiver) = oracle
        .control(key.clone())
        .register(RESOLVER_CHANNEL, Quota::per_second(NonZeroU32::MAX))
        .await
        .unwrap();
    // When isolated, every send of this resolver goes nowhere: it can reach no peer.
    let (sender, _) =
        sender.split_with(move |_, recipients, _| (!isolated).then(|| recipients.clone()));
    let backfill = Backfill {
        peer_provider: oracle.manager(),
        blocker: oracle.control(key),
        channel: (sender, receiver),
    };
    start_marshal(context, seat, buffer, app, backfill, 0).await
}

/// Runs the chain described by `setup` with `seed`.
fn chain(seed: u64, setup: Setup) -> (Outcome, String) {
    let config = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(3_600)));
    deterministic::Runner::new(config).start(|mut context| async move {
        let fixture = fixture(&mut context, VALIDATORS as u32);
        let keys: Vec<Key> = fixture.participants.clone();
        let (network, oracle) = simulated::Network::new(
            context.with_label("network"),
            simulated::Config {
                max_size: 1024 * 1024,
                disconnect_on_block: true,
                tracked_peer_sets: NonZeroUsize::MIN,
            },
        );
        network.start();
        oracle
            .manager()
            .track(0, Set::from_iter_dedup(keys.iter().cloned()))
            .await;

        let mut marshals = Vec::new();
        let mut apps = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let app = App::default();
            let seat = Seat {
                index: i,
                key,
                scheme: fixture.schemes[i].clone(),
            };
            let control = oracle.control(key.clone());
            let buffer_context = context.with_label(&format!("validator{i}_buffer"));
            let mailbox = match setup.kind {
                Kind::Shardcast => {
                    let channel = control
                        .register(BUFFER_CHANNEL, Quota::per_second(NonZeroU32::MAX))
                        .await
                        .unwrap();
                    let (engine, buffer) = shardcast_commonware_2026_4::marshal::buffer_for_marshal(
                        buffer_context,
                        shardcast_commonware_2026_4::Config {
                            public_key: key.clone(),
                            mailbox_size: 1024,
                            deque_size: 10,
                            priority: false,
                            codec_config: 0,
                            peer_provider: oracle.manager(),
                        },
                        shardcast_commonware_2026_4::Options::default().with_workers(2),
                    );
                    engine.start(channel);
                    let isolated = setup.isolated_resolver;
                    validator(&context, &oracle, seat, buffer, app.clone(), isolated).await
                }
                Kind::Reference => {
                    let channel = control
                        .register(BUFFER_CHANNEL, Quota::per_second(NonZeroU32::MAX))
                        .await
                        .unwrap();
                    let (engine, buffer) = buffered::Engine::new(
                        buffer_context,
                        buffered::Config {
                            public_key: key.clone(),
                            mailbox_size: 1024,
                            deque_size: 10,
                            priority: false,
                            codec_config: 0,
                            peer_provider: oracle.manager(),
                        },
                    );
                    engine.start(channel);
                    let isolated = setup.isolated_resolver;
                    validator(&context, &oracle, seat, buffer, app.clone(), isolated).await
                }
                Kind::Null => {
                    let isolated = setup.isolated_resolver;
                    let buffer = NullBuffer::default();
                    validator(&context, &oracle, seat, buffer, app.clone(), isolated).await
                }
            };
            marshals.push(mailbox);
            apps.push(app);
        }
        for a in &keys {
            for b in &keys {
                if a != b {
                    let link = Link {
                        latency: Duration::from_millis(100),
                        jitter: setup.jitter,
                        success_rate: setup.success_rate,
                    };
                    oracle.add_link(a.clone(), b.clone(), link).await.unwrap();
                }
            }
        }
        context.sleep(Duration::from_millis(10)).await;

        let (mut subscriptions, mut answered) = (0, 0);
        let mut parent = Sha256::hash(b"");
        for h in 1..=setup.blocks {
            let block = Blk::new(parent, Height::new(h), Vec::new());
            parent = block.digest();
            let (got, _) = propose_and_finalize(
                &context,
                &mut marshals,
                &fixture.schemes,
                h,
                &block,
                Duration::from_secs(2),
            )
            .await;
            subscriptions += VALIDATORS - 1;
            answered += got;
        }
        // Every application reaches the last height, or the run gives up after a minute of
        // simulated time.
        for app in &apps {
            reached(&context, app, setup.blocks, Duration::from_secs(60)).await;
        }
        let encoded = context.encode();
        let channel_messages = |channel: u64| -> u64 {
            encoded
                .lines()
                .filter(|line| line.starts_with("network_messages_sent_total{"))
                .filter(|line| line.contains(&format!("channel=\"{channel}\"")))
                .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
                .sum()
        };
        let outcome = Outcome {
            delivered: apps
                .iter()
                .map(|app| app.blocks.lock().unwrap().clone())
                .collect(),
            subscriptions,
            answered,
            resolver_messages: channel_messages(RESOLVER_CHANNEL),
            buffer_messages: channel_messages(BUFFER_CHANNEL),
        };
        (outcome, context.auditor().state())
    })
}

const BLOCKS: u64 = 20;

fn buffer_only(kind: Kind) -> Setup {
    Setup {
        kind,
        blocks: BLOCKS,
        success_rate: 1.0,
        jitter: Duration::from_millis(10),
        isolated_resolver: true,
    }
}

impl Outcome {
    /// One line: what was delivered, what the buffer answered, what each channel carried.
    fn summary(&self) -> String {
        let heights: Vec<usize> = self.delivered.iter().map(Vec::len).collect();
        format!(
            "blocks delivered per validator {heights:?}, subscriptions answered by the buffer {}/{}, messages on the buffer's channel {}, on the resolver's {}",
            self.answered, self.subscriptions, self.buffer_messages, self.resolver_messages
        )
    }
}

/// Runs `setup` with each buffer, in this process, one after the other, and prints the wall
/// time each took.
fn timed(seed: u64, setups: &[Setup]) -> Vec<Outcome> {
    setups
        .iter()
        .map(|setup| {
            let start = std::time::Instant::now();
            let (outcome, _) = chain(seed, *setup);
            println!(
                "figure: {:?}, {} blocks, loss {:.0}%, resolver {}: {:.0} ms wall; {}",
                setup.kind,
                setup.blocks,
                (1.0 - setup.success_rate) * 100.0,
                if setup.isolated_resolver {
                    "cut off"
                } else {
                    "on"
                },
                start.elapsed().as_secs_f64() * 1e3,
                outcome.summary()
            );
            outcome
        })
        .collect()
}

fn complete(outcome: &Outcome) -> bool {
    outcome
        .delivered
        .iter()
        .all(|blocks| blocks.len() as u64 == BLOCKS)
}

/// Blocks travel through the buffer alone: with shardcast and with the reference, every
/// validator's application gets every block in order, every subscription is answered by the
/// buffer, and the two deliver the same blocks.
#[test]
fn buffer_only_shardcast_and_the_reference_complete_the_chain_alike() {
    let mut outcomes = timed(
        0,
        &[buffer_only(Kind::Shardcast), buffer_only(Kind::Reference)],
    );
    let (reference, shardcast) = (outcomes.pop().unwrap(), outcomes.pop().unwrap());
    for outcome in [&shardcast, &reference] {
        assert!(complete(outcome), "{outcome:?}");
        assert_eq!(outcome.answered, outcome.subscriptions);
        assert_eq!(
            outcome.resolver_messages, 0,
            "the resolvers reached no peer"
        );
    }
    assert_eq!(shardcast.delivered, reference.delivered);
}

/// Negative control: the same buffer-only run with a buffer that does nothing cannot
/// complete, so the test above can fail.
#[test]
fn negative_control_a_null_buffer_cannot_complete_the_chain() {
    let outcome = timed(0, &[buffer_only(Kind::Null)]).pop().unwrap();
    assert!(!complete(&outcome), "{outcome:?}");
    assert_eq!(outcome.answered, 0);
}

/// Lossy, jittery links with backfill on: the resolver fills what the buffer missed, and
/// every application still gets every block; both buffers deliver the same blocks.
#[test]
fn lossy_links_with_backfill_complete_the_chain() {
    let lossy = |kind| Setup {
        kind,
        blocks: BLOCKS,
        success_rate: 0.8,
        jitter: Duration::from_millis(40),
        isolated_resolver: false,
    };
    let mut outcomes = timed(0, &[lossy(Kind::Shardcast), lossy(Kind::Reference)]);
    let (reference, shardcast) = (outcomes.pop().unwrap(), outcomes.pop().unwrap());
    // Marshal asks the buffer once per finalized block; what the buffer missed, the resolver
    // fetched: its traffic is the cost of a buffer that did not disseminate in time.
    assert!(shardcast.resolver_messages > 0 || shardcast.answered == shardcast.subscriptions);
    assert!(complete(&shardcast), "{shardcast:?}");
    assert!(complete(&reference), "{reference:?}");
    assert_eq!(shardcast.delivered, reference.delivered);
}

/// The same seed, run twice, gives the same execution.
#[test]
fn the_chain_is_deterministic() {
    let first = chain(3, buffer_only(Kind::Shardcast));
    let second = chain(3, buffer_only(Kind::Shardcast));
    assert_eq!(first.0, second.0);
    assert_eq!(first.1, second.1);
}

/// Wall time of the buffer-only chain with each buffer: 200 blocks, 5 interleaved runs each,
/// same seeds, in one process (no assertion on time; run it for the figure):
/// `cargo test --release -p shardcast-benches --test chain wall_time -- --ignored --nocapture`
#[test]
#[ignore = "a measurement, not a check"]
fn wall_time_of_the_chain_with_each_buffer() {
    let long = |kind| Setup {
        blocks: 200,
        ..buffer_only(kind)
    };
    let mut times = [Vec::new(), Vec::new()];
    for seed in 0..5 {
        for (slot, kind) in [Kind::Shardcast, Kind::Reference].into_iter().enumerate() {
            let start = std::time::Instant::now();
            let (outcome, _) = chain(seed, long(kind));
            times[slot].push(start.elapsed().as_secs_f64() * 1e3);
            assert!(outcome.delivered.iter().all(|b| b.len() == 200), "{kind:?}");
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let [s, r] = times;
    let (s, r) = (median(s), median(r));
    println!(
        "figure: 200-block chain, buffer only, median of 5 seeds: shardcast {s:.0} ms, reference {r:.0} ms, shardcast / reference {:.2}",
        s / r
    );
}
