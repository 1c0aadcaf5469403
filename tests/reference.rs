//! The cache-level scenarios of the reference engine's test suite (its `buffered` module tests), written directly
//! against `Buffer`: the peers' messages are inserted as a receive task would, with no network.
//! Each test names the reference test it mirrors.

mod common;

use common::{Msg, buffer, msg, poll_once};
use shardcast::Insert;

const DEQUE: usize = 10; // CACHE_SIZE in the reference tests

// Peer ids: the observer's own id is never inserted under here; A, B, C are senders.
const A: u32 = 1;
const B: u32 = 2;
const C: u32 = 3;

/// #6 `test_cache_eviction_single_peer`: after 11 messages from one peer, the first is gone.
#[test]
fn cache_eviction_single_peer() {
    let buffer = buffer(DEQUE);
    buffer.update_primary([A, B]);
    for id in 0..=10 {
        assert_eq!(buffer.insert(A, msg(id)), Insert::Added);
    }
    for id in 1..=10 {
        let mut sub = buffer.subscribe(id);
        assert!(
            poll_once(&mut sub).is_ready(),
            "message {id} should be cached"
        );
    }
    let mut evicted = buffer.subscribe(0);
    assert!(
        poll_once(&mut evicted).is_pending(),
        "message 0 was evicted"
    );
    drop(evicted);
    buffer.check_invariants();
}

/// #7 `test_cache_eviction_multi_peer`: a message held by two senders survives the first
/// sender's overflow and goes with the second's.
#[test]
fn cache_eviction_multi_peer() {
    let buffer = buffer(DEQUE);
    buffer.update_primary([A, B, C]);
    buffer.insert(A, msg(1));
    buffer.insert(C, msg(1));
    for id in 100..110 {
        buffer.insert(A, msg(id));
    }
    assert_eq!(buffer.get(&1), Some(msg(1)), "still in C's deque");
    for id in 200..210 {
        buffer.insert(C, msg(id));
    }
    assert_eq!(buffer.get(&1), None);
    buffer.check_invariants();
}

/// #9 `test_ref_count_across_peers`.
#[test]
fn ref_count_across_peers() {
    let buffer = buffer(DEQUE);
    buffer.update_primary([A, B]);
    let dup = msg(42);
    assert_eq!(buffer.insert(A, dup.clone()), Insert::Added);
    assert_eq!(buffer.insert(B, dup.clone()), Insert::Added);
    assert_eq!(buffer.stats().cached, 1, "stored once");
    for id in 0..10 {
        buffer.insert(A, msg(1000 + id));
    }
    assert_eq!(buffer.get(&42), Some(dup));
    for id in 0..10 {
        buffer.insert(B, msg(2000 + id));
    }
    assert_eq!(buffer.get(&42), None);
    buffer.check_invariants();
}

/// #12 `test_dropped_waiters_for_missing_digest_are_cleaned_up`: the waiters gauge counts the
/// awaited digest and drops to 0 as soon as both subscriptions are dropped (no later event
/// needed, unlike the reference).
#[test]
fn dropped_waiters_for_missing_digest_are_cleaned_up() {
    let buffer = buffer(DEQUE);
    buffer.update_primary([A]);
    let first = buffer.subscribe(77);
    let second = buffer.subscribe(77);
    assert_eq!(buffer.get(&77), None);
    assert_eq!(buffer.stats().waiters, 1);
    assert_eq!(buffer.stats().subscriptions, 2);
    drop(first);
    drop(second);
    assert_eq!(buffer.stats().waiters, 0);
    assert_eq!(buffer.stats().subscriptions, 0);
    buffer.check_invariants();
}

/// #15 `test_peer_set_update_evicts_disconnected_peer_buffers`.
#[test]
fn peer_set_update_evicts_disconnected_peer_buffers() {
    let buffer = buffer(DEQUE);
    buffer.update_primary([A, B, C]);
    buffer.insert(A, msg(5));
    assert!(buffer.contains(&5));
    buffer.update_primary([B, C]);
    assert_eq!(buffer.get(&5), None);
    assert_eq!(buffer.stats().peers, 0);
    buffer.check_invariants();
}

/// #16 `test_peer_set_update_evicts_peers_not_in_latest_set_even_if_still_in_overlap`: only the
/// latest primary set counts (the buffer is never told about older tracked sets), so A's
/// message goes at once and a fresh message from A is not cached.
#[test]
fn peer_set_update_evicts_peers_not_in_latest_set() {
    let buffer = buffer(DEQUE);
    buffer.update_primary([A, B, C]);
    buffer.insert(A, msg(5));
    buffer.update_primary([B, C]);
    assert_eq!(buffer.get(&5), None);
    assert_eq!(buffer.insert(A, msg(6)), Insert::Ineligible);
    assert_eq!(buffer.get(&6), None);
    buffer.check_invariants();
}

/// #17 `test_initial_latest_peer_set_blocks_sender_not_in_latest_primary`: A is only
/// secondary (so never passed to the buffer); its messages are not cached, but a subscriber
/// waiting for one is served.
#[test]
fn initial_latest_peer_set_blocks_sender_not_in_latest_primary() {
    let buffer = buffer(DEQUE);
    buffer.update_primary([B, C]);
    let mut sub = buffer.subscribe(9);
    assert_eq!(buffer.insert(A, msg(9)), Insert::Ineligible);
    assert_eq!(buffer.get(&9), None);
    assert_eq!(poll_once(&mut sub), std::task::Poll::Ready(msg(9)));
    buffer.check_invariants();
}

/// #19 `test_engine_starts_before_initial_peer_set_and_delivers_after_tracking`: with no peer
/// set yet nothing is cached; after the first update, it is.
#[test]
fn nothing_cached_before_the_initial_peer_set() {
    let buffer = buffer(DEQUE);
    assert_eq!(buffer.insert(A, msg(1)), Insert::Ineligible);
    assert_eq!(buffer.insert(B, msg(1)), Insert::Ineligible);
    assert_eq!(buffer.get(&1), None);
    buffer.update_primary([A, B]);
    assert_eq!(buffer.insert(A, msg(1)), Insert::Added);
    assert_eq!(buffer.get(&1), Some(msg(1)));
    buffer.check_invariants();
}

/// #20 `test_peer_set_update_preserves_shared_messages`.
#[test]
fn peer_set_update_preserves_shared_messages() {
    let buffer = buffer(DEQUE);
    buffer.update_primary([A, B, C]);
    buffer.insert(A, msg(3));
    buffer.insert(C, Msg { id: 3, copy: 1 });
    buffer.update_primary([B, C]);
    assert_eq!(
        buffer.get(&3),
        Some(msg(3)),
        "C still holds it; the stored copy is kept"
    );
    assert_eq!(buffer.peer_digests(&C), Some(vec![3]));
    buffer.check_invariants();
}

/// A duplicate from the same sender moves to the front, so the next overflow evicts
/// the second-oldest instead (verified against the reference).
#[test]
fn duplicate_moves_to_front_of_the_senders_deque() {
    let buffer = buffer(3);
    buffer.update_primary([A]);
    for id in 0..3 {
        buffer.insert(A, msg(id));
    }
    assert_eq!(buffer.insert(A, msg(0)), Insert::Duplicate);
    assert_eq!(buffer.peer_digests(&A), Some(vec![0, 2, 1]));
    buffer.insert(A, msg(3));
    assert!(buffer.contains(&0));
    assert!(!buffer.contains(&1));
    buffer.check_invariants();
}

/// `get` and `subscribe` do not refresh recency.
#[test]
fn get_and_subscribe_do_not_touch_recency() {
    let buffer = buffer(2);
    buffer.update_primary([A]);
    buffer.insert(A, msg(0));
    buffer.insert(A, msg(1));
    assert!(buffer.get(&0).is_some());
    let mut sub = buffer.subscribe(0);
    assert!(poll_once(&mut sub).is_ready());
    buffer.insert(A, msg(2));
    assert!(
        !buffer.contains(&0),
        "the oldest goes, reads notwithstanding"
    );
    buffer.check_invariants();
}
