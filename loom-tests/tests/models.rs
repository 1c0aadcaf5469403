//! Every race of the buffer, model-checked. Each model ends in `check_invariants()`.
//! Models that expect a wake-up block on the subscription with `loom::future::block_on`, so a
//! lost wake-up makes loom report a deadlock (a failure, not a hang).
#![cfg(loom)]

use loom::future::block_on;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;
use loom_tests::{Msg, buffer, model};
use shardcast::Insert;

// ---------------------------------------------------------------------------------------------
// 1. subscribe vs insert
// ---------------------------------------------------------------------------------------------

/// Whatever the order, the subscription ends resolved: either the insert came first and the
/// message is cached, or the insert served the registration.
#[test]
fn subscribe_vs_eligible_insert() {
    model("1a subscribe vs eligible insert", || {
        let buffer = buffer(1, &[1]);
        let inserter = {
            let buffer = buffer.clone();
            thread::spawn(move || assert_eq!(buffer.insert(1, Msg(7, 1)), Insert::Added))
        };
        let mut sub = buffer.subscribe(7);
        inserter.join().unwrap();
        assert_eq!(
            sub.try_take(),
            Some(Ok(Msg(7, 1))),
            "subscription missed the insert"
        );
        buffer.check_invariants();
    });
}

/// An ineligible insert caches nothing, so the subscription resolves exactly when the insert
/// started after the registration (known here through a flag the inserter reads first).
#[test]
fn subscribe_vs_ineligible_insert() {
    model("1b subscribe vs ineligible insert", || {
        let buffer = buffer(1, &[1]);
        let registered = loom::sync::Arc::new(AtomicBool::new(false));
        let inserter = {
            let buffer = buffer.clone();
            let registered = registered.clone();
            thread::spawn(move || {
                let after = registered.load(Ordering::SeqCst);
                assert_eq!(buffer.insert(2, Msg(7, 1)), Insert::Ineligible);
                after
            })
        };
        let mut sub = buffer.subscribe(7);
        registered.store(true, Ordering::SeqCst);
        let insert_started_after = inserter.join().unwrap();
        let served = sub.try_take();
        if insert_started_after {
            assert_eq!(
                served,
                Some(Ok(Msg(7, 1))),
                "lost wake-up from an ineligible insert"
            );
        }
        drop(sub);
        assert!(!buffer.contains(&7));
        buffer.check_invariants();
    });
}

/// Two subscribers block until served; the insert waits for neither (3 threads).
#[test]
fn two_subscribers_vs_insert() {
    model("1c two subscribers vs insert", || {
        let buffer = buffer(1, &[1]);
        let subscribers: Vec<_> = (0..2)
            .map(|_| {
                let buffer = buffer.clone();
                thread::spawn(move || block_on(buffer.subscribe(7)))
            })
            .collect();
        // Serve after both registered (the cached copy serves a late one).
        assert_eq!(buffer.insert(1, Msg(7, 1)), Insert::Added);
        for subscriber in subscribers {
            assert_eq!(subscriber.join().unwrap(), Ok(Msg(7, 1)));
        }
        buffer.check_invariants();
    });
}

/// The wake-up path itself: a subscriber parked in `block_on` is woken by an insert from a peer
/// that may not cache (nothing cached to fall back on).
#[test]
fn blocked_subscriber_is_woken_by_ineligible_insert() {
    model("1d blocked subscriber vs ineligible insert", || {
        let buffer = buffer(1, &[1]);
        let sub = buffer.subscribe(7);
        let subscriber = thread::spawn(move || block_on(sub));
        buffer.insert(2, Msg(7, 1));
        assert_eq!(subscriber.join().unwrap(), Ok(Msg(7, 1)));
        buffer.check_invariants();
    });
}

// ---------------------------------------------------------------------------------------------
// 2. last release vs insert of the same digest by another peer
// ---------------------------------------------------------------------------------------------

/// Peer 1's overflow releases the last reference to 7 while peer 2 inserts 7.
#[test]
fn last_release_vs_insert_from_another_peer() {
    model("2a last release vs insert", || {
        let buffer = buffer(1, &[1, 2]);
        buffer.insert(1, Msg(7, 1));
        let evictor = {
            let buffer = buffer.clone();
            thread::spawn(move || buffer.insert(1, Msg(8, 1)))
        };
        assert_eq!(buffer.insert(2, Msg(7, 2)), Insert::Added);
        evictor.join().unwrap();
        assert!(buffer.contains(&7), "peer 2 holds 7: it must stay cached");
        buffer.check_invariants();
    });
}

/// The same with two other peers inserting 7 (3 threads).
#[test]
fn eviction_vs_two_inserts() {
    model("2b eviction vs two inserts", || {
        let buffer = buffer(1, &[1, 2, 3]);
        buffer.insert(1, Msg(7, 1));
        let threads: Vec<_> = [(1, Msg(8, 1)), (2, Msg(7, 2))]
            .into_iter()
            .map(|(peer, msg)| {
                let buffer = buffer.clone();
                thread::spawn(move || buffer.insert(peer, msg))
            })
            .collect();
        buffer.insert(3, Msg(7, 3));
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(buffer.peer_digests(&2), Some(vec![7]));
        assert_eq!(buffer.get(&7).map(|m| m.0), Some(7));
        buffer.check_invariants();
    });
}

// ---------------------------------------------------------------------------------------------
// 3. peer-set update vs insert from the peer being removed
// ---------------------------------------------------------------------------------------------

/// Peer 1's deque exists; the update removes peer 1 while it inserts.
#[test]
fn update_vs_insert_into_existing_deque() {
    model("3a update vs insert (deque exists)", || {
        let buffer = buffer(2, &[1, 2]);
        buffer.insert(1, Msg(5, 1));
        let updater = {
            let buffer = buffer.clone();
            thread::spawn(move || buffer.update_primary([2]))
        };
        buffer.insert(1, Msg(6, 1));
        updater.join().unwrap();
        assert_eq!(buffer.peer_digests(&1), None);
        assert!(!buffer.contains(&5) && !buffer.contains(&6));
        buffer.check_invariants();
    });
}

/// Peer 1 has no deque yet: the insert must create it while the update removes peer 1.
#[test]
fn update_vs_insert_creating_deque() {
    model("3b update vs insert (creates deque)", || {
        let buffer = buffer(2, &[1, 2]);
        let updater = {
            let buffer = buffer.clone();
            thread::spawn(move || buffer.update_primary([2]))
        };
        buffer.insert(1, Msg(6, 1));
        updater.join().unwrap();
        assert_eq!(buffer.peer_digests(&1), None, "removed peer left a deque");
        assert!(!buffer.contains(&6));
        buffer.check_invariants();
    });
}

/// Inserts of one digest from a removed and a kept peer (3 threads): the kept peer's copy
/// stays whatever the order.
#[test]
fn update_vs_inserts_from_removed_and_kept_peer() {
    model("3c update vs removed + kept peer", || {
        let buffer = buffer(2, &[1, 2]);
        let threads: Vec<_> = [1u8, 2]
            .into_iter()
            .map(|peer| {
                let buffer = buffer.clone();
                thread::spawn(move || buffer.insert(peer, Msg(6, peer.into())))
            })
            .collect();
        buffer.update_primary([2]);
        for thread in threads {
            thread.join().unwrap();
        }
        assert!(buffer.contains(&6), "the kept peer's message was lost");
        assert_eq!(buffer.peer_digests(&1), None);
        buffer.check_invariants();
    });
}

// ---------------------------------------------------------------------------------------------
// 4. dropping a subscription vs insert
// ---------------------------------------------------------------------------------------------

/// The only subscription to 7 is dropped while 7 is inserted.
#[test]
fn drop_subscription_vs_insert() {
    model("4a drop vs insert", || {
        let buffer = buffer(1, &[1]);
        let sub = buffer.subscribe(7);
        let dropper = thread::spawn(move || drop(sub));
        buffer.insert(1, Msg(7, 1));
        dropper.join().unwrap();
        assert!(buffer.contains(&7));
        assert_eq!(buffer.stats().subscriptions, 0);
        buffer.check_invariants();
    });
}

/// One subscription is dropped while another subscriber registers and waits, and an insert
/// serves it (3 threads): the drop must not take the other registration with it.
#[test]
fn drop_wait_insert() {
    model("4b drop + wait + insert", || {
        let buffer = buffer(1, &[1]);
        let dropped = buffer.subscribe(7);
        let registered = loom::sync::Arc::new(AtomicBool::new(false));
        let dropper = thread::spawn(move || drop(dropped));
        let waiter = {
            let buffer = buffer.clone();
            let registered = registered.clone();
            thread::spawn(move || {
                let sub = buffer.subscribe(7);
                registered.store(true, Ordering::SeqCst);
                sub
            })
        };
        while !registered.load(Ordering::SeqCst) {
            thread::yield_now();
        }
        // Ineligible sender: nothing is cached, only the registration can deliver. (Checked
        // with `try_take` rather than `block_on`: a lost registration here would leave loom to
        // report a deadlock while a subscription is alive, which aborts the whole binary.)
        buffer.insert(2, Msg(7, 1));
        let mut sub = waiter.join().unwrap();
        assert_eq!(
            sub.try_take(),
            Some(Ok(Msg(7, 1))),
            "the drop took the other registration"
        );
        dropper.join().unwrap();
        assert_eq!(buffer.stats().subscriptions, 0);
        buffer.check_invariants();
    });
}

// ---------------------------------------------------------------------------------------------
// 5. two peer-set updates vs an insert
// ---------------------------------------------------------------------------------------------

/// Updates serialise: the final set is one of the two, whole, and the cache agrees with it.
#[test]
fn two_updates_vs_insert() {
    model("5 two updates vs insert", || {
        let buffer = buffer(2, &[1, 2]);
        let updaters: Vec<_> = [1u8, 2]
            .into_iter()
            .map(|peer| {
                let buffer = buffer.clone();
                thread::spawn(move || buffer.update_primary([peer]))
            })
            .collect();
        buffer.insert(1, Msg(5, 1));
        for updater in updaters {
            updater.join().unwrap();
        }
        assert_ne!(
            buffer.is_primary(&1),
            buffer.is_primary(&2),
            "a mix of two sets"
        );
        if buffer.is_primary(&2) {
            assert!(!buffer.contains(&5));
        }
        buffer.check_invariants();
    });
}

// ---------------------------------------------------------------------------------------------
// 6. get vs eviction
// ---------------------------------------------------------------------------------------------

/// `get` returns the whole message or nothing, never another copy or a freed one.
#[test]
fn get_vs_eviction() {
    model("6 get vs eviction", || {
        let buffer = buffer(1, &[1]);
        buffer.insert(1, Msg(5, 55));
        let evictor = {
            let buffer = buffer.clone();
            thread::spawn(move || buffer.insert(1, Msg(6, 66)))
        };
        let old = buffer.get(&5);
        let new = buffer.get(&6);
        assert!(old.is_none() || old == Some(Msg(5, 55)));
        assert!(new.is_none() || new == Some(Msg(6, 66)));
        evictor.join().unwrap();
        assert_eq!(buffer.get(&5), None);
        assert_eq!(buffer.get(&6), Some(Msg(6, 66)));
        buffer.check_invariants();
    });
}

// ---------------------------------------------------------------------------------------------
// 7. close vs subscribe and insert
// ---------------------------------------------------------------------------------------------

/// A subscription made while the buffer closes ends, whatever the order: resolved to `Closed`
/// by the sweep, or at once because the flag was already set. Blocking on it turns a missed
/// one into a deadlock that loom reports.
#[test]
fn close_vs_subscribe() {
    model("7a close vs subscribe", || {
        let buffer = buffer(1, &[1]);
        let closer = {
            let buffer = buffer.clone();
            thread::spawn(move || buffer.close())
        };
        let sub = buffer.subscribe(7);
        closer.join().unwrap();
        assert_eq!(block_on(sub), Err(shardcast::Closed));
        buffer.check_invariants();
    });
}

/// Two concurrent closes: whichever returns, the buffer is closed and swept by then, so a
/// subscription registered before both has resolved to `Closed` (a second `close` that returned
/// before the first one swept would leave it pending here).
#[test]
fn close_vs_close() {
    model("7c close vs close", || {
        let buffer = buffer(1, &[1]);
        let mut sub = buffer.subscribe(7);
        let other = {
            let buffer = buffer.clone();
            thread::spawn(move || buffer.close())
        };
        buffer.close();
        assert_eq!(
            sub.try_take(),
            Some(Err(shardcast::Closed)),
            "close returned before the buffer was swept"
        );
        other.join().unwrap();
        buffer.check_invariants();
    });
}

/// An insert racing with close: a subscriber registered before both is served by the insert
/// or closed, never left waiting; nothing stays cached once close returned.
#[test]
fn close_vs_insert() {
    model("7b close vs insert", || {
        let buffer = buffer(1, &[1]);
        let sub = buffer.subscribe(7);
        let inserter = {
            let buffer = buffer.clone();
            thread::spawn(move || {
                buffer.insert(1, Msg(7, 1));
            })
        };
        buffer.close();
        inserter.join().unwrap();
        let outcome = block_on(sub);
        assert!(
            outcome == Ok(Msg(7, 1)) || outcome == Err(shardcast::Closed),
            "{outcome:?}"
        );
        assert_eq!(buffer.get(&7), None);
        buffer.check_invariants();
    });
}

// ---------------------------------------------------------------------------------------------
// 8. byte budgets
// ---------------------------------------------------------------------------------------------

/// Two peers insert copies of one digest of different sizes (5 and 9 bytes; budget 10) while
/// the primary set changes; peer 1 already holds 4 bytes. Whichever copy is stored first is
/// what both deques are charged, each deque stays within its budget, and the byte counts
/// agree with the state (`check_invariants`) in every interleaving.
#[test]
fn budgets_vs_inserts_of_different_sizes_and_an_update() {
    model(
        "8 byte budgets: two sizes of one digest vs an update",
        || {
            let buffer = loom_tests::buffer_with_budget(4, 10, &[1, 2]);
            assert_eq!(buffer.insert(1, Msg(1, 4)), Insert::Added);
            let small = {
                let buffer = buffer.clone();
                thread::spawn(move || buffer.insert(1, Msg(7, 5)))
            };
            let large = {
                let buffer = buffer.clone();
                thread::spawn(move || buffer.insert(2, Msg(7, 9)))
            };
            buffer.update_primary([1, 2, 3]);
            assert_eq!(small.join().unwrap(), Insert::Added);
            assert_eq!(large.join().unwrap(), Insert::Added);
            buffer.check_invariants();
            assert!(buffer.stats().cached_bytes <= 2 * 10);
        },
    );
}

/// `read` lends the cached message or reports it absent, never another copy or a freed one,
/// while an insert evicts it.
#[test]
fn read_vs_eviction() {
    model("6b read vs eviction", || {
        let buffer = buffer(1, &[1]);
        buffer.insert(1, Msg(5, 55));
        let evictor = {
            let buffer = buffer.clone();
            thread::spawn(move || buffer.insert(1, Msg(6, 66)))
        };
        let old = buffer.read(&5, |m| m.1);
        let new = buffer.read(&6, |m| m.1);
        assert!(old.is_none() || old == Some(55));
        assert!(new.is_none() || new == Some(66));
        evictor.join().unwrap();
        assert_eq!(buffer.read(&5, |m| m.1), None);
        assert_eq!(buffer.read(&6, |m| m.1), Some(66));
        buffer.check_invariants();
    });
}
