//! Subscriptions and the waiter slot an insert completes.

use super::store::Store;
use crate::Message;
use crate::sync::{Arc, Mutex};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// One registered subscriber: the value an insert hands over and the waker to call.
///
/// A leaf lock: nothing else is locked while it is held, and wakers are called after it is
/// released.
pub(crate) struct WaiterSlot<M> {
    state: Mutex<WaiterState<M>>,
}

struct WaiterState<M> {
    value: Option<M>,
    waker: Option<Waker>,
    /// Set when the buffer closed while this subscriber waited: it resolves to [`Closed`].
    closed: bool,
    /// Set by the subscription's `Drop` before it unregisters: an insert that already took this
    /// slot out of the map must not count it as served.
    cancelled: bool,
}

impl<M> WaiterSlot<M> {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(WaiterState {
                value: None,
                waker: None,
                closed: false,
                cancelled: false,
            }),
        }
    }

    /// Hands `value` to the subscriber and wakes it. Returns `false` (and drops the value) when
    /// the subscription was cancelled first.
    pub(crate) fn complete(&self, value: M) -> bool {
        let mut state = self.state.lock();
        if state.cancelled {
            return false;
        }
        state.value = Some(value);
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }

    /// Tells the subscriber that the buffer closed: it resolves to [`Closed`]. Call with no
    /// other lock held.
    pub(crate) fn close(&self) {
        let mut state = self.state.lock();
        state.closed = true;
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The buffer was closed ([`Buffer::close`](crate::Buffer::close), or its last handle dropped)
/// before the subscribed message arrived: it never will.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, thiserror::Error)]
#[error("the buffer is closed")]
pub struct Closed;

/// A future that resolves to the message with the subscribed digest, or to [`Closed`].
///
/// Returned by [`Buffer::subscribe`](crate::Buffer::subscribe). It resolves to `Ok` at once when
/// the digest was cached at the time of the call, and otherwise on the first insert attempt of
/// that digest that starts after the call (from any peer, eligible to cache or not). It resolves
/// to `Err(Closed)` when the buffer closes first ([`Buffer::close`](crate::Buffer::close), or the
/// last `Buffer` handle dropped), and at once when subscribed after the buffer closed. Otherwise
/// it never times out: wrap it in a timeout where waiting forever is not an option.
///
/// It holds no cached message and does not keep the cache alive: once the buffer is gone, its
/// memory is freed, whatever subscriptions remain.
///
/// Dropping an unresolved subscription cancels it: its registration is removed at once, and when
/// it was the last one for its digest, the digest stops being awaited (the `waiters` gauge drops
/// immediately, no sweep needed).
///
/// Polling it again after it returned `Ready` panics, like most futures.
#[must_use = "a subscription does nothing unless awaited; dropping it cancels it"]
pub struct Subscription<M: Message> {
    state: SubscriptionState<M>,
}

enum SubscriptionState<M: Message> {
    /// Resolved when it was created.
    Ready(Result<M, Closed>),
    /// Registered in the store, waiting for an insert.
    Pending {
        store: Arc<Store<M>>,
        digest: M::Digest,
        slot: Arc<WaiterSlot<M>>,
    },
    /// Returned its value.
    Done,
}

impl<M: Message> Subscription<M> {
    pub(crate) fn ready(result: Result<M, Closed>) -> Self {
        Self {
            state: SubscriptionState::Ready(result),
        }
    }

    pub(crate) fn pending(
        store: Arc<Store<M>>,
        digest: M::Digest,
        slot: Arc<WaiterSlot<M>>,
    ) -> Self {
        Self {
            state: SubscriptionState::Pending {
                store,
                digest,
                slot,
            },
        }
    }

    /// Returns the outcome if the subscription has resolved, without waiting (and without
    /// registering a waker). After it returned `Some`, the subscription is finished.
    pub fn try_take(&mut self) -> Option<Result<M, Closed>> {
        let value = match &mut self.state {
            SubscriptionState::Ready(_) => None,
            SubscriptionState::Pending { slot, .. } => Some(slot.state.lock().outcome()?),
            SubscriptionState::Done => return None,
        };
        match std::mem::replace(&mut self.state, SubscriptionState::Done) {
            SubscriptionState::Ready(result) => Some(result),
            _ => value,
        }
    }

    /// Whether the subscription has resolved (served or closed) and not yet returned.
    pub fn is_ready(&self) -> bool {
        match &self.state {
            SubscriptionState::Ready(_) => true,
            SubscriptionState::Pending { slot, .. } => {
                let state = slot.state.lock();
                state.value.is_some() || state.closed
            }
            SubscriptionState::Done => false,
        }
    }
}

// The state is never pinned-projected: moving a `Subscription` is always fine, whatever `M` is.
impl<M: Message> Unpin for Subscription<M> {}

impl<M> WaiterState<M> {
    /// The outcome, if resolved: the message (taken) or `Closed`.
    fn outcome(&mut self) -> Option<Result<M, Closed>> {
        match self.value.take() {
            Some(message) => Some(Ok(message)),
            None if self.closed => Some(Err(Closed)),
            None => None,
        }
    }
}

impl<M: Message> Future for Subscription<M> {
    type Output = Result<M, Closed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<M, Closed>> {
        let this = &mut *self;
        match &this.state {
            SubscriptionState::Ready(_) => {}
            SubscriptionState::Pending { slot, .. } => {
                let mut state = slot.state.lock();
                match state.outcome() {
                    Some(outcome) => {
                        drop(state);
                        this.state = SubscriptionState::Done;
                        return Poll::Ready(outcome);
                    }
                    None => {
                        match &mut state.waker {
                            Some(waker) if waker.will_wake(cx.waker()) => {}
                            waker => *waker = Some(cx.waker().clone()),
                        }
                        return Poll::Pending;
                    }
                }
            }
            SubscriptionState::Done => panic!("Subscription polled after it returned its message"),
        }
        match std::mem::replace(&mut this.state, SubscriptionState::Done) {
            SubscriptionState::Ready(result) => Poll::Ready(result),
            _ => unreachable!("checked above"),
        }
    }
}

impl<M: Message> Drop for Subscription<M> {
    fn drop(&mut self) {
        let SubscriptionState::Pending {
            store,
            digest,
            slot,
        } = &self.state
        else {
            return;
        };
        {
            let mut state = slot.state.lock();
            if state.value.is_some() || state.closed {
                // Served or closed, not yet polled: the registration is already gone.
                return;
            }
            state.cancelled = true;
        }
        store.unsubscribe(*digest, slot);
    }
}

impl<M: Message> fmt::Debug for Subscription<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            SubscriptionState::Ready(_) => "ready",
            SubscriptionState::Pending { .. } => "pending",
            SubscriptionState::Done => "done",
        };
        f.debug_struct("Subscription")
            .field("state", &state)
            .finish()
    }
}
