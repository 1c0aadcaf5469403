//! The network glue: broadcast, parallel receive workers, peer-set updates, shutdown.
//!
//! ```
//! use shardcast::net::channel::{self, NullSender, StaticPeerSet};
//! use shardcast::runtime::Tokio;
//! use shardcast::{Blob, BlobConfig, Buffer, Codec, Config, Engine, EngineConfig, Message};
//! use std::sync::Arc;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let buffer: Arc<Buffer<u32, Blob>> = Arc::new(Buffer::new(Config::new(64))?);
//! let config = EngineConfig::new(BlobConfig { max_payload: 1 << 20 })
//!     .with_workers(2)                      // peers are routed to one of two workers
//!     .with_max_frame_size((1 << 20) + 16)  // longer frames are rejected undecoded
//!     .with_max_queued_bytes(16 << 20);     // what waits for the workers, in bytes
//! let (frames, receiver) = channel::unbounded();
//! let runtime = Tokio::current().expect("inside a tokio runtime");
//! let peers = StaticPeerSet::new(vec![0, 1, 2]);
//! let engine = Engine::start_on(&runtime, buffer.clone(), 0, NullSender, receiver, peers, config)?;
//!
//! let block = Blob::new(vec![7u8; 4096]);
//! let waiting = buffer.subscribe(block.digest());
//! frames.send((2, block.to_bytes()))?;     // as peer 2's transport would deliver it
//! assert_eq!(waiting.await, Ok(block));
//! assert!(engine.worker_of(&2) < 2);
//! engine.shutdown().await;                  // stops, joins, closes the buffer
//! # Ok(())
//! # }
//! ```
//!
//! There is no actor. [`Engine::start_on`] spawns, through a [`Runtime`] (tokio, or any
//! commonware runtime: see [`crate::runtime`]):
//!
//! - one **reader** task that pulls frames from the [`Receiver`] and hands them, through one
//!   `flume` channel per worker (bounded in bytes and frames, see below), to `workers`
//!   **receive workers** that decode, count and insert in parallel; the reader also applies every update
//!   of the [`PeerSetSource`], in order, with [`Buffer::update_primary`], between the frames it
//!   arrived between (an update is applied once the frames before it are handled),
//! - one **sender** task that owns the [`Sender`] (one sender per engine, never cloned per send)
//!   and sends what [`broadcast`](Engine::broadcast) queued (at most
//!   [`EngineConfig::with_outbox`]), in order, and
//! - one **stop watcher** that stops the engine when the runtime asks (commonware's
//!   `context.stopped()`) or the engine is shut down, and then closes the buffer.
//!
//! Application tasks use the shared [`Buffer`] directly for `get` and `subscribe`, and the
//! [`Engine`] handle for [`broadcast`](Engine::broadcast), which inserts under our own id
//! (serving waiters, caching only if we are primary) before it returns and leaves the send to
//! the sender task: the caller never waits on the network, and a send runs to completion even if
//! the caller drops the returned [`SentTo`].
//!
//! When the engine stops (shutdown, the runtime's stop signal, the receiver failing, the
//! peer-set source closing, the last handle dropped once every queued broadcast was sent, a
//! panic in user code on one of its tasks, or on commonware the abort of the task that owns
//! it), it closes the buffer: pending and later subscriptions resolve to [`Closed`], the cache
//! is freed, and queued sends that did not run resolve their [`SentTo`] to [`Closed`], as the
//! reference engine's `Canceled`.
//!
//! # Order and memory on the receive path
//!
//! - **Per-peer FIFO.** Frames of one peer are inserted in the order the receiver yielded
//!   them, whatever `workers` is: the reader routes every peer to one worker (a fixed hash of
//!   the peer), and each worker handles its queue in order. So each peer's deque always holds
//!   that peer's `deque_size` most recently received messages, as in the reference engine.
//!   There is no order across peers: two peers' frames are inserted in parallel.
//! - **Bounded in bytes.** Each worker has its share of [`EngineConfig::max_queued_bytes`]
//!   (the budget divided by `workers`) and at most [`EngineConfig::with_frame_queue`] frames
//!   handed to it and not yet handled. [`EngineStats::queued_bytes_peak`] reports the most
//!   that ever waited for all of them together.
//! - **A flooding peer is isolated.** A peer that floods occupies its worker, and fills that
//!   worker's share. Peers routed to the same worker wait behind the flood's frames that
//!   arrived before theirs (first come, first served). Peers routed to other workers do not
//!   wait for it: the reader never waits on one full worker while another has room. The
//!   receiver yields every peer's frames in one sequence, so the frames behind a flood's
//!   could only be reached by holding the flood's without bound or by dropping some; the
//!   reader drops them. A frame for a full worker, while another worker has room, is **shed**:
//!   dropped undecoded, counted in `receive_total{status="Dropped"}` and
//!   [`EngineStats::shed`], logged at `debug`, exactly as commonware's transport drops a
//!   message that arrives at a full channel (and, under marshal, recovered the same way, by
//!   its backfill). Only when every worker is full does the reader stop taking frames from
//!   the receiver until one catches up: back-pressure on the network. With `workers = 1`
//!   nothing is ever shed: every peer shares the one worker and its whole budget, as every peer
//!   shares the reference's one loop, and a flood only back-pressures.
//!
//! Bad input is counted (`receive_total{status="Invalid"}`), logged at `debug` with the peer,
//! and never stops the engine: a frame over `max_frame_size` is rejected before decoding, a
//! frame that fails to decode is rejected, and a panic in user code (`Codec::decode`,
//! `Message::digest`) while handling a frame is caught, counted and logged at `warn`.

use crate::buffer::Evicted;
use crate::config::ConfigError;
use crate::message::{Codec, Message, Peer};
use crate::net::{PeerSetSource, PeerSetUpdate, Receiver, Recipients, Sender};
use crate::receive::ReceiveCounts;
use crate::runtime::{Runtime, Task, Tokio};
use crate::{Buffer, Closed};
use bytes::Bytes;
use std::collections::VecDeque;
use std::fmt::Debug;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

/// Engine settings: [`EngineConfig::new`] with the decoding bounds, then `with_*` for the rest,
/// like the buffer's [`Config`](crate::Config). [`Engine::start`] checks them
/// ([`validate`](Self::validate)).
#[derive(Clone, Debug)]
pub struct EngineConfig<C> {
    priority: bool,
    codec: C,
    workers: usize,
    frame_queue: usize,
    max_frame_size: usize,
    max_queued_bytes: usize,
    outbox: usize,
}

impl<C> EngineConfig<C> {
    /// Defaults, with `codec` as the decoding bounds (`Codec::Config`): no priority, 1 worker,
    /// a queue of 1,024 frames, no frame size limit of the engine's own,
    /// [`DEFAULT_MAX_QUEUED_BYTES`] queued, 1,024 broadcasts waiting to be sent.
    pub fn new(codec: C) -> Self {
        Self {
            priority: false,
            codec,
            workers: 1,
            frame_queue: 1024,
            max_frame_size: usize::MAX,
            max_queued_bytes: DEFAULT_MAX_QUEUED_BYTES,
            outbox: 1024,
        }
    }

    /// Passed unchanged as the `priority` flag of every send (default `false`).
    pub fn with_priority(mut self, priority: bool) -> Self {
        self.priority = priority;
        self
    }

    /// Receive workers decoding and inserting in parallel (default 1, at least 1). An
    /// execution on a deterministic runtime replays the same only for the same count, so it
    /// comes from here, never from the machine's core count: set it to the cores you give the
    /// engine.
    pub fn with_workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// Most frames handed to each worker and not yet handled (default 1,024, at least 1);
    /// beyond it the worker is full, as when its share of the byte budget is (see
    /// [`with_max_queued_bytes`](Self::with_max_queued_bytes)).
    pub fn with_frame_queue(mut self, frames: usize) -> Self {
        self.frame_queue = frames;
        self
    }

    /// Frames longer than this are rejected before decoding (default: no limit beyond the
    /// transport's own maximum message size).
    pub fn with_max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Most bytes of frames handed to the workers and not yet handled (default
    /// [`DEFAULT_MAX_QUEUED_BYTES`], 64 MiB; at least 1), whatever peers send. Each worker
    /// has an equal share (`bytes / workers`, rounded up); a worker holding nothing takes one
    /// frame larger than its share, so the budget is exceeded by at most one such frame per
    /// worker. Give each worker's share room for a few of the largest messages you expect.
    ///
    /// When a frame's worker is full and another worker has room, the frame is shed (dropped,
    /// counted in [`EngineStats::shed`]), so that a flooding peer delays no peer routed
    /// elsewhere; when every worker is full, the reader stops taking frames from the receiver
    /// until one catches up: back-pressure on the network. With one worker nothing is shed.
    /// Beyond what is queued, the reader holds in hand at most what it gathers at once (64
    /// frames for any one worker, or 1 MiB and one frame).
    pub fn with_max_queued_bytes(mut self, bytes: usize) -> Self {
        self.max_queued_bytes = bytes;
        self
    }

    /// Most broadcasts waiting for the sender task (default 1,024, at least 1): when that many
    /// wait, [`Engine::broadcast`] waits for room before it inserts, which is back-pressure on
    /// the application, as the reference's bounded mailbox (`mailbox_size`) applies it.
    ///
    /// A waiting broadcast holds its message (and whatever its insert evicted from the cache,
    /// which the sender task frees) until it is sent: memory the cache's bounds and its
    /// `cached_bytes` gauge do not count, bounded by this many broadcasts of this node's own,
    /// plus those [`Engine::try_broadcast`] placed in the overflow.
    pub fn with_outbox(mut self, broadcasts: usize) -> Self {
        self.outbox = broadcasts;
        self
    }

    /// The `priority` flag of every send.
    pub fn priority(&self) -> bool {
        self.priority
    }

    /// The decoding bounds.
    pub fn codec(&self) -> &C {
        &self.codec
    }

    /// Receive workers.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Frames buffered between the reader and the workers.
    pub fn frame_queue(&self) -> usize {
        self.frame_queue
    }

    /// Longest frame accepted.
    pub fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// Most bytes of frames waiting for the workers.
    pub fn max_queued_bytes(&self) -> usize {
        self.max_queued_bytes
    }

    /// Most broadcasts waiting for the sender task.
    pub fn outbox(&self) -> usize {
        self.outbox
    }

    /// Checks every value; [`Engine::start`] calls this.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.workers == 0 {
            return Err(ConfigError::Workers);
        }
        if self.frame_queue == 0 {
            return Err(ConfigError::FrameQueue);
        }
        if self.max_queued_bytes == 0 {
            return Err(ConfigError::MaxQueuedBytes);
        }
        if self.outbox == 0 {
            return Err(ConfigError::Outbox);
        }
        Ok(())
    }
}

/// What [`Engine::broadcast`] returns once the message is inserted: a future of `sent_to`, the
/// peers the transport handed the message to (never ourselves; empty when the send failed).
/// It resolves to [`Closed`] when the engine stopped before sending. Dropping it changes
/// nothing: the send still runs.
#[derive(Debug)]
pub struct SentTo<P>(oneshot::Receiver<Vec<P>>);

impl<P> Future for SentTo<P> {
    type Output = Result<Vec<P>, Closed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|sent| sent.map_err(|_| Closed))
    }
}

/// Why an engine could not start.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EngineError {
    /// `Engine::start` was called outside a tokio runtime.
    #[error("Engine::start must be called within a tokio runtime")]
    NoRuntime,
    /// A configuration value is out of range.
    #[error("invalid engine configuration: {0}")]
    Config(#[from] ConfigError),
}

pub use crate::receive::EngineStats;

/// Where [`Engine::try_broadcast`] put a broadcast.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Enqueued {
    /// In the outbox, within its bound.
    Outbox,
    /// Behind a full outbox: it will be sent, in order, but the caller should slow down.
    Overflow,
    /// Nowhere: the engine has stopped.
    Closed,
}

/// A broadcast waiting for the sender task.
struct Outgoing<P, M> {
    recipients: Recipients<P>,
    payload: Payload<M>,
    sent_to: oneshot::Sender<Vec<P>>,
    /// What the broadcast's insert evicted from the cache, dropped by the sender task when it
    /// takes the broadcast: freeing an evicted 8 MiB block is an `munmap`, which the caller's
    /// task should not pay. So the outbox holds, besides each waiting broadcast, at most what
    /// its insert evicted (one message, or a few within the per-peer byte budget).
    evicted: Evicted<M>,
}

/// What a queued broadcast carries: its frame, encoded by the caller
/// ([`broadcast`](Engine::broadcast), which moves the message into the cache and clones
/// nothing), or the message, for the sender task to encode
/// ([`try_broadcast`](Engine::try_broadcast), whose caller must not stall: an 8 MiB block's
/// encode is milliseconds on the caller's task, a shared block's clone is a pointer's).
enum Payload<M> {
    Frame(Bytes),
    Message(M),
}

struct Inner<P, M: Message> {
    buffer: Arc<Buffer<P, M>>,
    me: P,
    /// The queue from `broadcast` to the sender task, bounded by [`EngineConfig::with_outbox`].
    /// This is its only sender: when the last handle drops it, the sender task sends what is
    /// left and then stops the engine.
    outbox: mpsc::Sender<Outgoing<P, M>>,
    /// Broadcasts accepted by [`try_broadcast`](Engine::try_broadcast) while the outbox was
    /// full, oldest first. Every push into the outbox and every take by the sender task happen
    /// under this lock, so the sender task sends in the order the broadcasts were accepted;
    /// the sender task's end closes the outbox under it too (`Outbox`'s `Drop`).
    overflow: Arc<Mutex<VecDeque<Outgoing<P, M>>>>,
    cancel: CancellationToken,
    tasks: Mutex<Vec<Task>>,
    live: Arc<AtomicUsize>,
    counts: Arc<ReceiveCounts>,
    applied: watch::Sender<Option<u64>>,
    queued: Arc<Queued>,
    /// Receive workers.
    workers: usize,
}

impl<P, M: Message> Inner<P, M> {
    fn lock_overflow(&self) -> std::sync::MutexGuard<'_, VecDeque<Outgoing<P, M>>> {
        self.overflow.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running engine. Cheap to clone; all clones drive the same tasks.
///
/// Dropping the last clone lets the sender task send every broadcast still queued (a send in
/// progress included), after which the engine stops, as the reference's loop ends once its
/// mailbox is closed and drained; call [`shutdown`](Self::shutdown) to stop at once and wait.
pub struct Engine<P, M: Message> {
    inner: Arc<Inner<P, M>>,
}

impl<P, M: Message> Clone for Engine<P, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

/// When a task ends, however it ends, stops the engine and decrements the live-task count.
///
/// Every task of the engine ends only once the engine stops (cancelled, an input ended, every
/// handle dropped): one that ends otherwise panicked, in user code that runs on it (the
/// transport's `Sender` or `Receiver`, the peer-set source, a message's `Drop`). The engine then
/// stops whole, as the reference's one loop does, rather than run on without that task.
struct LiveTask {
    live: Arc<AtomicUsize>,
    cancel: CancellationToken,
}

impl LiveTask {
    fn new(live: &Arc<AtomicUsize>, cancel: &CancellationToken) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        Self {
            live: live.clone(),
            cancel: cancel.clone(),
        }
    }
}

impl Drop for LiveTask {
    fn drop(&mut self) {
        // Cancelled first: whoever sees the count fall sees the engine stopped.
        self.cancel.cancel();
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<P, M> Engine<P, M>
where
    P: Peer,
    M: Message + Codec,
{
    /// Starts the engine's tasks on the current tokio runtime ([`start_on`](Self::start_on)
    /// with [`Tokio`]).
    pub fn start<S: Sender<P>>(
        buffer: Arc<Buffer<P, M>>,
        me: P,
        sender: S,
        receiver: impl Receiver<P>,
        peer_sets: impl PeerSetSource<P>,
        config: EngineConfig<M::Config>,
    ) -> Result<Self, EngineError> {
        let runtime = Tokio::current().ok_or(EngineError::NoRuntime)?;
        Self::start_on(&runtime, buffer, me, sender, receiver, peer_sets, config)
    }

    /// Starts the engine's tasks on `runtime`.
    ///
    /// If the peer-set source already has an update ready (the usual providers push the latest
    /// set on subscription), it is applied before this returns, so that a broadcast made right
    /// after `start` already sees it (the reference's "initial set before queued work").
    ///
    /// The engine stops by itself when one of its inputs ends, as the reference's loop does:
    /// when the receiver fails, when the peer-set source closes (also when it is closed from
    /// the start), and when the last handle is dropped (after sending what was queued). It also
    /// stops when user code panics on one of its tasks where the engine does not catch it (the
    /// transport's `Sender` or `Receiver`, the peer-set source, a message's `Drop`), as a
    /// panic ends the reference's loop.
    pub fn start_on<R: Runtime, S: Sender<P>>(
        runtime: &R,
        buffer: Arc<Buffer<P, M>>,
        me: P,
        sender: S,
        receiver: impl Receiver<P>,
        mut peer_sets: impl PeerSetSource<P>,
        config: EngineConfig<M::Config>,
    ) -> Result<Self, EngineError> {
        config.validate()?;
        let (applied, _) = watch::channel(None);
        let cancel = CancellationToken::new();
        match poll_once(peer_sets.next()) {
            Some(Some(update)) => {
                buffer.update_primary(update.primary);
                applied.send_replace(Some(update.index));
            }
            Some(None) => {
                // The reference's loop ends on its first pass: nothing will ever be eligible.
                debug!("peer set source closed at start; engine stops");
                cancel.cancel();
            }
            None => {}
        }
        let (outbox, queued) = mpsc::channel(config.outbox);

        let inner = Arc::new(Inner {
            buffer,
            me,
            outbox,
            overflow: Arc::default(),
            cancel,
            tasks: Mutex::new(Vec::new()),
            live: Arc::new(AtomicUsize::new(0)),
            counts: Arc::new(ReceiveCounts::default()),
            applied,
            queued: Arc::new(Queued {
                bytes: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
                share: config.max_queued_bytes.div_ceil(config.workers),
                frames: config.frame_queue,
                drained: Notify::new(),
            }),
            workers: config.workers,
        });
        let backlog = inner.queued.clone();
        let mut tasks = Vec::with_capacity(config.workers + 3);
        let worker = Worker {
            buffer: inner.buffer.clone(),
            codec: config.codec.clone(),
            max_frame_size: config.max_frame_size,
            counts: inner.counts.clone(),
        };
        let spawn =
            |label, future| spawn_counted(runtime, label, &inner.live, &inner.cancel, future);
        // One lane per worker. Its channel is unbounded: what it holds is bounded by the
        // worker's share of the budget and by `frame_queue` frames (`Queued::fits`).
        let mut lanes = Vec::with_capacity(config.workers);
        for _ in 0..config.workers {
            let (batches, taken) = flume::unbounded();
            let load = Arc::new(Load::default());
            tasks.push(spawn(
                "worker",
                Box::pin(worker.clone().run(
                    taken,
                    load.clone(),
                    backlog.clone(),
                    inner.cancel.clone(),
                )),
            ));
            lanes.push(Lane { batches, load });
        }
        tasks.push(spawn(
            "reader",
            Box::pin(
                Reader {
                    parks: lanes.iter().map(|_| Park::default()).collect(),
                    lanes,
                    queued: backlog,
                    worker,
                    applied: inner.applied.clone(),
                    cancel: inner.cancel.clone(),
                }
                .run(receiver, peer_sets),
            ),
        ));
        tasks.push(spawn(
            "sender",
            Box::pin(send(
                sender,
                Outbox {
                    queued,
                    overflow: inner.overflow.clone(),
                },
                config.priority,
                inner.cancel.clone(),
            )),
        ));
        // Facade counters wait in per-thread stripes: the stop watcher also hands them to the
        // recorder once a second, so that a rare count is seen within a second.
        let flush = inner
            .buffer
            .metrics_lag()
            .then(|| FlushEvery(runtime.clone(), METRICS_FLUSH));
        tasks.push(spawn(
            "stop",
            Box::pin(watch_stop(
                runtime.stopped(),
                StopGuard {
                    buffer: inner.buffer.clone(),
                    cancel: inner.cancel.clone(),
                },
                flush,
            )),
        ));
        *inner.tasks.lock().unwrap_or_else(PoisonError::into_inner) = tasks;
        Ok(Self { inner })
    }

    /// Inserts `message` under our own id (serving its subscribers whatever follows, caching it
    /// only if we are primary, even if the send then fails), then queues it for `recipients`.
    ///
    /// The insert has happened when this returns; the send runs on the engine's sender task, so
    /// the caller never waits on the network, and the send completes even if the caller drops
    /// this future's output. When [`EngineConfig::with_outbox`] broadcasts already wait to be
    /// sent, this waits for room first, before inserting: back-pressure, as the reference's
    /// bounded mailbox. The returned [`SentTo`] yields the peers the transport handed the
    /// message to: empty when the send failed (logged). Once the engine has stopped, nothing is
    /// inserted and it yields [`Closed`].
    pub async fn broadcast(&self, recipients: Recipients<P>, message: M) -> SentTo<P> {
        let (sent_to, receiver) = oneshot::channel();
        self.broadcast_to(recipients, message, sent_to).await;
        SentTo(receiver)
    }

    /// [`broadcast`](Self::broadcast), answering on `sent_to` (dropped unanswered, which its
    /// receiver reads as an error, when the engine stopped): for an adapter whose mailbox hands
    /// out its own reply channel.
    pub async fn broadcast_to(
        &self,
        recipients: Recipients<P>,
        message: M,
        sent_to: oneshot::Sender<Vec<P>>,
    ) {
        let Some(permit) = self.reserve().await else {
            return;
        };
        let frame: Bytes = message.to_bytes();
        let (_, evicted) = self.insert_own(message);
        let outgoing = Outgoing {
            recipients,
            payload: Payload::Frame(frame),
            sent_to,
            evicted,
        };
        let _ = self.enqueue(outgoing, Some(permit));
    }

    /// [`broadcast_to`](Self::broadcast_to) for a message whose clone is a pointer's (an `Arc`
    /// inside, `Bytes`): it waits for room in the outbox as `broadcast_to` does, then inserts a
    /// clone and leaves the encode to the sender task, as
    /// [`try_broadcast`](Self::try_broadcast) does. The caller pays neither an encode (for an
    /// 8 MiB block, milliseconds) nor the free of what the insert evicted. User code
    /// (`M::clone`, serving waiters) runs here, before any lock is taken.
    pub async fn broadcast_cloned_to(
        &self,
        recipients: Recipients<P>,
        message: M,
        sent_to: oneshot::Sender<Vec<P>>,
    ) {
        let Some(permit) = self.reserve().await else {
            return;
        };
        let (_, evicted) = self.insert_own(message.clone());
        let outgoing = Outgoing {
            recipients,
            payload: Payload::Message(message),
            sent_to,
            evicted,
        };
        let _ = self.enqueue(outgoing, Some(permit));
    }

    /// Room for one broadcast in the outbox: waits while it is full, which is back-pressure on
    /// the caller before anything is inserted. `None` once the engine stopped.
    async fn reserve(&self) -> Option<mpsc::Permit<'_, Outgoing<P, M>>> {
        let inner = &self.inner;
        if inner.cancel.is_cancelled() {
            return None;
        }
        tokio::select! {
            biased;
            () = inner.cancel.cancelled() => None,
            // Fails only once the sender task is gone (the engine stopped).
            permit = inner.outbox.reserve() => permit.ok(),
        }
    }

    /// Inserts a broadcast of ours under our own id, keeping what it evicted for the sender
    /// task to drop.
    fn insert_own(&self, message: M) -> (crate::Insert, Evicted<M>) {
        self.inner
            .buffer
            .insert_keeping_evicted(&self.inner.me, message)
    }

    /// [`broadcast`](Self::broadcast) without waiting: inserts `message` under our own id and
    /// queues it for `recipients`, at once. When the outbox is full, the broadcast waits in an
    /// overflow behind it ([`Enqueued::Overflow`], the caller's cue to back off), and is sent in
    /// order all the same. The overflow is not bounded: it holds what this node's own callers
    /// broadcast past the outbox's bound, never anything from the network. Once the engine has
    /// stopped, nothing is inserted ([`Enqueued::Closed`]).
    ///
    /// It clones `message` (into the cache) and leaves the encode to the sender task, so its
    /// caller pays a clone, never an encode: made for messages whose clone is cheap (`Bytes`,
    /// an `Arc`). User code (`M::clone`, serving waiters) runs here, before any lock is taken.
    pub fn try_broadcast(&self, recipients: Recipients<P>, message: M) -> Enqueued {
        if self.inner.cancel.is_cancelled() {
            return Enqueued::Closed;
        }
        let (_, evicted) = self.insert_own(message.clone());
        let outgoing = Outgoing {
            recipients,
            payload: Payload::Message(message),
            sent_to: oneshot::channel().0,
            evicted,
        };
        self.enqueue(outgoing, None)
    }

    /// Queues `outgoing` behind everything accepted before it: in the outbox (through
    /// `permit` when the caller reserved one, else if there is room) while the overflow is
    /// empty, else in the overflow.
    fn enqueue(
        &self,
        outgoing: Outgoing<P, M>,
        permit: Option<mpsc::Permit<'_, Outgoing<P, M>>>,
    ) -> Enqueued {
        let mut overflow = self.inner.lock_overflow();
        // Once the sender task's end of the outbox is gone it sends nothing more and drops
        // nothing more (see `Outbox`'s `Drop`, which closes it under this lock): a broadcast
        // queued after that would wait, its `sent_to` pending, until the last handle dropped.
        // This covers a caller whose permit was reserved before the engine stopped.
        if self.inner.outbox.is_closed() {
            drop(overflow);
            drop(outgoing); // `M`'s `Drop` is user code: outside the lock.
            return Enqueued::Closed;
        }
        if overflow.is_empty() {
            let permit = match permit {
                Some(permit) => Ok(permit),
                None => self.inner.outbox.try_reserve(),
            };
            match permit {
                Ok(permit) => {
                    permit.send(outgoing);
                    return Enqueued::Outbox;
                }
                Err(mpsc::error::TrySendError::Closed(())) => return Enqueued::Closed,
                Err(mpsc::error::TrySendError::Full(())) => {}
            }
        }
        overflow.push_back(outgoing);
        Enqueued::Overflow
    }

    /// The shared buffer, for `get` and `subscribe`.
    pub fn buffer(&self) -> &Arc<Buffer<P, M>> {
        &self.inner.buffer
    }

    /// Our own peer id.
    pub fn id(&self) -> &P {
        &self.inner.me
    }

    /// What the receive path has done so far (each frame is counted once handled), and how
    /// many broadcasts wait to be sent.
    pub fn stats(&self) -> EngineStats {
        let outbox = &self.inner.outbox;
        self.inner.counts.stats(
            self.inner.queued.bytes.load(Ordering::Relaxed) as u64,
            self.inner.queued.peak.load(Ordering::Relaxed) as u64,
            (outbox.max_capacity() - outbox.capacity() + self.inner.lock_overflow().len()) as u64,
        )
    }

    /// Waits until a peer-set update with an index of at least `index` has been applied.
    /// Returns at once if the engine is shut down.
    pub async fn wait_for_peer_set(&self, index: u64) {
        let mut applied = self.inner.applied.subscribe();
        tokio::select! {
            biased;
            _ = applied.wait_for(|v| v.is_some_and(|i| i >= index)) => {}
            () = self.inner.cancel.cancelled() => {}
        }
    }

    /// The receive worker that handles `peer`'s frames, in `0..workers`: always the same one
    /// for a peer (a fixed hash), so an execution replays the same and each peer's frames stay
    /// in order. Peers of one worker share its share of the byte budget (see
    /// [`EngineConfig::with_max_queued_bytes`]).
    pub fn worker_of(&self, peer: &P) -> usize {
        lane_of(peer, self.inner.workers)
    }

    /// How many of the engine's tasks are still running.
    #[doc(hidden)] // Not part of the API: for this repository's tests, benches and demo.
    pub fn running_tasks(&self) -> usize {
        self.inner.live.load(Ordering::SeqCst)
    }

    /// Resolves once the engine stops (shutdown, the runtime's stop signal, an input that
    /// ended, the last handle dropped and its broadcasts sent, or a panic in user code on one
    /// of its tasks).
    pub fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        self.inner.cancel.clone().cancelled_owned()
    }

    /// Whether the engine has stopped (see [`stopped`](Self::stopped)).
    pub fn is_shut_down(&self) -> bool {
        self.inner.cancel.is_cancelled()
    }

    /// Stops every task the engine spawned and waits for them to end. The buffer is closed:
    /// pending and later subscriptions resolve to [`Closed`], `get` finds
    /// nothing, and `broadcast` inserts nothing and its [`SentTo`] yields [`Closed`].
    /// Idempotent.
    pub async fn shutdown(&self) {
        self.inner.cancel.cancel();
        self.inner.buffer.close();
        let tasks = std::mem::take(
            &mut *self
                .inner
                .tasks
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for task in tasks {
            task.await;
        }
    }
}

/// Spawns `future`, counted in `live` until it ends (however it ends); its end stops the engine
/// (see [`LiveTask`]).
fn spawn_counted<R: Runtime>(
    runtime: &R,
    label: &'static str,
    live: &Arc<AtomicUsize>,
    cancel: &CancellationToken,
    future: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
) -> Task {
    let task = LiveTask::new(live, cancel);
    runtime.spawn(label, async move {
        let _task = task;
        future.await;
    })
}

/// Stops the engine (cancels its tasks) and closes its buffer when dropped: when the stop
/// watcher ends, and also when the runtime drops it unfinished (an abort).
struct StopGuard<P, M>
where
    P: Peer,
    M: Message,
{
    buffer: Arc<Buffer<P, M>>,
    cancel: CancellationToken,
}

impl<P, M> Drop for StopGuard<P, M>
where
    P: Peer,
    M: Message,
{
    fn drop(&mut self) {
        self.cancel.cancel();
        self.buffer.close();
    }
}

/// How often a running engine hands the buffer's striped facade counts to the recorder.
const METRICS_FLUSH: Duration = Duration::from_secs(1);

/// A period at which to flush the buffer's metrics, on a runtime's clock.
struct FlushEvery<R>(R, Duration);

/// Waits for the runtime's stop signal or the engine's shutdown, whichever comes first,
/// flushing the buffer's metrics at every `flush` period meanwhile.
async fn watch_stop<P, M, R>(
    stopped: impl Future<Output = ()> + Send,
    guard: StopGuard<P, M>,
    flush: Option<FlushEvery<R>>,
) where
    P: Peer,
    M: Message,
    R: Runtime,
{
    let mut stopped = pin!(stopped);
    loop {
        let tick = async {
            match &flush {
                Some(FlushEvery(runtime, period)) => runtime.sleep(*period).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = guard.cancel.cancelled() => break,
            () = &mut stopped => {
                debug!("runtime stopping; engine stops");
                break;
            }
            () = tick => guard.buffer.flush_metrics(),
        }
    }
    drop(guard);
}

/// The sender task's end of the outbox, and the overflow behind it.
struct Outbox<P, M> {
    queued: mpsc::Receiver<Outgoing<P, M>>,
    overflow: Arc<Mutex<VecDeque<Outgoing<P, M>>>>,
}

/// When the sender task ends (the engine stopped, or every handle dropped and everything was
/// sent), what still waits is dropped now, not when the last handle goes: each broadcast's
/// `sent_to` resolves to `Closed` and its message is freed. The outbox is closed under the
/// overflow lock, and `Engine::enqueue` checks it under the same lock, so nothing is queued
/// behind this drain (a broadcast that reserved room before the engine stopped included).
impl<P, M> Drop for Outbox<P, M> {
    fn drop(&mut self) {
        let left: Vec<Outgoing<P, M>> = {
            let mut overflow = self.overflow.lock().unwrap_or_else(PoisonError::into_inner);
            self.queued.close();
            std::iter::from_fn(|| self.queued.try_recv().ok())
                .chain(overflow.drain(..))
                .collect()
        };
        // User code (`M`'s `Drop`, what their inserts evicted) runs outside the lock, one
        // broadcast at a time: this may run while the sender task unwinds from a panic, where
        // a second panic escaping a `Drop` would abort the process.
        for outgoing in left {
            if std::panic::catch_unwind(AssertUnwindSafe(|| drop(outgoing))).is_err() {
                error!("dropping an unsent broadcast panicked");
            }
        }
    }
}

impl<P, M> Outbox<P, M> {
    /// The oldest broadcast waiting, if one is ready now: the outbox's first, else the
    /// overflow's (whatever the overflow holds was accepted after everything in the outbox).
    /// Both are looked at under the overflow lock, which every producer holds to push.
    fn take(&mut self) -> Option<Outgoing<P, M>> {
        let mut overflow = self.overflow.lock().unwrap_or_else(PoisonError::into_inner);
        match self.queued.try_recv() {
            Ok(outgoing) => Some(outgoing),
            Err(_) => overflow.pop_front(),
        }
    }

    /// The next broadcast, waiting for one; `None` once every handle is gone and nothing is
    /// left to send. A broadcast goes to the overflow only while the outbox is full, so when
    /// both are empty the next one arrives through the outbox, and waiting on it is enough.
    async fn next(&mut self) -> Option<Outgoing<P, M>> {
        if let Some(outgoing) = self.take() {
            return Some(outgoing);
        }
        match self.queued.recv().await {
            Some(outgoing) => Some(outgoing),
            // Closed and empty: the overflow may still hold the last ones.
            None => self.take(),
        }
    }
}

/// Sends what `broadcast` queued, in order, through the engine's one sender. When the queue
/// closes (the last handle is gone) and everything in it was sent, it stops the engine.
async fn send<P, M, S>(
    mut sender: S,
    mut outbox: Outbox<P, M>,
    priority: bool,
    cancel: CancellationToken,
) where
    P: Peer,
    M: Message + Codec,
    S: Sender<P>,
{
    loop {
        let outgoing = tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            outgoing = outbox.next() => match outgoing {
                Some(outgoing) => outgoing,
                None => break,
            },
        };
        let Outgoing {
            recipients,
            payload,
            sent_to,
            evicted,
        } = outgoing;
        drop(evicted);
        let frame = match payload {
            Payload::Frame(frame) => frame,
            // The user's encoder runs here: a panic in it loses this broadcast (logged, sent
            // to no one), not the sender task and every broadcast behind it.
            Payload::Message(message) => {
                match std::panic::catch_unwind(AssertUnwindSafe(|| message.to_bytes())) {
                    Ok(frame) => frame,
                    Err(_) => {
                        error!("encoding a broadcast panicked; it is sent to no one");
                        let _ = sent_to.send(Vec::new());
                        continue;
                    }
                }
            }
        };
        let result = tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            result = sender.send(recipients, frame, priority) => result,
        };
        let peers = result.unwrap_or_else(|err| {
            error!(%err, "failed to send message");
            Vec::new()
        });
        // The caller may have dropped its receiver: the send happened all the same.
        let _ = sent_to.send(peers);
    }
    debug!("every engine handle dropped and every broadcast sent; engine stops");
    cancel.cancel();
}

/// Polls a future once, with a no-op waker.
fn poll_once<F: Future>(future: F) -> Option<F::Output> {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// Most frames handed to a worker at once; the reader stops gathering once one worker's part
/// holds this many.
const MAX_BATCH: usize = 64;

/// The reader stops gathering a batch once it holds this many bytes: what it holds in hand,
/// outside the byte budget, stays small.
const MAX_BATCH_BYTES: usize = 1 << 20;

/// Largest lone frame the reader handles itself (see [`Reader::run`]): the hand-off it saves is
/// worth a few microseconds, while the reader decodes and hashes a large frame, frames for
/// every other worker wait.
const MAX_INLINE_BYTES: usize = 16 << 10;

/// The default [`EngineConfig::max_queued_bytes`]: 64 MiB, eight of the largest blocks real
/// chains send (about 8 MiB).
pub const DEFAULT_MAX_QUEUED_BYTES: usize = 64 << 20;

/// Frames for one worker, in arrival order, with their total length: what the reader gathers
/// for a worker, parks, and hands over whole. On the common path a frame is moved into a batch
/// once, as it comes off the receiver, and out of it once, by its worker; it moves again only
/// when its part is placed frame by frame, joins the newest parked batch, or is repacked by
/// shedding.
struct Batch<P> {
    frames: Vec<(P, Bytes)>,
    bytes: usize,
}

impl<P> Batch<P> {
    fn new() -> Self {
        Self {
            frames: Vec::with_capacity(MAX_BATCH),
            bytes: 0,
        }
    }

    fn push(&mut self, frame: (P, Bytes)) {
        self.bytes += frame.1.len();
        self.frames.push(frame);
    }

    /// Whether a frame of `len` bytes may join: a batch holds at most [`MAX_BATCH`] frames and
    /// [`MAX_BATCH_BYTES`], or one frame of any size.
    fn has_room(&self, len: usize) -> bool {
        self.frames.is_empty()
            || (self.frames.len() < MAX_BATCH && self.bytes + len <= MAX_BATCH_BYTES)
    }

    /// Whether the batch keeps the bounds of [`has_room`](Self::has_room).
    fn within_bounds(&self) -> bool {
        self.frames.len() <= 1 || (self.frames.len() <= MAX_BATCH && self.bytes <= MAX_BATCH_BYTES)
    }
}

/// The queue of one worker, and what it has been handed and not yet finished.
struct Lane<P> {
    batches: flume::Sender<Batch<P>>,
    load: Arc<Load>,
}

/// What one worker has been handed and not yet finished.
#[derive(Default)]
struct Load {
    frames: AtomicUsize,
    bytes: AtomicUsize,
    batches: AtomicUsize,
}

/// Batches in one worker's channel at once: the next one is ready when it finishes one. The
/// rest of what waits for it stays in the reader's [`Park`], where it can still be shed.
const IN_FLIGHT: usize = 2;

/// A gathered part this small joins the newest parked batch when that has room for all of it,
/// rather than being parked as a batch of its own: a worker busy enough that frames wait for it
/// is handed full batches, not many small ones.
const PART_MERGE: usize = MAX_BATCH / 4;

/// Frames the reader holds for one worker, in arrival order, until the worker has room: in
/// batches, each handed to the worker whole.
struct Park<P> {
    batches: VecDeque<Batch<P>>,
    frames: usize,
    bytes: usize,
}

impl<P> Default for Park<P> {
    fn default() -> Self {
        Self {
            batches: VecDeque::new(),
            frames: 0,
            bytes: 0,
        }
    }
}

impl<P> Park<P> {
    fn is_empty(&self) -> bool {
        self.frames == 0
    }

    /// Parks one frame, in the newest batch while it has room.
    fn push(&mut self, frame: (P, Bytes)) {
        let len = frame.1.len();
        match self.batches.back_mut() {
            Some(batch) if batch.has_room(len) => batch.push(frame),
            _ => {
                let mut batch = Batch::new();
                batch.push(frame);
                self.batches.push_back(batch);
            }
        }
        self.frames += 1;
        self.bytes += len;
    }

    /// Parks the frames of a gathered part (within [`Batch::within_bounds`]) and leaves it
    /// empty: the part becomes a batch of its own (no frame moves), or, when it is small
    /// ([`PART_MERGE`]), its frames join the newest batch if that has room for all of them.
    fn push_part(&mut self, part: &mut Batch<P>) {
        self.frames += part.frames.len();
        self.bytes += part.bytes;
        if part.frames.len() <= PART_MERGE
            && let Some(newest) = self.batches.back_mut()
            && newest.frames.len() + part.frames.len() <= MAX_BATCH
            && newest.bytes + part.bytes <= MAX_BATCH_BYTES
        {
            newest.bytes += std::mem::take(&mut part.bytes);
            newest.frames.append(&mut part.frames);
            return;
        }
        self.batches
            .push_back(std::mem::replace(part, Batch::new()));
    }

    /// The oldest batch, taken out.
    fn pop(&mut self) -> Option<Batch<P>> {
        let batch = self.batches.pop_front()?;
        self.frames -= batch.frames.len();
        self.bytes -= batch.bytes;
        Some(batch)
    }

    /// Every parked frame, oldest first.
    fn iter(&self) -> impl Iterator<Item = &(P, Bytes)> {
        self.batches.iter().flat_map(|batch| batch.frames.iter())
    }

    /// Keeps the frames for which `keep` is `true`, in order, packed into full batches again
    /// (shedding is rare, and it must not leave many near-empty batches behind); returns the
    /// frames and bytes removed.
    fn retain(&mut self, mut keep: impl FnMut(&(P, Bytes)) -> bool) -> (usize, usize) {
        let (frames, bytes) = (self.frames, self.bytes);
        let parked = std::mem::take(&mut self.batches);
        self.frames = 0;
        self.bytes = 0;
        for frame in parked.into_iter().flat_map(|batch| batch.frames) {
            if keep(&frame) {
                self.push(frame);
            }
        }
        (frames - self.frames, bytes - self.bytes)
    }
}

/// What waits between the reader and the workers, and the bounds of each worker's share.
struct Queued {
    /// Bytes waiting for every worker (handed over or parked), and the most there ever were.
    bytes: AtomicUsize,
    peak: AtomicUsize,
    /// Each worker's share of the byte budget: `max_queued_bytes / workers`, rounded up.
    share: usize,
    /// Most frames waiting for one worker ([`EngineConfig::with_frame_queue`]).
    frames: usize,
    /// Notified by a worker each time it finishes a batch.
    drained: Notify,
}

impl Queued {
    /// Whether a frame of `len` bytes fits in a worker's share beside `load` and `park`: a
    /// worker with nothing waiting takes one frame whatever its size.
    fn fits<P>(&self, load: &Load, park: &Park<P>, len: usize) -> bool {
        let held = load.frames.load(Ordering::Acquire) + park.frames;
        held == 0
            || (load.bytes.load(Ordering::Acquire) + park.bytes + len <= self.share
                && held < self.frames)
    }

    /// Whether every frame of `part` fits, one after the other, as [`fits`](Self::fits) judges
    /// each (a sufficient test, not an exact one: a part that fails it is placed frame by
    /// frame).
    fn fits_all<P>(&self, load: &Load, park: &Park<P>, part: &Batch<P>) -> bool {
        load.frames.load(Ordering::Acquire) + park.frames + part.frames.len() <= self.frames
            && load.bytes.load(Ordering::Acquire) + park.bytes + part.bytes <= self.share
    }

    /// Whether nothing waits for the worker of `load` and `park`.
    fn idle<P>(load: &Load, park: &Park<P>) -> bool {
        load.frames.load(Ordering::Acquire) == 0 && park.is_empty()
    }

    fn add(&self, bytes: usize) {
        let now = self.bytes.fetch_add(bytes, Ordering::AcqRel) + bytes;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }

    /// The worker of `load` finished a batch of `frames` (of `bytes`).
    fn release(&self, load: &Load, frames: usize, bytes: usize) {
        load.bytes.fetch_sub(bytes, Ordering::AcqRel);
        load.frames.fetch_sub(frames, Ordering::AcqRel);
        load.batches.fetch_sub(1, Ordering::AcqRel);
        self.bytes.fetch_sub(bytes, Ordering::AcqRel);
        self.drained.notify_one();
    }
}

/// Routes a peer to its worker: always the same one, so that each peer's frames are inserted
/// in the order the receiver yielded them. The hash has a fixed seed, so that an execution on
/// a deterministic runtime replays the same; a peer that picks its key to share a worker with
/// another gains nothing it could not get by flooding its own.
fn lane_of<P: Hash>(peer: &P, lanes: usize) -> usize {
    (foldhash::fast::FixedState::with_seed(0x5ca1ab1e).hash_one(peer) % lanes as u64) as usize
}

/// The reader task: pulls frames off the network and hands them to the workers, each peer's
/// to the same worker, in arrival order, and applies peer-set updates between frames.
struct Reader<P, M: Message + Codec> {
    lanes: Vec<Lane<P>>,
    /// What waits for each worker in the reader, beside its lane.
    parks: Vec<Park<P>>,
    queued: Arc<Queued>,
    worker: Worker<P, M>,
    applied: watch::Sender<Option<u64>>,
    cancel: CancellationToken,
}

/// What the reader takes next.
enum Next<P> {
    Frame((P, Bytes)),
    Update(PeerSetUpdate<P>),
    /// A worker finished a batch: parked frames may move on.
    Drained,
    /// The engine stops: cancelled, or an input ended.
    Stop,
}

impl<P, M> Reader<P, M>
where
    P: Peer,
    M: Message + Codec,
{
    /// Runs until the engine is cancelled, the receiver fails or the peer-set source closes;
    /// an input that ends stops the whole engine, as it ends the reference's loop.
    ///
    /// **Frames.** After each frame it takes whatever else the receiver already holds, without
    /// waiting, until one worker's part holds [`MAX_BATCH`] frames or the lot holds
    /// [`MAX_BATCH_BYTES`], and splits the lot by worker: each worker's part is parked as a batch
    /// and handed over whole (a small part joins the newest parked batch). A frame that arrives alone (nothing else ready), for a worker with nothing
    /// waiting, is handled here at once when it is small ([`MAX_INLINE_BYTES`]): that saves a
    /// hand-off on the path to a subscriber and cannot overtake an earlier frame of the same
    /// peer, since that worker has finished everything it was given. Otherwise each worker's
    /// frames join its park, as far as its share allows ([`place`](Self::place)), and move to
    /// its channel, [`IN_FLIGHT`] batches at most, as it finishes them
    /// ([`pump`](Self::pump)).
    ///
    /// **Peer sets.** An update is taken before any frame that is ready with it (the
    /// reference's loop polls its peer-set subscription first), and it is applied only once
    /// the workers have handled every frame handed to them. So every frame the receiver yielded
    /// before the update is judged against the old primary set and every frame after it
    /// against the new one, whatever `workers` is: a new primary's first message is cached.
    async fn run(mut self, mut receiver: impl Receiver<P>, mut peer_sets: impl PeerSetSource<P>) {
        let mut parts: Vec<Batch<P>> = self.lanes.iter().map(|_| Batch::new()).collect();
        // A frame taken off the receiver after the last batch was full: it starts the next one.
        let mut carried = None;
        loop {
            let first = match carried.take() {
                Some(frame) => frame,
                None => match self.next(&mut receiver, &mut peer_sets).await {
                    Next::Frame(frame) => frame,
                    Next::Update(update) => {
                        if !self.apply(update).await {
                            return;
                        }
                        continue;
                    }
                    Next::Drained => {
                        if !self.pump_all() {
                            return;
                        }
                        continue;
                    }
                    Next::Stop => return,
                },
            };
            // An update that is ready now is applied after this one frame. The check is made
            // once, not per frame gathered: the gathering below never waits, so nothing the
            // reference's loop would take first can become ready in between on a
            // single-threaded runtime, and on a multi-threaded one the order of an update and
            // a frame that arrive together is a race either way.
            let update = match poll_once(peer_sets.next()) {
                Some(Some(ready)) => Some(ready),
                Some(None) => return self.input_ended("peer set source"),
                None => None,
            };
            let (mut count, mut gathered) = (1, first.1.len());
            let lane = self.route(first, &mut parts);
            // Whether the receiver had nothing more ready: the only case a frame is handled here.
            let mut idle = false;
            while update.is_none() {
                // Cancel-safe (a requirement of the trait): dropping it unready loses nothing.
                match poll_once(receiver.recv()) {
                    Some(Ok(frame))
                        if count < MAX_BATCH * self.lanes.len() && gathered < MAX_BATCH_BYTES =>
                    {
                        count += 1;
                        gathered += frame.1.len();
                        let lane = self.route(frame, &mut parts);
                        if parts[lane].frames.len() >= MAX_BATCH {
                            // That worker's part is a full batch: hand over what was gathered.
                            break;
                        }
                    }
                    Some(Ok(frame)) => {
                        carried = Some(frame);
                        break;
                    }
                    Some(Err(_)) => {
                        // Frames already taken are still handled; the failure is seen again by
                        // the next `recv`.
                        break;
                    }
                    None => {
                        idle = true;
                        break;
                    }
                }
            }
            if count == 1 && idle && self.inline(lane, &mut parts[lane]) {
                continue;
            }
            if !self.dispatch(&mut parts).await {
                return;
            }
            if let Some(update) = update
                && !self.apply(update).await
            {
                return;
            }
        }
    }

    /// Waits for the next frame or peer-set update, updates first; with frames parked, also
    /// for a worker to finish a batch.
    async fn next(
        &self,
        receiver: &mut impl Receiver<P>,
        peer_sets: &mut impl PeerSetSource<P>,
    ) -> Next<P> {
        let parked = self.parks.iter().any(|park| !park.is_empty());
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Next::Stop,
            update = peer_sets.next() => match update {
                Some(update) => Next::Update(update),
                None => {
                    self.input_ended("peer set source");
                    Next::Stop
                }
            },
            () = self.queued.drained.notified(), if parked => Next::Drained,
            frame = receiver.recv() => match frame {
                Ok(frame) => Next::Frame(frame),
                Err(_) => {
                    self.input_ended("network receiver");
                    Next::Stop
                }
            },
        }
    }

    /// Adds `frame` to the part of its worker's lane, and returns that lane. A frame over the
    /// frame limit is rejected here, undecoded: it takes none of its worker's share of the
    /// budget.
    fn route(&self, (peer, frame): (P, Bytes), parts: &mut [Batch<P>]) -> usize {
        let lane = lane_of(&peer, self.lanes.len());
        if self.worker.oversized(&frame) {
            self.worker.handle(&peer, frame);
        } else {
            parts[lane].push((peer, frame));
        }
        lane
    }

    /// Handles `part`, a lone frame for lane `lane`, here at once when it is small and that
    /// lane's worker has nothing waiting (see [`run`](Self::run)); `false` when it must go to
    /// the worker.
    fn inline(&self, lane: usize, part: &mut Batch<P>) -> bool {
        match part.frames.as_slice() {
            // The frame was over the frame limit: `route` has rejected it already.
            [] => true,
            [(_, frame)]
                if frame.len() <= MAX_INLINE_BYTES
                    && Queued::idle(&self.lanes[lane].load, &self.parks[lane]) =>
            {
                let (peer, frame) = part.frames.pop().expect("one frame");
                part.bytes = 0;
                self.worker.handle(&peer, frame);
                true
            }
            _ => false,
        }
    }

    /// Hands each lane's part to its worker: parked, then moved to its channel as far as it has
    /// room; `false` when the engine stopped meanwhile.
    async fn dispatch(&mut self, parts: &mut [Batch<P>]) -> bool {
        for (index, part) in parts.iter_mut().enumerate() {
            if part.frames.is_empty() {
                continue;
            }
            // The common case first: the whole part fits, and is parked as it is (a small one
            // joins the newest batch), with one update of the budget.
            if part.within_bounds()
                && self
                    .queued
                    .fits_all(&self.lanes[index].load, &self.parks[index], part)
            {
                self.queued.add(part.bytes);
                self.parks[index].push_part(part);
            } else {
                part.bytes = 0;
                for frame in part.frames.drain(..) {
                    // With no future and no waiter to set up while the frame fits.
                    let frame = match self.try_park(index, frame) {
                        Ok(()) => continue,
                        Err(frame) => frame,
                    };
                    if !self.place(index, frame).await {
                        return false;
                    }
                }
            }
            if !self.pump(index) {
                return false;
            }
        }
        true
    }

    /// Parks `frame` for the worker of lane `index`, within its share. When the share is
    /// full: if another worker is idle, the heaviest sender's oldest parked frames are shed to
    /// make room ([`shed`](Self::shed)), so the reader goes on to frames that may be for that
    /// worker; otherwise every worker is busy and the reader waits for this one to finish a
    /// batch (back-pressure on the receiver). `false` when the engine stopped.
    async fn place(&mut self, index: usize, frame: (P, Bytes)) -> bool {
        let len = frame.1.len();
        loop {
            // Registered before the checks: a batch finished in between is not missed.
            let queued = self.queued.clone();
            let drained = queued.drained.notified();
            if !self.pump_all() {
                return false;
            }
            if self
                .queued
                .fits(&self.lanes[index].load, &self.parks[index], len)
            {
                self.park(index, frame);
                return true;
            }
            let elsewhere = (0..self.lanes.len()).any(|other| {
                other != index && Queued::idle(&self.lanes[other].load, &self.parks[other])
            });
            if elsewhere {
                self.shed(index, len);
                if self
                    .queued
                    .fits(&self.lanes[index].load, &self.parks[index], len)
                {
                    self.park(index, frame);
                } else {
                    // Nothing parked is left to shed: the worker holds its share in hand.
                    self.count_shed(index, 1, len);
                }
                return true;
            }
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => return false,
                () = drained => {}
            }
        }
    }

    /// Parks `frame` for lane `index` if it fits in that worker's share; else gives it back.
    fn try_park(&mut self, index: usize, frame: (P, Bytes)) -> Result<(), (P, Bytes)> {
        if self
            .queued
            .fits(&self.lanes[index].load, &self.parks[index], frame.1.len())
        {
            self.park(index, frame);
            Ok(())
        } else {
            Err(frame)
        }
    }

    /// Parks `frame` for lane `index`, counting it in the budget.
    fn park(&mut self, index: usize, frame: (P, Bytes)) {
        self.queued.add(frame.1.len());
        self.parks[index].push(frame);
    }

    /// Makes room in lane `index`'s park for a frame of `len` bytes, and a quarter of its share
    /// more (so that a flood sheds in bursts, not frame by frame): drops the oldest parked
    /// frames of the sender with the most parked bytes, then of the next, until it fits or
    /// nothing is parked. A sender that floods is the heaviest: a quiet peer of the same worker
    /// keeps its place, and every sender keeps its newest frames, in order.
    fn shed(&mut self, index: usize, len: usize) {
        let (share, frames) = (self.queued.share, self.queued.frames);
        let load = &self.lanes[index].load;
        let held_bytes = load.bytes.load(Ordering::Acquire);
        let held_frames = load.frames.load(Ordering::Acquire);
        let park = &mut self.parks[index];
        let target_bytes = share - share / 4;
        let target_frames = frames - frames / 4;
        let (mut shed_frames, mut shed_bytes) = (0, 0);
        while !park.is_empty()
            && (held_bytes + park.bytes + len > target_bytes
                || held_frames + park.frames >= target_frames.max(1))
        {
            let mut weights: Vec<(&P, usize)> = Vec::new();
            for (peer, frame) in park.iter() {
                match weights.iter_mut().find(|(p, _)| *p == peer) {
                    Some((_, bytes)) => *bytes += frame.len(),
                    None => weights.push((peer, frame.len())),
                }
            }
            let heaviest = weights
                .iter()
                .max_by_key(|(_, bytes)| *bytes)
                .map(|(peer, _)| (*peer).clone())
                .expect("something is parked");
            // Drop the heaviest sender's oldest frames, as many as the target needs.
            let mut excess = (held_bytes + park.bytes + len).saturating_sub(target_bytes);
            let mut count_excess =
                (held_frames + park.frames + 1).saturating_sub(target_frames.max(1));
            let (frames, bytes) = park.retain(|(peer, frame)| {
                if *peer != heaviest || (excess == 0 && count_excess == 0) {
                    return true;
                }
                excess = excess.saturating_sub(frame.len());
                count_excess = count_excess.saturating_sub(1);
                false
            });
            shed_frames += frames;
            shed_bytes += bytes;
        }
        if shed_frames > 0 {
            self.queued.bytes.fetch_sub(shed_bytes, Ordering::AcqRel);
            self.count_shed(index, shed_frames, shed_bytes);
        }
    }

    /// Counts frames shed from lane `index`: `receive_total{status="Dropped"}` and
    /// [`EngineStats::shed`], as the transport drops what arrives at a full channel.
    fn count_shed(&self, index: usize, frames: usize, bytes: usize) {
        debug!(
            worker = index,
            frames, bytes, "worker's share of the byte budget is full; frames shed"
        );
        self.worker.buffer.record_shed(frames as u64);
        self.worker.counts.shed(frames as u64);
    }

    /// Moves parked frames of lane `index` to its worker, in order, while it holds fewer than
    /// [`IN_FLIGHT`] batches; `false` when the worker is gone.
    fn pump(&mut self, index: usize) -> bool {
        let lane = &self.lanes[index];
        let park = &mut self.parks[index];
        while lane.load.batches.load(Ordering::Acquire) < IN_FLIGHT {
            let Some(batch) = park.pop() else { break };
            lane.load.batches.fetch_add(1, Ordering::AcqRel);
            lane.load
                .frames
                .fetch_add(batch.frames.len(), Ordering::AcqRel);
            lane.load.bytes.fetch_add(batch.bytes, Ordering::AcqRel);
            if lane.batches.send(batch).is_err() {
                return false; // the worker is gone: the engine stops
            }
        }
        true
    }

    fn pump_all(&mut self) -> bool {
        (0..self.lanes.len()).all(|index| self.pump(index))
    }

    /// Applies a peer-set update once the workers have handled every frame handed to them
    /// and parked for them; `false` when the engine stopped meanwhile.
    async fn apply(&mut self, update: PeerSetUpdate<P>) -> bool {
        loop {
            // Registered before the check: a batch finished in between is not missed.
            let queued = self.queued.clone();
            let drained = queued.drained.notified();
            if !self.pump_all() {
                return false;
            }
            if (0..self.lanes.len()).all(|i| Queued::idle(&self.lanes[i].load, &self.parks[i])) {
                break;
            }
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => return false,
                () = drained => {}
            }
        }
        debug!(
            index = update.index,
            primary = update.primary.len(),
            "peer set update"
        );
        self.worker.buffer.update_primary(update.primary);
        self.applied.send_replace(Some(update.index));
        true
    }

    /// An input ended: the engine stops, as the reference's loop does.
    fn input_ended(&self, input: &str) {
        if !self.cancel.is_cancelled() {
            warn!(input, "input ended; engine stops");
            self.cancel.cancel();
        }
    }
}

/// Decodes and inserts frames.
struct Worker<P, M: Message + Codec> {
    buffer: Arc<Buffer<P, M>>,
    codec: M::Config,
    max_frame_size: usize,
    counts: Arc<ReceiveCounts>,
}

impl<P, M: Message + Codec> Clone for Worker<P, M> {
    fn clone(&self) -> Self {
        Self {
            buffer: self.buffer.clone(),
            codec: self.codec.clone(),
            max_frame_size: self.max_frame_size,
            counts: self.counts.clone(),
        }
    }
}

impl<P, M> Worker<P, M>
where
    P: Peer,
    M: Message + Codec,
{
    /// Handles the batches of one lane, in order; after each, releases its frames and bytes
    /// from the lane's load and from the budget.
    async fn run(
        self,
        batches: flume::Receiver<Batch<P>>,
        load: Arc<Load>,
        queued: Arc<Queued>,
        cancel: CancellationToken,
    ) {
        loop {
            let batch = tokio::select! {
                biased;
                () = cancel.cancelled() => return,
                batch = batches.recv_async() => match batch {
                    Ok(batch) => batch,
                    Err(_) => return, // the reader is gone and the queue is drained
                },
            };
            let Batch { mut frames, bytes } = batch;
            // Each frame is taken out where it lies: the peer is borrowed, not moved.
            for (peer, frame) in &mut frames {
                self.handle(peer, std::mem::take(frame));
            }
            queued.release(&load, frames.len(), bytes);
            drop(frames);
            // The next batch is usually ready, so `recv_async` would not yield, and the
            // reader, woken by `release`, would wait behind this worker (tokio runs a task
            // woken from a worker thread on that thread, once the running task yields).
            // Yielding here lets the reader refill the lanes before this worker starts on the
            // next batch: with 2 workers on 2 threads, 32 B frames ingest about 1.3x faster
            // (the ingest row of the 2026.10 adapter's `compare` bench).
            tokio::task::yield_now().await;
        }
    }

    /// Whether `frame` is over the frame limit: [`handle`](Self::handle) rejects it undecoded.
    fn oversized(&self, frame: &Bytes) -> bool {
        frame.len() > self.max_frame_size
    }

    /// Decodes and inserts one frame, counting what became of it.
    fn handle(&self, peer: &P, frame: Bytes) {
        if self.oversized(&frame) {
            debug!(
                ?peer,
                len = frame.len(),
                max = self.max_frame_size,
                "rejected oversized frame"
            );
            self.reject(false);
            return;
        }
        // User code (decode, digest, clone) runs in here: a panic is contained to this frame.
        let handled =
            std::panic::catch_unwind(AssertUnwindSafe(|| match M::decode(frame, &self.codec) {
                Ok(message) => Ok(self.buffer.receive_from(peer, message)),
                Err(err) => Err(err),
            }));
        match handled {
            Ok(Ok(outcome)) => self.counts.decoded(outcome),
            Ok(Err(err)) => {
                debug!(?peer, %err, "rejected undecodable frame");
                self.reject(false);
            }
            Err(_) => {
                warn!(
                    ?peer,
                    "handling a frame panicked in user code; frame dropped"
                );
                self.reject(true);
            }
        }
    }

    /// Counts a rejected frame (`receive_total{Invalid}` and the engine's totals).
    fn reject(&self, panicked: bool) {
        self.buffer.record_invalid();
        self.counts.rejected(panicked);
    }
}
