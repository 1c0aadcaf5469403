//! In-process plumbing for the actor engine, used unmodified through its `Mailbox`.

use bytes::Bytes;
use commonware_broadcast::buffered::{Config, Engine, Mailbox};
use commonware_codec::{EncodeSize, Error as CodecError, RangeCfg, Read, ReadRangeExt, Write};
use commonware_cryptography::{Digestible, Hasher, Sha256, Signer, ed25519, sha256};
use commonware_p2p::{
    CheckedSender, LimitedSender, PeerSetSubscription, PeerSetUpdate, Provider, Receiver,
    Recipients, TrackedPeers,
};
use commonware_runtime::{Buf, BufMut, IoBuf, IoBufs, Metrics as _};
use commonware_utils::channel::mpsc;
use commonware_utils::ordered::Set;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// Peer identity of the actor engine.
pub type PublicKey = ed25519::PublicKey;

/// The actor's message: the payload, digested with SHA-256 like the reference's `TestMessage`.
/// Same wire bytes as shardcast's `Blob`: `varint(len) || payload`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActorMessage(pub Vec<u8>);

impl Digestible for ActorMessage {
    type Digest = sha256::Digest;
    fn digest(&self) -> sha256::Digest {
        Sha256::hash(&self.0)
    }
}

impl Write for ActorMessage {
    fn write(&self, buf: &mut impl BufMut) {
        self.0.write(buf);
    }
}

impl EncodeSize for ActorMessage {
    fn encode_size(&self) -> usize {
        self.0.encode_size()
    }
}

impl Read for ActorMessage {
    type Cfg = RangeCfg<usize>;
    fn read_cfg(buf: &mut impl Buf, range: &Self::Cfg) -> Result<Self, CodecError> {
        Ok(Self(Vec::<u8>::read_range(buf, *range)?))
    }
}

/// Deterministic keys for `n` peers.
pub fn keys(n: usize) -> Vec<PublicKey> {
    (0..n as u64)
        .map(|i| ed25519::PrivateKey::from_seed(i).public_key())
        .collect()
}

/// A sender that drops every message and reports no recipients.
#[derive(Clone, Debug)]
pub struct DropSender;

/// The checked form of [`DropSender`].
pub struct DropChecked;

impl CheckedSender for DropChecked {
    type PublicKey = PublicKey;
    type Error = std::io::Error;
    async fn send(
        self,
        _message: impl Into<IoBufs> + Send,
        _priority: bool,
    ) -> Result<Vec<PublicKey>, std::io::Error> {
        Ok(Vec::new())
    }
}

impl LimitedSender for DropSender {
    type PublicKey = PublicKey;
    type Checked<'a> = DropChecked;
    async fn check(
        &mut self,
        _recipients: Recipients<PublicKey>,
    ) -> Result<DropChecked, SystemTime> {
        Ok(DropChecked)
    }
}

/// The network is gone.
#[derive(Debug)]
pub struct Closed;

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("closed")
    }
}

impl std::error::Error for Closed {}

/// A receiver fed through a channel.
#[derive(Debug)]
pub struct ChannelReceiver {
    frames: tokio::sync::mpsc::Receiver<(PublicKey, Bytes)>,
}

impl Receiver for ChannelReceiver {
    type Error = Closed;
    type PublicKey = PublicKey;
    async fn recv(&mut self) -> Result<(PublicKey, IoBuf), Closed> {
        let (peer, frame) = self.frames.recv().await.ok_or(Closed)?;
        Ok((peer, IoBuf::from(frame)))
    }
}

/// One peer set, every given peer primary, pushed on subscription (like the in-tree providers).
#[derive(Clone, Debug)]
pub struct OneSetProvider {
    peers: Set<PublicKey>,
    /// Keeps each subscription open: the engine exits when it closes.
    subscribers: Arc<Mutex<Vec<mpsc::UnboundedSender<PeerSetUpdate<PublicKey>>>>>,
}

impl OneSetProvider {
    /// A provider whose only set holds `peers`, all primary.
    pub fn new(peers: Vec<PublicKey>) -> Self {
        Self {
            peers: Set::from_iter_dedup(peers),
            subscribers: Arc::default(),
        }
    }
}

impl Provider for OneSetProvider {
    type PublicKey = PublicKey;

    async fn peer_set(&mut self, id: u64) -> Option<TrackedPeers<PublicKey>> {
        (id == 0).then(|| TrackedPeers::primary(self.peers.clone()))
    }

    async fn subscribe(&mut self) -> PeerSetSubscription<PublicKey> {
        let (tx, rx) = mpsc::unbounded_channel();
        let tracked = TrackedPeers::primary(self.peers.clone());
        let _ = tx.send(PeerSetUpdate {
            index: 0,
            latest: tracked.clone(),
            all: tracked,
        });
        self.subscribers.lock().unwrap().push(tx);
        rx
    }
}

/// A running actor engine: its mailbox, the channel feeding its receiver, its handle.
pub struct Actor {
    /// The engine's mailbox (`get`, `subscribe`, `broadcast`).
    pub mailbox: Mailbox<PublicKey, ActorMessage>,
    /// Frames pushed here reach the engine's network receiver.
    pub frames: tokio::sync::mpsc::Sender<(PublicKey, Bytes)>,
    handle: commonware_runtime::Handle<()>,
}

impl Actor {
    /// Starts an engine whose own key is `keys[0]`, with every key primary.
    pub fn start(
        context: &commonware_runtime::tokio::Context,
        label: &str,
        keys: &[PublicKey],
        deque_size: usize,
        frame_queue: usize,
    ) -> Self {
        Self::start_preloaded(context, label, keys, deque_size, frame_queue, Vec::new()).0
    }

    /// [`start`](Self::start), with `preloaded` frames already waiting in its receiver (at
    /// most `frame_queue`), and the instant the engine was started: the time to fill the
    /// channel is not the engine's.
    pub fn start_preloaded(
        context: &commonware_runtime::tokio::Context,
        label: &str,
        keys: &[PublicKey],
        deque_size: usize,
        frame_queue: usize,
        preloaded: Vec<(PublicKey, Bytes)>,
    ) -> (Self, std::time::Instant) {
        let config = Config {
            public_key: keys[0].clone(),
            mailbox_size: 1024,
            deque_size,
            priority: false,
            codec_config: RangeCfg::from(..),
            peer_provider: OneSetProvider::new(keys.to_vec()),
        };
        let (engine, mailbox) = Engine::new(context.with_label(label), config);
        let (frames, rx) = tokio::sync::mpsc::channel(frame_queue);
        for frame in preloaded {
            frames
                .try_send(frame)
                .expect("room for the preloaded frames");
        }
        let started = std::time::Instant::now();
        let handle = engine.start((DropSender, ChannelReceiver { frames: rx }));
        let actor = Self {
            mailbox,
            frames,
            handle,
        };
        (actor, started)
    }

    /// Stops the engine.
    pub fn stop(self) {
        self.handle.abort();
    }
}
