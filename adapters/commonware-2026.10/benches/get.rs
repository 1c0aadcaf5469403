//! `get` hits, shardcast against commonware-broadcast 2026.10.0's `buffered`, side by side in
//! one run on commonware's tokio runtime: the same messages cached in both (broadcast by the
//! node itself, which is primary), then interleaved runs of `get` of a cached digest from one
//! task. The reference answers through its engine's loop (a mailbox request and a oneshot);
//! shardcast reads its cache in the calling task.
//!
//! The network is a stand-in (a sender that drops what it is given, a receiver that never
//! yields): no frame is received, so only the `get` path is measured.
//!
//! `cargo bench --bench get [-- --quick]` from `adapters/commonware-2026.10`.

use commonware_broadcast::{Broadcaster, buffered as reference};
use commonware_codec::RangeCfg;
use commonware_cryptography::{Digested, Digestible, Signer as _, ed25519, sha256};
use commonware_p2p::{
    CheckedSender, LimitedSender, PeerSetSubscription, PeerSetUpdate, Provider, Recipients,
    TrackedPeers,
};
use commonware_parallel::Sequential;
use commonware_runtime::{Clock, IoBufs, Runner as _, Supervisor as _};
use commonware_utils::{NZUsize, ordered::Set};
use shardcast_commonware_2026_10 as shardcast;
use std::hint::black_box;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant, SystemTime};

type Key = ed25519::PublicKey;
const CACHED: usize = 1000;

#[path = "../tests/common/note.rs"]
mod note;
use note::Note;

/// A sender that drops what it is given.
#[derive(Clone, Debug)]
struct Discard;

struct Discarded;

impl CheckedSender for Discarded {
    type PublicKey = Key;
    fn recipients(&self) -> Vec<Key> {
        Vec::new()
    }
    fn send(
        self,
        _message: impl Into<IoBufs> + Send,
        _priority: bool,
    ) -> commonware_actor::Unreliable<commonware_actor::Feedback> {
        commonware_actor::Unreliable::new(commonware_actor::Feedback::Ok)
    }
}

impl LimitedSender for Discard {
    type PublicKey = Key;
    type Checked<'a> = Discarded;
    fn check(&mut self, _recipients: Recipients<Key>) -> Result<Discarded, SystemTime> {
        Ok(Discarded)
    }
}

/// A receiver that never yields a frame.
#[derive(Debug)]
struct Silent;

/// The error of a receiver that never fails.
#[derive(Debug)]
enum Never {}

impl std::fmt::Display for Never {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {}
    }
}

impl std::error::Error for Never {}

impl commonware_p2p::Receiver for Silent {
    type Error = Never;
    type PublicKey = Key;
    async fn recv(&mut self) -> Result<(Key, commonware_runtime::IoBuf), Never> {
        std::future::pending().await
    }
    fn capacity(&self) -> NonZeroUsize {
        NonZeroUsize::MIN
    }
}

/// A provider whose one set holds only us.
#[derive(Clone, Debug)]
struct OnlyUs(Key);

impl Provider for OnlyUs {
    type PublicKey = Key;
    async fn peer_set(&mut self, _id: u64) -> Option<TrackedPeers<Key>> {
        Some(TrackedPeers::primary(Set::from_iter_dedup([self
            .0
            .clone()])))
    }
    async fn subscribe(&mut self) -> PeerSetSubscription<Key> {
        let (sender, receiver) = commonware_utils::channel::mpsc::unbounded_channel();
        let set = TrackedPeers::primary(Set::from_iter_dedup([self.0.clone()]));
        let _ = sender.send(PeerSetUpdate {
            index: 0,
            latest: set.clone(),
            all: set,
        });
        // Kept open: a closed subscription stops either engine.
        std::mem::forget(sender);
        receiver
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (runs, n) = if quick { (3, 20_000) } else { (9, 200_000) };
    commonware_runtime::tokio::Runner::default().start(|context| async move {
        let key = ed25519::PrivateKey::from_seed(0).public_key();
        let notes: Vec<Digested<Note>> = (0..CACHED)
            .map(|i| Note::new(&format!("note {i}")).digested())
            .collect();
        let (engine, theirs) = reference::Engine::new(
            context.child("reference"),
            reference::Config {
                public_key: key.clone(),
                mailbox_size: NZUsize!(1024),
                deque_size: CACHED,
                priority: false,
                codec_config: RangeCfg::from(..),
                peer_provider: OnlyUs(key.clone()),
                strategy: Sequential,
            },
        );
        engine.start((Discard, Silent));
        let (engine, ours) = shardcast::Engine::new(
            context.child("shardcast"),
            shardcast::Config {
                public_key: key.clone(),
                mailbox_size: NZUsize!(1024),
                deque_size: CACHED,
                priority: false,
                codec_config: RangeCfg::from(..),
                peer_provider: OnlyUs(key.clone()),
                strategy: Sequential,
            },
        );
        engine.start((Discard, Silent));
        context.sleep(Duration::from_millis(50)).await;
        for note in &notes {
            assert!(theirs.broadcast(Recipients::All, note.clone()).accepted());
            assert!(ours.broadcast(Recipients::All, note.clone()).accepted());
        }
        context.sleep(Duration::from_millis(50)).await;
        for note in &notes {
            assert!(
                theirs.get(note.digest()).await.is_some(),
                "cached in the reference"
            );
            assert!(
                ours.get(note.digest()).await.is_some(),
                "cached in shardcast"
            );
        }
        let digests: Vec<sha256::Digest> = notes.iter().map(|n| n.digest()).collect();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let start = Instant::now();
            for i in 0..n {
                black_box(theirs.get(digests[i % CACHED]).await);
            }
            a.push(start.elapsed().as_nanos() as f64 / n as f64);
            let start = Instant::now();
            for i in 0..n {
                black_box(ours.get(digests[i % CACHED]).await);
            }
            b.push(start.elapsed().as_nanos() as f64 / n as f64);
        }
        let (a, b) = (median(a), median(b));
        println!(
            "get hit, one task, {CACHED} cached, {runs} interleaved runs of {n} (median ns/call)\n"
        );
        println!("| reference 2026.10 | shardcast | reference / shardcast |");
        println!("|---|---|---|");
        println!("| {a:.1} | {b:.1} | {:.1}x |", a / b);
    });
}
