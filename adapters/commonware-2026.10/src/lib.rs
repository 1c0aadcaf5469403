//! shardcast on commonware 2026.10.0: a drop-in for `commonware_broadcast::buffered`.
//!
//! A chain switches with its Cargo.toml and one line:
//!
//! ```text
//! use commonware_broadcast::buffered;        // before
//! use shardcast_commonware_2026_10 as buffered; // after
//! ```
//!
//! [`Config`] is the reference's seven-field literal, [`Engine::new`] / [`Engine::start`] and
//! every [`Mailbox`] call keep their signatures, and the mailbox is a
//! `commonware_broadcast::Broadcaster` (`Recipients<P>`, `Digested<M>`, `Feedback`).
//!
//! Everything but the boundary lives in the release-agnostic core, `shardcast`: the cache, the
//! receive path, the engine and the runtime abstraction. This crate is only that boundary:
//! the runtime, transport and peer-set glue, the metrics registration (into the
//! release's registry, with its `Registered` handles kept), and the engine and mailbox.
//!
//! What this release's reference does, and this crate with it:
//! - a peer may cache while it is primary in **any** tracked set (`all.primary`);
//! - `broadcast` is synchronous: `Feedback::Ok` within `mailbox_size`, `Backoff` beyond it
//!   (accepted all the same and sent in order), `Closed` once the engine stopped;
//! - `get` and `subscribe` hand out the cached `Digested<M>`, an `Arc`: no copy of a block;
//! - metrics keep the reference's names and labels (`peer{sequencer}`, `receive{status}`,
//!   `subscribe{status}`, `get{status}`, `waiters`), beside shardcast's own.
//!
//! - before the engine runs, broadcasts wait in order and are sent once it applied its first
//!   peer set; a `get` waits for it and sees them; a `subscribe` is answered by them;
//! - `mailbox_backoff_total` counts each `Backoff`, on the context's `mailbox` child.
//!
//! Not yet as the reference (see the repository's README for the table): the digest of a
//! received message is computed on the engine's workers, not on `strategy`.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod engine;
mod glue;
#[cfg(feature = "marshal")]
pub mod marshal;
mod registry;

/// What `broadcast` answers (the release's `commonware_actor::Feedback`).
pub use commonware_actor::Feedback;
pub use engine::{Config, Engine, Mailbox, Options};
pub use glue::Shared;
