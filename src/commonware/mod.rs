//! shardcast on commonware (feature `commonware`): a drop-in for the actor engine
//! `commonware_broadcast::buffered` 2026.4.0, on any commonware runtime, on the network its
//! users already run.
//!
//! [`Engine::new`] takes a runtime context and a [`Config`] and returns the engine and a
//! [`Mailbox`]; [`Engine::start`] takes the `(sender, receiver)` pair of a commonware-p2p channel
//! and returns the runtime's `Handle`, exactly as `buffered::Engine` does. The mailbox has the
//! reference's methods and types, with the application's own message type `M`:
//!
//! ```no_run
//! # use shardcast::commonware::{Config, Engine};
//! # async fn example<E, M>(
//! #     context: E,
//! #     config: Config<commonware_cryptography::ed25519::PublicKey, M::Cfg, commonware_p2p::simulated::Manager<commonware_cryptography::ed25519::PublicKey, E>>,
//! #     network: (commonware_p2p::simulated::Sender<commonware_cryptography::ed25519::PublicKey, E>, commonware_p2p::simulated::Receiver<commonware_cryptography::ed25519::PublicKey>),
//! #     message: M,
//! # ) where
//! #     E: commonware_runtime::Spawner + commonware_runtime::Clock + commonware_runtime::Metrics,
//! #     M: commonware_cryptography::Digestible + commonware_codec::Codec + Clone + Send + Sync + 'static,
//! #     M::Cfg: Clone + Send + Sync + 'static,
//! # {
//! use commonware_p2p::Recipients;
//!
//! let (engine, mailbox) = Engine::new(context, config);
//! let handle = engine.start(network);
//!
//! let digest = message.digest();
//! let sent_to = mailbox.broadcast(Recipients::All, message).await; // inserted locally already
//! let cached = mailbox.get(digest).await;                           // straight from the cache
//! let arrives = mailbox.subscribe(digest).await;                    // a oneshot::Receiver<M>
//! handle.abort();                                                   // pending ones: Canceled
//! # }
//! ```
//!
//! Under the mailbox there is no actor and no request queue: `get` and `subscribe` read the
//! shared [`Buffer`] directly, `broadcast` inserts before it returns and hands the send to the
//! engine's sender task, and received frames are decoded and inserted by `workers` parallel
//! workers. Everything runs through the context given to [`Engine::new`] (see
//! [`crate::runtime`]): on the deterministic runtime one seed gives one execution.
//!
//! The lower-level pieces stay available for the tokio-only [`crate::engine::Engine`]:
//! [`P2pSender`], [`P2pReceiver`] and [`P2pPeerSets`] adapt a commonware `Sender`, `Receiver`
//! and `Provider` to shardcast's transport traits ([`crate::net`]), and [`Wire`] makes any
//! commonware `Digestible + Codec` type a shardcast [`Message`] + [`Codec`] with the same bytes
//! on the wire.
//!
//! # Migration from `buffered`
//!
//! | actor engine (`buffered`) | shardcast (`shardcast::commonware`) | what changes |
//! |---|---|---|
//! | `Engine::new(context, Config { public_key, mailbox_size, deque_size, priority, codec_config, peer_provider })` | `Engine::new(context, Config { public_key, deque_size, peer_bytes, priority, codec_config, peer_provider, workers, max_message_size, max_queued_bytes, peer_metrics })` | no `mailbox_size` (no mailbox queue); `workers` receive workers decode in parallel; an optional frame limit; the `peer` metric is opt-in |
//! | `engine.start((sender, receiver))` -> `Handle<()>` | same | |
//! | `mailbox.broadcast(recipients, m).await` -> `oneshot::Receiver<Vec<P>>` | same | inserted locally when it returns; the send never blocks the caller and completes if the caller moves on |
//! | `mailbox.subscribe(d).await` -> `oneshot::Receiver<M>` | same | a dropped receiver frees its registration at once |
//! | `mailbox.subscribe_prepared(d, responder).await` | same | |
//! | `mailbox.get(d).await` -> `Option<M>` | same | no round trip to a task |
//! | `handle.abort()`, `context.stop(..)` | same | pending subscriptions and queued broadcasts resolve `Canceled`, later ones too; `get` returns `None` |
//! | metrics in `context.encode()`: `receive`, `peer`, `subscribe`, `get`, `waiters` | same names and labels, plus `cached`, `cached_bytes`, `subscriptions`, `evictions` | `waiters` is exact at every instant; `peer` only with `peer_metrics` |
//!
//! Not the same: the reference serialises every request on one loop, so under load its
//! mailbox applies back-pressure to callers; shardcast's calls never wait on each other.
//! Broadcasts made before `start` are queued, and inserted by the engine's sender task when it
//! reaches them, after the initial peer set when the provider had one ready at `start` (the
//! in-tree providers do), as the reference does with its queued requests; until then `get` does
//! not find them, and a broadcast made right after `start` may be inserted before them.

pub use commonware_codec as codec;
pub use commonware_cryptography as cryptography;
pub use commonware_p2p as p2p;
pub use commonware_runtime as runtime;
pub use commonware_utils as utils;

mod forward;

use crate::config::ConfigError;
use crate::engine::{self, EngineConfig, Outbox, Outgoing};
use crate::message::{Codec, DecodeError, Message};
use crate::metrics::Metrics;
use crate::net::{
    PeerSetSource, PeerSetUpdate, Receiver, Recipients, RecvError, SendError, Sender,
};
use crate::runtime::Commonware;
use crate::{Buffer, Config as BufferConfig};
use bytes::{Bytes, BytesMut};
use commonware_codec::{Encode, Read};
use commonware_cryptography::{Digestible, PublicKey};
use commonware_p2p::{PeerSetSubscription, Provider};
use commonware_runtime::{Clock, Handle, IoBuf, Metrics as RuntimeMetrics, Spawner};
use forward::forward;
use std::num::NonZeroUsize;
use std::sync::{Arc, OnceLock, Weak};
use tokio::sync::oneshot;

/// What `buffered::Config` holds, minus the mailbox size, plus shardcast's own settings.
#[derive(Clone, Debug)]
pub struct Config<P, MCfg, D> {
    /// Our own identity: local broadcasts are cached under it.
    pub public_key: P,
    /// Digests cached per primary peer.
    pub deque_size: usize,
    /// Bytes cached per primary peer ([`Config::with_peer_bytes`](crate::Config::with_peer_bytes),
    /// messages measured by their encoded size), on top of `deque_size`; `None`: count only.
    pub peer_bytes: Option<usize>,
    /// Passed unchanged as the `priority` flag of every send.
    pub priority: bool,
    /// Bounds for decoding inbound messages (`M::Cfg`).
    pub codec_config: MCfg,
    /// Source of peer-set updates: only the latest set's primary peers may cache.
    pub peer_provider: D,
    /// Receive workers decoding and inserting in parallel (the reference has one loop). An
    /// execution replays the same on the deterministic runtime only for the same count.
    pub workers: NonZeroUsize,
    /// Frames longer than this are rejected before decoding; `None`: only the network's own
    /// `max_message_size` bounds them.
    pub max_message_size: Option<usize>,
    /// Most bytes of received frames waiting for the workers, at least 1 ([`Engine::try_new`]
    /// returns [`ConfigError::MaxQueuedBytes`] for 0, and [`Engine::new`] panics with it); when
    /// reached, the engine stops reading from the network until they catch up
    /// ([`engine::DEFAULT_MAX_QUEUED_BYTES`], 64 MiB, is a sensible value).
    pub max_queued_bytes: usize,
    /// Registers the per-sender counter `peer{sequencer}` (one series per sender that ever
    /// sent a frame that decoded: unbounded cardinality, so off unless asked for).
    pub peer_metrics: bool,
}

/// Whether a mailbox's broadcasts go to a running engine yet.
struct Shared<P, M: Digestible + Encode + Read>
where
    M::Cfg: Clone + Send + Sync + 'static,
{
    /// Set once the engine started. Mailboxes hold it: when the last one is dropped, the engine
    /// stops, as the reference's loop ends when its mailbox closes.
    running: OnceLock<engine::Engine<P, Wire<M>>>,
    /// Queue of broadcasts made before the engine started.
    outbox: Outbox<P, Wire<M>>,
}

/// The engine: built with [`Engine::new`], run with [`Engine::start`].
pub struct Engine<E, P, M, D>
where
    P: PublicKey,
    M: Digestible + Encode + Read,
    M::Cfg: Clone + Send + Sync + 'static,
{
    context: E,
    public_key: P,
    peer_provider: D,
    config: EngineConfig<M::Cfg>,
    buffer: Arc<Buffer<P, Wire<M>>>,
    shared: Weak<Shared<P, M>>,
    queued: flume::Receiver<Outgoing<P, Wire<M>>>,
}

impl<E, P, M, D> Engine<E, P, M, D>
where
    E: Spawner + Clock + RuntimeMetrics,
    P: PublicKey,
    M: Digestible + Encode + Read + Clone + Send + Sync + 'static,
    M::Cfg: Clone + Send + Sync + 'static,
    D: Provider<PublicKey = P>,
{
    /// Builds the engine and its mailbox, and registers the metrics in `context`'s registry
    /// under its label (give two engines in one runtime two labels).
    ///
    /// # Panics
    ///
    /// When a value of `config` is out of range, with the message of the [`ConfigError`]
    /// ([`try_new`](Self::try_new) returns it instead).
    pub fn new(context: E, config: Config<P, M::Cfg, D>) -> (Self, Mailbox<P, M>) {
        match Self::try_new(context, config) {
            Ok(built) => built,
            Err(err) => panic!("invalid shardcast::commonware::Config: {err}"),
        }
    }

    /// [`new`](Self::new), returning an out-of-range value of `config` as an error. Nothing
    /// is registered in `context` when it fails.
    pub fn try_new(
        context: E,
        config: Config<P, M::Cfg, D>,
    ) -> Result<(Self, Mailbox<P, M>), ConfigError> {
        let mut buffer_config =
            BufferConfig::new(config.deque_size).with_peer_metrics(config.peer_metrics);
        if let Some(limit) = config.peer_bytes {
            buffer_config = buffer_config.with_peer_bytes(limit);
        }
        buffer_config.validate()?;
        let engine_config = EngineConfig::new(config.codec_config)
            .with_priority(config.priority)
            .with_workers(config.workers.get())
            .with_max_frame_size(config.max_message_size.unwrap_or(usize::MAX))
            .with_max_queued_bytes(config.max_queued_bytes);
        engine_config.validate()?;
        let metrics = Metrics::registry(&context, config.peer_metrics);
        let buffer = Arc::new(Buffer::with_metrics(buffer_config, metrics));
        let (outbox, queued) = flume::unbounded();
        let shared = Arc::new(Shared {
            running: OnceLock::new(),
            outbox,
        });
        let engine = Self {
            context,
            public_key: config.public_key,
            peer_provider: config.peer_provider,
            config: engine_config,
            buffer: buffer.clone(),
            shared: Arc::downgrade(&shared),
            queued,
        };
        Ok((engine, Mailbox { buffer, shared }))
    }

    /// Starts the engine on the p2p channel `(sender, receiver)` and returns its task's handle.
    ///
    /// Every task is spawned from the context given to [`new`](Self::new), so the runtime
    /// supervises them: aborting the handle, or ending the task that owns the context, aborts
    /// them all. The engine also stops when the runtime stops (`context.stopped()`) and when
    /// every mailbox is dropped. When it stops, the buffer closes: pending and later
    /// subscriptions resolve to the channel's error, and `get` returns `None`.
    pub fn start<S, R>(self, (sender, receiver): (S, R)) -> Handle<()>
    where
        S: commonware_p2p::Sender<PublicKey = P>,
        R: commonware_p2p::Receiver<PublicKey = P>,
    {
        let Self {
            context,
            public_key,
            mut peer_provider,
            config,
            buffer,
            shared,
            queued,
        } = self;
        // Closes the buffer however this task ends: stopped, aborted before the engine started
        // (while subscribing to the peer provider), or never run at all (spawned on an aborted
        // tree). Once the engine runs, its own stop watcher closes it too (idempotent).
        let closer = CloseOnDrop(buffer.clone());
        context.spawn(move |context| async move {
            let _closer = closer;
            let peer_sets = P2pPeerSets::subscribe(&mut peer_provider).await;
            let Some(shared) = shared.upgrade() else {
                return; // every mailbox is gone: nobody can use the engine
            };
            let engine = engine::Engine::start_with_outbox(
                &Commonware(context),
                buffer,
                public_key,
                (P2pSender::new(sender), P2pReceiver::new(receiver)),
                peer_sets,
                config,
                (shared.outbox.clone(), queued),
            )
            .expect("the configuration was validated by try_new");
            let stopped = engine.stopped();
            let _ = shared.running.set(engine);
            drop(shared);
            stopped.await;
        })
    }
}

/// Closes a buffer when dropped.
struct CloseOnDrop<P: PublicKey, M: Message>(Arc<Buffer<P, M>>);

impl<P: PublicKey, M: Message> Drop for CloseOnDrop<P, M> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// The handle applications use, as `buffered::Mailbox`: cheap to clone, every method direct.
pub struct Mailbox<P, M: Digestible + Encode + Read>
where
    M::Cfg: Clone + Send + Sync + 'static,
{
    buffer: Arc<Buffer<P, Wire<M>>>,
    shared: Arc<Shared<P, M>>,
}

impl<P, M: Digestible + Encode + Read> Clone for Mailbox<P, M>
where
    M::Cfg: Clone + Send + Sync + 'static,
{
    fn clone(&self) -> Self {
        Self {
            buffer: self.buffer.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<P, M> Mailbox<P, M>
where
    P: PublicKey,
    M: Digestible + Encode + Read + Clone + Send + Sync + 'static,
    M::Cfg: Clone + Send + Sync + 'static,
{
    /// Inserts `message` under our own key (serving its subscribers, caching it if we are
    /// primary), then has the engine send it to `recipients`. The receiver yields `sent_to`,
    /// the peers the network accepted it for (empty if the send failed).
    ///
    /// Once the engine runs, the insert has happened when this returns, and the send never
    /// blocks the caller and completes even if the caller drops the receiver. Before
    /// [`Engine::start`], the broadcast is queued and inserted by the engine's sender task when
    /// it reaches it (after the initial peer set, when the provider had one ready; see the
    /// module docs). After the engine stopped, nothing is inserted and the receiver yields the
    /// channel's error.
    pub async fn broadcast(
        &self,
        recipients: commonware_p2p::Recipients<P>,
        message: M,
    ) -> oneshot::Receiver<Vec<P>> {
        let recipients = from_p2p(recipients);
        if let Some(engine) = self.shared.running.get() {
            return engine
                .broadcast(recipients, Wire(message))
                .await
                .into_receiver();
        }
        let (sent_to, receiver) = oneshot::channel();
        let message = Wire(message);
        let _ = self.shared.outbox.send(Outgoing {
            recipients,
            frame: message.to_bytes(),
            sent_to,
            deferred: Some(message),
        });
        receiver
    }

    /// A receiver of the message with this digest: answered at once when it is cached, and
    /// otherwise by the first insert of it. Dropping the receiver frees the registration at
    /// once. After the engine stopped, the receiver yields the channel's error.
    pub async fn subscribe(&self, digest: M::Digest) -> oneshot::Receiver<M> {
        let (responder, receiver) = oneshot::channel();
        self.subscribe_prepared(digest, responder).await;
        receiver
    }

    /// [`subscribe`](Self::subscribe) with a responder made by the caller.
    pub async fn subscribe_prepared(&self, digest: M::Digest, responder: oneshot::Sender<M>) {
        forward(self.buffer.subscribe(digest), responder, Wire::into_inner);
    }

    /// The cached message with this digest, if any (`None` once the engine stopped).
    pub async fn get(&self, digest: M::Digest) -> Option<M> {
        self.buffer.get(&digest).map(Wire::into_inner)
    }

    /// Waits until a peer-set update with an index of at least `index` has been applied.
    /// Returns at once if the engine has not started or has stopped.
    pub async fn wait_for_peer_set(&self, index: u64) {
        if let Some(engine) = self.shared.running.get() {
            engine.wait_for_peer_set(index).await;
        }
    }

    /// What the receive path has done so far (all zero before the engine started).
    pub fn stats(&self) -> engine::EngineStats {
        self.shared
            .running
            .get()
            .map(engine::Engine::stats)
            .unwrap_or_default()
    }

    /// The shared buffer under the mailbox, for direct, synchronous use: `get`, `subscribe`
    /// as a future, `contains`, `peer_digests`, `stats`.
    pub fn buffer(&self) -> &Arc<Buffer<P, Wire<M>>> {
        &self.buffer
    }
}

/// A commonware `Sender` as a shardcast [`Sender`]: the one sender of an engine, kept for its
/// whole life (a commonware sender re-subscribes to the peer list when cloned).
#[derive(Debug)]
pub struct P2pSender<S> {
    inner: S,
}

impl<S> P2pSender<S> {
    /// Wraps a commonware sender (one channel of its network).
    pub fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S> Sender<S::PublicKey> for P2pSender<S>
where
    S: commonware_p2p::Sender,
{
    async fn send(
        &mut self,
        recipients: Recipients<S::PublicKey>,
        message: Bytes,
        priority: bool,
    ) -> Result<Vec<S::PublicKey>, SendError> {
        self.inner
            .send(to_p2p(recipients), IoBuf::from(message), priority)
            .await
            .map_err(|err| SendError::Other(err.to_string()))
    }
}

/// A commonware `Receiver` as a shardcast [`Receiver`].
#[derive(Debug)]
pub struct P2pReceiver<R> {
    inner: R,
}

impl<R> P2pReceiver<R> {
    /// Wraps a commonware receiver (one channel of its network).
    pub fn new(inner: R) -> Self {
        Self { inner }
    }
}

impl<R: commonware_p2p::Receiver> Receiver<R::PublicKey> for P2pReceiver<R> {
    async fn recv(&mut self) -> Result<(R::PublicKey, Bytes), RecvError> {
        let (peer, frame) = self.inner.recv().await.map_err(|_| RecvError)?;
        Ok((peer, Bytes::from(frame)))
    }
}

/// A commonware `Provider`'s peer-set subscription as a shardcast [`PeerSetSource`]: only
/// `latest.primary` decides who may cache (as in the actor, 2026.4.0).
#[derive(Debug)]
pub struct P2pPeerSets<P: PublicKey> {
    updates: PeerSetSubscription<P>,
}

impl<P: PublicKey> P2pPeerSets<P> {
    /// Subscribes to `provider` (the in-tree providers push the latest set at once).
    pub async fn subscribe<D: Provider<PublicKey = P>>(provider: &mut D) -> Self {
        Self {
            updates: provider.subscribe().await,
        }
    }
}

impl<P: PublicKey> PeerSetSource<P> for P2pPeerSets<P> {
    async fn next(&mut self) -> Option<PeerSetUpdate<P>> {
        let update = self.updates.recv().await?;
        Some(PeerSetUpdate {
            index: update.index,
            primary: update.latest.primary.iter().cloned().collect(),
            secondary: update.latest.secondary.iter().cloned().collect(),
        })
    }
}

fn to_p2p<P: PublicKey>(recipients: Recipients<P>) -> commonware_p2p::Recipients<P> {
    match recipients {
        Recipients::All => commonware_p2p::Recipients::All,
        Recipients::Some(peers) => commonware_p2p::Recipients::Some(peers),
        Recipients::One(peer) => commonware_p2p::Recipients::One(peer),
    }
}

fn from_p2p<P: PublicKey>(recipients: commonware_p2p::Recipients<P>) -> Recipients<P> {
    match recipients {
        commonware_p2p::Recipients::All => Recipients::All,
        commonware_p2p::Recipients::Some(peers) => Recipients::Some(peers),
        commonware_p2p::Recipients::One(peer) => Recipients::One(peer),
    }
}

/// A commonware `Digestible + Codec` type as a shardcast [`Message`] + [`Codec`]: the same
/// digest, the same bytes on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct Wire<M>(pub M);

impl<M> Wire<M> {
    /// The message inside.
    pub fn into_inner(self) -> M {
        self.0
    }
}

impl<M: Digestible + commonware_codec::EncodeSize> Message for Wire<M> {
    type Digest = M::Digest;

    fn digest(&self) -> M::Digest {
        self.0.digest()
    }

    /// The encoded size: what the message took on the wire.
    fn size(&self) -> usize {
        self.0.encode_size()
    }
}

impl<M> Codec for Wire<M>
where
    M: Encode + Read,
    M::Cfg: Clone + Send + Sync + 'static,
{
    type Config = M::Cfg;

    fn encode(&self, buf: &mut BytesMut) {
        self.0.write(buf);
    }

    fn read(buf: &mut Bytes, config: &M::Cfg) -> Result<Self, DecodeError> {
        M::read_cfg(buf, config)
            .map(Wire)
            .map_err(|err| DecodeError::Codec(err.to_string()))
    }
}

/// [`Blob`](crate::Blob) is a commonware message too: digest `sha256::Digest` (its SHA-256),
/// encoded as commonware encodes `Bytes` (`varint(len) ‖ payload`: the same bytes as
/// shardcast's own [`Codec`]), decoded with at most `max_payload` bytes.
mod blob {
    use crate::{Blob, BlobConfig, Message};
    use bytes::{Buf, BufMut};
    use commonware_codec::{EncodeSize, Error, RangeCfg, Read, Write};
    use commonware_cryptography::{Digestible, sha256};

    impl Digestible for Blob {
        type Digest = sha256::Digest;

        fn digest(&self) -> sha256::Digest {
            sha256::Digest::from(Message::digest(self))
        }
    }

    impl Write for Blob {
        fn write(&self, buf: &mut impl BufMut) {
            self.payload().write(buf);
        }
    }

    impl EncodeSize for Blob {
        fn encode_size(&self) -> usize {
            self.payload().encode_size()
        }
    }

    impl Read for Blob {
        type Cfg = BlobConfig;

        fn read_cfg(buf: &mut impl Buf, config: &BlobConfig) -> Result<Self, Error> {
            let range = RangeCfg::from(..=config.max_payload);
            Ok(Self::new(bytes::Bytes::read_cfg(buf, &range)?))
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::Codec;
        use commonware_codec::{Decode, Encode};

        #[test]
        fn the_same_bytes_as_shardcasts_own_codec() {
            let blob = Blob::new(vec![7u8; 300]);
            assert_eq!(&Encode::encode(&blob)[..], &Codec::to_bytes(&blob)[..]);
            let config = BlobConfig { max_payload: 300 };
            let decoded = Blob::decode_cfg(Codec::to_bytes(&blob), &config).unwrap();
            assert_eq!(decoded, blob);
            let small = BlobConfig { max_payload: 299 };
            assert!(Blob::decode_cfg(Codec::to_bytes(&blob), &small).is_err());
        }
    }
}
