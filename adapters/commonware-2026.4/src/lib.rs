//! shardcast on commonware 2026.4.0: a drop-in for the actor engine
//! `commonware_broadcast::buffered` 2026.4.0, on any commonware runtime, on the network its
//! users already run.
//!
//! [`Engine::new`] takes a runtime context and a [`Config`] and returns the engine and a
//! [`Mailbox`]; [`Engine::start`] takes the `(sender, receiver)` pair of a commonware-p2p channel
//! and returns the runtime's `Handle`, exactly as `buffered::Engine` does. The mailbox has the
//! reference's methods and types, with the application's own message type `M`:
//!
//! ```no_run
//! # use shardcast_commonware_2026_4::{Config, Engine};
//! # async fn example<E, M>(
//! #     context: E,
//! #     config: Config<commonware_cryptography::ed25519::PublicKey, M::Cfg, commonware_p2p::simulated::Manager<commonware_cryptography::ed25519::PublicKey, E>>,
//! #     network: (commonware_p2p::simulated::Sender<commonware_cryptography::ed25519::PublicKey, E>, commonware_p2p::simulated::Receiver<commonware_cryptography::ed25519::PublicKey>),
//! #     message: M,
//! # ) where
//! #     E: commonware_runtime::Spawner + commonware_runtime::Clock + commonware_runtime::Metrics,
//! #     M: commonware_cryptography::Digestible + commonware_codec::Codec + Clone + Send + Sync + 'static,
//! #     M::Cfg: Clone + Send + Sync + 'static,
//! # {
//! use commonware_p2p::Recipients;
//!
//! let (engine, mailbox) = Engine::new(context, config);
//! let handle = engine.start(network);
//!
//! let digest = message.digest();
//! let sent_to = mailbox.broadcast(Recipients::All, message).await; // inserted locally already
//! let cached = mailbox.get(digest).await;                           // straight from the cache
//! let arrives = mailbox.subscribe(digest).await;                    // a oneshot::Receiver<M>
//! handle.abort();                                                   // pending ones: Canceled
//! # }
//! ```
//!
//! Under the mailbox there is no actor: once the engine runs, `get` and `subscribe` read the
//! shared [`Buffer`] directly, `broadcast` inserts before it returns and hands the send to the
//! engine's sender task, and received frames are decoded and inserted by the receive workers
//! ([`Options::with_workers`], 1 by default). Everything runs through the context given to
//! [`Engine::new`] (see [`commonware_runtime`]): on the deterministic runtime one seed gives one
//! execution.
//!
//! The lower-level pieces stay available for the tokio-only [`shardcast::engine::Engine`]:
//! [`P2pSender`], [`P2pReceiver`] and [`P2pPeerSets`] adapt a commonware `Sender`, `Receiver`
//! and `Provider` to shardcast's transport traits ([`shardcast::net`]), and [`Wire`] makes any
//! commonware `Digestible + Codec` type a shardcast [`Message`] + [`Codec`] with the same bytes
//! on the wire.
//!
//! # Migration from `buffered`: one line
//!
//! `use commonware_broadcast::buffered;` becomes `use shardcast_commonware_2026_4 as buffered;`, and
//! nothing else changes: [`Config`] has the reference's six public fields and types, so its
//! struct literal compiles unchanged; [`Engine::new`] and [`Engine::start`] take and return the
//! same; the [`Mailbox`] has the same `subscribe`, `subscribe_prepared` and `get`, and is a
//! [`commonware_broadcast::Broadcaster`] with the same associated types. shardcast's own
//! settings are in [`Options`] ([`Engine::with_options`]), whose defaults behave like the
//! reference.
//!
//! # Lifecycle
//!
//! As the reference's loop, down to its edges:
//!
//! - requests made before the engine runs (before [`Engine::start`], and after it until the
//!   engine has subscribed to the peer provider) wait in the mailbox's queue, at most
//!   `mailbox_size`, and are handled in order once the provider's first set is applied: a `get`
//!   or `subscribe` made after a broadcast sees it (a `get` made then waits for the engine);
//! - once it runs, `mailbox_size` bounds the broadcasts waiting to be sent, and `broadcast`
//!   waits for room before it inserts (back-pressure);
//! - when the last mailbox is dropped, every broadcast asked for is sent, then the engine stops;
//! - when the network receiver fails or the peer-set subscription closes, the engine stops;
//! - once stopped (also by `handle.abort()`, `context.stop(..)`, or dropping the engine without
//!   starting it), pending and later subscriptions and broadcasts resolve `Canceled`, and `get`
//!   returns `None` and counts nothing.
//!
//! # Intended differences
//!
//! - An abandoned subscription counts `subscribe{Dropped}` at once (the reference counts it
//!   `get{Dropped}` when its loop next sweeps), and `waiters` is exact at every instant; after a
//!   stop it reads 0.
//! - Requests from different tasks are not ordered with each other (each task's are); frames
//!   from the network are ordered with peer-set updates exactly (see
//!   [`shardcast::engine`]), a local broadcast racing an update is not.
//! - A panicking `M::clone` while subscribers are served cancels that message's subscribers
//!   and is counted `Invalid`; the reference's loop dies with it.
//! - `workers > 1`, the byte budget and the frame cap are opt-in ([`Options`]); metrics
//!   `cached`, `cached_bytes`, `subscriptions` and `evictions` are extra.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The Rust blocks of the repository's README, compiled and run as this crate's doctests (it
/// depends on shardcast and on commonware 2026.4, which the README's examples use).
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

mod context;
#[cfg(feature = "marshal")]
pub mod marshal;
mod registry;

use bytes::{Bytes, BytesMut};
use commonware_codec::{Encode, Read};
use commonware_cryptography::{Digestible, PublicKey};
use commonware_p2p::{PeerSetSubscription, Provider};
use commonware_runtime::{Clock, Handle, IoBuf, Metrics as RuntimeMetrics, Spawner};
use context::Commonware;
use shardcast::ConfigError;
use shardcast::engine::{self, DEFAULT_MAX_QUEUED_BYTES, EngineConfig};
use shardcast::forward::forward;
use shardcast::net::{
    PeerSetSource, PeerSetUpdate, Receiver, Recipients, RecvError, SendError, Sender,
};
use shardcast::{Buffer, Config as BufferConfig};
use shardcast::{Codec, DecodeError, Message};
use std::collections::VecDeque;
use std::pin::pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use tokio::sync::{Notify, oneshot};

/// `buffered::Config` of 2026.4.0, field for field: the reference's struct literal compiles
/// unchanged. shardcast's own settings are in [`Options`].
#[derive(Clone, Debug)]
pub struct Config<P, MCfg, D> {
    /// Our own identity: local broadcasts are cached under it.
    pub public_key: P,
    /// Most requests waiting for the engine: broadcasts waiting to be sent once it runs, and
    /// every request made before it runs (at least 1). When that many wait, `broadcast` (and,
    /// before the engine runs, every call) waits for room, as on the reference's mailbox.
    pub mailbox_size: usize,
    /// Digests cached per primary peer.
    pub deque_size: usize,
    /// Passed unchanged as the `priority` flag of every send.
    pub priority: bool,
    /// Bounds for decoding inbound messages (`M::Cfg`).
    pub codec_config: MCfg,
    /// Source of peer-set updates: only the latest set's primary peers may cache.
    pub peer_provider: D,
}

/// shardcast's settings beyond the reference's [`Config`], for [`Engine::with_options`]. The
/// defaults behave like the reference: one receive worker, no byte budget, no frame limit of
/// the engine's own, the `peer` metric registered.
///
/// ```
/// use shardcast_commonware_2026_4::Options;
///
/// let options = Options::default()
///     .with_workers(2)
///     .with_peer_bytes(64 << 20)
///     .with_max_frame_size(8 << 20);
/// assert_eq!(options.workers(), 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    workers: usize,
    peer_bytes: Option<usize>,
    max_frame_size: Option<usize>,
    max_queued_bytes: usize,
    peer_metrics: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            workers: 1,
            peer_bytes: None,
            max_frame_size: None,
            max_queued_bytes: DEFAULT_MAX_QUEUED_BYTES,
            peer_metrics: true,
        }
    }
}

impl Options {
    /// Receive workers decoding and inserting in parallel (default 1, as the reference's one
    /// loop; at least 1). An execution replays the same on the deterministic runtime only for
    /// the same count.
    pub fn with_workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// Bytes cached per primary peer, on top of `deque_size`, messages measured by their
    /// encoded size (see [`Config::with_peer_bytes`](shardcast::Config::with_peer_bytes)); default
    /// none: count only.
    pub fn with_peer_bytes(mut self, bytes: usize) -> Self {
        self.peer_bytes = Some(bytes);
        self
    }

    /// Frames longer than this are rejected before decoding; default none: only the
    /// network's own `max_message_size` bounds them.
    pub fn with_max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = Some(bytes);
        self
    }

    /// Most bytes of received frames waiting for the workers (default
    /// [`DEFAULT_MAX_QUEUED_BYTES`], 64 MiB; at least 1): when reached, the engine stops
    /// reading from the network until they catch up.
    pub fn with_max_queued_bytes(mut self, bytes: usize) -> Self {
        self.max_queued_bytes = bytes;
        self
    }

    /// Whether the per-sender counter `peer{sequencer}` is registered (default `true`, as the
    /// reference; one series per sender that ever sent a frame that decoded). A sender's label
    /// is formatted once, when its series is created.
    pub fn with_peer_metrics(mut self, enabled: bool) -> Self {
        self.peer_metrics = enabled;
        self
    }

    /// Receive workers.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The per-peer byte budget, if any.
    pub fn peer_bytes(&self) -> Option<usize> {
        self.peer_bytes
    }

    /// The engine's own frame limit, if any.
    pub fn max_frame_size(&self) -> Option<usize> {
        self.max_frame_size
    }

    /// Most bytes of frames waiting for the workers.
    pub fn max_queued_bytes(&self) -> usize {
        self.max_queued_bytes
    }

    /// Whether `peer{sequencer}` is registered.
    pub fn peer_metrics(&self) -> bool {
        self.peer_metrics
    }
}

/// A request made before the engine ran, kept in order for it, as the reference's mailbox
/// keeps requests for its loop.
enum Early<P, M: Digestible> {
    Broadcast {
        recipients: Recipients<P>,
        message: M,
        sent_to: oneshot::Sender<Vec<P>>,
    },
    Subscribe {
        digest: M::Digest,
        responder: oneshot::Sender<M>,
    },
    Get {
        digest: M::Digest,
        responder: oneshot::Sender<Option<M>>,
    },
}

/// Where requests go before the engine runs.
enum GateState<P, M: Digestible> {
    /// Not running yet: requests wait here, in order (at most `mailbox_size`).
    Queued(VecDeque<Early<P, M>>),
    /// Running, and everything queued before was handled: requests go to the engine directly.
    Open,
    /// The engine will never run (dropped, or aborted, before it did): requests are dropped,
    /// which their callers read as the channel's error (`Canceled`) or `None`.
    Shut,
}

/// The queue of requests made before the engine runs, shared by the engine and its mailboxes.
///
/// Program order holds across `start`: a request joins the queue unless the queue is
/// [`Open`](GateState::Open), and it opens only once it is empty, under its lock, after the
/// engine took everything in it. So a request made after another one by the same task is
/// handled after it, as on the reference's one loop.
struct Gate<P, M: Digestible> {
    state: Mutex<GateState<P, M>>,
    /// Notified when the queue is emptied, opened or shut: a request waiting for room retries.
    room: Notify,
    capacity: usize,
}

impl<P, M: Digestible> Gate<P, M> {
    /// Queues `early` unless the gate is open, waiting for room while the queue is full; gives
    /// it back when the gate is open (the caller runs it directly), drops it when shut.
    async fn enqueue(&self, early: Early<P, M>) -> Option<Early<P, M>> {
        let mut early = Some(early);
        loop {
            let mut room = pin!(self.room.notified());
            room.as_mut().enable();
            {
                let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                match &mut *state {
                    GateState::Open => return early,
                    GateState::Shut => return None,
                    GateState::Queued(queue) if queue.len() < self.capacity => {
                        queue.extend(early.take());
                        return None;
                    }
                    GateState::Queued(_) => {}
                }
            }
            room.await;
        }
    }

    /// Shuts a gate that never opened: what waits in it is dropped (outside the lock).
    fn shut(&self) {
        let dropped = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            match &mut *state {
                GateState::Queued(queue) => {
                    let queue = std::mem::take(queue);
                    *state = GateState::Shut;
                    queue
                }
                GateState::Open | GateState::Shut => VecDeque::new(),
            }
        };
        self.room.notify_waiters();
        drop(dropped);
    }
}

/// What the mailboxes share: the gate, and the running engine once it opened. Only mailboxes
/// hold it: when the last one is dropped, the engine sends what it was asked to and stops, as
/// the reference's loop ends once its mailbox is closed and drained.
struct Shared<P, M: Digestible + Encode + Read>
where
    M::Cfg: Clone + Send + Sync + 'static,
{
    running: OnceLock<engine::Engine<P, Wire<M>>>,
    gate: Arc<Gate<P, M>>,
}

/// Shuts the gate and closes the buffer when dropped: when the engine never ran (dropped
/// without [`Engine::start`], or its task aborted before it ran) and when its task ends.
struct Closer<P: PublicKey, M: Digestible + Encode + Read>
where
    M::Cfg: Clone + Send + Sync + 'static,
{
    gate: Arc<Gate<P, M>>,
    buffer: Arc<Buffer<P, Wire<M>>>,
}

impl<P: PublicKey, M: Digestible + Encode + Read> Drop for Closer<P, M>
where
    M::Cfg: Clone + Send + Sync + 'static,
{
    fn drop(&mut self) {
        self.gate.shut();
        self.buffer.close();
    }
}

/// The engine: built with [`Engine::new`], run with [`Engine::start`].
pub struct Engine<E, P, M, D>
where
    P: PublicKey,
    M: Digestible + Encode + Read,
    M::Cfg: Clone + Send + Sync + 'static,
{
    context: E,
    public_key: P,
    peer_provider: D,
    config: EngineConfig<M::Cfg>,
    buffer: Arc<Buffer<P, Wire<M>>>,
    shared: Weak<Shared<P, M>>,
    closer: Closer<P, M>,
}

impl<E, P, M, D> Engine<E, P, M, D>
where
    E: Spawner + Clock + RuntimeMetrics,
    P: PublicKey,
    M: Digestible + Encode + Read + Clone + Send + Sync + 'static,
    M::Cfg: Clone + Send + Sync + 'static,
    D: Provider<PublicKey = P>,
{
    /// Builds the engine and its mailbox with the default [`Options`], and registers the
    /// metrics in `context`'s registry under its label (give two engines in one runtime two
    /// labels).
    ///
    /// # Panics
    ///
    /// When a value of `config` is out of range, with the message of the [`ConfigError`]
    /// ([`try_new`](Self::try_new) returns it instead). The reference panics on a zero
    /// `mailbox_size` too.
    pub fn new(context: E, config: Config<P, M::Cfg, D>) -> (Self, Mailbox<P, M>) {
        Self::with_options(context, config, Options::default())
    }

    /// [`new`](Self::new) with shardcast's own settings.
    ///
    /// # Panics
    ///
    /// As [`new`](Self::new), also for a value of `options` out of range.
    pub fn with_options(
        context: E,
        config: Config<P, M::Cfg, D>,
        options: Options,
    ) -> (Self, Mailbox<P, M>) {
        match Self::try_new(context, config, options) {
            Ok(built) => built,
            Err(err) => panic!("invalid shardcast-commonware-2026-4 configuration: {err}"),
        }
    }

    /// [`with_options`](Self::with_options), returning an out-of-range value as an error.
    /// Nothing is registered in `context` when it fails.
    pub fn try_new(
        context: E,
        config: Config<P, M::Cfg, D>,
        options: Options,
    ) -> Result<(Self, Mailbox<P, M>), ConfigError> {
        let mut buffer_config =
            BufferConfig::new(config.deque_size).with_peer_metrics(options.peer_metrics);
        if let Some(limit) = options.peer_bytes {
            buffer_config = buffer_config.with_peer_bytes(limit);
        }
        buffer_config.validate()?;
        let engine_config = EngineConfig::new(config.codec_config)
            .with_priority(config.priority)
            .with_workers(options.workers)
            .with_max_frame_size(options.max_frame_size.unwrap_or(usize::MAX))
            .with_max_queued_bytes(options.max_queued_bytes)
            .with_outbox(config.mailbox_size);
        engine_config.validate()?;
        // Labelled as the reference labels them: the key's `Display` (hex).
        let buffer = Arc::new(
            Buffer::with_registry(buffer_config, &mut registry::Context(&context))?
                .with_peer_label(|peer: &P| peer.to_string()),
        );
        let gate = Arc::new(Gate {
            state: Mutex::new(GateState::Queued(VecDeque::new())),
            room: Notify::new(),
            capacity: config.mailbox_size,
        });
        let shared = Arc::new(Shared {
            running: OnceLock::new(),
            gate: gate.clone(),
        });
        let engine = Self {
            context,
            public_key: config.public_key,
            peer_provider: config.peer_provider,
            config: engine_config,
            buffer: buffer.clone(),
            shared: Arc::downgrade(&shared),
            closer: Closer {
                gate,
                buffer: buffer.clone(),
            },
        };
        Ok((engine, Mailbox { buffer, shared }))
    }

    /// Starts the engine on the p2p channel `(sender, receiver)` and returns its task's handle.
    ///
    /// Every task is spawned from the context given to [`new`](Self::new), so the runtime
    /// supervises them: aborting the handle, or ending the task that owns the context, aborts
    /// them all. Once it has subscribed to the peer provider (and applied the set the provider
    /// had ready), the engine handles every request made before, in order, then serves the
    /// mailboxes directly.
    ///
    /// The engine stops, and the handle completes, as the reference's loop ends: when the
    /// runtime stops (`context.stopped()`), when the network receiver fails, when the peer-set
    /// subscription closes, when every mailbox is dropped (after sending every broadcast
    /// asked for), and when user code panics on one of its tasks (the network's sender or
    /// receiver, the peer provider, a message's `Drop`). When it stops, the buffer closes:
    /// pending and later subscriptions resolve to the channel's error (`Canceled`), `get`
    /// returns `None`.
    pub fn start<S, R>(self, (sender, receiver): (S, R)) -> Handle<()>
    where
        S: commonware_p2p::Sender<PublicKey = P>,
        R: commonware_p2p::Receiver<PublicKey = P>,
    {
        let Self {
            context,
            public_key,
            mut peer_provider,
            config,
            buffer,
            shared,
            closer,
        } = self;
        context.spawn(move |context| async move {
            // However this task ends (stopped, aborted while subscribing to the provider, or
            // never run at all because it was spawned on an aborted tree), the gate shuts and
            // the buffer closes: nothing waits forever.
            let closer = closer;
            let peer_sets = P2pPeerSets::subscribe(&mut peer_provider).await;
            let engine = engine::Engine::start_on(
                &Commonware(context),
                buffer,
                public_key,
                P2pSender::new(sender),
                P2pReceiver::new(receiver),
                peer_sets,
                config,
            )
            .expect("the configuration was validated by try_new");
            // Held while the early requests run; `None` when every mailbox is gone already:
            // the engine then handles what they asked for and stops.
            let shared = shared.upgrade();
            loop {
                let batch = {
                    let mut state = closer
                        .gate
                        .state
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    match &mut *state {
                        GateState::Queued(queue) if !queue.is_empty() => std::mem::take(queue),
                        GateState::Queued(_) => {
                            if let Some(shared) = &shared {
                                let _ = shared.running.set(engine.clone());
                            }
                            *state = GateState::Open;
                            break;
                        }
                        GateState::Open | GateState::Shut => break,
                    }
                };
                closer.gate.room.notify_waiters();
                for early in batch {
                    run_early(&engine, early).await;
                }
            }
            closer.gate.room.notify_waiters();
            let stopped = engine.stopped();
            drop((shared, engine));
            stopped.await;
        })
    }
}

/// Runs a request made before the engine ran.
async fn run_early<P, M>(engine: &engine::Engine<P, Wire<M>>, early: Early<P, M>)
where
    P: PublicKey,
    M: Digestible + Encode + Read + Clone + Send + Sync + 'static,
    M::Cfg: Clone + Send + Sync + 'static,
{
    match early {
        Early::Broadcast {
            recipients,
            message,
            sent_to,
        } => {
            engine
                .broadcast_cloned_to(recipients, Wire::new(message), sent_to)
                .await
        }
        Early::Subscribe { digest, responder } => subscribe(engine.buffer(), digest, responder),
        Early::Get { digest, responder } => {
            let _ = responder.send(get(engine.buffer(), &digest));
        }
    }
}

/// The cached message, counted in `get{status}`; `None`, uncounted, once the engine stopped
/// (the reference's mailbox no longer reaches a loop that could count it).
fn get<P, M>(buffer: &Buffer<P, Wire<M>>, digest: &M::Digest) -> Option<M>
where
    P: PublicKey,
    M: Digestible + Encode + Read + Clone + Send + Sync + 'static,
    M::Cfg: Clone + Send + Sync + 'static,
{
    if buffer.is_closed() {
        return None;
    }
    buffer.get(digest).map(Wire::into_inner)
}

/// Serves `responder` from the buffer: at once when cached, else on the first insert.
fn subscribe<P, M>(buffer: &Buffer<P, Wire<M>>, digest: M::Digest, responder: oneshot::Sender<M>)
where
    P: PublicKey,
    M: Digestible + Encode + Read + Clone + Send + Sync + 'static,
    M::Cfg: Clone + Send + Sync + 'static,
{
    if responder.is_closed() {
        // Nobody to answer: the reference counts it `Dropped` whether it was cached or not.
        buffer.abandon_subscribe();
        return;
    }
    forward(buffer.subscribe(digest), responder, Wire::into_inner);
}

/// The handle applications use, as `buffered::Mailbox`: cheap to clone, and, once the engine
/// runs, every call direct (no request queue, no round trip to a task).
pub struct Mailbox<P, M: Digestible + Encode + Read>
where
    M::Cfg: Clone + Send + Sync + 'static,
{
    buffer: Arc<Buffer<P, Wire<M>>>,
    shared: Arc<Shared<P, M>>,
}

impl<P, M: Digestible + Encode + Read> Clone for Mailbox<P, M>
where
    M::Cfg: Clone + Send + Sync + 'static,
{
    fn clone(&self) -> Self {
        Self {
            buffer: self.buffer.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<P, M> Mailbox<P, M>
where
    P: PublicKey,
    M: Digestible + Encode + Read + Clone + Send + Sync + 'static,
    M::Cfg: Clone + Send + Sync + 'static,
{
    /// The running engine, once every request made before it ran was handled.
    fn engine(&self) -> Option<&engine::Engine<P, Wire<M>>> {
        self.shared.running.get()
    }

    /// Queues `early` for the engine if it does not run yet; gives it back to run directly.
    async fn early(&self, early: Early<P, M>) -> Option<Early<P, M>> {
        if self.engine().is_some() {
            return Some(early);
        }
        self.shared.gate.enqueue(early).await
    }

    /// Inserts `message` under our own key (serving its subscribers, caching it if we are
    /// primary), then has the engine send it to `recipients`. The receiver yields `sent_to`,
    /// the peers the network accepted it for (empty if the send failed). The same as
    /// [`Broadcaster::broadcast`](commonware_broadcast::Broadcaster::broadcast).
    ///
    /// Once the engine runs, the insert has happened when this returns, and the send
    /// completes even if the caller drops the receiver; when `mailbox_size` broadcasts already
    /// wait to be sent, this waits for room first. Before it runs, the broadcast waits in the
    /// mailbox's queue and is inserted and sent when the engine reaches it, before anything
    /// asked after it. After the engine stopped, nothing is inserted and the receiver yields
    /// the channel's error.
    pub async fn broadcast(
        &self,
        recipients: commonware_p2p::Recipients<P>,
        message: M,
    ) -> oneshot::Receiver<Vec<P>> {
        let (sent_to, receiver) = oneshot::channel();
        let early = Early::Broadcast {
            recipients: from_p2p(recipients),
            message,
            sent_to,
        };
        if let Some(Early::Broadcast {
            recipients,
            message,
            sent_to,
        }) = self.early(early).await
            && let Some(engine) = self.engine()
        {
            engine
                .broadcast_cloned_to(recipients, Wire::new(message), sent_to)
                .await;
        }
        receiver
    }

    /// A receiver of the message with this digest: answered at once when it is cached, and
    /// otherwise by the first insert of it. Dropping the receiver frees the registration at
    /// once. After the engine stopped, the receiver yields the channel's error.
    pub async fn subscribe(&self, digest: M::Digest) -> oneshot::Receiver<M> {
        let (responder, receiver) = oneshot::channel();
        self.subscribe_prepared(digest, responder).await;
        receiver
    }

    /// [`subscribe`](Self::subscribe) with a responder made by the caller. A responder whose
    /// receiver is already gone is counted `subscribe{Dropped}` and not registered.
    pub async fn subscribe_prepared(&self, digest: M::Digest, responder: oneshot::Sender<M>) {
        if let Some(Early::Subscribe { digest, responder }) =
            self.early(Early::Subscribe { digest, responder }).await
        {
            subscribe(&self.buffer, digest, responder);
        }
    }

    /// The cached message with this digest, if any (`None` once the engine stopped). Before
    /// the engine runs, it waits for it, and answers after every request made before.
    pub async fn get(&self, digest: M::Digest) -> Option<M> {
        let (responder, answer) = oneshot::channel();
        match self.early(Early::Get { digest, responder }).await {
            Some(Early::Get { digest, .. }) => get(&self.buffer, &digest),
            _ => answer.await.unwrap_or_default(),
        }
    }

    /// Waits until a peer-set update with an index of at least `index` has been applied.
    /// Returns at once if the engine has not started or has stopped.
    pub async fn wait_for_peer_set(&self, index: u64) {
        if let Some(engine) = self.engine() {
            engine.wait_for_peer_set(index).await;
        }
    }

    /// What the receive path has done so far and how many broadcasts wait to be sent (all
    /// zero before the engine runs).
    pub fn stats(&self) -> engine::EngineStats {
        self.engine().map(engine::Engine::stats).unwrap_or_default()
    }

    /// The shared buffer under the mailbox, for direct, synchronous use: `get`, `subscribe`
    /// as a future, `contains`, `peer_digests`, `stats`.
    pub fn buffer(&self) -> &Arc<Buffer<P, Wire<M>>> {
        &self.buffer
    }
}

impl<P, M> commonware_broadcast::Broadcaster for Mailbox<P, M>
where
    P: PublicKey,
    M: Digestible + commonware_codec::Codec + Clone + Send + Sync + 'static,
    M::Cfg: Clone + Send + Sync + 'static,
{
    type Recipients = commonware_p2p::Recipients<P>;
    type Message = M;
    type Response = Vec<P>;

    /// [`Mailbox::broadcast`].
    async fn broadcast(
        &self,
        recipients: Self::Recipients,
        message: Self::Message,
    ) -> oneshot::Receiver<Self::Response> {
        Mailbox::broadcast(self, recipients, message).await
    }
}

/// A commonware `Sender` as a shardcast [`Sender`]: the one sender of an engine, kept for its
/// whole life (a commonware sender re-subscribes to the peer list when cloned).
#[derive(Debug)]
pub struct P2pSender<S> {
    inner: S,
}

impl<S> P2pSender<S> {
    /// Wraps a commonware sender (one channel of its network).
    pub fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S> Sender<S::PublicKey> for P2pSender<S>
where
    S: commonware_p2p::Sender,
{
    async fn send(
        &mut self,
        recipients: Recipients<S::PublicKey>,
        message: Bytes,
        priority: bool,
    ) -> Result<Vec<S::PublicKey>, SendError> {
        self.inner
            .send(to_p2p(recipients), IoBuf::from(message), priority)
            .await
            .map_err(|err| SendError::Other(Box::new(err)))
    }
}

/// A commonware `Receiver` as a shardcast [`Receiver`].
#[derive(Debug)]
pub struct P2pReceiver<R> {
    inner: R,
}

impl<R> P2pReceiver<R> {
    /// Wraps a commonware receiver (one channel of its network).
    pub fn new(inner: R) -> Self {
        Self { inner }
    }
}

impl<R: commonware_p2p::Receiver> Receiver<R::PublicKey> for P2pReceiver<R> {
    async fn recv(&mut self) -> Result<(R::PublicKey, Bytes), RecvError> {
        let (peer, frame) = self.inner.recv().await.map_err(|_| RecvError)?;
        Ok((peer, Bytes::from(frame)))
    }
}

/// A commonware `Provider`'s peer-set subscription as a shardcast [`PeerSetSource`]: only
/// `latest.primary` decides who may cache (as in the actor, 2026.4.0).
#[derive(Debug)]
pub struct P2pPeerSets<P: PublicKey> {
    updates: PeerSetSubscription<P>,
}

impl<P: PublicKey> P2pPeerSets<P> {
    /// Subscribes to `provider` (the in-tree providers push the latest set at once).
    pub async fn subscribe<D: Provider<PublicKey = P>>(provider: &mut D) -> Self {
        Self {
            updates: provider.subscribe().await,
        }
    }
}

impl<P: PublicKey> PeerSetSource<P> for P2pPeerSets<P> {
    async fn next(&mut self) -> Option<PeerSetUpdate<P>> {
        let update = self.updates.recv().await?;
        Some(PeerSetUpdate {
            index: update.index,
            primary: update.latest.primary.iter().cloned().collect(),
            secondary: update.latest.secondary.iter().cloned().collect(),
        })
    }
}

fn to_p2p<P: PublicKey>(recipients: Recipients<P>) -> commonware_p2p::Recipients<P> {
    match recipients {
        Recipients::All => commonware_p2p::Recipients::All,
        Recipients::Some(peers) => commonware_p2p::Recipients::Some(peers),
        Recipients::One(peer) => commonware_p2p::Recipients::One(peer),
    }
}

fn from_p2p<P: PublicKey>(recipients: commonware_p2p::Recipients<P>) -> Recipients<P> {
    match recipients {
        commonware_p2p::Recipients::All => Recipients::All,
        commonware_p2p::Recipients::Some(peers) => Recipients::Some(peers),
        commonware_p2p::Recipients::One(peer) => Recipients::One(peer),
    }
}

/// A commonware `Digestible + Codec` type as a shardcast [`Message`] + [`Codec`]: the same
/// digest, the same bytes on the wire.
///
/// The message is shared behind an `Arc`: the cache, the subscribers it serves and the sender
/// task that encodes a broadcast hold one copy between them, and cloning a `Wire` (a `get`
/// under the cache's shard lock, a waiter served by an insert) copies a pointer. The one deep
/// copy a caller of the 2026.4 API needs (its `get`, `subscribe` and marshal's `find_*` return
/// the message by value) is made by [`into_inner`](Self::into_inner), outside every lock.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Wire<M>(Arc<M>);

impl<M> Clone for Wire<M> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<M> Wire<M> {
    /// Wraps `message`.
    pub fn new(message: M) -> Self {
        Self(Arc::new(message))
    }

    /// The message inside.
    pub fn get(&self) -> &M {
        &self.0
    }

    /// The message inside: moved out when this is its last holder, cloned otherwise.
    pub fn into_inner(self) -> M
    where
        M: Clone,
    {
        Arc::unwrap_or_clone(self.0)
    }
}

impl<M> From<M> for Wire<M> {
    fn from(message: M) -> Self {
        Self::new(message)
    }
}

impl<M: Digestible + commonware_codec::EncodeSize> Message for Wire<M> {
    type Digest = M::Digest;

    fn digest(&self) -> M::Digest {
        self.get().digest()
    }

    /// The encoded size: what the message took on the wire.
    fn size(&self) -> usize {
        self.get().encode_size()
    }
}

impl<M> Codec for Wire<M>
where
    M: Encode + Read,
    M::Cfg: Clone + Send + Sync + 'static,
{
    type Config = M::Cfg;

    fn encode(&self, buf: &mut BytesMut) {
        self.get().write(buf);
    }

    /// commonware's own `encode`: one buffer of the message's `encode_size`, as the
    /// reference's sender allocates it. Growing an empty buffer instead, byte by byte for a
    /// `Vec<u8>` (commonware writes a slice element by element), cost several times as much
    /// for an 8 MiB block.
    fn to_bytes(&self) -> Bytes {
        Encode::encode(self.get())
    }

    fn read(buf: &mut Bytes, config: &M::Cfg) -> Result<Self, DecodeError> {
        M::read_cfg(buf, config)
            .map(Wire::new)
            .map_err(|err| DecodeError::Codec(Box::new(err)))
    }
}

/// shardcast's [`Blob`](shardcast::Blob) as a commonware message (the orphan rule keeps the
/// commonware traits off the core's type, so this adapter wraps it): digest `sha256::Digest`
/// (its SHA-256), encoded as commonware encodes `Bytes` (`varint(len) ‖ payload`: the same
/// bytes as shardcast's own [`Codec`]), decoded with at most `max_payload` bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob(pub shardcast::Blob);

impl Blob {
    /// A blob carrying `payload`.
    pub fn new(payload: impl Into<Bytes>) -> Self {
        Self(shardcast::Blob::new(payload))
    }

    /// Its payload.
    pub fn payload(&self) -> &Bytes {
        self.0.payload()
    }
}

mod blob {
    use super::Blob;
    use bytes::{Buf, BufMut};
    use commonware_codec::{EncodeSize, Error, RangeCfg, Read, Write};
    use commonware_cryptography::{Digestible, sha256};
    use shardcast::{BlobConfig, Message};

    impl Digestible for Blob {
        type Digest = sha256::Digest;

        fn digest(&self) -> sha256::Digest {
            sha256::Digest::from(Message::digest(&self.0))
        }
    }

    impl Write for Blob {
        fn write(&self, buf: &mut impl BufMut) {
            self.payload().write(buf);
        }
    }

    impl EncodeSize for Blob {
        fn encode_size(&self) -> usize {
            self.payload().encode_size()
        }
    }

    impl Read for Blob {
        type Cfg = BlobConfig;

        fn read_cfg(buf: &mut impl Buf, config: &BlobConfig) -> Result<Self, Error> {
            let range = RangeCfg::from(..=config.max_payload);
            Ok(Self::new(bytes::Bytes::read_cfg(buf, &range)?))
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use commonware_codec::{Decode, Encode};
        use shardcast::Codec;

        #[test]
        fn the_same_bytes_as_shardcasts_own_codec() {
            let blob = Blob::new(vec![7u8; 300]);
            assert_eq!(&Encode::encode(&blob)[..], &Codec::to_bytes(&blob.0)[..]);
            let config = BlobConfig { max_payload: 300 };
            let decoded = Blob::decode_cfg(Codec::to_bytes(&blob.0), &config).unwrap();
            assert_eq!(decoded, blob);
            let small = BlobConfig { max_payload: 299 };
            assert!(Blob::decode_cfg(Codec::to_bytes(&blob.0), &small).is_err());
        }
    }
}
