//! shardcast buffers and disseminates messages between the peers of a wide-area network.
//!
//! It re-implements the *buffered* broadcast engine of `commonware-broadcast` 2026.4.0 without
//! an actor: instead of one task that owns the cache and serves every request through a
//! mailbox, the cache is a lock-sharded concurrent structure that any number of network receive
//! tasks and application tasks call directly, through a shared [`Arc`](std::sync::Arc).
//!
//! ```
//! use shardcast::{Buffer, Closed, Config, Insert, Message};
//! use std::sync::Arc;
//!
//! #[derive(Clone, Debug, PartialEq)]
//! struct Note {
//!     id: u64,
//!     body: String,
//! }
//!
//! impl Message for Note {
//!     type Digest = u64;
//!     fn digest(&self) -> u64 {
//!         self.id
//!     }
//! }
//!
//! # tokio_test_block_on(async {
//! // Cache the 10 most recent messages of each primary peer.
//! let buffer: Arc<Buffer<&'static str, Note>> = Arc::new(Buffer::new(Config::new(10)).unwrap());
//! buffer.update_primary(["alice", "bob"]);
//!
//! // A subscriber waits for a digest it has heard of...
//! let waiting = buffer.subscribe(7);
//!
//! // ...and a receive task, on any thread, inserts what the network delivers.
//! let note = Note { id: 7, body: "hello".into() };
//! assert_eq!(buffer.insert("alice", note.clone()), Insert::Added);
//! assert_eq!(buffer.insert("alice", note.clone()), Insert::Duplicate);
//! assert_eq!(buffer.insert("mallory", note.clone()), Insert::Ineligible); // not primary
//!
//! assert_eq!(waiting.await, Ok(note.clone()));
//! assert_eq!(buffer.get(&7), Some(note));
//!
//! // When alice and bob leave the primary set, what only they held is evicted.
//! buffer.update_primary(["carol"]);
//! assert_eq!(buffer.get(&7), None);
//!
//! // Closing the buffer (or dropping its last handle) ends every pending subscription.
//! let pending = buffer.subscribe(8);
//! buffer.close();
//! assert_eq!(pending.await, Err(Closed));
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```
//!
//! # What it does
//!
//! - Each peer in the latest *primary* set owns a deque of its `deque_size` most recent digests
//!   (newest first; a duplicate moves to the front). A message is stored once, however many
//!   peers hold it, and leaves the cache when the last deque holding it lets it go, so memory is
//!   bounded by `|primary| x deque_size` messages whatever peers send.
//! - Optionally, each deque is also bounded in bytes ([`Config::with_peer_bytes`], messages
//!   measured by [`Message::size`]): cached bytes then stay within `|primary| x limit` at every
//!   instant, whatever mix of 150 B and 8 MiB messages peers send.
//! - Peers outside the primary set cache nothing, but every insert attempt, from anyone, serves
//!   the subscribers waiting for that digest.
//! - [`Buffer::get`] reads the cache; [`Buffer::subscribe`] returns a future that resolves when
//!   the digest is cached or next inserted. Dropping a [`Subscription`] frees its registration
//!   at once. [`Buffer::close`] (or dropping the last handle) resolves every pending one to
//!   [`Closed`] and frees the cache.
//! - [`Buffer::update_primary`] swaps the primary set atomically and evicts the deques of peers
//!   that left it.
//!
//! # Guarantees
//!
//! No lost wake-up, no leaked registration, no message cached for a peer outside the latest
//! primary set once the update that removed it returned: the invariants and the lock order are
//! written once, in the [`buffer`] module docs, checked by `Buffer::check_invariants` (feature
//! `test-util`), and model-checked with loom on the same code that production runs (the
//! `sync` facade: loom types under `cfg(loom)`, dashmap, arc-swap and std otherwise).
//!
//! # Where things live
//!
//! | concern | module | what is there |
//! |---|---|---|
//! | the cache | [`buffer`] (`store`: digest slots and refcounts; `peers`: the primary set and per-peer deques; `slot`: a subscriber's waiter slot; `subscription`: the future) | state, invariants, lock order, races, in the module docs |
//! | what the application supplies | `message` ([`Message`], [`Peer`]), `config` ([`Config`], [`ConfigError`]) | |
//! | receive accounting | `receive` ([`Buffer::receive`], the engine's totals behind `EngineStats`) | what the network delivered and what became of it |
//! | the receive path | [`engine`] | reader (frames and peer-set updates), workers routed by peer, sender task, stop watcher |
//! | transports | [`net`] (the traits; `sim`: the simulated WAN; `channel`: push frames yourself), [`forward`] (the task-less `oneshot` forwarder adapters answer subscriptions with) | |
//! | runtimes | [`runtime`] (`Tokio`; each commonware adapter adds its release's contexts) | the engine's only way to spawn, sleep or hear a stop |
//! | metrics | [`metrics`] (names, striped counters, both backends), `prometheus` (an HTTP endpoint) | |
//! | commonware | the adapter crates in `adapters/`, one per release line | the drop-in engine and mailbox, the runtime and p2p glue, the registry, marshal's `Buffer` |
//! | the loom facade | `sync` (the types), `buffer::wrong` (the wrong orderings the suite must catch) | |
//!
//! The demo binary is the workspace's `demo/` crate; the benchmarks and the marshal chain are
//! `benches/`; the loom suite is `loom-tests/`; the fuzz targets are `fuzz/`.
//!
//! # The network layer
//!
//! With the default feature `engine`, [`engine::Engine`] connects a buffer to a network through
//! the transport traits of [`net`] (a sender reporting `sent_to`, a receiver of authenticated
//! frames, a peer-set source), on any [`runtime::Runtime`]: a reader task feeds batches of
//! frames to parallel decode+insert workers through a bounded channel and applies peer-set
//! updates in order between them, one sender task owns the transport's sender, and `broadcast`
//! inserts locally before it queues the send (waiting for room in a bounded outbox). When the engine stops it closes its buffer.
//! [`net::sim`] is an in-process WAN (latency, jitter, loss, seeded) for tests and the demo.
//!
//! This crate names no commonware release. The drop-ins for the reference's `buffered::Engine`
//! (on any commonware runtime, the deterministic simulation included, with its metrics in the
//! runtime's registry, and as marshal's block buffer) are one crate per release line, each
//! with its own lock: `shardcast-commonware-2026-4` and `shardcast-commonware-2026-10`, in the
//! repository's `adapters/`. They are built from this crate's public pieces: [`engine`],
//! [`runtime::Runtime`], [`metrics::Registry`] and [`forward`]. Feature `prometheus` adds a
//! `/metrics` endpoint for the facade path.
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `engine` | yes | [`engine`], [`net`], [`runtime`], [`Blob`], [`Codec`] (tokio, flume, sha2) |
//! | `prometheus` | no | `prometheus::serve`, a `/metrics` endpoint (an HTTP exporter) |
//! | `test-util` | no | `Buffer::check_invariants` |
//!
//! # Design notes: where the code departs from the design it started from, and why
//!
//! - **Reference counts are plain integers under the digest entry's write lock**, not atomics
//!   incremented under a read guard: the decrement, the zero check and the removal are one
//!   critical section, so the "revived by a concurrent insert" race cannot happen at all (loom
//!   still checks the two-section variant is caught). The write lock is taken once per insert
//!   anyway (to serve waiters), so nothing is lost.
//! - **An insert evicts, then stores, then pushes**: evicting first keeps the resident count
//!   within `|primary| x deque_size` at every instant (storing first overshot by one per
//!   concurrent inserter); storing before pushing means a panicking `Clone` (the one piece of
//!   user code run under a lock) leaves the deque and the store consistent.
//! - **The reader batches**: it drains what the receiver already holds (up to 64 frames) into
//!   one channel message, and handles a lone frame itself when no backlog waits, saving a task
//!   hand-off on the path to a subscriber.
//! - **Counters are striped per thread** ([`metrics`]): a worker counts every frame where it
//!   handles it (receive accounting lives in one module, `receive`, beside the cache, not in
//!   it), at the cost of an addition on its own cache line.
//! - **32 shards per core** by default (dashmap uses 4): concurrent readers then rarely share a
//!   shard lock's cache line.
//!
//! # Differences from the reference engine
//!
//! - No actor and no request queue: calls are direct, so there is no mailbox size, and no
//!   request can be queued behind another. The commonware mailbox keeps the reference's
//!   signatures over the same direct calls.
//! - A dropped subscription is unregistered at once and counted `subscribe_total{Dropped}`; the
//!   reference cleans it up at its next event and counts it `get_total{Dropped}` (a miscount).
//! - The per-sender metric `peer_total{sequencer}` is opt-in (unbounded cardinality).
//! - A buffer closes ([`Buffer::close`], its last handle dropped, or its engine stopping): its
//!   pending subscriptions resolve to [`Closed`], where the reference's resolve to `Canceled`
//!   when its loop exits.

#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod buffer;
mod config;
#[cfg(feature = "engine")]
pub mod engine;
pub mod forward;
mod message;
pub mod metrics;
#[cfg(feature = "engine")]
pub mod net;
#[cfg(feature = "prometheus")]
pub mod prometheus;
mod receive;
#[cfg(feature = "engine")]
pub mod runtime;
pub(crate) mod sync;

pub use buffer::{Buffer, Closed, Insert, Stats, SubscribeError, Subscription};
pub use config::{Config, ConfigError, DEFAULT_METRICS_PREFIX};
#[cfg(feature = "engine")]
pub use engine::{Engine, EngineConfig, EngineError, EngineStats, Enqueued, SentTo};
#[cfg(feature = "engine")]
#[doc(hidden)] // Not part of the API: for this repository's tests, benches and demo.
pub use message::put_varint;
#[cfg(feature = "engine")]
pub use message::{Blob, BlobConfig, Codec, DecodeError};
pub use message::{Message, Peer};

/// An error from a wrapped codec or transport: [`DecodeError::Codec`] and
/// [`net::SendError::Other`] keep it whole, as their `source`.
#[cfg(feature = "engine")]
pub type BoxedError = Box<dyn std::error::Error + Send + Sync + 'static>;
