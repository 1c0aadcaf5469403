//! The runtime an engine runs on: the one place where it spawns tasks, waits for time, and
//! hears that it should stop.
//!
//! [`Engine`](crate::engine::Engine) code never names a runtime. It goes through [`Runtime`]:
//!
//! - [`Tokio`] here: a tokio runtime handle (the default path, feature `engine`). Tasks are
//!   plain tokio tasks; nothing asks them to stop but the engine itself.
//! - each commonware adapter crate implements it for its release's runtime contexts (any
//!   `Spawner + Clock + Metrics`, the deterministic runtime included). Every task is spawned
//!   from that context under a label, so the runtime supervises it: when the task that owns
//!   the context ends or is aborted, the engine's tasks are aborted with it. The engine stops
//!   when `context.stopped()` fires.
//!
//! Through such a runtime nothing else runs: no `tokio::spawn`, no `tokio::time`, no ambient
//! runtime lookup, no OS thread, and every `select!` is `biased`, so that one seed of the
//! deterministic runtime gives one execution. The engine's channels (flume, tokio's `sync`
//! channels, `tokio_util`'s cancellation token) are plain waker-based code that any executor
//! drives.
//!
//! ```
//! use shardcast::runtime::{Runtime, Tokio};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let runtime = Tokio::current().expect("called inside a tokio runtime");
//! let (done, finished) = tokio::sync::oneshot::channel();
//! let task = runtime.spawn("example", async move {
//!     done.send(()).unwrap();
//! });
//! task.await; // waits until the task has ended
//! assert_eq!(finished.await, Ok(()));
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// What an engine needs from an async runtime.
pub trait Runtime: Clone + Send + Sync + 'static {
    /// Spawns `future` as a task named `label` (letters, digits and `_`). The task runs to its
    /// end whether or not the returned [`Task`] is awaited or dropped.
    fn spawn<F>(&self, label: &'static str, future: F) -> Task
    where
        F: Future<Output = ()> + Send + 'static;

    /// Resolves once `duration` has passed on the runtime's clock.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + 'static;

    /// Resolves when the runtime asks its tasks to stop (on tokio: never).
    fn stopped(&self) -> impl Future<Output = ()> + Send + 'static;
}

/// A task spawned through a [`Runtime`]: await it to wait until it has ended (however it
/// ended: finished, panicked or aborted).
#[must_use = "a task runs whether or not it is awaited; await it to wait for its end"]
pub struct Task(Pin<Box<dyn Future<Output = ()> + Send>>);

impl Task {
    /// Wraps a join future whose output (a task's result) is of no interest.
    pub fn new<T>(join: impl Future<Output = T> + Send + 'static) -> Self {
        Self(Box::pin(async move {
            let _ = join.await;
        }))
    }
}

impl Future for Task {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task").finish_non_exhaustive()
    }
}

/// A tokio runtime, through its handle.
#[derive(Clone, Debug)]
pub struct Tokio(tokio::runtime::Handle);

impl Tokio {
    /// The tokio runtime this is called from, if any.
    pub fn current() -> Option<Self> {
        tokio::runtime::Handle::try_current().ok().map(Self)
    }

    /// The runtime behind `handle`.
    pub fn new(handle: tokio::runtime::Handle) -> Self {
        Self(handle)
    }
}

impl Runtime for Tokio {
    fn spawn<F>(&self, _label: &'static str, future: F) -> Task
    where
        F: Future<Output = ()> + Send + 'static,
    {
        Task::new(self.0.spawn(future))
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + 'static {
        tokio::time::sleep(duration)
    }

    fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        std::future::pending()
    }
}
