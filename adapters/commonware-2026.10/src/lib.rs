//! shardcast on commonware 2026.10.0: a drop-in for `commonware_broadcast::buffered`.
//!
//! A chain switches with its Cargo.toml and one line:
//!
//! ```text
//! use commonware_broadcast::buffered;        // before
//! use shardcast_commonware_2026_10 as buffered; // after
//! ```
//!
//! ```
//! use commonware_broadcast::Broadcaster as _;
//! use commonware_cryptography::{Digested, Digestible, Signer as _, ed25519};
//! use commonware_p2p::{Manager as _, Recipients, simulated};
//! use commonware_parallel::Sequential;
//! use commonware_runtime::{Clock as _, Quota, Runner as _, Supervisor as _, deterministic};
//! use commonware_utils::{NZUsize, ordered::Set};
//! use shardcast_commonware_2026_10 as buffered;
//! # use commonware_codec::{Buf, EncodeSize, Error, RangeCfg, Read, ReadRangeExt, Write};
//! # use commonware_cryptography::{Hasher, Sha256, sha256::Digest};
//! # use commonware_runtime::BufMut;
//! # #[derive(Clone, Debug, PartialEq)]
//! # struct Block(Vec<u8>);
//! # impl Digestible for Block {
//! #     type Digest = Digest;
//! #     fn digest(&self) -> Digest { Sha256::hash(&[&self.0]) }
//! # }
//! # impl Write for Block { fn write(&self, buf: &mut impl BufMut) { self.0.write(buf) } }
//! # impl EncodeSize for Block { fn encode_size(&self) -> usize { self.0.encode_size() } }
//! # impl Read for Block {
//! #     type Cfg = RangeCfg<usize>;
//! #     fn read_cfg(buf: &mut impl Buf, cfg: &Self::Cfg) -> Result<Self, Error> {
//! #         Ok(Self(Vec::<u8>::read_range(buf, *cfg)?))
//! #     }
//! # }
//!
//! deterministic::Runner::default().start(|context| async move {
//!     let key = ed25519::PrivateKey::from_seed(0).public_key();
//!     let (network, oracle) = simulated::Network::new(
//!         context.child("network"),
//!         simulated::Config {
//!             max_size: 1 << 20,
//!             max_peers_per_set: NZUsize!(1),
//!             disconnect_on_block: true,
//!             tracked_peer_sets: NZUsize!(1),
//!         },
//!     );
//!     network.start();
//!     let _ = oracle.manager().track(0, Set::from_iter_dedup([key.clone()]));
//!     let channel = oracle
//!         .control(key.clone())
//!         .register(0, Quota::per_second(std::num::NonZeroU32::MAX))
//!         .await
//!         .unwrap();
//!
//!     // The reference's literal, unchanged.
//!     let (engine, mailbox) = buffered::Engine::new(
//!         context.child("buffer"),
//!         buffered::Config {
//!             public_key: key.clone(),
//!             mailbox_size: NZUsize!(1024),
//!             deque_size: 10,
//!             priority: false,
//!             codec_config: RangeCfg::from(..),
//!             peer_provider: oracle.manager(),
//!             strategy: Sequential,
//!         },
//!     );
//!     engine.start(channel);
//!
//!     let block = Block(b"block 1".to_vec());
//!     let digest = block.digest();
//!     assert!(mailbox.broadcast(Recipients::All, Digested::precomputed(block.clone(), digest)).accepted());
//!     assert_eq!(mailbox.get(digest).await.unwrap().inner(), &block);
//! });
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
