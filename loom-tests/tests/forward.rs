//! The task-less forwarder (`shardcast::forward`), model-checked: the production
//! `forward_with` with its facade mutex, over a one-shot channel built from loom primitives
//! that behaves as tokio's does where the forwarder relies on it (dropping the receiver wakes
//! the sender's `poll_closed` waker, from inside the drop).
//!
//! A forwarder that never finishes keeps its subscription, so a registration left in the
//! buffer, or a leaked loom `Arc` of the buffer's store, fails the model.
#![cfg(loom)]

use loom::sync::{Arc, Mutex};
use loom::thread;
use loom_tests::{Msg, Shared, buffer, model};
use shardcast::forward::{Responder, forward_with};
use std::task::{Context, Poll, Waker};

struct Inner<T> {
    value: Option<T>,
    sender_alive: bool,
    receiver_alive: bool,
    closed: Option<Waker>,
}

/// The sending half.
struct Tx<T>(Arc<Mutex<Inner<T>>>);

/// The receiving half.
struct Rx<T>(Arc<Mutex<Inner<T>>>);

fn channel<T>() -> (Tx<T>, Rx<T>) {
    let inner = Arc::new(Mutex::new(Inner {
        value: None,
        sender_alive: true,
        receiver_alive: true,
        closed: None,
    }));
    (Tx(inner.clone()), Rx(inner))
}

impl<T: Send + 'static> Responder<T> for Tx<T> {
    fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut inner = self.0.lock().unwrap();
        if inner.receiver_alive {
            inner.closed = Some(cx.waker().clone());
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }

    fn send(self, value: T) {
        let mut inner = self.0.lock().unwrap();
        if inner.receiver_alive {
            inner.value = Some(value);
        }
    }
}

impl<T> Drop for Tx<T> {
    fn drop(&mut self) {
        self.0.lock().unwrap().sender_alive = false;
    }
}

impl<T> Drop for Rx<T> {
    fn drop(&mut self) {
        let waker = {
            let mut inner = self.0.lock().unwrap();
            inner.receiver_alive = false;
            inner.closed.take()
        };
        // Outside the channel's lock, as tokio wakes.
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// What the receiver reads now.
#[derive(Debug, PartialEq, Eq)]
enum Read<T> {
    Value(T),
    /// No value, and the sender is gone: the reference's `Canceled`.
    Closed,
    /// No value yet, and the sender still lives.
    Pending,
}

impl<T> Rx<T> {
    fn read(&self) -> Read<T> {
        let mut inner = self.0.lock().unwrap();
        match inner.value.take() {
            Some(value) => Read::Value(value),
            None if inner.sender_alive => Read::Pending,
            None => Read::Closed,
        }
    }
}

/// Inserts digest 7 from peer 1, which serves the forwarded subscription, on a loom thread.
fn insert_on_a_thread(buffer: &Shared) -> thread::JoinHandle<()> {
    let buffer = buffer.clone();
    thread::spawn(move || {
        buffer.insert(1, Msg(7, 1));
    })
}

/// The receiver is dropped while an insert serves the subscription: two wake-ups of one
/// forwarder on two threads. Exactly one finishes it; no registration is left either way.
#[test]
fn receiver_drop_vs_insert() {
    model("9a forward: receiver drop vs insert", || {
        let buffer = buffer(1, &[1]);
        let (tx, rx) = channel();
        forward_with(buffer.subscribe(7), tx, |m: Msg| m);
        let inserter = insert_on_a_thread(&buffer);
        drop(rx);
        inserter.join().unwrap();
        let stats = buffer.stats();
        assert_eq!(stats.subscriptions, 0, "a registration was left");
        assert_eq!(stats.waiters, 0);
        assert!(buffer.contains(&7));
        buffer.check_invariants();
    });
}

/// The same with a close racing both (3 threads): the forwarder finishes once, whichever of
/// the three wakes it, and nothing stays registered.
#[test]
fn receiver_drop_vs_insert_vs_close() {
    model("9b forward: receiver drop vs insert vs close", || {
        let buffer = buffer(1, &[1]);
        let (tx, rx) = channel();
        forward_with(buffer.subscribe(7), tx, |m: Msg| m);
        let inserter = insert_on_a_thread(&buffer);
        let closer = {
            let buffer = buffer.clone();
            thread::spawn(move || buffer.close())
        };
        drop(rx);
        inserter.join().unwrap();
        closer.join().unwrap();
        let stats = buffer.stats();
        assert_eq!(stats.subscriptions, 0, "a registration was left");
        assert_eq!(stats.waiters, 0);
        buffer.check_invariants();
    });
}

/// A kept receiver, with an insert racing a close: once both returned, the receiver has the
/// message or reads the sender's end (cancelled), never still pending.
#[test]
fn insert_vs_close_with_the_receiver_kept() {
    model("9c forward: insert vs close, receiver kept", || {
        let buffer = buffer(1, &[1]);
        let (tx, rx) = channel();
        forward_with(buffer.subscribe(7), tx, |m: Msg| m.1);
        let inserter = insert_on_a_thread(&buffer);
        buffer.close();
        inserter.join().unwrap();
        let read = rx.read();
        assert!(read == Read::Value(1) || read == Read::Closed, "{read:?}");
        assert_eq!(buffer.stats().subscriptions, 0);
        buffer.check_invariants();
    });
}
