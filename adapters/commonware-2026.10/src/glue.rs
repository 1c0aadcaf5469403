//! commonware 2026.10 as the core's runtime, transport and peer-set source, and its messages
//! as the core's messages.

use bytes::{Bytes, BytesMut};
use commonware_codec::{Encode, EncodeSize, Read};
use commonware_cryptography::{Digested, Digestible, PublicKey};
use commonware_p2p::{PeerSetSubscription, Provider};
use commonware_runtime::{Clock, IoBuf, Spawner};
use shardcast::net::{
    PeerSetSource, PeerSetUpdate, Receiver, Recipients, RecvError, SendError, Sender,
};
use shardcast::runtime::{Runtime, Task};
use shardcast::{Codec, DecodeError, Message};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// A 2026.10 context as the core's [`Runtime`]. Contexts are no longer `Clone`: the engine's
/// tasks each get a supervised `child` of the one context, shared behind an `Arc`.
pub(crate) struct Context<E>(pub(crate) Arc<E>);

impl<E> Clone for Context<E> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<E: Spawner + Clock> Runtime for Context<E> {
    fn spawn<F>(&self, label: &'static str, future: F) -> Task
    where
        F: Future<Output = ()> + Send + 'static,
    {
        Task::new(self.0.child(label).spawn(move |_| future))
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + 'static {
        self.0.sleep(duration)
    }

    fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let stopped = self.0.stopped();
        async move {
            let _ = stopped.await;
        }
    }
}

/// A 2026.10 `Sender` (synchronous) as the core's [`Sender`].
pub(crate) struct P2pSender<S>(pub(crate) S);

impl<S: commonware_p2p::Sender> Sender<S::PublicKey> for P2pSender<S> {
    async fn send(
        &mut self,
        recipients: Recipients<S::PublicKey>,
        message: Bytes,
        priority: bool,
    ) -> Result<Vec<S::PublicKey>, SendError> {
        Ok(commonware_p2p::Sender::send(
            &mut self.0,
            to_p2p(recipients),
            IoBuf::from(message),
            priority,
        ))
    }
}

/// A 2026.10 `Receiver` as the core's [`Receiver`].
pub(crate) struct P2pReceiver<R>(pub(crate) R);

impl<R: commonware_p2p::Receiver> Receiver<R::PublicKey> for P2pReceiver<R> {
    async fn recv(&mut self) -> Result<(R::PublicKey, Bytes), RecvError> {
        let (peer, frame) = self.0.recv().await.map_err(|_| RecvError)?;
        Ok((peer, Bytes::from(frame)))
    }
}

/// A 2026.10 peer-set subscription as the core's [`PeerSetSource`], with that release's
/// eligibility rule: a peer may cache while it is primary in **any** tracked set
/// (`all.primary`), not only the latest.
pub(crate) struct P2pPeerSets<P: PublicKey>(PeerSetSubscription<P>);

impl<P: PublicKey> P2pPeerSets<P> {
    pub(crate) async fn subscribe<D: Provider<PublicKey = P>>(provider: &mut D) -> Self {
        Self(provider.subscribe().await)
    }
}

impl<P: PublicKey> PeerSetSource<P> for P2pPeerSets<P> {
    async fn next(&mut self) -> Option<PeerSetUpdate<P>> {
        let update = self.0.recv().await?;
        Some(PeerSetUpdate {
            index: update.index,
            primary: update.all.primary.iter().cloned().collect(),
            secondary: update.all.secondary.iter().cloned().collect(),
        })
    }
}

/// The core's recipients as commonware's.
fn to_p2p<P: PublicKey>(recipients: Recipients<P>) -> commonware_p2p::Recipients<P> {
    match recipients {
        Recipients::All => commonware_p2p::Recipients::All,
        Recipients::Some(peers) => commonware_p2p::Recipients::Some(peers),
        Recipients::One(peer) => commonware_p2p::Recipients::One(peer),
    }
}

/// commonware's recipients as the core's.
pub(crate) fn from_p2p<P: PublicKey>(recipients: commonware_p2p::Recipients<P>) -> Recipients<P> {
    match recipients {
        commonware_p2p::Recipients::All => Recipients::All,
        commonware_p2p::Recipients::Some(peers) => Recipients::Some(peers),
        commonware_p2p::Recipients::One(peer) => Recipients::One(peer),
    }
}

/// What the buffer caches: the release's `Digested<M>`, an `Arc<M>` with its digest computed
/// once. Cloning it (to serve a `get` or a subscriber) copies a pointer, never the message.
#[derive(Clone, Debug)]
pub struct Shared<M: Digestible>(pub Digested<M>);

impl<M: Digestible + EncodeSize> Message for Shared<M> {
    type Digest = M::Digest;

    fn digest(&self) -> M::Digest {
        self.0.digest()
    }

    /// The encoded size: what the message took on the wire.
    fn size(&self) -> usize {
        self.0.inner().encode_size()
    }
}

impl<M> Codec for Shared<M>
where
    M: Digestible + Encode + Read,
{
    type Config = M::Cfg;

    fn encode(&self, buf: &mut BytesMut) {
        self.0.inner().write(buf);
    }

    /// commonware's own `encode`: one buffer of the message's `encode_size`, as the
    /// reference's sender allocates it, not an empty one grown as the message is written.
    fn to_bytes(&self) -> Bytes {
        self.0.inner().encode()
    }

    /// Decodes the message, then hashes it here, on the worker that decoded it: the digest
    /// comes from the decoded value, never from the network.
    fn read(buf: &mut Bytes, config: &M::Cfg) -> Result<Self, DecodeError> {
        let message = M::read_cfg(buf, config).map_err(|err| DecodeError::Codec(Box::new(err)))?;
        let digest = message.digest();
        Ok(Self(Digested::precomputed(message, digest)))
    }
}
