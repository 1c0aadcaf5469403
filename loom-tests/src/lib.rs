//! Helpers for the loom suite (see `README.md`): a test message and a `model` wrapper that
//! reports how many executions loom explored.
#![cfg(loom)]

use shardcast::{Buffer, Config, Message};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A message whose digest is its first field; the second tells copies apart and is its size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Msg(pub u8, pub u32);

impl Message for Msg {
    type Digest = u8;
    fn digest(&self) -> u8 {
        self.0
    }
    fn size(&self) -> usize {
        self.1 as usize
    }
}

/// The buffer under test, shared between loom threads.
pub type Shared = loom::sync::Arc<Buffer<u8, Msg>>;

/// A buffer with two shards per map, primary set `primary`.
pub fn buffer(deque_size: usize, primary: &[u8]) -> Shared {
    let buffer = Buffer::new(Config::new(deque_size).with_shards(2)).expect("valid config");
    buffer.update_primary(primary.iter().copied());
    loom::sync::Arc::new(buffer)
}

/// A buffer whose deques are also bounded to `peer_bytes` bytes.
pub fn buffer_with_budget(deque_size: usize, peer_bytes: usize, primary: &[u8]) -> Shared {
    let config = Config::new(deque_size)
        .with_shards(2)
        .with_peer_bytes(peer_bytes);
    let buffer = Buffer::new(config).expect("valid config");
    buffer.update_primary(primary.iter().copied());
    loom::sync::Arc::new(buffer)
}

/// Runs `f` under `loom::model` and prints how many executions were explored (also when a
/// model fails, so that the README can record what it took to catch a wrong ordering).
pub fn model<F>(name: &'static str, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    struct Report(&'static str, Arc<AtomicUsize>);
    impl Drop for Report {
        fn drop(&mut self) {
            let n = self.1.load(Ordering::Relaxed);
            let outcome = if std::thread::panicking() {
                "FAILED in execution"
            } else {
                "passed,"
            };
            eprintln!("loom model {}: {outcome} {n} executions", self.0);
        }
    }
    let executions = Arc::new(AtomicUsize::new(0));
    let _report = Report(name, executions.clone());
    loom::model(move || {
        executions.fetch_add(1, Ordering::Relaxed);
        f()
    });
}
