//! The pieces of a marshal chain on commonware-consensus 2026.10, shared by the chain test
//! (`tests/chain.rs`) and the chain benchmark (`benches/chain.rs`): a block type, an
//! application that records what marshal delivers, one validator's marshal with its archives
//! and its p2p resolver, real ed25519 finalizations, and one height of the chain driven
//! through marshal's mailbox as consensus drives it. Generic over the runtime, so the test
//! runs it on the deterministic runtime and the benchmark on tokio.

use commonware_actor::Feedback;
use commonware_broadcast::buffered as reference;
use commonware_codec::{
    Buf, EncodeSize, Error as CodecError, RangeCfg, Read, ReadExt as _, ReadRangeExt, Write,
};
use commonware_consensus::marshal::core::{Actor, Buffer, DigestFallback, Mailbox as Marshal};
use commonware_consensus::marshal::resolver::p2p as resolver;
use commonware_consensus::marshal::standard::Standard;
use commonware_consensus::marshal::{self, Start, Update};
use commonware_consensus::simplex::scheme::ed25519 as scheme;
use commonware_consensus::simplex::types::{Activity, Finalization, Finalize, Proposal};
use commonware_consensus::types::{Epoch, FixedEpocher, Height, Round, View, ViewDelta};
use commonware_consensus::{Heightable, Reporter};
use commonware_cryptography::certificate::{ConstantProvider, Verifier as _};
use commonware_cryptography::{Digested, Digestible, Hasher as _, Sha256, ed25519, sha256};
use commonware_p2p::{Blocker, Provider, Recipients};
use commonware_parallel::Sequential;
use commonware_runtime::buffer::paged::CacheRef;
use commonware_runtime::{BufMut, Clock, Metrics, Spawner, Storage, Supervisor};
use commonware_storage::archive::immutable;
use commonware_utils::channel::oneshot;
use commonware_utils::{Acknowledgement as _, NZDuration, NZU16, NZU64, NZUsize, non_empty};
use shardcast_commonware_2026_10 as shardcast;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Validators' keys.
pub type Key = ed25519::PublicKey;
/// Their signing scheme (simplex over ed25519).
pub type S = scheme::Scheme;
/// A validator's marshal mailbox.
pub type Chain = Marshal<S, Standard<Blk>>;

/// A block: its parent's digest, its height and a payload, identified by the hash of all three.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blk {
    parent: sha256::Digest,
    height: Height,
    payload: Vec<u8>,
    digest: sha256::Digest,
}

impl Blk {
    /// The block at `height` on `parent`, carrying `payload`.
    pub fn new(parent: sha256::Digest, height: Height, payload: Vec<u8>) -> Self {
        let digest = Sha256::hash(&[parent.as_ref(), &height.get().to_be_bytes(), &payload]);
        Self {
            parent,
            height,
            payload,
            digest,
        }
    }

    /// The genesis block (height 0), which marshal delivers first.
    pub fn genesis() -> Self {
        Self::new(Sha256::hash(&[b""]), Height::zero(), Vec::new())
    }

    /// The block with its digest, as marshal and the buffers take it.
    pub fn digested(&self) -> Digested<Self> {
        Digested::precomputed(self.clone(), self.digest)
    }
}

impl Write for Blk {
    fn write(&self, buf: &mut impl BufMut) {
        self.parent.write(buf);
        self.height.write(buf);
        self.payload.write(buf);
    }
}

impl EncodeSize for Blk {
    fn encode_size(&self) -> usize {
        self.parent.encode_size() + self.height.encode_size() + self.payload.encode_size()
    }
}

impl Read for Blk {
    /// The largest payload accepted.
    type Cfg = usize;
    fn read_cfg(buf: &mut impl Buf, max: &usize) -> Result<Self, CodecError> {
        let parent = sha256::Digest::read(buf)?;
        let height = Height::read(buf)?;
        let payload = Vec::<u8>::read_range(buf, RangeCfg::from(..=*max))?;
        Ok(Self::new(parent, height, payload))
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

/// The application: records the blocks marshal delivers (genesis first), checks they come in
/// height order, and acknowledges each.
#[derive(Clone)]
pub struct App {
    /// The digests delivered, in order, genesis included.
    pub blocks: Arc<Mutex<Vec<sha256::Digest>>>,
    /// When each was delivered (wall clock), in order.
    pub arrivals: Arc<Mutex<Vec<Instant>>>,
    /// The height reached.
    pub height: tokio::sync::watch::Sender<u64>,
}

impl Default for App {
    fn default() -> Self {
        Self {
            blocks: Arc::default(),
            arrivals: Arc::default(),
            height: tokio::sync::watch::channel(0).0,
        }
    }
}

impl App {
    /// The digests delivered after genesis, in order.
    pub fn delivered(&self) -> Vec<sha256::Digest> {
        self.blocks
            .lock()
            .unwrap()
            .iter()
            .skip(1)
            .copied()
            .collect()
    }
}

impl Reporter for App {
    type Activity = Update<Blk>;

    fn report(&mut self, activity: Update<Blk>) -> Feedback {
        if let Update::Block(block, ack) = activity {
            let height = {
                let mut blocks = self.blocks.lock().unwrap();
                assert_eq!(
                    block.height().get(),
                    blocks.len() as u64,
                    "blocks in height order, exactly once"
                );
                blocks.push(block.digest());
                self.arrivals.lock().unwrap().push(Instant::now());
                blocks.len() as u64 - 1
            };
            ack.acknowledge();
            self.height.send_replace(height);
        }
        Feedback::Ok
    }
}

/// Which block buffer a validator's marshal runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// shardcast's mailbox.
    Shardcast,
    /// The release's reference, `commonware_broadcast::buffered`.
    Reference,
    /// No buffer at all: `Actor::start_unbuffered`.
    Unbuffered,
}

/// Either buffer, behind marshal's `Buffer` trait (one branch per call).
#[derive(Clone)]
pub enum Buffers {
    /// shardcast's mailbox.
    Shardcast(shardcast::Mailbox<Key, Blk>),
    /// The reference's mailbox.
    Reference(reference::Mailbox<Key, Blk>),
}

impl Buffer<Standard<Blk>> for Buffers {
    type PublicKey = Key;

    async fn find_by_digest(&self, digest: sha256::Digest) -> Option<Digested<Blk>> {
        match self {
            Self::Shardcast(b) => Buffer::<Standard<Blk>>::find_by_digest(b, digest).await,
            Self::Reference(b) => Buffer::<Standard<Blk>>::find_by_digest(b, digest).await,
        }
    }

    async fn find_by_commitment(&self, commitment: sha256::Digest) -> Option<Digested<Blk>> {
        match self {
            Self::Shardcast(b) => Buffer::<Standard<Blk>>::find_by_commitment(b, commitment).await,
            Self::Reference(b) => Buffer::<Standard<Blk>>::find_by_commitment(b, commitment).await,
        }
    }

    fn subscribe_by_digest(
        &self,
        digest: sha256::Digest,
    ) -> Option<oneshot::Receiver<Digested<Blk>>> {
        match self {
            Self::Shardcast(b) => Buffer::<Standard<Blk>>::subscribe_by_digest(b, digest),
            Self::Reference(b) => Buffer::<Standard<Blk>>::subscribe_by_digest(b, digest),
        }
    }

    fn subscribe_by_commitment(
        &self,
        commitment: sha256::Digest,
    ) -> Option<oneshot::Receiver<Digested<Blk>>> {
        match self {
            Self::Shardcast(b) => Buffer::<Standard<Blk>>::subscribe_by_commitment(b, commitment),
            Self::Reference(b) => Buffer::<Standard<Blk>>::subscribe_by_commitment(b, commitment),
        }
    }

    fn send(&self, round: Round, block: Digested<Blk>, recipients: Recipients<Key>) {
        match self {
            Self::Shardcast(b) => Buffer::<Standard<Blk>>::send(b, round, block, recipients),
            Self::Reference(b) => Buffer::<Standard<Blk>>::send(b, round, block, recipients),
        }
    }
}

/// Starts a buffer of `kind` for `key` on `channel` (deque 10, the reference's literal;
/// shardcast with `workers` receive workers), decoding blocks of at most `max_payload`; `None`
/// for [`Kind::Unbuffered`].
pub fn start_buffer<E, Pr, Sn, Rc>(
    context: E,
    kind: Kind,
    key: &Key,
    peer_provider: Pr,
    max_payload: usize,
    workers: usize,
    channel: (Sn, Rc),
) -> Option<Buffers>
where
    E: Spawner + Metrics + Clock,
    Pr: Provider<PublicKey = Key>,
    Sn: commonware_p2p::Sender<PublicKey = Key>,
    Rc: commonware_p2p::Receiver<PublicKey = Key>,
{
    match kind {
        Kind::Shardcast => {
            let (engine, buffer) = shardcast::Engine::with_options(
                context,
                shardcast::Config {
                    public_key: key.clone(),
                    mailbox_size: NZUsize!(1024),
                    deque_size: 10,
                    priority: false,
                    codec_config: max_payload,
                    peer_provider,
                    strategy: Sequential,
                },
                shardcast::Options::default().with_workers(workers),
            );
            drop(engine.start(channel));
            Some(Buffers::Shardcast(buffer))
        }
        Kind::Reference => {
            let (engine, buffer) = reference::Engine::new(
                context,
                reference::Config {
                    public_key: key.clone(),
                    mailbox_size: NZUsize!(1024),
                    deque_size: 10,
                    priority: false,
                    codec_config: max_payload,
                    peer_provider,
                    strategy: Sequential,
                },
            );
            drop(engine.start(channel));
            Some(Buffers::Reference(buffer))
        }
        Kind::Unbuffered => None,
    }
}

/// One of a validator's archives.
fn archive_config<C>(
    prefix: &str,
    name: &str,
    page_cache: &CacheRef,
    codec: C,
) -> immutable::Config<C> {
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
        items_per_section: NZU64!(10),
        freezer_key_write_buffer: NZUsize!(1024),
        freezer_value_write_buffer: NZUsize!(1024),
        ordinal_write_buffer: NZUsize!(1024),
        replay_buffer: NZUsize!(1024),
        codec_config: codec,
    }
}

/// How a validator's resolver reaches its peers.
pub struct Backfill<Pr, Bl, Sn, Rc> {
    /// Who the peers are.
    pub peer_provider: Pr,
    /// Whom to block.
    pub blocker: Bl,
    /// The resolver's channel.
    pub channel: (Sn, Rc),
}

/// Starts validator `index`'s marshal (key `key`, signing with `scheme`) with `buffer`, or
/// with no buffer at all (`Actor::start_unbuffered`) when `buffer` is `None`, and a p2p
/// resolver on `backfill`; returns its mailbox. `max_payload` bounds the blocks it decodes.
#[allow(clippy::too_many_arguments)]
pub async fn start_marshal<E, B, Pr, Bl, Sn, Rc>(
    context: &E,
    index: usize,
    key: &Key,
    scheme: S,
    buffer: Option<B>,
    app: App,
    backfill: Backfill<Pr, Bl, Sn, Rc>,
    max_payload: usize,
) -> Chain
where
    E: rand_core::CryptoRng + Spawner + Metrics + Clock + Storage + Supervisor,
    B: Buffer<Standard<Blk>, PublicKey = Key>,
    Pr: Provider<PublicKey = Key>,
    Bl: Blocker<PublicKey = Key>,
    Sn: commonware_p2p::Sender<PublicKey = Key>,
    Rc: commonware_p2p::Receiver<PublicKey = Key>,
{
    let context = context.child("validator").with_attribute("index", index);
    let prefix = format!("validator-{index}");
    let page_cache = CacheRef::new(NZU16!(1024), NZUsize!(10));
    let resolver = resolver::init(
        context.child("resolver"),
        resolver::Config {
            public_key: key.clone(),
            peer_provider: backfill.peer_provider,
            blocker: backfill.blocker,
            mailbox_size: NZUsize!(100),
            fetch_timeout: NZDuration!(Duration::from_secs(2)),
            fetch_retry_delay: Duration::from_millis(100),
            priority_requests: false,
            priority_responses: false,
        },
        backfill.channel,
    );
    let finalizations =
        immutable::Archive::<_, sha256::Digest, Finalization<S, sha256::Digest>>::init(
            context.child("finalizations_by_height"),
            archive_config(
                &prefix,
                "finalizations",
                &page_cache,
                S::certificate_codec_config_unbounded(),
            ),
        )
        .await
        .expect("finalizations archive");
    let blocks = immutable::Archive::<_, sha256::Digest, Arc<Blk>>::init(
        context.child("finalized_blocks"),
        archive_config(&prefix, "blocks", &page_cache, max_payload),
    )
    .await
    .expect("blocks archive");
    let config = marshal::Config {
        provider: ConstantProvider::<S, Epoch>::new(scheme),
        epocher: FixedEpocher::new(NZU64!(1_000)),
        start: Start::Genesis(Blk::genesis().digested()),
        partition_prefix: prefix,
        mailbox_size: NZUsize!(100),
        view_retention: ViewDelta::new(10),
        prunable_items_per_section: NZU64!(10),
        page_cache,
        replay_buffer: NZUsize!(1024),
        key_write_buffer: NZUsize!(1024),
        value_write_buffer: NZUsize!(1024),
        block_codec_config: max_payload,
        max_repair: NZUsize!(10),
        max_pending_acks: NZUsize!(1),
        strategy: Sequential,
    };
    let (actor, mailbox, _floor) = Actor::<_, Standard<Blk>, _, _, _, _, _>::init(
        context.child("actor"),
        finalizations,
        blocks,
        config,
    )
    .await;
    match buffer {
        Some(buffer) => drop(actor.start(app, buffer, resolver)),
        None => drop(actor.start_unbuffered(app, resolver)),
    }
    mailbox
}

/// A real finalization of `block` at height `h` (view `h`), signed by a quorum of `schemes`.
pub fn finalization(schemes: &[S], h: u64, block: &Blk) -> Finalization<S, sha256::Digest> {
    let proposal = Proposal::new(round(h), View::new(h - 1), block.digest());
    let finalizes: Vec<_> = schemes
        .iter()
        .take(schemes.len() * 2 / 3 + 1)
        .map(|s| Finalize::sign(s, proposal.clone()).expect("a signer"))
        .collect();
    Finalization::from_finalizes(&schemes[0], non_empty![@&finalizes], &Sequential)
        .expect("a quorum")
}

/// The round of height `h`: epoch 0, view `h`.
pub fn round(h: u64) -> Round {
    Round::new(Epoch::zero(), View::new(h))
}

/// The validators' signing fixture.
pub fn fixture<R: rand_core::CryptoRng>(
    rng: &mut R,
    n: u32,
) -> commonware_cryptography::certificate::mocks::Fixture<S> {
    scheme::fixture(rng, b"shardcast-chain", n)
}

/// One height of the chain: every validator but the proposer (`h` modulo their number)
/// subscribes to `block` through marshal, as consensus does when it verifies; the proposer
/// proposes it; each subscription waits up to `wait`; then every validator is handed a real
/// finalization. Returns how many subscriptions were answered in time, and when the block
/// was proposed.
pub async fn propose_and_finalize<E: Clock>(
    context: &E,
    marshals: &mut [Chain],
    schemes: &[S],
    h: u64,
    block: &Blk,
    wait: Duration,
) -> (usize, Instant) {
    let proposer = (h % marshals.len() as u64) as usize;
    let waiting: Vec<_> = marshals
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != proposer)
        .map(|(_, marshal)| marshal.subscribe_by_digest(block.digest(), DigestFallback::Wait))
        .collect();
    let proposed = Instant::now();
    let (durable, _) = oneshot::channel();
    let _ = marshals[proposer].proposed(round(h), block.digested(), Recipients::All, durable);
    let mut answered = 0;
    for receiver in waiting {
        if let Ok(Ok(got)) = context.timeout(wait, receiver).await {
            assert_eq!(got.inner(), block, "the subscribed block");
            answered += 1;
        }
    }
    let finalization = finalization(schemes, h, block);
    for marshal in marshals.iter_mut() {
        let _ = marshal.report(Activity::Finalization(finalization.clone()));
    }
    (answered, proposed)
}

/// Waits up to `wait` until `app` has received height `h`; whether it has.
pub async fn reached<E: Clock>(context: &E, app: &App, h: u64, wait: Duration) -> bool {
    let mut height = app.height.subscribe();
    let reached = context
        .timeout(wait, async move {
            height.wait_for(|reached| *reached >= h).await.map(|_| ())
        })
        .await;
    matches!(reached, Ok(Ok(())))
}
