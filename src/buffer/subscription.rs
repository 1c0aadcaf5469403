//! The subscription future: a registration in the store, resolved through its waiter slot.

use super::slot::{Closed, WaiterSlot};
use super::store::{Registration, Store};
use crate::Message;
use crate::sync::Arc;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

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
    /// The future for a registration in `store`; `None` when the store was full.
    pub(crate) fn new(
        store: &Arc<Store<M>>,
        digest: M::Digest,
        registration: Registration<M>,
    ) -> Option<Self> {
        let state = match registration {
            Registration::Ready(message) => SubscriptionState::Ready(Ok(message)),
            Registration::Pending(slot) => SubscriptionState::Pending {
                store: store.clone(),
                digest,
                slot,
            },
            Registration::Closed => SubscriptionState::Ready(Err(Closed)),
            Registration::Full => return None,
        };
        Some(Self { state })
    }

    /// Returns the outcome if the subscription has resolved, without waiting (and without
    /// registering a waker). After it returned `Some`, the subscription is finished.
    pub fn try_take(&mut self) -> Option<Result<M, Closed>> {
        let value = match &mut self.state {
            SubscriptionState::Ready(_) => None,
            SubscriptionState::Pending { slot, .. } => Some(slot.take()?),
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
            SubscriptionState::Pending { slot, .. } => slot.is_resolved(),
            SubscriptionState::Done => false,
        }
    }
}

// The state is never pinned-projected: moving a `Subscription` is always fine, whatever `M` is.
impl<M: Message> Unpin for Subscription<M> {}

impl<M: Message> Future for Subscription<M> {
    type Output = Result<M, Closed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<M, Closed>> {
        let this = &mut *self;
        match &this.state {
            SubscriptionState::Ready(_) => {}
            SubscriptionState::Pending { slot, .. } => {
                return match slot.take_or_register(cx.waker()) {
                    Some(outcome) => {
                        this.state = SubscriptionState::Done;
                        Poll::Ready(outcome)
                    }
                    None => Poll::Pending,
                };
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
        if slot.cancel() {
            store.unsubscribe(*digest, slot);
        }
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
