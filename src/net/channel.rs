//! The smallest transport: frames you push into a channel yourself, a sender that drops
//! everything, and a fixed peer set. For tests, benchmarks and fuzzing, and for embedding an
//! engine behind a transport of your own that already hands out `(peer, frame)` pairs.
//!
//! ```
//! use shardcast::net::channel::{self, NullSender, StaticPeerSet};
//! use shardcast::{Blob, BlobConfig, Buffer, Codec, Config, Engine, EngineConfig, Message};
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let (frames, receiver) = channel::unbounded();
//! let buffer: Arc<Buffer<u32, Blob>> = Arc::new(Buffer::new(Config::new(8)).unwrap());
//! let engine = Engine::start(
//!     buffer.clone(),
//!     0u32,
//!     NullSender,
//!     receiver,
//!     StaticPeerSet::new(vec![0, 1]),
//!     EngineConfig::new(BlobConfig::default()),
//! )
//! .unwrap();
//! let message = Blob::new(&b"from peer 1"[..]);
//! let waiting = buffer.subscribe(message.digest());
//! frames.send((1, message.to_bytes())).unwrap();
//! assert_eq!(waiting.await, Ok(message));
//! engine.shutdown().await;
//! # }
//! ```

use super::{PeerSetSource, PeerSetUpdate, Receiver, Recipients, RecvError, SendError, Sender};
use bytes::Bytes;

/// A channel of `(peer, frame)` pairs with no bound: what is pushed into the [`FrameSender`]
/// comes out of the [`ChannelReceiver`], in order.
pub fn unbounded<P>() -> (FrameSender<P>, ChannelReceiver<P>) {
    let (tx, rx) = flume::unbounded();
    (FrameSender(tx), ChannelReceiver { frames: rx })
}

/// A channel of `(peer, frame)` pairs holding at most `capacity` frames: a push waits while it
/// is full, as a network waits for a slow reader.
pub fn bounded<P>(capacity: usize) -> (FrameSender<P>, ChannelReceiver<P>) {
    let (tx, rx) = flume::bounded(capacity);
    (FrameSender(tx), ChannelReceiver { frames: rx })
}

/// The pushing half of [`unbounded`] or [`bounded`]: frames pushed here arrive at the engine as
/// if `peer` had sent them. Clone it to push from several tasks.
#[derive(Debug)]
pub struct FrameSender<P>(flume::Sender<(P, Bytes)>);

impl<P> Clone for FrameSender<P> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<P> FrameSender<P> {
    /// Pushes `(peer, frame)`. On a full bounded channel this blocks the calling thread until
    /// there is room: from async code, use [`send_async`](Self::send_async). Fails with
    /// [`SendError::Closed`] once the receiver is gone.
    pub fn send(&self, frame: (P, Bytes)) -> Result<(), SendError> {
        self.0.send(frame).map_err(|_| SendError::Closed)
    }

    /// Pushes `(peer, frame)`, waiting (asynchronously) for room on a full bounded channel.
    /// Fails with [`SendError::Closed`] once the receiver is gone.
    pub async fn send_async(&self, frame: (P, Bytes)) -> Result<(), SendError> {
        self.0
            .send_async(frame)
            .await
            .map_err(|_| SendError::Closed)
    }

    /// Frames pushed and not yet received.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether every pushed frame was received.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Sends nowhere: every send succeeds with an empty `sent_to`.
#[derive(Clone, Copy, Debug, Default)]
pub struct NullSender;

impl<P: Send + 'static> Sender<P> for NullSender {
    async fn send(&mut self, _: Recipients<P>, _: Bytes, _: bool) -> Result<Vec<P>, SendError> {
        Ok(Vec::new())
    }
}

/// The receiving half of [`unbounded`] or [`bounded`], the engine's [`Receiver`]: closed when
/// every [`FrameSender`] is dropped.
#[derive(Debug)]
pub struct ChannelReceiver<P> {
    frames: flume::Receiver<(P, Bytes)>,
}

impl<P: Send + 'static> Receiver<P> for ChannelReceiver<P> {
    async fn recv(&mut self) -> Result<(P, Bytes), RecvError> {
        self.frames.recv_async().await.map_err(|_| RecvError)
    }
}

/// One peer set (index 0, all primary), yielded once; then the source stays open and silent.
#[derive(Debug)]
pub struct StaticPeerSet<P> {
    update: Option<PeerSetUpdate<P>>,
}

impl<P> StaticPeerSet<P> {
    /// A source whose only set has `primary` as its primary peers.
    pub fn new(primary: Vec<P>) -> Self {
        Self {
            update: Some(PeerSetUpdate {
                index: 0,
                primary,
                secondary: Vec::new(),
            }),
        }
    }
}

impl<P: Send + 'static> PeerSetSource<P> for StaticPeerSet<P> {
    async fn next(&mut self) -> Option<PeerSetUpdate<P>> {
        match self.update.take() {
            Some(update) => Some(update),
            None => std::future::pending().await,
        }
    }
}
