//! The drop-in for `commonware_broadcast::buffered` 2026.10.0: [`Config`], [`Engine`],
//! [`Mailbox`].

use crate::glue::{self, P2pPeerSets, P2pReceiver, P2pSender, Shared};
use crate::registry::{self, Handles};
use commonware_actor::Feedback;
use commonware_codec::Codec;
use commonware_cryptography::{Digested, Digestible, PublicKey};
use commonware_p2p::{Provider, Recipients};
use commonware_parallel::Strategy;
use commonware_runtime::telemetry::metrics::{Counter, MetricsExt as _};
use commonware_runtime::{Clock, Handle, Metrics, Spawner};
use commonware_utils::channel::oneshot;
use shardcast::engine::{self, EngineConfig, Enqueued};
use shardcast::{Buffer, Config as BufferConfig, ConfigError};
use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use tokio::sync::watch;

/// The reference's configuration, field for field: a chain's `buffered::Config` literal
/// compiles unchanged against it.
pub struct Config<P, MCfg, D, T> {
    /// Our own key: local broadcasts are cached under it.
    pub public_key: P,
    /// How many broadcasts wait to be sent before [`Mailbox`]'s `broadcast` answers
    /// [`Feedback::Backoff`] (the broadcast is still accepted and sent, in order).
    pub mailbox_size: NonZeroUsize,
    /// How many messages each primary peer's deque holds.
    pub deque_size: usize,
    /// Whether broadcasts are sent as priority messages.
    pub priority: bool,
    /// Bounds on decoded messages.
    pub codec_config: MCfg,
    /// Where the primary sets come from: a peer may cache while it is primary in any set the
    /// provider tracks.
    pub peer_provider: D,
    /// Accepted for the reference's sake: shardcast hashes a received message on the worker
    /// that decoded it (the engine's parallelism is its workers), and a local broadcast's
    /// digest comes with its `Digested`.
    pub strategy: T,
}

/// shardcast's own settings, beside the reference's [`Config`]. The defaults behave like the
/// reference: one worker, `peer` registered.
#[derive(Clone, Debug)]
pub struct Options {
    workers: usize,
    peer_metrics: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            workers: 1,
            peer_metrics: true,
        }
    }
}

impl Options {
    /// Decode, hash and insert received frames on `workers` tasks (default 1); a peer's frames
    /// always go to the same worker, so each peer's order holds.
    pub fn with_workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// Whether the per-sender counter `peer{sequencer}` is registered (default `true`).
    pub fn with_peer_metrics(mut self, enabled: bool) -> Self {
        self.peer_metrics = enabled;
        self
    }
}

/// Broadcasts made before the engine ran, in order (`None` once it ran or closed).
type Early<P, M> = Arc<Mutex<Option<VecDeque<(Recipients<P>, Digested<M>)>>>>;

/// What the mailboxes share. Only they hold it (the engine's task holds a `Weak`): when the
/// last one drops, so does their handle on the running engine, which then sends what it
/// accepted and stops.
struct Inner<P: PublicKey, M: Digestible + Codec> {
    buffer: Arc<Buffer<P, Shared<M>>>,
    /// The running engine, once started.
    running: OnceLock<engine::Engine<P, Shared<M>>>,
    early: Early<P, M>,
    /// `true` once the engine runs (the early broadcasts sent) or can never run.
    ready: Ready,
    mailbox_size: usize,
    /// `mailbox_backoff_total`, as the reference's mailbox counts each `Backoff`.
    backoff: Counter,
}

/// Whether requests can be answered: before the engine runs, a `get` waits for it, as the
/// reference's request waits in its mailbox, so that it sees the broadcasts made before it.
type Ready = Arc<watch::Sender<bool>>;

/// Closes the buffer when dropped: when the engine never ran (dropped without
/// [`Engine::start`], or its task aborted first) and when its task ends.
struct Closer<P: PublicKey, M: Digestible + Codec> {
    buffer: Arc<Buffer<P, Shared<M>>>,
    early: Early<P, M>,
    ready: Ready,
    /// The metrics' registrations: the engine's, as the reference's engine owns its metrics,
    /// so they leave the registry when it stops or is dropped unstarted.
    _metrics: Handles,
}

impl<P: PublicKey, M: Digestible + Codec> Drop for Closer<P, M> {
    fn drop(&mut self) {
        *self.early.lock().unwrap_or_else(PoisonError::into_inner) = None;
        self.buffer.close();
        self.ready.send_replace(true);
    }
}

/// The engine: built with [`Engine::new`], run with [`Engine::start`].
pub struct Engine<E, P, M, D, T>
where
    P: PublicKey,
    M: Digestible + Codec,
{
    context: E,
    public_key: P,
    peer_provider: D,
    config: EngineConfig<M::Cfg>,
    inner: Weak<Inner<P, M>>,
    closer: Closer<P, M>,
    _strategy: T,
}

impl<E, P, M, D, T> Engine<E, P, M, D, T>
where
    E: Clock + Spawner + Metrics,
    P: PublicKey,
    M: Digestible + Codec,
    D: Provider<PublicKey = P>,
    T: Strategy,
{
    /// Builds the engine and its mailbox with the default [`Options`], and registers the
    /// metrics on `context` (with the reference's names).
    ///
    /// # Panics
    ///
    /// When a value of `config` is out of range ([`try_new`](Self::try_new) returns it).
    pub fn new(context: E, config: Config<P, M::Cfg, D, T>) -> (Self, Mailbox<P, M>) {
        Self::with_options(context, config, Options::default())
    }

    /// [`new`](Self::new) with shardcast's own settings.
    ///
    /// # Panics
    ///
    /// As [`new`](Self::new), also for a value of `options` out of range.
    pub fn with_options(
        context: E,
        config: Config<P, M::Cfg, D, T>,
        options: Options,
    ) -> (Self, Mailbox<P, M>) {
        match Self::try_new(context, config, options) {
            Ok(built) => built,
            Err(err) => panic!("invalid shardcast configuration: {err}"),
        }
    }

    /// [`with_options`](Self::with_options), returning an out-of-range value as an error.
    /// Nothing is registered on `context` when it fails.
    pub fn try_new(
        context: E,
        config: Config<P, M::Cfg, D, T>,
        options: Options,
    ) -> Result<(Self, Mailbox<P, M>), ConfigError> {
        let buffer_config =
            BufferConfig::new(config.deque_size).with_peer_metrics(options.peer_metrics);
        buffer_config.validate()?;
        let engine_config = EngineConfig::new(config.codec_config)
            .with_priority(config.priority)
            .with_workers(options.workers)
            .with_outbox(config.mailbox_size.get());
        engine_config.validate()?;
        let mut registry = registry::Context {
            context: &context,
            handles: Vec::new(),
        };
        // Labelled as the reference labels them: the key's `Display`.
        let buffer = Buffer::with_registry(buffer_config, &mut registry)?
            .with_peer_label(|peer: &P| peer.to_string());
        let backoff = context
            .child("mailbox")
            .counter("backoff", "number of enqueue calls that requested backoff");
        let handles = registry.handles;
        let buffer = Arc::new(buffer);
        let early: Early<P, M> = Arc::new(Mutex::new(Some(VecDeque::new())));
        let ready: Ready = Arc::new(watch::channel(false).0);
        let inner = Arc::new(Inner {
            buffer: buffer.clone(),
            running: OnceLock::new(),
            early: early.clone(),
            ready: ready.clone(),
            mailbox_size: config.mailbox_size.get(),
            backoff,
        });
        let engine = Self {
            context,
            public_key: config.public_key,
            peer_provider: config.peer_provider,
            config: engine_config,
            inner: Arc::downgrade(&inner),
            closer: Closer {
                buffer,
                early,
                ready,
                _metrics: handles,
            },
            _strategy: config.strategy,
        };
        let mailbox = Mailbox { inner };
        Ok((engine, mailbox))
    }

    /// Runs the engine on `network` (one channel of a commonware 2026.10 p2p network), as
    /// `buffered::Engine::start`: subscribes to the peer provider, applies its first set,
    /// sends the broadcasts made before, then serves the mailbox directly. The returned handle
    /// completes when the engine stops: on the runtime's stop signal, when the receiver fails,
    /// when the peer-set subscription closes, when every mailbox is dropped (after sending
    /// every broadcast accepted), and when user code panics on one of its tasks (the network's
    /// sender or receiver, the peer provider, a message's `Drop`). When it stops, the buffer
    /// closes: pending and later subscriptions resolve to the channel's error, `get` returns
    /// `None`, `broadcast` answers [`Feedback::Closed`].
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
            inner,
            closer,
            _strategy,
        } = self;
        context.spawn(move |context| async move {
            let closer = closer;
            let buffer = closer.buffer.clone();
            let peer_sets = P2pPeerSets::subscribe(&mut peer_provider).await;
            let engine = engine::Engine::start_on(
                &glue::Context(Arc::new(context)),
                buffer,
                public_key,
                P2pSender(sender),
                P2pReceiver(receiver),
                peer_sets,
                config,
            )
            .expect("the configuration was validated by try_new");
            let stopped = engine.stopped();
            // Broadcasts made before now go first, in order; those made while they go join
            // the queue and go next. Once it is empty, under its lock, the engine is handed to
            // the mailboxes, which from then on broadcast directly. The queue's lock is never
            // held while a broadcast runs (an insert may run user code).
            loop {
                let batch = {
                    let mut early = closer.early.lock().unwrap_or_else(PoisonError::into_inner);
                    match early.as_mut() {
                        Some(queue) if !queue.is_empty() => std::mem::take(queue),
                        Some(_) => {
                            // With no mailbox left nothing can broadcast again: dropping our
                            // handle lets the engine send what it accepted and stop.
                            if let Some(inner) = inner.upgrade() {
                                let _ = inner.running.set(engine.clone());
                            }
                            *early = None;
                            closer.ready.send_replace(true);
                            break;
                        }
                        None => break,
                    }
                };
                for (recipients, message) in batch {
                    let _ = send_now(&engine, recipients, message);
                }
            }
            drop(engine);
            stopped.await;
        })
    }
}

/// The handle applications use, as `buffered::Mailbox` 2026.10: cheap to clone, and every
/// call direct once the engine runs (no request queue, no round trip to a task).
pub struct Mailbox<P: PublicKey, M: Digestible + Codec> {
    inner: Arc<Inner<P, M>>,
}

impl<P: PublicKey, M: Digestible + Codec> Clone for Mailbox<P, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<P: PublicKey, M: Digestible + Codec> Mailbox<P, M> {
    /// The message with `digest`, if cached, sharing its `Arc` (never a copy); `None` on a
    /// miss and once the engine stopped.
    ///
    /// Before the engine runs, it waits for it (as the reference's request waits in its
    /// mailbox), so that it sees the broadcasts made before it.
    pub async fn get(&self, digest: M::Digest) -> Option<Digested<M>> {
        if self.inner.running.get().is_none() {
            let mut ready = self.inner.ready.subscribe();
            let _ = ready.wait_for(|ready| *ready).await;
        }
        let buffer = &self.inner.buffer;
        if buffer.is_closed() {
            return None;
        }
        buffer.get(&digest).map(|shared| shared.0)
    }

    /// A receiver of the message with `digest`: answered at once when cached, else when it
    /// first arrives (from any sender, eligible or not). Dropping the receiver cancels the
    /// subscription at once. Once the engine stopped, the receiver reads the channel's error.
    pub fn subscribe(&self, digest: M::Digest) -> oneshot::Receiver<Digested<M>> {
        let (responder, receiver) = oneshot::channel();
        shardcast::forward::forward(self.inner.buffer.subscribe(digest), responder, |m| m.0);
        receiver
    }

    /// What the engine's receive path has done so far, and how many broadcasts wait to be
    /// sent (zeros before it runs).
    pub fn stats(&self) -> engine::EngineStats {
        self.inner
            .running
            .get()
            .map(engine::Engine::stats)
            .unwrap_or_default()
    }

    /// The shared cache behind this mailbox.
    pub fn buffer(&self) -> &Arc<Buffer<P, Shared<M>>> {
        &self.inner.buffer
    }
}

impl<P: PublicKey, M: Digestible + Codec> commonware_broadcast::Broadcaster for Mailbox<P, M> {
    type Recipients = Recipients<P>;
    type Message = Digested<M>;

    /// Caches `message` under our own key (if we are primary) and queues it for
    /// `recipients`, at once: [`Feedback::Ok`] within `mailbox_size`, [`Feedback::Backoff`]
    /// beyond it (accepted all the same, sent in order), [`Feedback::Closed`] once the engine
    /// stopped. Before the engine runs, broadcasts wait, in order, and are sent once it has
    /// applied its first peer set.
    fn broadcast(&self, recipients: Recipients<P>, message: Digested<M>) -> Feedback {
        let feedback = self.enqueue(recipients, message);
        if feedback == Feedback::Backoff {
            self.inner.backoff.inc();
        }
        feedback
    }
}

impl<P: PublicKey, M: Digestible + Codec> Mailbox<P, M> {
    /// [`broadcast`](commonware_broadcast::Broadcaster::broadcast)'s work.
    fn enqueue(&self, recipients: Recipients<P>, message: Digested<M>) -> Feedback {
        if self.inner.buffer.is_closed() {
            return Feedback::Closed;
        }
        if let Some(engine) = self.inner.running.get() {
            return send_now(engine, recipients, message);
        }
        let mut early = self
            .inner
            .early
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match early.as_mut() {
            Some(queue) => {
                queue.push_back((recipients, message));
                if queue.len() > self.inner.mailbox_size {
                    Feedback::Backoff
                } else {
                    Feedback::Ok
                }
            }
            None => {
                drop(early);
                // Started meanwhile (the queue was taken just now), or closed.
                match self.inner.running.get() {
                    Some(engine) => send_now(engine, recipients, message),
                    None => Feedback::Closed,
                }
            }
        }
    }
}

/// Hands a broadcast to the running engine, and says how it was taken.
fn send_now<P: PublicKey, M: Digestible + Codec>(
    engine: &engine::Engine<P, Shared<M>>,
    recipients: Recipients<P>,
    message: Digested<M>,
) -> Feedback {
    match engine.try_broadcast(glue::from_p2p(recipients), Shared(message)) {
        Enqueued::Outbox => Feedback::Ok,
        Enqueued::Overflow => Feedback::Backoff,
        _ => Feedback::Closed,
    }
}
