//! A commonware 2026.4 runtime context as shardcast's [`Runtime`]: the engine spawns, sleeps
//! and hears a stop only through it, so on the deterministic runtime one seed gives one
//! execution.

use shardcast::runtime::{Runtime, Task};
use std::future::Future;
use std::time::Duration;

/// A commonware-runtime context (`Spawner + Clock + Metrics`): tokio's, the deterministic
/// simulation's, or any other.
#[derive(Clone, Debug)]
pub(crate) struct Commonware<E>(pub(crate) E);

impl<E> Runtime for Commonware<E>
where
    E: commonware_runtime::Spawner + commonware_runtime::Clock + commonware_runtime::Metrics,
{
    fn spawn<F>(&self, label: &'static str, future: F) -> Task
    where
        F: Future<Output = ()> + Send + 'static,
    {
        Task::new(self.0.with_label(label).spawn(move |_| future))
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + 'static {
        self.0.sleep(duration)
    }

    fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let stopped = self.0.stopped();
        async move {
            let _ = stopped.await;
        }
    }
}
