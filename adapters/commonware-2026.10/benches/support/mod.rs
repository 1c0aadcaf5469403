//! The stand-in network pieces both benches use: a receiver fed from a channel and a provider
//! whose one set holds every peer as primary.

use commonware_cryptography::ed25519;
use commonware_p2p::{PeerSetSubscription, PeerSetUpdate, Provider, TrackedPeers};
use commonware_runtime::IoBuf;
use commonware_utils::{NZUsize, ordered::Set};
use std::num::NonZeroUsize;

/// The peers' keys.
pub type Key = ed25519::PublicKey;

/// The feed is gone.
#[derive(Debug)]
pub struct Closed;

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("feed closed")
    }
}

impl std::error::Error for Closed {}

/// A receiver fed through a channel.
#[derive(Debug)]
pub struct Feed(pub ::tokio::sync::mpsc::UnboundedReceiver<(Key, IoBuf)>);

impl commonware_p2p::Receiver for Feed {
    type Error = Closed;
    type PublicKey = Key;
    async fn recv(&mut self) -> Result<(Key, IoBuf), Closed> {
        self.0.recv().await.ok_or(Closed)
    }
    fn capacity(&self) -> NonZeroUsize {
        NZUsize!(1024)
    }
}

/// A provider whose one set holds every peer, primary, pushed on subscription and kept open
/// (a closed subscription stops either engine).
#[derive(Clone, Debug)]
pub struct OneSet(pub Set<Key>);

impl Provider for OneSet {
    type PublicKey = Key;
    async fn peer_set(&mut self, _id: u64) -> Option<TrackedPeers<Key>> {
        Some(TrackedPeers::primary(self.0.clone()))
    }
    async fn subscribe(&mut self) -> PeerSetSubscription<Key> {
        let (sender, receiver) = commonware_utils::channel::mpsc::unbounded_channel();
        let set = TrackedPeers::primary(self.0.clone());
        let _ = sender.send(PeerSetUpdate {
            index: 0,
            latest: set.clone(),
            all: set,
        });
        std::mem::forget(sender);
        receiver
    }
}
