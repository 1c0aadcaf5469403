//! shardcast on `commonware-p2p` 2026.4.0 (feature `commonware`): a drop-in for the actor engine
//! (`commonware_broadcast::buffered`) on the network its users already run.
//!
//! - [`P2pSender`], [`P2pReceiver`] and [`P2pPeerSets`] adapt a commonware `Sender`, `Receiver`
//!   and `Provider` to shardcast's transport traits ([`crate::net`]).
//! - [`Wire`] makes any commonware `Digestible + Codec` type a shardcast [`Message`] +
//!   [`Codec`] (decoded with its `Cfg`, trailing bytes rejected), so the messages
//!   on the wire do not change when a node switches engines.
//! - [`start`] takes what `buffered::Engine::new` + `start` take and returns the shared buffer
//!   and the engine handle.
//!
//! Call [`start`] inside commonware's tokio runner (`commonware_runtime::tokio::Runner`) or any
//! tokio runtime; the deterministic runtime is not tokio and is not supported.
//!
//! # Migration from `buffered::Mailbox`
//!
//! | actor engine | shardcast | what changes |
//! |---|---|---|
//! | `Engine::new(context, Config { public_key, mailbox_size, deque_size, priority, codec_config, peer_provider })` then `engine.start((sender, receiver))` | `commonware::start(Config { public_key, deque_size, priority, codec_config, peer_provider, workers }, (sender, receiver)).await` | no `mailbox_size` (there is no mailbox); receive workers decode in parallel (`workers`) |
//! | `mailbox.broadcast(recipients, msg).await` -> `oneshot::Receiver<Vec<P>>` | `engine.broadcast(recipients, Wire(msg)).await` -> `Vec<P>` | `sent_to` directly; the local insert has happened when it returns |
//! | `mailbox.get(digest).await` -> `Option<M>` | `buffer.get(&digest)` -> `Option<Wire<M>>` | synchronous, no round trip to a task |
//! | `mailbox.subscribe(digest).await` -> `oneshot::Receiver<M>` | `buffer.subscribe(digest)` -> `Subscription<Wire<M>>` (a `Future`) | drop to cancel, freed at once; no `Canceled` error |
//! | `mailbox.subscribe_prepared(digest, responder)` | spawn a task awaiting `buffer.subscribe(digest)` and sending to the responder | |
//! | `handle.abort()` | `engine.shutdown().await` | waits for every task; `get`/`subscribe` keep working on what is cached |
//! | after shutdown: broadcast `Canceled`, subscribe `Canceled`, get `None` | broadcast `[]`, subscribe pending, get answers from the cache | |
//! | metrics in the runtime's registry (`context.encode()`) | the `metrics` facade (see below) | same names and labels under a prefix |
//!
//! # Metrics
//!
//! The actor registers its metrics in the commonware runtime's prometheus registry; shardcast
//! reports through the `metrics` facade. To scrape both from one endpoint, install shardcast's
//! recorder and append the runtime's text: `format!("{}{}", context.encode(),
//! prometheus_handle.render())`, or serve them on two ports with
//! [`prometheus::serve`](crate::prometheus::serve) (feature `prometheus`) beside the runtime's own.

pub use commonware_codec as codec;
pub use commonware_cryptography as cryptography;
pub use commonware_p2p as p2p;
pub use commonware_runtime as runtime;
pub use commonware_utils as utils;

use crate::engine::{Engine, EngineConfig, EngineError};
use crate::message::{Codec, DecodeError, Message};
use crate::net::{
    PeerSetSource, PeerSetUpdate, Receiver, Recipients, RecvError, SendError, Sender,
};
use crate::{Buffer, Config as BufferConfig};
use bytes::{Bytes, BytesMut};
use commonware_codec::{Encode, Read};
use commonware_cryptography::{Digestible, PublicKey};
use commonware_p2p::{PeerSetSubscription, Provider};
use commonware_runtime::IoBuf;
use std::sync::Arc;

/// A commonware `Sender` as a shardcast [`Sender`].
#[derive(Clone, Debug)]
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
        &self,
        recipients: Recipients<S::PublicKey>,
        message: Bytes,
        priority: bool,
    ) -> Result<Vec<S::PublicKey>, SendError> {
        let recipients = match recipients {
            Recipients::All => commonware_p2p::Recipients::All,
            Recipients::Some(peers) => commonware_p2p::Recipients::Some(peers),
            Recipients::One(peer) => commonware_p2p::Recipients::One(peer),
        };
        // A commonware sender is a cheap handle; `send` wants it mutably.
        let mut sender = self.inner.clone();
        sender
            .send(recipients, IoBuf::from(message), priority)
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

/// A commonware `Digestible + Codec` type as a shardcast [`Message`] + [`Codec`]: the same
/// digest, the same bytes on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Wire<M>(pub M);

impl<M: Digestible> Message for Wire<M> {
    type Digest = M::Digest;

    fn digest(&self) -> M::Digest {
        self.0.digest()
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

/// What `buffered::Config` holds, minus the mailbox size, plus the number of receive workers.
#[derive(Clone, Debug)]
pub struct Config<P, MCfg, D> {
    /// Our own identity: local broadcasts are cached under it.
    pub public_key: P,
    /// Digests cached per primary peer.
    pub deque_size: usize,
    /// Passed to every send.
    pub priority: bool,
    /// Bounds for decoding inbound messages (`M::Cfg`).
    pub codec_config: MCfg,
    /// Source of peer-set updates.
    pub peer_provider: D,
    /// Receive workers decoding in parallel (the actor has one loop).
    pub workers: usize,
}

/// Starts shardcast on a commonware channel: returns the shared buffer (`get`, `subscribe`)
/// and the engine (`broadcast`, `shutdown`).
pub async fn start<P, M, S, R, D>(
    mut config: Config<P, M::Cfg, D>,
    (sender, receiver): (S, R),
) -> Result<(Arc<Buffer<P, Wire<M>>>, Engine<P, Wire<M>, P2pSender<S>>), EngineError>
where
    P: PublicKey,
    M: Digestible + Encode + Read,
    M::Cfg: Clone + Send + Sync + 'static,
    S: commonware_p2p::Sender<PublicKey = P>,
    R: commonware_p2p::Receiver<PublicKey = P>,
    D: Provider<PublicKey = P>,
{
    let buffer = Arc::new(
        Buffer::new(BufferConfig::new(config.deque_size))
            .map_err(|_| EngineError::Config("invalid buffer configuration"))?,
    );
    let peer_sets = P2pPeerSets::subscribe(&mut config.peer_provider).await;
    let mut engine_config = EngineConfig::new(config.codec_config);
    engine_config.priority = config.priority;
    engine_config.workers = config.workers.max(1);
    let engine = Engine::start(
        buffer.clone(),
        config.public_key,
        P2pSender::new(sender),
        P2pReceiver::new(receiver),
        peer_sets,
        engine_config,
    )?;
    Ok((buffer, engine))
}
