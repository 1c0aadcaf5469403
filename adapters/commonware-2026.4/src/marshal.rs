//! shardcast as the block buffer of commonware-consensus 2026.4.0's marshal (feature
//! `marshal`).
//!
//! Marshal delivers every block of a chain to its application, and asks a block buffer for
//! blocks through the trait `marshal::core::Buffer`. The reference implements it for
//! `buffered::Mailbox`; shardcast implements it for [`Mailbox`], the mailbox of the drop-in
//! [`Engine`], for the `Standard` variant and any marshal `Block`:
//!
//! - `find_by_digest` and `find_by_commitment` read the shared cache directly (for `Standard`
//!   a block's commitment is its digest);
//! - `subscribe_by_digest` and `subscribe_by_commitment` return marshal's `oneshot::Receiver`,
//!   answered at once when the block is cached, and otherwise by the first insert of it;
//!   dropping the receiver frees the registration at once, with no task left waiting;
//! - `send` inserts the block under our own key before it returns, so the next `find_*` sees
//!   it, and hands the network send to the engine's sender task: marshal's loop never waits on
//!   the network, and the send completes if marshal moves on;
//! - `finalized` does nothing, as in the reference: the cache is bounded by its per-peer deques
//!   (and byte budgets), not by finality, and marshal stores finalized blocks in its own
//!   archive, where it looks after asking the buffer. Evicting on finality would also take a
//!   block away from peers that may still ask for it while they catch up.
//!
//! # Migration
//!
//! The one `use` line of [the crate root](crate): `buffered::Engine::new` then builds shardcast's
//! engine, and marshal takes its mailbox where it took the reference's. The chain test of the
//! benchmark crate (`benches/tests/chain.rs`) starts marshal with either buffer.

use crate::{Config, Engine, Mailbox, Options, Wire};
use commonware_codec::{Encode, Read};
use commonware_consensus::Block;
use commonware_consensus::marshal::core::Buffer;
use commonware_consensus::marshal::standard::Standard;
use commonware_consensus::types::Round;
use commonware_cryptography::{Digestible, PublicKey};
use commonware_p2p::{Provider, Recipients};
use commonware_runtime::{Clock, Metrics, Spawner};
use commonware_utils::channel::oneshot;

impl<P, B> Buffer<Standard<B>> for Mailbox<P, B>
where
    P: PublicKey,
    B: Block + Clone,
    <B as Read>::Cfg: Clone + Send + Sync + 'static,
{
    type PublicKey = P;
    type CachedBlock = B;

    async fn find_by_digest(&self, digest: B::Digest) -> Option<B> {
        self.buffer().get(&digest).map(Wire::into_inner)
    }

    async fn find_by_commitment(&self, commitment: B::Digest) -> Option<B> {
        self.buffer().get(&commitment).map(Wire::into_inner)
    }

    async fn subscribe_by_digest(&self, digest: B::Digest) -> oneshot::Receiver<B> {
        self.subscribe(digest).await
    }

    async fn subscribe_by_commitment(&self, commitment: B::Digest) -> oneshot::Receiver<B> {
        self.subscribe(commitment).await
    }

    async fn finalized(&self, _commitment: B::Digest) {
        // Nothing to do: see the module docs.
    }

    async fn send(&self, _round: Round, block: B, recipients: Recipients<P>) {
        // Inserted when `broadcast` returns; the send runs on the engine's task, and its
        // `sent_to` is of no interest to marshal.
        drop(self.broadcast(recipients, block).await);
    }
}

/// Builds shardcast's engine and the mailbox marshal takes as its buffer: the one call that
/// replaces `buffered::Engine::new`. Start the engine on the buffer's p2p channel, and pass the
/// mailbox to marshal's `Actor::start` where the reference's mailbox went.
///
/// ```no_run
/// # use commonware_consensus::marshal::{core::Buffer, standard::Standard};
/// # use shardcast_commonware_2026_4::{Config, Options};
/// # fn check<B, Buf: Buffer<Standard<B>>>(_: &Buf) where B: commonware_consensus::Block {}
/// # fn example<E, B, D>(context: E, config: Config<commonware_cryptography::ed25519::PublicKey, B::Cfg, D>)
/// # where
/// #     E: commonware_runtime::Spawner + commonware_runtime::Clock + commonware_runtime::Metrics,
/// #     B: commonware_consensus::Block + Clone,
/// #     B::Cfg: Clone + Send + Sync + 'static,
/// #     D: commonware_p2p::Provider<PublicKey = commonware_cryptography::ed25519::PublicKey>,
/// # {
/// let options = Options::default().with_workers(2);
/// let (engine, buffer) =
///     shardcast_commonware_2026_4::marshal::buffer_for_marshal::<_, _, B, _>(context, config, options);
/// // engine.start(buffer_channel); marshal.start(application, buffer, resolver);
/// check::<B, _>(&buffer); // the mailbox is marshal's `Buffer<Standard<B>>`
/// # }
/// ```
pub fn buffer_for_marshal<E, P, B, D>(
    context: E,
    config: Config<P, <B as Read>::Cfg, D>,
    options: Options,
) -> (Engine<E, P, B, D>, Mailbox<P, B>)
where
    E: Spawner + Clock + Metrics,
    P: PublicKey,
    B: Block + Clone + Digestible + Encode,
    <B as Read>::Cfg: Clone + Send + Sync + 'static,
    D: Provider<PublicKey = P>,
{
    Engine::with_options(context, config, options)
}
