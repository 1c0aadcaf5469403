//! What the buffer stores: anything that can name itself with a digest.

use std::fmt::Debug;
use std::hash::Hash;

/// A message that the buffer can cache, identified by its digest.
///
/// The digest is the message's identity: two messages with the same digest are the same message
/// to the buffer, which stores the first copy it caches and serves that copy to [`get`] callers
/// (subscribers woken by an insert receive the inserted copy). A digest should therefore cover
/// every field that matters to the application.
///
/// `digest` is always computed by the buffer itself (nothing about it is trusted from the
/// network) and always *before* any lock is taken, so it may be as expensive as a cryptographic
/// hash. It must be deterministic and must not call back into the buffer.
///
/// [`get`]: crate::Buffer::get
pub trait Message: Clone + Send + Sync + 'static {
    /// The digest type. Digests produced by a cryptographic hash are uniformly distributed; the
    /// buffer still hashes them with a keyed hasher, so that peers cannot grind digests that
    /// collide in one shard.
    type Digest: Copy + Eq + Ord + Hash + Debug + Send + Sync + 'static;

    /// Returns the digest that identifies this message.
    fn digest(&self) -> Self::Digest;
}
