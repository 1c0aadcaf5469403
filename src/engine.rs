//! The network glue: broadcast, parallel receive workers, the peer-set follower, shutdown.
//!
//! There is no actor. [`Engine::start_on`] spawns, through a [`Runtime`] (tokio, or any
//! commonware runtime: see [`crate::runtime`]):
//!
//! - one **reader** task that pulls frames from the [`Receiver`] and hands them, through a
//!   bounded `flume` channel (back-pressure, not an unbounded queue), to
//! - `workers` **receive workers** that decode, count and insert in parallel,
//! - one **peer-set follower** that applies every update of the [`PeerSetSource`], in order,
//!   with [`Buffer::update_primary`],
//! - one **sender** task that owns the [`Sender`] (one sender per engine, never cloned per send)
//!   and sends what [`broadcast`](Engine::broadcast) queued, in order, and
//! - one **stop watcher** that stops the engine when the runtime asks (commonware's
//!   `context.stopped()`) or the engine is shut down, and then closes the buffer.
//!
//! Application tasks use the shared [`Buffer`] directly for `get` and `subscribe`, and the
//! [`Engine`] handle for [`broadcast`](Engine::broadcast), which inserts under our own id
//! (serving waiters, caching only if we are primary) before it returns and leaves the send to
//! the sender task: the caller never waits on the network, and a send runs to completion even if
//! the caller drops the returned [`SentTo`].
//!
//! When the engine stops (shutdown, the runtime's stop signal, the last handle dropped, or on
//! commonware the abort of the task that owns it), it closes the buffer: pending and later
//! subscriptions resolve to [`Closed`], the cache is freed, and queued sends that
//! did not run resolve their [`SentTo`] to [`Closed`], as the reference engine's `Canceled`.
//!
//! # Order and memory on the receive path
//!
//! - **Per-peer FIFO.** Frames of one peer are inserted in the order the receiver yielded
//!   them, whatever `workers` is: the reader routes every peer to one worker (a fixed hash of
//!   the peer), and each worker handles its queue in order. So each peer's deque always holds
//!   that peer's `deque_size` most recently received messages, as in the reference engine.
//!   There is no order across peers: two peers' frames are inserted in parallel.
//! - **The cost.** A peer that floods occupies its worker. Peers routed to the same worker wait
//!   behind the frames of the flood that arrived before theirs (first come, first served:
//!   they are delayed, never dropped or starved); peers routed to other workers do not wait
//!   at all. With `workers = 1` every peer shares the one worker, as every peer shares the
//!   reference's one loop.
//! - **Bounded in bytes.** Frames handed to the workers and not yet handled are bounded by
//!   [`EngineConfig::max_queued_bytes`]: when the budget is full the reader stops taking frames
//!   from the receiver until the workers catch up, which is back-pressure on the network.
//!   [`EngineStats::queued_bytes_peak`] reports the most that ever waited.
//!
//! Bad input is counted (`receive_total{status="Invalid"}`), logged at `debug` with the peer,
//! and never stops the engine: a frame over `max_frame_size` is rejected before decoding, a
//! frame that fails to decode is rejected, and a panic in user code (`Codec::decode`,
//! `Message::digest`) while handling a frame is caught, counted and logged at `warn`.

use crate::config::ConfigError;
use crate::message::{Codec, Message, Peer};
use crate::net::{PeerSetSource, Receiver, Recipients, Sender};
use crate::receive::ReceiveCounts;
use crate::runtime::{Runtime, Task, Tokio};
use crate::{Buffer, Closed};
use bytes::Bytes;
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
use tokio::sync::{Notify, oneshot, watch};
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
}

impl<C> EngineConfig<C> {
    /// Defaults, with `codec` as the decoding bounds (`Codec::Config`): no priority, 1 worker,
    /// a queue of 1,024 frames, no frame size limit of the engine's own,
    /// [`DEFAULT_MAX_QUEUED_BYTES`] queued.
    pub fn new(codec: C) -> Self {
        Self {
            priority: false,
            codec,
            workers: 1,
            frame_queue: 1024,
            max_frame_size: usize::MAX,
            max_queued_bytes: DEFAULT_MAX_QUEUED_BYTES,
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

    /// Frames buffered between the reader and the workers (default 1,024, at least 1).
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
    /// [`DEFAULT_MAX_QUEUED_BYTES`], 64 MiB; at least 1). When it is reached the reader stops
    /// taking frames from the receiver until the workers catch up: back-pressure on the
    /// network, whatever peers send. When nothing is queued, one batch passes whatever its
    /// size (up to 64 frames and 1 MiB, or a single larger frame), so a budget below that is
    /// exceeded by one batch. Beyond what is queued, the reader holds at most one batch and
    /// one frame in hand.
    pub fn with_max_queued_bytes(mut self, bytes: usize) -> Self {
        self.max_queued_bytes = bytes;
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
        Ok(())
    }
}

/// What [`Engine::broadcast`] returns once the message is inserted: a future of `sent_to`, the
/// peers the transport handed the message to (never ourselves; empty when the send failed).
/// It resolves to [`Closed`] when the engine stopped before sending. Dropping it changes
/// nothing: the send still runs.
#[derive(Debug)]
pub struct SentTo<P>(oneshot::Receiver<Vec<P>>);

impl<P> SentTo<P> {
    /// The channel underneath, for the commonware mailbox, whose callers expect commonware's
    /// `oneshot::Receiver`.
    #[cfg(feature = "commonware")]
    pub(crate) fn into_receiver(self) -> oneshot::Receiver<Vec<P>> {
        self.0
    }
}

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

/// A broadcast waiting for the sender task.
pub(crate) struct Outgoing<P, M> {
    pub(crate) recipients: Recipients<P>,
    pub(crate) frame: Bytes,
    pub(crate) sent_to: oneshot::Sender<Vec<P>>,
    /// A message broadcast before the engine started: inserted by the sender task, after the
    /// initial peer set, as the reference handles work queued before its loop starts.
    pub(crate) deferred: Option<M>,
}

/// The queue from `broadcast` to the sender task. Unbounded, so that `broadcast` never waits:
/// it holds what the application itself asked to send, never anything a peer sent.
pub(crate) type Outbox<P, M> = flume::Sender<Outgoing<P, M>>;

struct Inner<P, M: Message> {
    buffer: Arc<Buffer<P, M>>,
    me: P,
    outbox: Outbox<P, M>,
    cancel: CancellationToken,
    tasks: Mutex<Vec<Task>>,
    live: Arc<AtomicUsize>,
    counts: Arc<ReceiveCounts>,
    applied: watch::Sender<Option<u64>>,
    queued: Arc<Queued>,
}

impl<P, M: Message> Drop for Inner<P, M> {
    fn drop(&mut self) {
        // The last handle is gone: nobody can broadcast or shut down any more.
        self.cancel.cancel();
    }
}

/// A running engine. Cheap to clone; all clones drive the same tasks.
///
/// Dropping the last clone stops the tasks (without waiting for them); call
/// [`shutdown`](Self::shutdown) to stop them and wait.
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

/// Decrements the live-task count when a task ends, however it ends.
struct LiveTask(Arc<AtomicUsize>);

impl LiveTask {
    fn new(live: &Arc<AtomicUsize>) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        Self(live.clone())
    }
}

impl Drop for LiveTask {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
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
    pub fn start_on<R: Runtime, S: Sender<P>>(
        runtime: &R,
        buffer: Arc<Buffer<P, M>>,
        me: P,
        sender: S,
        receiver: impl Receiver<P>,
        peer_sets: impl PeerSetSource<P>,
        config: EngineConfig<M::Config>,
    ) -> Result<Self, EngineError> {
        let (outbox, queued) = flume::unbounded();
        Self::start_with_outbox(
            runtime,
            buffer,
            me,
            (sender, receiver),
            peer_sets,
            config,
            (outbox, queued),
        )
    }

    /// [`start_on`](Self::start_on) with a send queue made beforehand (the commonware mailbox
    /// queues broadcasts made before `start`).
    pub(crate) fn start_with_outbox<R: Runtime, S: Sender<P>>(
        runtime: &R,
        buffer: Arc<Buffer<P, M>>,
        me: P,
        (sender, receiver): (S, impl Receiver<P>),
        mut peer_sets: impl PeerSetSource<P>,
        config: EngineConfig<M::Config>,
        (outbox, queued): (Outbox<P, M>, flume::Receiver<Outgoing<P, M>>),
    ) -> Result<Self, EngineError> {
        config.validate()?;
        let (applied, _) = watch::channel(None);
        if let Some(update) = poll_once(peer_sets.next()).flatten() {
            buffer.update_primary(update.primary);
            applied.send_replace(Some(update.index));
        }

        let inner = Arc::new(Inner {
            buffer,
            me,
            outbox,
            cancel: CancellationToken::new(),
            tasks: Mutex::new(Vec::new()),
            live: Arc::new(AtomicUsize::new(0)),
            counts: Arc::new(ReceiveCounts::default()),
            applied,
            queued: Arc::new(Queued {
                bytes: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
                budget: config.max_queued_bytes,
                drained: Notify::new(),
            }),
        });
        let backlog = inner.queued.clone();
        let mut tasks = Vec::with_capacity(config.workers + 4);
        let worker = Worker {
            buffer: inner.buffer.clone(),
            codec: config.codec.clone(),
            max_frame_size: config.max_frame_size,
            counts: inner.counts.clone(),
        };
        let spawn = |label, future| spawn_counted(runtime, label, &inner.live, future);
        // One lane per worker; each holds batches: bound it so that at most about
        // `frame_queue` frames wait in it.
        let mut lanes = Vec::with_capacity(config.workers);
        for _ in 0..config.workers {
            let (batches, taken) = flume::bounded(config.frame_queue.div_ceil(MAX_BATCH));
            let pending = Arc::new(AtomicUsize::new(0));
            tasks.push(spawn(
                "worker",
                Box::pin(worker.clone().run(
                    taken,
                    pending.clone(),
                    backlog.clone(),
                    inner.cancel.clone(),
                )),
            ));
            lanes.push(Lane { batches, pending });
        }
        tasks.push(spawn(
            "reader",
            Box::pin(read(receiver, lanes, backlog, worker, inner.cancel.clone())),
        ));
        tasks.push(spawn(
            "peer_sets",
            Box::pin(follow(
                peer_sets,
                inner.buffer.clone(),
                inner.applied.clone(),
                inner.cancel.clone(),
            )),
        ));
        tasks.push(spawn(
            "sender",
            Box::pin(send(
                sender,
                queued,
                inner.buffer.clone(),
                inner.me.clone(),
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
    /// this future's output. The returned [`SentTo`] yields the peers the transport handed the
    /// message to: empty when the send failed (logged). Once the engine has stopped, nothing is
    /// inserted and it yields [`Closed`].
    pub async fn broadcast(&self, recipients: Recipients<P>, message: M) -> SentTo<P> {
        SentTo(self.inner.broadcast(recipients, message))
    }

    /// The shared buffer, for `get` and `subscribe`.
    pub fn buffer(&self) -> &Arc<Buffer<P, M>> {
        &self.inner.buffer
    }

    /// Our own peer id.
    pub fn id(&self) -> &P {
        &self.inner.me
    }

    /// What the receive path has done so far (each frame is counted once handled).
    pub fn stats(&self) -> EngineStats {
        self.inner.counts.stats(
            self.inner.queued.bytes.load(Ordering::Relaxed) as u64,
            self.inner.queued.peak.load(Ordering::Relaxed) as u64,
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

    /// How many of the engine's tasks are still running.
    pub fn running_tasks(&self) -> usize {
        self.inner.live.load(Ordering::SeqCst)
    }

    /// Resolves once the engine stops (shutdown, the runtime's stop signal, or the last handle
    /// dropped).
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

impl<P, M> Inner<P, M>
where
    P: Peer,
    M: Message + Codec,
{
    fn broadcast(&self, recipients: Recipients<P>, message: M) -> oneshot::Receiver<Vec<P>> {
        let (sent_to, receiver) = oneshot::channel();
        if self.cancel.is_cancelled() {
            return receiver;
        }
        let frame: Bytes = message.to_bytes();
        let _ = self.buffer.insert(self.me.clone(), message);
        // Fails only once the sender task is gone (the engine stopped): the responder is
        // dropped with the error, and the receiver reads the channel's error.
        let _ = self.outbox.send(Outgoing {
            recipients,
            frame,
            sent_to,
            deferred: None,
        });
        receiver
    }
}

/// Spawns `future`, counted in `live` until it ends (however it ends).
fn spawn_counted<R: Runtime>(
    runtime: &R,
    label: &'static str,
    live: &Arc<AtomicUsize>,
    future: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
) -> Task {
    let task = LiveTask::new(live);
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

/// Sends what `broadcast` queued, in order, through the engine's one sender. A broadcast
/// queued before the engine started has not been inserted yet: it is inserted here first.
async fn send<P, M, S>(
    mut sender: S,
    queued: flume::Receiver<Outgoing<P, M>>,
    buffer: Arc<Buffer<P, M>>,
    me: P,
    priority: bool,
    cancel: CancellationToken,
) where
    P: Peer,
    M: Message,
    S: Sender<P>,
{
    loop {
        let outgoing = tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            outgoing = queued.recv_async() => match outgoing {
                Ok(outgoing) => outgoing,
                Err(_) => return,
            },
        };
        let Outgoing {
            recipients,
            frame,
            sent_to,
            deferred,
        } = outgoing;
        if let Some(message) = deferred {
            let _ = buffer.insert(me.clone(), message);
        }
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
}

/// Polls a future once, with a no-op waker.
fn poll_once<F: Future>(future: F) -> Option<F::Output> {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// Most frames handed to a worker at once.
const MAX_BATCH: usize = 64;

/// The reader stops gathering a batch once it holds this many bytes: what it holds in hand,
/// outside the byte budget, stays small.
const MAX_BATCH_BYTES: usize = 1 << 20;

/// The default [`EngineConfig::max_queued_bytes`]: 64 MiB, eight of the largest blocks real
/// chains send (about 8 MiB).
pub const DEFAULT_MAX_QUEUED_BYTES: usize = 64 << 20;

/// A batch of frames for one worker.
type Batch<P> = Vec<(P, Bytes)>;

/// The queue of one worker, and the frames it has been handed and not yet finished.
struct Lane<P> {
    batches: flume::Sender<Batch<P>>,
    pending: Arc<AtomicUsize>,
}

/// What waits between the reader and the workers, in bytes, and the budget that bounds it.
struct Queued {
    bytes: AtomicUsize,
    peak: AtomicUsize,
    budget: usize,
    /// Notified by a worker each time it finishes a batch.
    drained: Notify,
}

impl Queued {
    /// Waits until `bytes` more fit in the budget (always, when nothing is queued: a frame
    /// larger than the budget passes alone), then counts them.
    async fn admit(&self, bytes: usize, cancel: &CancellationToken) -> bool {
        loop {
            // Registered before the check: a batch finished in between is not missed.
            let drained = self.drained.notified();
            let queued = self.bytes.load(Ordering::Acquire);
            if queued == 0 || queued + bytes <= self.budget {
                break;
            }
            tokio::select! {
                biased;
                () = cancel.cancelled() => return false,
                () = drained => {}
            }
        }
        let now = self.bytes.fetch_add(bytes, Ordering::AcqRel) + bytes;
        self.peak.fetch_max(now, Ordering::Relaxed);
        true
    }

    fn release(&self, bytes: usize) {
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

/// Pulls frames off the network and hands them to the workers, each peer's to the same
/// worker, in arrival order.
///
/// After each frame it takes whatever else the receiver already holds (up to [`MAX_BATCH`]
/// frames or [`MAX_BATCH_BYTES`]) without waiting, splits the lot by worker and hands each
/// worker its part as one batch: one channel operation and at most one wake-up per worker.
/// A frame that arrives alone (nothing else ready), for a worker with nothing in hand, is
/// handled here at once: that saves a hand-off on the path to a subscriber and cannot overtake
/// an earlier frame of the same peer, since that worker has finished everything it was given. Before handing
/// frames over, the reader waits for the byte budget ([`EngineConfig::max_queued_bytes`]):
/// that is the back-pressure on the receiver.
async fn read<P, M>(
    mut receiver: impl Receiver<P>,
    lanes: Vec<Lane<P>>,
    queued: Arc<Queued>,
    worker: Worker<P, M>,
    cancel: CancellationToken,
) where
    P: Peer,
    M: Message + Codec,
{
    let mut parts: Vec<Batch<P>> = lanes.iter().map(|_| Vec::new()).collect();
    // A frame taken off the receiver after the last batch was full: it starts the next one.
    let mut carried = None;
    loop {
        let first = match carried.take() {
            Some(frame) => frame,
            None => tokio::select! {
                biased;
                () = cancel.cancelled() => return,
                frame = receiver.recv() => match frame {
                    Ok(frame) => frame,
                    Err(_) => {
                        warn!("network receiver closed; the engine no longer receives");
                        return;
                    }
                },
            },
        };
        let mut gathered = first.1.len();
        let mut batch = vec![first];
        // Whether the receiver had nothing more ready: the only case a frame is handled here.
        let mut idle = false;
        loop {
            // `recv` is cancel-safe (a `Receiver` requirement): dropping it unready loses nothing.
            match poll_once(receiver.recv()) {
                Some(Ok(frame)) if batch.len() < MAX_BATCH && gathered < MAX_BATCH_BYTES => {
                    gathered += frame.1.len();
                    batch.push(frame);
                }
                Some(Ok(frame)) => {
                    carried = Some(frame);
                    break;
                }
                _ => {
                    idle = true;
                    break;
                }
            }
        }
        if let [(peer, _)] = batch.as_slice()
            && idle
            && lanes[lane_of(peer, lanes.len())]
                .pending
                .load(Ordering::Acquire)
                == 0
        {
            let (peer, frame) = batch.pop().expect("one frame");
            worker.handle(peer, frame);
            continue;
        }
        for frame in batch {
            parts[lane_of(&frame.0, lanes.len())].push(frame);
        }
        for (lane, part) in lanes.iter().zip(parts.iter_mut()) {
            if part.is_empty() {
                continue;
            }
            let part = std::mem::take(part);
            let bytes = part.iter().map(|(_, frame)| frame.len()).sum();
            if !queued.admit(bytes, &cancel).await {
                return;
            }
            lane.pending.fetch_add(part.len(), Ordering::AcqRel);
            tokio::select! {
                biased;
                () = cancel.cancelled() => return,
                sent = lane.batches.send_async(part) => if sent.is_err() { return },
            }
        }
    }
}

/// Applies peer-set updates in order.
async fn follow<P, M>(
    mut source: impl PeerSetSource<P>,
    buffer: Arc<Buffer<P, M>>,
    applied: watch::Sender<Option<u64>>,
    cancel: CancellationToken,
) where
    P: Peer,
    M: Message,
{
    loop {
        let update = tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            update = source.next() => update,
        };
        let Some(update) = update else {
            debug!("peer set source closed; keeping the last primary set");
            return;
        };
        debug!(
            index = update.index,
            primary = update.primary.len(),
            "peer set update"
        );
        buffer.update_primary(update.primary);
        applied.send_replace(Some(update.index));
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
    /// Handles the batches of one lane, in order; after each, releases its frames from the
    /// lane's pending count and its bytes from the budget.
    async fn run(
        self,
        batches: flume::Receiver<Batch<P>>,
        pending: Arc<AtomicUsize>,
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
            let (frames, bytes) = (batch.len(), batch.iter().map(|(_, f)| f.len()).sum());
            for (peer, frame) in batch {
                self.handle(peer, frame);
            }
            pending.fetch_sub(frames, Ordering::AcqRel);
            queued.release(bytes);
        }
    }

    /// Decodes and inserts one frame, counting what became of it.
    fn handle(&self, peer: P, frame: Bytes) {
        if frame.len() > self.max_frame_size {
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
                Ok(message) => Ok(self.buffer.receive(peer.clone(), message)),
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
