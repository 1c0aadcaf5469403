//! Answers a [`Subscription`] through a one-shot channel, with no task: the waker of the
//! subscription and of the channel's sender is the forwarder itself.
//!
//! The reference engines' subscribers hold a `oneshot::Receiver` (commonware's `oneshot` is
//! tokio's). [`forward`] serves one from the buffer directly, for every adapter:
//!
//! - when the message arrives, the insert that serves the subscription wakes the forwarder,
//!   which sends the message on the channel;
//! - when the receiver is dropped, the channel wakes the forwarder (inside the receiver's
//!   `drop`), which drops the subscription, and with it the registration, at once;
//! - when the buffer closes, the subscription resolves to `Closed` and the forwarder drops the
//!   sender: the receiver reads the channel's error, as the reference's `Canceled`.
//!
//! The three can race: an insert's wake-up, a dropped receiver's and a close's may run the
//! forwarder at once, on three threads. The forwarder decides and takes its state in one
//! critical section of its own small mutex, so exactly one of them finishes it and the others
//! find it finished. It never holds that mutex while dropping the subscription or sending, so it
//! takes no buffer lock but a waiter slot while holding it (the lock order is in the
//! [`buffer`](crate::buffer) module docs).
//!
//! [`forward_with`] is the same forwarder over any [`Responder`]: the loom suite checks it with
//! a loom-instrumented channel, with the forwarder's mutex from the crate's loom facade (the
//! production code, unchanged). Its polls of tokio's channel spend no coop budget: a spent
//! budget would make tokio wake the forwarder from inside its own poll.
//!
//! ```
//! use shardcast::forward::forward;
//! use shardcast::{Blob, Buffer, Config, Message};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let buffer: Buffer<u32, Blob> = Buffer::new(Config::new(8)).unwrap();
//! let block = Blob::new(&b"a block"[..]);
//! let (sender, receiver) = tokio::sync::oneshot::channel();
//! forward(buffer.subscribe(block.digest()), sender, |blob: Blob| blob.payload().len());
//! buffer.insert(1, block); // any insert attempt serves the subscriber, cached or not
//! assert_eq!(receiver.await, Ok(7));
//!
//! let (sender, receiver) = tokio::sync::oneshot::channel();
//! forward(buffer.subscribe(Blob::new(&b"never sent"[..]).digest()), sender, |blob: Blob| blob);
//! buffer.close();
//! assert!(receiver.await.is_err()); // the reference's `Canceled`
//! # }
//! ```

use crate::buffer::Subscription;
use crate::message::Message;
use crate::sync::{Mutex, mutation};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// The sending half of a one-shot channel, as the forwarder drives it.
pub trait Responder<T>: Send + 'static {
    /// `Ready` once the receiver is gone; otherwise registers `cx`'s waker, to be woken when it
    /// goes (the forwarder is woken from inside the receiver's `drop`).
    fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()>;

    /// Sends `value` to the receiver; the value is dropped if the receiver is gone.
    fn send(self, value: T);
}

#[cfg(feature = "engine")]
impl<T: Send + 'static> Responder<T> for tokio::sync::oneshot::Sender<T> {
    fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // Unconstrained: `closed` would otherwise spend the polling task's coop budget, and
        // once that is spent it wakes its waker (this forwarder) at once on a thread with no
        // scheduler (a `block_on` root), re-entering the forwarder's lock.
        let closed = std::pin::pin!(tokio::task::unconstrained(self.closed()));
        closed.poll(cx)
    }

    fn send(self, value: T) {
        let _ = tokio::sync::oneshot::Sender::send(self, value);
    }
}

/// Sends what `subscription` resolves to, mapped by `map`, on `responder`; drops the
/// subscription as soon as the responder's receiver is dropped.
#[cfg(feature = "engine")]
pub fn forward<M, T>(
    subscription: Subscription<M>,
    responder: tokio::sync::oneshot::Sender<T>,
    map: fn(M) -> T,
) where
    M: Message,
    T: Send + 'static,
{
    forward_with(subscription, responder, map);
}

/// [`forward`] over any [`Responder`]: sends what `subscription` resolves to, mapped by `map`;
/// drops the subscription as soon as the responder's receiver is gone; drops the responder
/// unsent when the buffer closes.
pub fn forward_with<M, T, R>(mut subscription: Subscription<M>, responder: R, map: fn(M) -> T)
where
    M: Message,
    T: Send + 'static,
    R: Responder<T>,
{
    if let Some(outcome) = subscription.try_take() {
        // Cached (or closed) already: nothing to wait for.
        if let Ok(message) = outcome {
            responder.send(map(message));
        }
        return;
    }
    let forwarder = Arc::new(Forwarder {
        state: Mutex::new(Some((subscription, responder))),
        map,
    });
    forwarder.poll();
}

struct Forwarder<M: Message, T, R> {
    state: Mutex<Option<(Subscription<M>, R)>>,
    map: fn(M) -> T,
}

impl<M: Message, T: Send + 'static, R: Responder<T>> Forwarder<M, T, R> {
    fn poll(self: &Arc<Self>) {
        let waker = Waker::from(self.clone());
        let mut cx = Context::from_waker(&waker);
        let mut state = self.state.lock();
        let Some((subscription, responder)) = state.as_mut() else {
            return; // finished by an earlier wake-up
        };
        let outcome = if responder.poll_closed(&mut cx).is_ready() {
            None // the receiver is gone: cancel
        } else {
            match Pin::new(subscription).poll(&mut cx) {
                Poll::Ready(outcome) => Some(outcome),
                Poll::Pending => return,
            }
        };
        let (subscription, responder) = if mutation("forward_check_then_take") {
            // WRONG (loom suite only): decides under one critical section and takes under
            // another; two wake-ups that both decided find one state to take.
            drop(state);
            self.state.lock().take().expect("decided above")
        } else {
            let taken = state.take().expect("decided above");
            drop(state);
            taken
        };
        // Unregisters a still-pending subscription: after our own lock is released.
        drop(subscription);
        if let Some(Ok(message)) = outcome {
            responder.send((self.map)(message));
        }
    }
}

impl<M: Message, T: Send + 'static, R: Responder<T>> Wake for Forwarder<M, T, R> {
    fn wake(self: Arc<Self>) {
        self.poll();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.poll();
    }
}

#[cfg(all(test, feature = "engine", not(loom)))]
mod tests {
    use super::*;
    use crate::{Buffer, Config};
    use tokio::sync::oneshot;

    #[derive(Clone, Debug, PartialEq)]
    struct Msg(u32);

    impl Message for Msg {
        type Digest = u32;
        fn digest(&self) -> u32 {
            self.0
        }
    }

    fn buffer() -> Buffer<u8, Msg> {
        let buffer = Buffer::new(Config::new(4).with_shards(2)).unwrap();
        buffer.update_primary([1]);
        buffer
    }

    #[test]
    fn an_insert_sends_on_the_channel() {
        let buffer = buffer();
        let (tx, mut rx) = oneshot::channel();
        forward(buffer.subscribe(7), tx, |m| m);
        assert!(rx.try_recv().is_err());
        buffer.insert(1, Msg(7));
        assert_eq!(rx.try_recv(), Ok(Msg(7)));
        assert_eq!(buffer.stats().subscriptions, 0);
    }

    #[test]
    fn a_cached_digest_is_sent_at_once() {
        let buffer = buffer();
        buffer.insert(1, Msg(7));
        let (tx, mut rx) = oneshot::channel();
        forward(buffer.subscribe(7), tx, |m| m.0);
        assert_eq!(rx.try_recv(), Ok(7));
    }

    #[test]
    fn dropping_the_receiver_frees_the_registration_at_once() {
        let buffer = buffer();
        let (tx, rx) = oneshot::channel::<Msg>();
        forward(buffer.subscribe(7), tx, |m| m);
        assert_eq!(buffer.stats().subscriptions, 1);
        drop(rx);
        assert_eq!(buffer.stats().subscriptions, 0);
        assert_eq!(buffer.stats().waiters, 0);
        buffer.check_invariants();
    }

    /// Regression: the forwarder polled the channel with the inserting task's coop budget; once
    /// a `block_on` root had spent it, tokio woke the forwarder inside its own poll, and the
    /// thread deadlocked on the forwarder's mutex.
    #[test]
    fn an_insert_from_a_root_future_with_its_budget_spent_does_not_deadlock() {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .build()
                .unwrap();
            let outcome = runtime.block_on(async {
                let buffer = buffer();
                let (tx, rx) = oneshot::channel();
                forward(buffer.subscribe(7), tx, |m| m);
                // Spend the root future's budget: every ready oneshot costs one unit.
                for _ in 0..512 {
                    let (t, r) = oneshot::channel::<()>();
                    t.send(()).unwrap();
                    r.await.unwrap();
                }
                buffer.insert(1, Msg(7));
                rx.await
            });
            let _ = done_tx.send(outcome);
        });
        let outcome = done_rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the insert returned (no deadlock)");
        assert_eq!(outcome, Ok(Msg(7)));
    }

    #[test]
    fn closing_the_buffer_cancels_the_channel() {
        let buffer = buffer();
        let (tx, mut rx) = oneshot::channel::<Msg>();
        forward(buffer.subscribe(7), tx, |m| m);
        buffer.close();
        assert_eq!(rx.try_recv(), Err(oneshot::error::TryRecvError::Closed));
        let (tx, mut rx) = oneshot::channel::<Msg>();
        forward(buffer.subscribe(8), tx, |m| m);
        assert_eq!(rx.try_recv(), Err(oneshot::error::TryRecvError::Closed));
    }
}
