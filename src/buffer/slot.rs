//! The waiter slot: one registered subscriber, the value an insert hands it and the waker to
//! call. A leaf module: it knows nothing of the store or of subscriptions.

use crate::sync::Mutex;
use std::task::Waker;

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

/// The buffer was closed ([`Buffer::close`](crate::Buffer::close), or its last handle dropped)
/// before the subscribed message arrived: it never will.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, thiserror::Error)]
#[error("the buffer is closed")]
pub struct Closed;

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

    /// The outcome, if resolved: the message (taken) or `Closed`.
    pub(crate) fn take(&self) -> Option<Result<M, Closed>> {
        self.state.lock().outcome()
    }

    /// The outcome if resolved; otherwise stores `waker` (unless it would wake the same task)
    /// to be woken by [`complete`](Self::complete) or [`close`](Self::close).
    pub(crate) fn take_or_register(&self, waker: &Waker) -> Option<Result<M, Closed>> {
        let mut state = self.state.lock();
        let outcome = state.outcome();
        if outcome.is_none() {
            match &mut state.waker {
                Some(current) if current.will_wake(waker) => {}
                slot => *slot = Some(waker.clone()),
            }
        }
        outcome
    }

    /// Whether a value or the close arrived (and was not taken yet).
    pub(crate) fn is_resolved(&self) -> bool {
        let state = self.state.lock();
        state.value.is_some() || state.closed
    }

    /// Marks the subscription cancelled, unless it already resolved. Returns whether it was
    /// cancelled: then its registration must be removed from the store.
    pub(crate) fn cancel(&self) -> bool {
        let mut state = self.state.lock();
        if state.value.is_some() || state.closed {
            // Served or closed, not yet polled: the registration is already gone.
            return false;
        }
        state.cancelled = true;
        true
    }
}

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
