//! The smallest transport: frames you push into a channel yourself, a sender that drops
//! everything, and a fixed peer set. For tests, benchmarks and fuzzing, and for embedding an
//! engine behind a transport of your own that already hands out `(peer, frame)` pairs.
//!
//! ```
//! use shardcast::net::channel::{ChannelReceiver, NullSender, StaticPeerSet};
//! use shardcast::{Blob, BlobConfig, Buffer, Codec, Config, Engine, EngineConfig, Message};
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let (frames, receiver) = flume::unbounded();
//! let buffer: Arc<Buffer<u32, Blob>> = Arc::new(Buffer::new(Config::new(8)).unwrap());
//! let engine = Engine::start(
//!     buffer.clone(),
//!     0u32,
//!     NullSender,
//!     ChannelReceiver::new(receiver),
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

/// Sends nowhere: every send succeeds with an empty `sent_to`.
#[derive(Clone, Copy, Debug, Default)]
pub struct NullSender;

impl<P: Send + 'static> Sender<P> for NullSender {
    async fn send(&mut self, _: Recipients<P>, _: Bytes, _: bool) -> Result<Vec<P>, SendError> {
        Ok(Vec::new())
    }
}

/// Receives the `(peer, frame)` pairs pushed into a `flume` channel; closed when every sender
/// is dropped.
#[derive(Debug)]
pub struct ChannelReceiver<P> {
    frames: flume::Receiver<(P, Bytes)>,
}

impl<P> ChannelReceiver<P> {
    /// Receives from `frames`.
    pub fn new(frames: flume::Receiver<(P, Bytes)>) -> Self {
        Self { frames }
    }
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
