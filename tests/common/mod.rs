//! Helpers shared by the integration tests.
#![allow(dead_code, missing_docs)]

pub mod model;

use shardcast::{Buffer, Config, Message, Subscription};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// A test message: `id` is the digest, `copy` tells apart copies with the same digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Msg {
    pub id: u64,
    pub copy: u32,
}

impl Message for Msg {
    type Digest = u64;
    fn digest(&self) -> u64 {
        self.id
    }
    /// Copies of one digest differ in size, so that budgets see which copy is stored.
    fn size(&self) -> usize {
        10 * (self.id % 4 + 1) as usize + 7 * self.copy as usize
    }
}

pub fn msg(id: u64) -> Msg {
    Msg { id, copy: 0 }
}

pub type TestBuffer = Buffer<u32, Msg>;

pub fn buffer(deque_size: usize) -> TestBuffer {
    Buffer::new(Config::new(deque_size).with_shards(8)).expect("valid config")
}

/// A buffer whose deques are also bounded to `peer_bytes` bytes.
pub fn buffer_with_budget(deque_size: usize, peer_bytes: usize) -> TestBuffer {
    Buffer::new(
        Config::new(deque_size)
            .with_shards(8)
            .with_peer_bytes(peer_bytes),
    )
    .expect("valid config")
}

/// Polls once with a no-op waker; the buffer must not be closed.
pub fn poll_once(sub: &mut Subscription<Msg>) -> Poll<Msg> {
    Pin::new(sub)
        .poll(&mut Context::from_waker(Waker::noop()))
        .map(|outcome| outcome.expect("the buffer is open"))
}
