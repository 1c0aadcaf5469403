//! shardcast's mailbox as commonware-consensus 2026.10's block buffer (feature `marshal`):
//! `marshal::core::Buffer` for the `Standard<B>` variant, whose blocks are `Digested<B>`.
//!
//! Marshal calls its buffer on its own loop. Here every call is direct: `find_by_*` read the
//! cache (waiting only before the engine first runs), `subscribe_by_*` return a receiver at
//! once (answered at once when cached; its sender is kept until the block arrives or the
//! engine stops, so marshal never sees a key closed while the block may still come), and
//! `send` caches and queues the block and returns (its `Feedback` is dropped, as the
//! reference drops it).

use crate::Mailbox;
use commonware_broadcast::Broadcaster as _;
use commonware_codec::Codec;
use commonware_consensus::Block;
use commonware_consensus::marshal::core::Buffer;
use commonware_consensus::marshal::standard::Standard;
use commonware_consensus::types::Round;
use commonware_cryptography::{Digested, PublicKey};
use commonware_p2p::Recipients;
use commonware_utils::channel::oneshot;

impl<B, K> Buffer<Standard<B>> for Mailbox<K, B>
where
    B: Block + Codec,
    K: PublicKey,
{
    type PublicKey = K;

    async fn find_by_digest(&self, digest: B::Digest) -> Option<Digested<B>> {
        self.get(digest).await
    }

    async fn find_by_commitment(&self, commitment: B::Digest) -> Option<Digested<B>> {
        self.get(commitment).await
    }

    fn subscribe_by_digest(&self, digest: B::Digest) -> Option<oneshot::Receiver<Digested<B>>> {
        Some(self.subscribe(digest))
    }

    fn subscribe_by_commitment(
        &self,
        commitment: B::Digest,
    ) -> Option<oneshot::Receiver<Digested<B>>> {
        Some(self.subscribe(commitment))
    }

    fn send(&self, _round: Round, block: Digested<B>, recipients: Recipients<K>) {
        let _ = self.broadcast(recipients, block);
    }
}
