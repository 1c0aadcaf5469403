//! The pieces of a marshal chain shared by the deterministic chain test (`tests/chain.rs`) and
//! the chain over commonware-p2p's authenticated network (`benches/chain.rs`): a block type,
//! an application that records what marshal delivers, a buffer that does nothing, and one
//! validator's marshal with its archives and resolver, on any commonware runtime.

use bytes::{Buf, BufMut};
use commonware_codec::{
    EncodeSize, Error as CodecError, RangeCfg, Read, ReadExt, ReadRangeExt, Write,
};
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
use commonware_p2p::{Blocker, Provider, Recipients};
use commonware_parallel::Sequential;
use commonware_runtime::buffer::paged::CacheRef;
use commonware_runtime::{BufferPooler, Clock, Metrics, Spawner, Storage};
use commonware_storage::archive::immutable;
use commonware_utils::Acknowledgement as _;
use commonware_utils::channel::oneshot;
use rand_core::CryptoRngCore;
use std::num::{NonZeroU16, NonZeroU64, NonZeroUsize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Validators' keys.
pub type Key = ed25519::PublicKey;
/// Their signing scheme (simplex over ed25519).
pub type S = scheme::Scheme;

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
        let mut hasher = Sha256::new();
        hasher.update(parent.as_ref());
        hasher.update(&height.get().to_be_bytes());
        hasher.update(&payload);
        Self {
            parent,
            height,
            payload,
            digest: hasher.finalize(),
        }
    }
}

impl Write for Blk {
    fn write(&self, buf: &mut impl BufMut) {
        self.parent.write(buf);
        self.height.write(buf);
        self.payload.write(buf);
        self.digest.write(buf);
    }
}

impl EncodeSize for Blk {
    fn encode_size(&self) -> usize {
        self.parent.encode_size()
            + self.height.encode_size()
            + self.payload.encode_size()
            + self.digest.encode_size()
    }
}

impl Read for Blk {
    /// The largest payload accepted.
    type Cfg = usize;
    fn read_cfg(buf: &mut impl Buf, max: &usize) -> Result<Self, CodecError> {
        let parent = sha256::Digest::read(buf)?;
        let height = Height::read(buf)?;
        let payload = Vec::<u8>::read_range(buf, RangeCfg::from(..=*max))?;
        let block = Self::new(parent, height, payload);
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
pub struct App {
    /// The digests delivered, in order.
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
                self.arrivals.lock().unwrap().push(Instant::now());
                blocks.len() as u64
            };
            ack.acknowledge();
            self.height.send_replace(height);
        }
    }
}

/// A buffer that stores and sends nothing (subscriptions stay pending, never cancelled).
#[derive(Clone, Default)]
pub struct NullBuffer(Arc<Mutex<Vec<oneshot::Sender<Blk>>>>);

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

/// Opens one of a validator's archives.
async fn archive<E, V>(
    context: &E,
    prefix: &str,
    name: &str,
    page_cache: &CacheRef,
    codec_config: V::Cfg,
) -> immutable::Archive<E, sha256::Digest, V>
where
    E: BufferPooler + Storage + Clock + Metrics,
    V: commonware_codec::Codec + Send + Sync + 'static,
{
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
pub struct Seat<'a> {
    /// Its index (names its storage and metrics).
    pub index: usize,
    /// Its key.
    pub key: &'a Key,
    /// Its signing scheme.
    pub scheme: S,
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

/// Starts a validator's marshal with `buffer`, reporting to `app`, and a p2p resolver on
/// `backfill`; returns its mailbox. `max_payload` bounds the blocks it decodes.
pub async fn start_marshal<E, B, A, Pr, Bl, Sn, Rc>(
    context: &E,
    seat: Seat<'_>,
    buffer: B,
    app: A,
    backfill: Backfill<Pr, Bl, Sn, Rc>,
    max_payload: usize,
) -> Marshal<S, Standard<Blk>>
where
    E: BufferPooler + CryptoRngCore + Spawner + Metrics + Clock + Storage,
    B: Buffer<Standard<Blk>, PublicKey = Key>,
    A: Reporter<Activity = Update<Blk>>,
    Pr: Provider<PublicKey = Key>,
    Bl: Blocker<PublicKey = Key>,
    Sn: commonware_p2p::Sender<PublicKey = Key>,
    Rc: commonware_p2p::Receiver<PublicKey = Key>,
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
        block_codec_config: max_payload,
        partition_prefix: prefix.clone(),
        prunable_items_per_section: NonZeroU64::new(10).unwrap(),
        replay_buffer: NonZeroUsize::new(1024).unwrap(),
        key_write_buffer: NonZeroUsize::new(1024).unwrap(),
        value_write_buffer: NonZeroUsize::new(1024).unwrap(),
        page_cache: page_cache.clone(),
        strategy: Sequential,
    };
    let finalizations = archive::<_, Finalization<S, sha256::Digest>>(
        &context,
        &prefix,
        "finalizations",
        &page_cache,
        S::certificate_codec_config_unbounded(),
    )
    .await;
    let blocks = archive::<_, Blk>(&context, &prefix, "blocks", &page_cache, max_payload).await;

    let resolver_config = resolver::Config {
        public_key: key.clone(),
        peer_provider: backfill.peer_provider,
        blocker: backfill.blocker,
        mailbox_size: 100,
        initial: Duration::from_secs(1),
        timeout: Duration::from_secs(2),
        fetch_retry_timeout: Duration::from_millis(100),
        priority_requests: false,
        priority_responses: false,
    };
    let resolver = resolver::init(
        &context.with_label("resolver"),
        resolver_config,
        backfill.channel,
    );
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

/// A real finalization of `block` at height `h` (view `h`), signed by a quorum of `schemes`.
pub fn finalization(schemes: &[S], h: u64, block: &Blk) -> Finalization<S, sha256::Digest> {
    let proposal = Proposal {
        round: round(h),
        parent: View::new(h - 1),
        payload: block.digest(),
    };
    let finalizes: Vec<_> = schemes
        .iter()
        .take(schemes.len() * 2 / 3 + 1)
        .map(|s| Finalize::sign(s, proposal.clone()).expect("a signer"))
        .collect();
    Finalization::from_finalizes(&schemes[0], &finalizes, &Sequential).expect("a quorum")
}

/// The round of height `h`: epoch 0, view `h`.
pub fn round(h: u64) -> Round {
    Round::new(Epoch::zero(), View::new(h))
}

/// The validators' signing fixture.
pub fn fixture<R: rand_core::RngCore + rand_core::CryptoRng>(
    rng: &mut R,
    n: u32,
) -> commonware_cryptography::certificate::mocks::Fixture<S> {
    scheme::fixture(rng, b"shardcast-chain", n)
}

/// The user and system CPU time this process has used, in seconds (Linux; 0 elsewhere).
pub fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // After the command name (in parentheses), utime and stime are the 12th and 13th fields.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<f64>().ok())
        .sum();
    ticks / 100.0
}

/// One height of the chain: every validator but the proposer (`h` modulo their number)
/// subscribes to `block` through marshal, as consensus does when it verifies; the proposer
/// proposes it; each subscription waits up to `wait` for the buffer; then every validator is
/// handed a real finalization. Returns how many subscriptions the buffer answered in time, and
/// when the block was proposed.
pub async fn propose_and_finalize<E: Clock>(
    context: &E,
    marshals: &mut [Marshal<S, Standard<Blk>>],
    schemes: &[S],
    h: u64,
    block: &Blk,
    wait: Duration,
) -> (usize, Instant) {
    let proposer = (h % marshals.len() as u64) as usize;
    let mut waiting = Vec::new();
    for (i, marshal) in marshals.iter().enumerate() {
        if i != proposer {
            waiting.push(marshal.subscribe_by_digest(None, block.digest()).await);
        }
    }
    let proposed = Instant::now();
    marshals[proposer].proposed(round(h), block.clone()).await;
    let mut answered = 0;
    for receiver in waiting {
        if let Ok(Ok(got)) = context.timeout(wait, receiver).await {
            assert_eq!(&got, block, "the subscribed block");
            answered += 1;
        }
    }
    let finalization = finalization(schemes, h, block);
    for marshal in marshals.iter_mut() {
        marshal
            .report(Activity::Finalization(finalization.clone()))
            .await;
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
