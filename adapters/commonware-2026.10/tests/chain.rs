//! shardcast as marshal's block buffer on commonware 2026.10.0, in a chain: 4 validators,
//! each running that release's marshal with a block buffer and marshal's p2p resolver, on the
//! deterministic runtime over `commonware_p2p::simulated`. Blocks are proposed in turn through
//! marshal and finalized with real ed25519 certificates; before each proposal the other
//! validators subscribe to the block through marshal, as consensus does when it verifies.
//!
//! The same harness runs with shardcast's mailbox, with the 2026.10 reference's
//! `buffered::Mailbox`, and with no buffer at all (`Actor::start_unbuffered`, the control):
//!
//! - **buffer only**: every validator's resolver is cut off (its sends go nowhere), so blocks
//!   travel through the buffer alone; shardcast and the reference must both complete the
//!   chain, with the same blocks at every validator;
//! - **negative control**: the same run without a buffer must not complete, which shows that
//!   the run can fail;
//! - **lossy links**: loss and jitter, the resolver on, backfilling what the buffer missed;
//! - **replay**: one seed, run twice, gives the same outcome and the same auditor state.
//!
//! `cargo test --release --all-features --test chain -- --nocapture` from
//! `adapters/commonware-2026.10`.

mod common;

use common::chain::{
    App, Backfill, Blk, Chain, Key, Kind, fixture, propose_and_finalize, reached, start_buffer,
    start_marshal,
};
use commonware_consensus::types::Height;
use commonware_cryptography::{Digestible, sha256};
use commonware_p2p::Manager as _;
use commonware_p2p::simulated::{self, Link, Oracle};
use commonware_runtime::{
    Clock as _, Metrics as _, Quota, Runner as _, Supervisor as _, deterministic,
};
use commonware_utils::{NZU32, NZUsize, Probability, ordered::Set, probability};
use std::time::Duration;

type Context = deterministic::Context;

const VALIDATORS: usize = 4;
const RESOLVER_CHANNEL: u64 = 1;
const BUFFER_CHANNEL: u64 = 2;
const BLOCKS: u64 = 20;
/// As the release's marshal harness: the resolver sizes its mailbox by its receiver's
/// capacity, which the simulated network derives from the quota.
const QUOTA: Quota = Quota::per_second(NZU32!(1_024));

/// How the chain runs.
#[derive(Clone, Copy, Debug)]
struct Setup {
    kind: Kind,
    blocks: u64,
    success_rate: Probability,
    jitter: Duration,
    /// The resolvers' sends go nowhere: blocks travel through the buffer alone.
    isolated_resolver: bool,
}

/// What a run produced.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// The digests each validator's application received after genesis, in order.
    delivered: Vec<Vec<sha256::Digest>>,
    /// Subscriptions made before a proposal, and how many were answered in time.
    subscriptions: usize,
    answered: usize,
    /// Messages the network carried on the resolver's and the buffer's channels.
    resolver_messages: u64,
    buffer_messages: u64,
}

impl Outcome {
    fn complete(&self, blocks: u64) -> bool {
        self.delivered.iter().all(|b| b.len() as u64 == blocks)
    }

    fn summary(&self) -> String {
        let heights: Vec<usize> = self.delivered.iter().map(Vec::len).collect();
        format!(
            "blocks delivered per validator {heights:?}, subscriptions answered {}/{}, messages on the buffer's channel {}, on the resolver's {}",
            self.answered, self.subscriptions, self.buffer_messages, self.resolver_messages
        )
    }
}

/// Starts validator `i`'s buffer of `setup.kind` on its buffer channel (none when unbuffered),
/// then its marshal, with its resolver cut off from every peer when the setup says so.
async fn validator(
    context: &Context,
    oracle: &Oracle<Key, Context>,
    i: usize,
    key: &Key,
    scheme: common::chain::S,
    setup: &Setup,
    app: App,
) -> Chain {
    let isolated = setup.isolated_resolver;
    let control = oracle.control(key.clone());
    let (sender, receiver) = control.register(RESOLVER_CHANNEL, QUOTA).await.unwrap();
    // When isolated, every send of this resolver goes nowhere: it can reach no peer.
    let (sender, _) =
        sender.split_with(move |_, recipients, _| (!isolated).then(|| recipients.clone()));
    let backfill = Backfill {
        peer_provider: oracle.manager(),
        blocker: oracle.control(key.clone()),
        channel: (sender, receiver),
    };
    let channel = control.register(BUFFER_CHANNEL, QUOTA).await.unwrap();
    let buffer = start_buffer(
        context.child("buffer").with_attribute("index", i),
        setup.kind,
        key,
        oracle.manager(),
        0,
        2,
        channel,
    );
    start_marshal(context, i, key, scheme, buffer, app, backfill, 0).await
}

/// Runs the chain described by `setup` with `seed`; its outcome and the auditor's state.
fn chain(seed: u64, setup: Setup) -> (Outcome, String) {
    let config = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(3_600)));
    deterministic::Runner::new(config).start(|mut context| async move {
        let fixture = fixture(&mut context, VALIDATORS as u32);
        let keys: Vec<Key> = fixture.participants.clone();
        let (network, oracle) = simulated::Network::new(
            context.child("network"),
            simulated::Config {
                max_size: 1024 * 1024,
                max_peers_per_set: NZUsize!(VALIDATORS),
                disconnect_on_block: true,
                tracked_peer_sets: NZUsize!(1),
            },
        );
        network.start();
        let _ = oracle
            .manager()
            .track(0, Set::from_iter_dedup(keys.iter().cloned()));

        let mut marshals = Vec::new();
        let mut apps = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let app = App::default();
            let scheme = fixture.schemes[i].clone();
            let marshal = validator(&context, &oracle, i, key, scheme, &setup, app.clone()).await;
            marshals.push(marshal);
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
        let mut parent = Blk::genesis().digest();
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
            delivered: apps.iter().map(App::delivered).collect(),
            subscriptions,
            answered,
            resolver_messages: channel_messages(RESOLVER_CHANNEL),
            buffer_messages: channel_messages(BUFFER_CHANNEL),
        };
        (outcome, context.auditor().state())
    })
}

fn buffer_only(kind: Kind) -> Setup {
    Setup {
        kind,
        blocks: BLOCKS,
        success_rate: probability!(1.0),
        jitter: Duration::from_millis(10),
        isolated_resolver: true,
    }
}

/// Runs each setup on `seed`, one after the other, and prints what each produced.
fn run(seed: u64, setups: &[Setup]) -> Vec<Outcome> {
    setups
        .iter()
        .map(|setup| {
            let start = std::time::Instant::now();
            let (outcome, _) = chain(seed, *setup);
            println!(
                "figure: {:?}, {} blocks, loss {:.0}%, resolver {}: {:.0} ms wall; {}",
                setup.kind,
                setup.blocks,
                (1.0 - setup.success_rate.as_f64()) * 100.0,
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

/// Blocks travel through the buffer alone: with shardcast and with the reference, every
/// validator's application gets every block in order, every subscription is answered, and
/// the two deliver the same blocks.
#[test]
fn buffer_only_shardcast_and_the_reference_complete_the_chain_alike() {
    let mut outcomes = run(
        0,
        &[buffer_only(Kind::Shardcast), buffer_only(Kind::Reference)],
    );
    let (reference, shardcast) = (outcomes.pop().unwrap(), outcomes.pop().unwrap());
    for outcome in [&shardcast, &reference] {
        assert!(outcome.complete(BLOCKS), "{outcome:?}");
        assert_eq!(outcome.answered, outcome.subscriptions);
        assert_eq!(
            outcome.resolver_messages, 0,
            "the resolvers reached no peer"
        );
        assert!(outcome.buffer_messages > 0);
    }
    assert_eq!(shardcast.delivered, reference.delivered);
}

/// Negative control: the same buffer-only run with marshal started without a buffer
/// (`Actor::start_unbuffered`) cannot complete, so the test above can fail.
#[test]
fn negative_control_marshal_without_a_buffer_cannot_complete_the_chain() {
    let outcome = run(0, &[buffer_only(Kind::Unbuffered)]).pop().unwrap();
    assert!(!outcome.complete(BLOCKS), "{outcome:?}");
    assert_eq!(outcome.answered, 0);
    assert_eq!(outcome.buffer_messages, 0);
}

/// Lossy, jittery links with backfill on: the resolver fills what the buffer missed, and
/// every application still gets every block; shardcast and the reference deliver the same
/// blocks. The unbuffered control completes too, on the resolver alone, with more resolver
/// traffic than either buffer needs.
#[test]
fn lossy_links_with_backfill_complete_the_chain() {
    let lossy = |kind| Setup {
        kind,
        blocks: BLOCKS,
        success_rate: probability!(4, 5),
        jitter: Duration::from_millis(40),
        isolated_resolver: false,
    };
    let mut outcomes = run(
        0,
        &[
            lossy(Kind::Shardcast),
            lossy(Kind::Reference),
            lossy(Kind::Unbuffered),
        ],
    );
    let unbuffered = outcomes.pop().unwrap();
    let (reference, shardcast) = (outcomes.pop().unwrap(), outcomes.pop().unwrap());
    for outcome in [&shardcast, &reference, &unbuffered] {
        assert!(outcome.complete(BLOCKS), "{outcome:?}");
    }
    assert_eq!(shardcast.delivered, reference.delivered);
    assert_eq!(shardcast.delivered, unbuffered.delivered);
    assert!(unbuffered.resolver_messages > shardcast.resolver_messages);
}

/// The same seed, run twice, gives the same execution.
#[test]
fn the_chain_replays_on_its_seed() {
    let first = chain(3, buffer_only(Kind::Shardcast));
    let second = chain(3, buffer_only(Kind::Shardcast));
    assert!(first.0.complete(BLOCKS), "{:?}", first.0);
    assert_eq!(first.0, second.0);
    assert_eq!(first.1, second.1);
}
