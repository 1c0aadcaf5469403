//! The 2026.10 reference's behaviours, written for shardcast's drop-in and run on that
//! release's deterministic runtime with its simulated network: four (or three) ed25519 peers,
//! 100 ms links, deque 10, every engine built with the reference's seven-field `Config`
//! literal. Each scenario also runs twice on one seed and compares the runtime's auditor.

use commonware_broadcast::Broadcaster as _;
use commonware_codec::RangeCfg;
use commonware_cryptography::{Digested, Digestible, Hasher, Sha256};
use commonware_p2p::{Manager as _, Recipients};
use commonware_runtime::telemetry::metrics::count_running_tasks;
use commonware_runtime::{Clock as _, Metrics as _, Spawner as _, Supervisor as _, deterministic};
use commonware_utils::ordered::Set;
use shardcast_commonware_2026_10::Feedback;
use std::sync::Arc;
use std::time::Duration;

/// A message of the chain's own type: a payload, identified by its SHA-256.
mod common;
use common::note::Note;
use common::{Net, SETTLE, deterministic, network};

type Mailbox = common::Mailbox<Note>;

/// Peer `i`'s engine for notes.
fn engine(
    context: &deterministic::Context,
    net: &Net,
    i: usize,
    mailbox_size: usize,
) -> (common::Engine<Note>, Mailbox) {
    common::engine(context, net, i, mailbox_size, RangeCfg::from(..))
}

/// Every peer's engine, started, after the first peer set had time to apply.
async fn started(context: &deterministic::Context, net: &mut Net) -> Vec<Mailbox> {
    let mut mailboxes = Vec::new();
    for i in 0..net.peers.len() {
        let (engine, mailbox) = engine(context, net, i, 1024);
        // The handle is not needed: dropping it neither stops nor aborts the engine.
        drop(engine.start(net.networks[i].take().unwrap()));
        mailboxes.push(mailbox);
    }
    context.sleep(Duration::from_millis(10)).await;
    mailboxes
}
#[test]
fn a_broadcast_reaches_every_peer_and_its_own_cache() {
    deterministic(1, |context| async move {
        let mut net = network(&context, 4, 1).await;
        let mailboxes = started(&context, &mut net).await;
        let note = Note::new("hello");
        assert_eq!(
            mailboxes[0].broadcast(Recipients::All, note.digested()),
            Feedback::Ok
        );
        for mailbox in &mailboxes {
            let got = mailbox.subscribe(note.digest()).await.expect("delivered");
            assert_eq!(got.inner(), &note);
        }
        context.sleep(SETTLE).await;
        for mailbox in &mailboxes {
            assert_eq!(mailbox.get(note.digest()).await.unwrap().inner(), &note);
        }
    });
}

#[test]
fn get_shares_the_broadcast_arc_and_misses_return_none() {
    deterministic(2, |context| async move {
        let mut net = network(&context, 1, 1).await;
        let mailboxes = started(&context, &mut net).await;
        let note = Arc::new(Note::new("shared"));
        let digest = note.digest();
        assert!(
            mailboxes[0]
                .broadcast(Recipients::All, Digested::precomputed(note.clone(), digest))
                .accepted()
        );
        let cached = mailboxes[0]
            .get(digest)
            .await
            .expect("cached under our own key");
        assert!(
            Arc::ptr_eq(&note, &cached.inner_shared()),
            "no copy of the message"
        );
        assert!(
            mailboxes[0]
                .get(Sha256::hash(&[b"missing"]))
                .await
                .is_none()
        );
    });
}

#[test]
fn a_peer_keeps_caching_while_primary_in_any_tracked_set() {
    deterministic(3, |context| async move {
        let mut net = network(&context, 3, 2).await;
        let mailboxes = started(&context, &mut net).await;
        let (b, c) = (net.peers[1].clone(), net.peers[2].clone());
        let first = Note::new("from a, set 0");
        assert!(
            mailboxes[0]
                .broadcast(Recipients::All, first.digested())
                .accepted()
        );
        context.sleep(SETTLE).await;
        assert!(mailboxes[1].get(first.digest()).await.is_some());

        // Set 1 leaves `a` (peer 0) out, but set 0 is still tracked: `a` is still eligible.
        let _ = net
            .oracle
            .manager()
            .track(1, Set::from_iter_dedup([b.clone(), c.clone()]));
        context.sleep(SETTLE).await;
        assert!(
            mailboxes[1].get(first.digest()).await.is_some(),
            "kept while a's set is tracked"
        );
        // Set 2 ages set 0 out: `a` is primary in no tracked set.
        let _ = net.oracle.manager().track(2, Set::from_iter_dedup([b, c]));
        context.sleep(SETTLE).await;
        assert!(
            mailboxes[1].get(first.digest()).await.is_none(),
            "evicted once a's last set aged out"
        );
    });
}

#[test]
fn after_the_engine_stops_broadcast_is_closed_and_waiters_are_cancelled() {
    deterministic(4, |context| async move {
        let mut net = network(&context, 2, 1).await;
        let (engine, mailbox) = engine(&context, &net, 0, 1024);
        let handle = engine.start(net.networks[0].take().unwrap());
        context.sleep(Duration::from_millis(10)).await;
        let pending = mailbox.subscribe(Sha256::hash(&[b"never"]));
        handle.abort();
        let _ = handle.await;
        assert!(
            pending.await.is_err(),
            "a pending subscription is cancelled"
        );
        let note = Note::new("late");
        assert_eq!(
            mailbox.broadcast(Recipients::All, note.digested()),
            Feedback::Closed
        );
        assert!(mailbox.get(note.digest()).await.is_none());
        assert!(mailbox.subscribe(note.digest()).await.is_err());
    });
}

#[test]
fn an_engine_dropped_without_start_closes_its_mailbox() {
    deterministic(5, |context| async move {
        let net = network(&context, 1, 1).await;
        let (engine, mailbox) = engine(&context, &net, 0, 1024);
        let pending = mailbox.subscribe(Sha256::hash(&[b"never"]));
        drop(engine);
        assert!(pending.await.is_err());
        let note = Note::new("after drop");
        assert_eq!(
            mailbox.broadcast(Recipients::All, note.digested()),
            Feedback::Closed
        );
    });
}

#[test]
fn broadcasts_before_start_back_off_past_mailbox_size_and_all_arrive_in_order() {
    deterministic(6, |context| async move {
        let mut net = network(&context, 2, 1).await;
        let (engine, sender) = engine(&context, &net, 0, 2);
        let notes: Vec<Note> = (0..5).map(|i| Note::new(&format!("early {i}"))).collect();
        let feedback: Vec<Feedback> = notes
            .iter()
            .map(|note| sender.broadcast(Recipients::All, note.digested()))
            .collect();
        assert_eq!(
            feedback,
            [
                Feedback::Ok,
                Feedback::Ok,
                Feedback::Backoff,
                Feedback::Backoff,
                Feedback::Backoff
            ]
        );
        let (_receiver_handle, receiver) = buffered_engine_at(&context, &mut net, 1);
        drop(engine.start(net.networks[0].take().unwrap()));
        for note in &notes {
            assert_eq!(
                receiver.subscribe(note.digest()).await.unwrap().inner(),
                note,
                "accepted before start, delivered after"
            );
        }
        context.sleep(SETTLE).await;
        assert!(sender.get(notes[0].digest()).await.is_some());
        let backoffs = context
            .encode()
            .lines()
            .find(|l| {
                l.starts_with("test_peer_mailbox_backoff_total")
                    && l.contains(&net.peers[0].to_string())
            })
            .map(|l| l.rsplit(' ').next().unwrap().to_owned());
        assert_eq!(
            backoffs.as_deref(),
            Some("3"),
            "each Backoff counted, as the reference's mailbox counts it"
        );
    });
}

#[test]
fn a_get_made_before_start_waits_for_the_engine_and_sees_the_broadcasts_before_it() {
    deterministic(9, |context| async move {
        let mut net = network(&context, 2, 1).await;
        let (engine, mailbox) = engine(&context, &net, 0, 1024);
        let note = Note::new("before start");
        assert_eq!(
            mailbox.broadcast(Recipients::All, note.digested()),
            Feedback::Ok
        );
        let early = mailbox.clone();
        let digest = note.digest();
        let get = context
            .child("get")
            .spawn(move |_| async move { early.get(digest).await });
        context.sleep(Duration::from_millis(50)).await;
        drop(engine.start(net.networks[0].take().unwrap()));
        let got = get.await.expect("the get task ends");
        assert_eq!(got.expect("answered after the broadcast").inner(), &note);
    });
}

/// Peer `i`'s engine, started.
fn buffered_engine_at(
    context: &deterministic::Context,
    net: &mut Net,
    i: usize,
) -> (commonware_runtime::Handle<()>, Mailbox) {
    let (engine, mailbox) = engine(context, net, i, 1024);
    (engine.start(net.networks[i].take().unwrap()), mailbox)
}

#[test]
fn dropping_every_mailbox_sends_what_was_accepted_then_stops_the_engine() {
    deterministic(7, |context| async move {
        let mut net = network(&context, 2, 1).await;
        let (_receiver_handle, receiver) = buffered_engine_at(&context, &mut net, 1);
        let (sender_handle, sender) = buffered_engine_at(&context, &mut net, 0);
        context.sleep(Duration::from_millis(10)).await;
        let note = Note::new("last words");
        assert!(
            sender
                .broadcast(Recipients::All, note.digested())
                .accepted()
        );
        drop(sender);
        sender_handle.await.expect("the engine ends by itself");
        assert_eq!(
            receiver.subscribe(note.digest()).await.unwrap().inner(),
            &note,
            "sent before it stopped"
        );
    });
}

#[test]
fn metrics_keep_the_reference_names_in_the_runtime_registry() {
    deterministic(8, |context| async move {
        let mut net = network(&context, 2, 1).await;
        let mailboxes = started(&context, &mut net).await;
        let note = Note::new("counted");
        assert!(
            mailboxes[0]
                .broadcast(Recipients::All, note.digested())
                .accepted()
        );
        let _ = mailboxes[1].subscribe(note.digest()).await.unwrap();
        let _ = mailboxes[1].get(note.digest()).await.unwrap();
        let encoded = context.encode();
        let line = |needle: &str| {
            encoded
                .lines()
                .any(|l| l.starts_with("test_peer_") && l.contains(needle))
        };
        assert!(
            line("receive_total{") && line("status=\"Success\"} 1"),
            "{encoded}"
        );
        assert!(line("get_total{"), "{encoded}");
        assert!(line("peer_total{"), "{encoded}");
        assert!(line("waiters"), "{encoded}");
        assert!(count_running_tasks(&context, "test_peer") > 0);
    });
}
