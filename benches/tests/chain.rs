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

use bytes::{Buf, BufMut};
use commonware_broadcast::buffered;
use commonware_codec::{EncodeSize, Error as CodecError, Read, ReadExt, Write};
use commonware_consensus::marshal::core::{Actor, Buffer, Mailbox as Marshal};
use commonware_consensus::marshal::resolver::p2p as resolver;
use commonware_consensus::marshal::standard::Standard;
use commonware_consensus::marshal::{self, Update};
use commonware_consensus::simplex::scheme::ed25519 as scheme;
use commonware_consensus::simplex::types::{Activity, Finalization, Finalize, Proposal};
use commonware_consensus::types::{Epoch, FixedEpocher, Height, Round, View, ViewDelta};
use commonware_consensus::{Heightable, Reporter};
use commonware_cryptography::certificate::{ConstantProvider, Scheme as _};
use commonware_cryptography::{Digestible, Hasher, Sha256, ed25519, sha256};
use commonware_p2p::simulated::{self, Link, Oracle};
use commonware_p2p::{Manager as _, Recipients};
use commonware_parallel::Sequential;
use commonware_runtime::buffer::paged::CacheRef;
use commonware_runtime::{Clock, Metrics as _, Quota, Runner as _, deterministic};
use commonware_storage::archive::immutable;
use commonware_utils::Acknowledgement as _;
use commonware_utils::channel::oneshot;
use commonware_utils::ordered::Set;
use std::num::{NonZeroU16, NonZeroU32, NonZeroU64, NonZeroUsize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Key = ed25519::PublicKey;
type Context = deterministic::Context;
type S = scheme::Scheme;

const VALIDATORS: usize = 4;
const RESOLVER_CHANNEL: u64 = 1;
const BUFFER_CHANNEL: u64 = 2;

/// A block: its parent's digest and its height, identified by the hash of both.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Blk {
    parent: sha256::Digest,
    height: Height,
    digest: sha256::Digest,
}

impl Blk {
    fn new(parent: sha256::Digest, height: Height) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(parent.as_ref());
        hasher.update(&height.get().to_be_bytes());
        Self {
            parent,
            height,
            digest: hasher.finalize(),
        }
    }
}

impl Write for Blk {
    fn write(&self, buf: &mut impl BufMut) {
        self.parent.write(buf);
        self.height.write(buf);
        self.digest.write(buf);
    }
}

impl EncodeSize for Blk {
    fn encode_size(&self) -> usize {
        self.parent.encode_size() + self.height.encode_size() + self.digest.encode_size()
    }
}

impl Read for Blk {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let block = Self::new(sha256::Digest::read(buf)?, Height::read(buf)?);
        // The digest on the wire must be the block's own.
        if sha256::Digest::read(buf)? != block.digest {
            return Err(CodecError::Invalid("Blk", "digest"));
        }
        Ok(block)
    }
}

impl Digestible for Blk {
    type Digest = sha256::Digest;
    fn digest(&self) -> sha256::Digest {
        self.digest
    }
}

impl Heightable for Blk {
    fn height(&self) -> Height {
        self.height
    }
}

impl commonware_consensus::Block for Blk {
    fn parent(&self) -> sha256::Digest {
        self.parent
    }
}

/// The application: records the blocks marshal delivers, checks they come in height order,
/// and acknowledges each.
#[derive(Clone)]
struct App {
    blocks: Arc<Mutex<Vec<sha256::Digest>>>,
    height: tokio::sync::watch::Sender<u64>,
}

impl App {
    fn new() -> Self {
        Self {
            blocks: Arc::default(),
            height: tokio::sync::watch::channel(0).0,
        }
    }
}

impl Reporter for App {
    type Activity = Update<Blk>;

    async fn report(&mut self, activity: Update<Blk>) {
        if let Update::Block(block, ack) = activity {
            let height = {
                let mut blocks = self.blocks.lock().unwrap();
                assert_eq!(
                    block.height().get(),
                    blocks.len() as u64 + 1,
                    "blocks in height order"
                );
                blocks.push(block.digest());
                blocks.len() as u64
            };
            ack.acknowledge();
            self.height.send_replace(height);
        }
    }
}

/// A buffer that stores and sends nothing (subscriptions stay pending, never cancelled).
#[derive(Clone, Default)]
struct NullBuffer(Arc<Mutex<Vec<oneshot::Sender<Blk>>>>);

impl Buffer<Standard<Blk>> for NullBuffer {
    type PublicKey = Key;
    type CachedBlock = Blk;
    async fn find_by_digest(&self, _: sha256::Digest) -> Option<Blk> {
        None
    }
    async fn find_by_commitment(&self, _: sha256::Digest) -> Option<Blk> {
        None
    }
    async fn subscribe_by_digest(&self, _: sha256::Digest) -> oneshot::Receiver<Blk> {
        let (tx, rx) = oneshot::channel();
        self.0.lock().unwrap().push(tx);
        rx
    }
    async fn subscribe_by_commitment(&self, _: sha256::Digest) -> oneshot::Receiver<Blk> {
        let (tx, rx) = oneshot::channel();
        self.0.lock().unwrap().push(tx);
        rx
    }
    async fn finalized(&self, _: sha256::Digest) {}
    async fn send(&self, _: Round, _: Blk, _: Recipients<Key>) {}
}

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

async fn archive<V: commonware_codec::Codec + Send + Sync + 'static>(
    context: &Context,
    prefix: &str,
    name: &str,
    page_cache: &CacheRef,
    codec_config: V::Cfg,
) -> immutable::Archive<Context, sha256::Digest, V> {
    immutable::Archive::init(
        context.with_label(name),
        immutable::Config {
            metadata_partition: format!("{prefix}-{name}-metadata"),
            freezer_table_partition: format!("{prefix}-{name}-freezer-table"),
            freezer_table_initial_size: 64,
            freezer_table_resize_frequency: 10,
            freezer_table_resize_chunk_size: 10,
            freezer_key_partition: format!("{prefix}-{name}-freezer-key"),
            freezer_key_page_cache: page_cache.clone(),
            freezer_value_partition: format!("{prefix}-{name}-freezer-value"),
            freezer_value_target_size: 1024,
            freezer_value_compression: None,
            ordinal_partition: format!("{prefix}-{name}-ordinal"),
            items_per_section: NonZeroU64::new(10).unwrap(),
            codec_config,
            replay_buffer: NonZeroUsize::new(1024).unwrap(),
            freezer_key_write_buffer: NonZeroUsize::new(1024).unwrap(),
            freezer_value_write_buffer: NonZeroUsize::new(1024).unwrap(),
            ordinal_write_buffer: NonZeroUsize::new(1024).unwrap(),
        },
    )
    .await
    .expect("archive")
}

/// One validator: its index, key and signing scheme.
struct Seat<'a> {
    index: usize,
    key: &'a Key,
    scheme: S,
}

/// Starts a validator's marshal with `buffer`; returns its mailbox.
async fn start_marshal<B>(
    context: &Context,
    oracle: &Oracle<Key, Context>,
    seat: Seat<'_>,
    buffer: B,
    app: App,
    isolated_resolver: bool,
) -> Marshal<S, Standard<Blk>>
where
    B: Buffer<Standard<Blk>, PublicKey = Key>,
{
    let Seat {
        index: i,
        key,
        scheme,
    } = seat;
    let context = context.with_label(&format!("validator{i}"));
    let prefix = format!("validator-{i}");
    let page_cache = CacheRef::from_pooler(
        &context,
        NonZeroU16::new(1024).unwrap(),
        NonZeroUsize::new(10).unwrap(),
    );
    let config = marshal::Config {
        provider: ConstantProvider::<S, Epoch>::new(scheme),
        epocher: FixedEpocher::new(NonZeroU64::new(1_000).unwrap()),
        mailbox_size: 100,
        view_retention_timeout: ViewDelta::new(10),
        max_repair: NonZeroUsize::new(10).unwrap(),
        max_pending_acks: NonZeroUsize::new(1).unwrap(),
        block_codec_config: (),
        partition_prefix: prefix.clone(),
        prunable_items_per_section: NonZeroU64::new(10).unwrap(),
        replay_buffer: NonZeroUsize::new(1024).unwrap(),
        key_write_buffer: NonZeroUsize::new(1024).unwrap(),
        value_write_buffer: NonZeroUsize::new(1024).unwrap(),
        page_cache: page_cache.clone(),
        strategy: Sequential,
    };
    let finalizations = archive::<Finalization<S, sha256::Digest>>(
        &context,
        &prefix,
        "finalizations",
        &page_cache,
        S::certificate_codec_config_unbounded(),
    )
    .await;
    let blocks = archive::<Blk>(&context, &prefix, "blocks", &page_cache, ()).await;

    let control = oracle.control(key.clone());
    let (sender, receiver) = control
        .register(RESOLVER_CHANNEL, Quota::per_second(NonZeroU32::MAX))
        .await
        .unwrap();
    let resolver_config = resolver::Config {
        public_key: key.clone(),
        peer_provider: oracle.manager(),
        blocker: oracle.control(key.clone()),
        mailbox_size: 100,
        initial: Duration::from_secs(1),
        timeout: Duration::from_secs(2),
        fetch_retry_timeout: Duration::from_millis(100),
        priority_requests: false,
        priority_responses: false,
    };
    let resolver_context = context.with_label("resolver");
    let resolver = if isolated_resolver {
        // Every send of this resolver goes nowhere: it can reach no peer.
        let (sender, _) = sender.split_with(|_, _, _| None);
        resolver::init(&resolver_context, resolver_config, (sender, receiver))
    } else {
        let (sender, _) = sender.split_with(|_, recipients, _| Some(recipients.clone()));
        resolver::init(&resolver_context, resolver_config, (sender, receiver))
    };
    let (actor, mailbox, _) =
        Actor::<_, Standard<Blk>, _, _, _, _, _, commonware_utils::acknowledgement::Exact>::init(
            context.with_label("marshal"),
            finalizations,
            blocks,
            config,
        )
        .await;
    actor.start(app, buffer, resolver);
    mailbox
}

/// Runs the chain described by `setup` with `seed`.
fn chain(seed: u64, setup: Setup) -> (Outcome, String) {
    let config = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(3_600)));
    deterministic::Runner::new(config).start(|mut context| async move {
        let fixture = scheme::fixture(&mut context, b"shardcast-chain", VALIDATORS as u32);
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
            let app = App::new();
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
                    let (engine, buffer) = shardcast::marshal::buffer_for_marshal(
                        buffer_context,
                        shardcast::commonware::Config {
                            public_key: key.clone(),
                            deque_size: 10,
                            peer_bytes: None,
                            priority: false,
                            codec_config: (),
                            peer_provider: oracle.manager(),
                            workers: NonZeroUsize::new(2).unwrap(),
                            max_message_size: None,
                            max_queued_bytes: shardcast::engine::DEFAULT_MAX_QUEUED_BYTES,
                            peer_metrics: false,
                        },
                    );
                    engine.start(channel);
                    let isolated = setup.isolated_resolver;
                    start_marshal(&context, &oracle, seat, buffer, app.clone(), isolated).await
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
                            codec_config: (),
                            peer_provider: oracle.manager(),
                        },
                    );
                    engine.start(channel);
                    let isolated = setup.isolated_resolver;
                    start_marshal(&context, &oracle, seat, buffer, app.clone(), isolated).await
                }
                Kind::Null => {
                    let isolated = setup.isolated_resolver;
                    let buffer = NullBuffer::default();
                    start_marshal(&context, &oracle, seat, buffer, app.clone(), isolated).await
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
            let block = Blk::new(parent, Height::new(h));
            parent = block.digest();
            let round = Round::new(Epoch::zero(), View::new(h));
            let proposer = (h % VALIDATORS as u64) as usize;
            // The others subscribe first, as consensus does when it verifies a proposal.
            let mut waiting = Vec::new();
            for (i, marshal) in marshals.iter().enumerate() {
                if i != proposer {
                    waiting.push(marshal.subscribe_by_digest(None, block.digest()).await);
                }
            }
            marshals[proposer].proposed(round, block.clone()).await;
            for receiver in waiting {
                subscriptions += 1;
                if let Ok(Ok(got)) = context.timeout(Duration::from_secs(2), receiver).await {
                    assert_eq!(got, block);
                    answered += 1;
                }
            }
            let proposal = Proposal {
                round,
                parent: View::new(h - 1),
                payload: block.digest(),
            };
            let finalizes: Vec<_> = fixture
                .schemes
                .iter()
                .take(3)
                .map(|s| Finalize::sign(s, proposal.clone()).expect("a signer"))
                .collect();
            let finalization =
                Finalization::from_finalizes(&fixture.schemes[0], &finalizes, &Sequential)
                    .expect("a quorum");
            for marshal in &mut marshals {
                marshal
                    .report(Activity::Finalization(finalization.clone()))
                    .await;
            }
        }
        // Every application reaches the last height, or the run gives up after a minute of
        // simulated time.
        for app in &apps {
            let mut height = app.height.subscribe();
            let _ = context
                .timeout(Duration::from_secs(60), async move {
                    height.wait_for(|h| *h >= setup.blocks).await.map(|_| ())
                })
                .await;
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
                "{:?}, {} blocks, loss {:.0}%, resolver {}: {:.0} ms wall; {}",
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
        "200-block chain, buffer only, median of 5 seeds: shardcast {s:.0} ms, reference {r:.0} ms, shardcast / reference {:.2}",
        s / r
    );
}
