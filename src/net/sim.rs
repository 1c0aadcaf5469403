//! A simulated wide-area network in process: the embedded default for tests and the demo.
//!
//! Peers are connected by channels, with per-link latency, jitter and loss, a maximum message
//! size and a seeded random generator (same seed and same order of sends, same drops and delays).
//! Delivery times come from tokio's clock, so under a paused runtime
//! (`#[tokio::test(start_paused = true)]`) simulated latency costs no wall time and runs are
//! reproducible. No sockets are involved.
//!
//! Semantics follow `commonware-p2p`'s simulated network, which the reference tests use:
//! a message reaches a recipient only if the recipient is registered, tracked (in one of the
//! last `tracked_peer_sets` peer sets, primary or secondary) and linked from the sender;
//! `Recipients::All` means every tracked peer but the sender; `sent_to` lists the recipients
//! the message was handed to, *before* loss is applied (it is not a delivery receipt).
//!
//! ```
//! use shardcast::net::sim::{Link, Network, SimConfig};
//! use shardcast::net::{Recipients, Receiver as _, Sender as _};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let network = Network::new(SimConfig::default());
//! let (mut a_tx, _a_rx) = network.register(1u32);
//! let (_b_tx, mut b_rx) = network.register(2u32);
//! network.link_all(Link::new(Duration::from_millis(50), Duration::ZERO, 1.0));
//! network.track(0, vec![1, 2], vec![]);
//!
//! let sent_to = a_tx.send(Recipients::All, "hi".into(), false).await.unwrap();
//! assert_eq!(sent_to, vec![2]);
//! let (from, frame) = b_rx.recv().await.unwrap();
//! assert_eq!((from, &frame[..]), (1, &b"hi"[..]));
//! # }
//! ```

use super::{PeerSetSource, PeerSetUpdate, Receiver, Recipients, RecvError, SendError, Sender};
use crate::Peer;
use bytes::Bytes;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Properties of one directed link.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Link {
    /// Mean one-way delay.
    pub latency: Duration,
    /// Each delivery is delayed by `latency` plus or minus up to `jitter` (uniform).
    pub jitter: Duration,
    /// Probability that a message handed to the link arrives (1.0: lossless).
    pub success_rate: f64,
}

impl Link {
    /// A link with these properties (`success_rate` is clamped to `0.0..=1.0`).
    pub fn new(latency: Duration, jitter: Duration, success_rate: f64) -> Self {
        Self {
            latency,
            jitter,
            success_rate: success_rate.clamp(0.0, 1.0),
        }
    }
}

/// Network-wide settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// Largest message a sender may send; larger ones fail with [`SendError::TooLarge`].
    pub max_frame_size: usize,
    /// How many of the most recent peer sets are tracked (reachable).
    pub tracked_peer_sets: usize,
    /// Seed of the generator that draws losses and jitter.
    pub seed: u64,
}

impl Default for SimConfig {
    /// 1 MiB messages, one tracked set, seed 0 (as in the reference tests).
    fn default() -> Self {
        Self {
            max_frame_size: 1 << 20,
            tracked_peer_sets: 1,
            seed: 0,
        }
    }
}

/// The `q`-quantile (`0.0..=1.0`, nearest rank) of `sorted`, ascending; 0 when it is empty.
/// What the demo and the benchmarks report latencies over the simulated WAN (and elsewhere)
/// with, so that every p50 and p99 in this repository means the same thing.
#[doc(hidden)] // Not part of the API: for this repository's tests, benches and demo.
pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    match sorted.len() {
        0 => 0,
        n => sorted[((n - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize],
    }
}

/// The deterministic generator the simulated WAN draws losses and jitter from (splitmix64):
/// small, fast, seedable, the same sequence for the same seed on every machine. Public so that
/// tests drawing their own workloads use the same one. Not for cryptography.
#[doc(hidden)] // Not part of the API: for this repository's tests, benches and demo.
#[derive(Clone, Debug)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// In `[0, n)` (`n > 0`; modulo bias is negligible for small `n`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

struct InFlight<P> {
    at: Instant,
    seq: u64,
    from: P,
    frame: Bytes,
}

impl<P> PartialEq for InFlight<P> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<P> Eq for InFlight<P> {}
impl<P> PartialOrd for InFlight<P> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<P> Ord for InFlight<P> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

struct State<P> {
    config: SimConfig,
    rng: SplitMix,
    seq: u64,
    inboxes: HashMap<P, mpsc::UnboundedSender<InFlight<P>>>,
    links: HashMap<(P, P), Link>,
    /// The tracked sets by index: (primary, secondary).
    sets: BTreeMap<u64, (Vec<P>, Vec<P>)>,
    subscribers: Vec<flume::Sender<PeerSetUpdate<P>>>,
}

impl<P: Clone + Eq + Hash + Ord> State<P> {
    fn tracked(&self) -> HashSet<&P> {
        self.sets
            .values()
            .flat_map(|(primary, secondary)| primary.iter().chain(secondary))
            .collect()
    }

    fn latest(&self) -> Option<PeerSetUpdate<P>> {
        let (index, (primary, secondary)) = self.sets.iter().next_back()?;
        Some(PeerSetUpdate {
            index: *index,
            primary: primary.clone(),
            secondary: secondary.clone(),
        })
    }
}

/// The simulated network: register peers, link them, track peer sets.
///
/// Cheap to clone; every clone is the same network. Registering a peer spawns one delivery
/// task on the current tokio runtime; it ends once the network (every clone and every sender)
/// and the peer's receiver are dropped.
pub struct Network<P> {
    state: Arc<Mutex<State<P>>>,
}

impl<P> Clone for Network<P> {
    fn clone(&self) -> Self {
        Self {
            state: self.state.clone(),
        }
    }
}

impl<P> Network<P>
where
    P: Peer,
{
    /// An empty network.
    pub fn new(config: SimConfig) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                config,
                rng: SplitMix::new(config.seed),
                seq: 0,
                inboxes: HashMap::new(),
                links: HashMap::new(),
                sets: BTreeMap::new(),
                subscribers: Vec::new(),
            })),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State<P>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers `peer` and returns its sender and receiver (replacing any earlier
    /// registration). Must be called within a tokio runtime.
    pub fn register(&self, peer: P) -> (SimSender<P>, SimReceiver<P>) {
        let (in_tx, in_rx) = mpsc::unbounded_channel();
        let (out_tx, out_rx) = flume::unbounded();
        tokio::spawn(deliver(in_rx, out_tx));
        self.state().inboxes.insert(peer.clone(), in_tx);
        (
            SimSender {
                me: peer,
                network: self.clone(),
            },
            SimReceiver { inbox: out_rx },
        )
    }

    /// Links `from` to `to` (one direction), replacing any earlier link.
    pub fn link(&self, from: P, to: P, link: Link) {
        self.state().links.insert((from, to), link);
    }

    /// Removes the link from `from` to `to`.
    pub fn unlink(&self, from: &P, to: &P) {
        self.state().links.remove(&(from.clone(), to.clone()));
    }

    /// Links every registered peer to every other, both ways.
    pub fn link_all(&self, link: Link) {
        let mut state = self.state();
        let peers: Vec<P> = state.inboxes.keys().cloned().collect();
        for from in &peers {
            for to in peers.iter().filter(|to| *to != from) {
                state.links.insert((from.clone(), to.clone()), link);
            }
        }
    }

    /// Tracks peer set `index` and tells every peer-set subscriber. Only the
    /// `tracked_peer_sets` highest indices stay tracked.
    pub fn track(&self, index: u64, primary: Vec<P>, secondary: Vec<P>) {
        let mut state = self.state();
        state
            .sets
            .insert(index, (primary.clone(), secondary.clone()));
        while state.sets.len() > state.config.tracked_peer_sets.max(1) {
            state.sets.pop_first();
        }
        let update = PeerSetUpdate {
            index,
            primary,
            secondary,
        };
        state
            .subscribers
            .retain(|subscriber| subscriber.send(update.clone()).is_ok());
    }

    /// A new subscription to peer-set updates; it yields the latest tracked set first, if any.
    pub fn peer_sets(&self) -> SimPeerSets<P> {
        let (tx, rx) = flume::unbounded();
        let mut state = self.state();
        if let Some(latest) = state.latest() {
            let _ = tx.send(latest);
        }
        state.subscribers.push(tx);
        SimPeerSets { updates: rx }
    }

    fn send(&self, from: &P, recipients: Recipients<P>, frame: Bytes) -> Result<Vec<P>, SendError> {
        let mut state = self.state();
        let max = state.config.max_frame_size;
        if frame.len() > max {
            return Err(SendError::TooLarge {
                size: frame.len(),
                max,
            });
        }
        let tracked = state.tracked();
        let mut targets: Vec<P> = match recipients {
            Recipients::All => tracked.iter().map(|p| (*p).clone()).collect(),
            Recipients::Some(peers) => peers,
            Recipients::One(peer) => vec![peer],
        };
        targets.sort();
        targets.dedup();
        targets.retain(|to| {
            to != from
                && tracked.contains(to)
                && state.inboxes.contains_key(to)
                && state.links.contains_key(&(from.clone(), to.clone()))
        });
        drop(tracked);
        let now = Instant::now();
        for to in &targets {
            let link = state.links[&(from.clone(), to.clone())];
            let arrives = state.rng.next_f64() < link.success_rate;
            let jitter = link.jitter.as_secs_f64() * (2.0 * state.rng.next_f64() - 1.0);
            if !arrives {
                continue;
            }
            let delay = Duration::from_secs_f64((link.latency.as_secs_f64() + jitter).max(0.0));
            state.seq += 1;
            let item = InFlight {
                at: now + delay,
                seq: state.seq,
                from: from.clone(),
                frame: frame.clone(),
            };
            // A peer whose receiver is gone simply does not get it.
            let _ = state.inboxes[to].send(item);
        }
        Ok(targets)
    }
}

/// Holds frames until their delivery time, then hands them to the receiver.
async fn deliver<P>(
    mut incoming: mpsc::UnboundedReceiver<InFlight<P>>,
    out: flume::Sender<(P, Bytes)>,
) {
    let mut queue: BinaryHeap<Reverse<InFlight<P>>> = BinaryHeap::new();
    let mut open = true;
    loop {
        let next = queue.peek().map(|Reverse(item)| item.at);
        tokio::select! {
            biased;
            item = incoming.recv(), if open => match item {
                Some(item) => queue.push(Reverse(item)),
                None => open = false,
            },
            () = tokio::time::sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {
                let now = Instant::now();
                while queue.peek().is_some_and(|Reverse(item)| item.at <= now) {
                    let Reverse(item) = queue.pop().expect("peeked");
                    if out.send((item.from, item.frame)).is_err() {
                        return; // the receiver is gone
                    }
                }
            }
            else => return, // closed and drained
        }
    }
}

/// A peer's sending half.
pub struct SimSender<P> {
    me: P,
    network: Network<P>,
}

impl<P: Clone> Clone for SimSender<P> {
    fn clone(&self) -> Self {
        Self {
            me: self.me.clone(),
            network: self.network.clone(),
        }
    }
}

impl<P> Sender<P> for SimSender<P>
where
    P: Peer,
{
    async fn send(
        &mut self,
        recipients: Recipients<P>,
        message: Bytes,
        _priority: bool,
    ) -> Result<Vec<P>, SendError> {
        self.network.send(&self.me, recipients, message)
    }
}

/// A peer's receiving half.
pub struct SimReceiver<P> {
    inbox: flume::Receiver<(P, Bytes)>,
}

impl<P: Send + 'static> Receiver<P> for SimReceiver<P> {
    async fn recv(&mut self) -> Result<(P, Bytes), RecvError> {
        self.inbox.recv_async().await.map_err(|_| RecvError)
    }
}

/// A subscription to the network's peer-set updates.
pub struct SimPeerSets<P> {
    updates: flume::Receiver<PeerSetUpdate<P>>,
}

impl<P: Send + 'static> PeerSetSource<P> for SimPeerSets<P> {
    async fn next(&mut self) -> Option<PeerSetUpdate<P>> {
        self.updates.recv_async().await.ok()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn link(ms: u64, success_rate: f64) -> Link {
        Link::new(Duration::from_millis(ms), Duration::ZERO, success_rate)
    }

    #[tokio::test(start_paused = true)]
    async fn delivers_after_the_link_latency_only_to_tracked_linked_peers() {
        let network = Network::new(SimConfig::default());
        let (mut a, _ra) = network.register(1u32);
        let (_b, mut rb) = network.register(2);
        let (_c, _rc) = network.register(3);
        network.link(1, 2, link(100, 1.0));
        // Nothing tracked yet: nobody is reachable.
        assert_eq!(a.send(Recipients::All, "x".into(), false).await, Ok(vec![]));
        network.track(0, vec![1, 2, 3], vec![]);
        // 3 is tracked but not linked from 1.
        assert_eq!(
            a.send(Recipients::All, "y".into(), false).await,
            Ok(vec![2])
        );
        let start = Instant::now();
        let (from, frame) = rb.recv().await.unwrap();
        assert_eq!((from, &frame[..]), (1, &b"y"[..]));
        assert_eq!(start.elapsed(), Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn oversized_messages_are_refused() {
        let network = Network::new(SimConfig {
            max_frame_size: 4,
            ..SimConfig::default()
        });
        let (mut a, _ra) = network.register(1u32);
        assert_eq!(
            a.send(Recipients::All, "12345".into(), false).await,
            Err(SendError::TooLarge { size: 5, max: 4 })
        );
    }

    /// Same seed, same drops.
    #[tokio::test(start_paused = true)]
    async fn losses_are_reproducible_from_the_seed() {
        async fn received(seed: u64) -> Vec<u8> {
            let network = Network::new(SimConfig {
                seed,
                ..SimConfig::default()
            });
            let (mut a, _ra) = network.register(1u32);
            let (b, mut rb) = network.register(2);
            network.link(1, 2, link(10, 0.5));
            network.track(0, vec![1, 2], vec![]);
            for i in 0..64u8 {
                a.send(Recipients::One(2), Bytes::from(vec![i]), false)
                    .await
                    .unwrap();
            }
            drop((a, b, network)); // the network is gone once every handle is
            let mut got = Vec::new();
            while let Ok((_, frame)) = rb.recv().await {
                got.push(frame[0]);
            }
            got
        }
        let first = received(7).await;
        assert_eq!(first, received(7).await);
        assert_ne!(first, received(8).await);
        assert!(
            first.len() > 10 && first.len() < 54,
            "about half: {}",
            first.len()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn peer_set_subscribers_get_the_latest_set_first() {
        let network: Network<u32> = Network::new(SimConfig::default());
        network.track(3, vec![1], vec![2]);
        let mut sets = network.peer_sets();
        let first = sets.next().await.unwrap();
        assert_eq!(
            (first.index, first.primary, first.secondary),
            (3, vec![1], vec![2])
        );
        network.track(4, vec![2], vec![]);
        assert_eq!(sets.next().await.unwrap().index, 4);
    }
}
