//! Transport traits: what the [`Engine`](crate::engine::Engine) needs from a network.
//!
//! The shape mirrors the usual authenticated p2p stack (and `commonware-p2p`): a sender that
//! reports which peers it handed a message to, a receiver of `(peer, frame)` pairs whose peer id
//! the transport authenticated, and a source of peer-set updates. [`sim`] implements all three
//! in process, with latency, jitter and loss.

pub mod channel;
pub mod sim;

use bytes::Bytes;
use std::future::Future;
use thiserror::Error;

/// Who a message is sent to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recipients<P> {
    /// Every peer the transport knows (never ourselves).
    All,
    /// These peers.
    Some(Vec<P>),
    /// This peer.
    One(P),
}

/// Why a send failed.
///
/// Two errors compare equal when they are the same variant with the same values; two
/// [`Other`](Self::Other) errors, when their messages are the same.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SendError {
    /// The message is larger than the transport carries.
    #[error("message of {size} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Encoded size.
        size: usize,
        /// The transport's maximum.
        max: usize,
    },
    /// The transport is shut down.
    #[error("the network is closed")]
    Closed,
    /// Any other transport failure, kept whole: it is the error's
    /// [`source`](std::error::Error::source).
    #[error("send failed: {0}")]
    Other(#[source] crate::BoxedError),
}

impl PartialEq for SendError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::TooLarge { size: a, max: m }, Self::TooLarge { size: b, max: n }) => {
                (a, m) == (b, n)
            }
            (Self::Closed, Self::Closed) => true,
            (Self::Other(a), Self::Other(b)) => a.to_string() == b.to_string(),
            _ => false,
        }
    }
}

impl Eq for SendError {}

/// The receiver's network is gone: no frame will ever arrive again.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[error("the network is closed")]
pub struct RecvError;

/// Sends encoded messages. An engine owns one sender, on its sender task.
pub trait Sender<P>: Send + 'static {
    /// Hands `message` to the transport for `recipients`; returns the peers it was handed to
    /// (`sent_to`: not a delivery guarantee, never ourselves, possibly fewer than asked, e.g.
    /// unknown or rate-limited peers).
    fn send(
        &mut self,
        recipients: Recipients<P>,
        message: Bytes,
        priority: bool,
    ) -> impl Future<Output = Result<Vec<P>, SendError>> + Send;
}

/// Receives frames from authenticated peers.
pub trait Receiver<P>: Send + 'static {
    /// The next frame and the peer that sent it; `Err` once the network is gone. Must be
    /// cancel-safe (the engine selects on it against shutdown).
    fn recv(&mut self) -> impl Future<Output = Result<(P, Bytes), RecvError>> + Send;
}

/// One peer-set change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSetUpdate<P> {
    /// The set's index (increasing in the usual providers; shardcast does not require it).
    pub index: u64,
    /// The latest set's primary peers: the only peers allowed to cache.
    pub primary: Vec<P>,
    /// The latest set's secondary peers (tracked, never cached for).
    pub secondary: Vec<P>,
}

/// A stream of peer-set updates.
pub trait PeerSetSource<P>: Send + 'static {
    /// The next update, or `None` when the source is closed. Must be cancel-safe. Sources
    /// should yield the current latest set first, as soon as they are subscribed to.
    fn next(&mut self) -> impl Future<Output = Option<PeerSetUpdate<P>>> + Send;
}
