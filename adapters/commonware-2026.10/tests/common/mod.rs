//! What the adapter's test files share: a fully linked simulated network on the 2026.10
//! deterministic runtime, engines built with the reference's seven-field literal, and a runner
//! that replays each scenario on its seed.

#![allow(dead_code)]

#[cfg(feature = "marshal")]
pub mod chain;
pub mod note;

use commonware_codec::Codec;
use commonware_cryptography::{
    Digestible, Signer as _,
    ed25519::{PrivateKey, PublicKey},
};
use commonware_p2p::Manager as _;
use commonware_p2p::simulated::{self, Link, Network, Oracle};
use commonware_parallel::Sequential;
use commonware_runtime::{Quota, Runner as _, Supervisor as _, deterministic};
use commonware_utils::{NZUsize, ordered::Set, probability};
use shardcast_commonware_2026_10 as buffered;
use std::num::NonZeroU32;
use std::time::Duration;

pub const DEQUE: usize = 10;
pub const LATENCY: Duration = Duration::from_millis(100);
/// Longer than any delivery here.
pub const SETTLE: Duration = Duration::from_millis(300);
pub const QUOTA: Quota = Quota::per_second(NonZeroU32::MAX);

pub type Mailbox<M> = buffered::Mailbox<PublicKey, M>;

pub type Engine<M> = buffered::Engine<
    deterministic::Context,
    PublicKey,
    M,
    simulated::Manager<PublicKey, deterministic::Context>,
    Sequential,
>;

pub type Registration = (
    simulated::Sender<PublicKey, deterministic::Context>,
    simulated::Receiver<PublicKey>,
);

pub struct Net {
    pub peers: Vec<PublicKey>,
    pub oracle: Oracle<PublicKey, deterministic::Context>,
    pub networks: Vec<Option<Registration>>,
}

/// `n` peers, fully linked, tracked as set 0 (`tracked` sets kept by the network).
pub async fn network(context: &deterministic::Context, n: usize, tracked: usize) -> Net {
    network_with(context, n, tracked, LATENCY).await
}

/// [`network`] with links of `latency`.
pub async fn network_with(
    context: &deterministic::Context,
    n: usize,
    tracked: usize,
    latency: Duration,
) -> Net {
    let (network, oracle) = Network::<deterministic::Context, PublicKey>::new(
        context.child("network"),
        simulated::Config {
            max_size: 1024 * 1024,
            max_peers_per_set: NZUsize!(n),
            disconnect_on_block: true,
            tracked_peer_sets: NZUsize!(tracked),
        },
    );
    network.start();
    let mut peers: Vec<PublicKey> = (0..n as u64)
        .map(|seed| PrivateKey::from_seed(seed).public_key())
        .collect();
    peers.sort();
    let mut networks = Vec::new();
    for peer in &peers {
        let registration = oracle
            .control(peer.clone())
            .register(0, QUOTA)
            .await
            .unwrap();
        networks.push(Some(registration));
    }
    let link = Link {
        latency,
        jitter: Duration::ZERO,
        success_rate: probability!(1.0),
    };
    for a in &peers {
        for b in &peers {
            if a != b {
                oracle
                    .add_link(a.clone(), b.clone(), link.clone())
                    .await
                    .unwrap();
            }
        }
    }
    let _ = oracle
        .manager()
        .track(0, Set::from_iter_dedup(peers.clone()));
    Net {
        peers,
        oracle,
        networks,
    }
}

/// Builds peer `i`'s engine with the reference's literal.
pub fn engine<M: Digestible + Codec>(
    context: &deterministic::Context,
    net: &Net,
    i: usize,
    mailbox_size: usize,
    codec_config: M::Cfg,
) -> (Engine<M>, Mailbox<M>) {
    let config = buffered::Config {
        public_key: net.peers[i].clone(),
        mailbox_size: std::num::NonZeroUsize::new(mailbox_size).unwrap(),
        deque_size: DEQUE,
        priority: false,
        codec_config,
        peer_provider: net.oracle.manager(),
        strategy: Sequential,
    };
    buffered::Engine::new(
        context
            .child("peer")
            .with_attribute("public_key", &net.peers[i]),
        config,
    )
}

/// Runs `scenario` twice on `seed` and checks both runs end in the same auditor state.
pub fn deterministic<F, Fut>(seed: u64, scenario: F)
where
    F: Fn(deterministic::Context) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let run = || {
        let runner = deterministic::Runner::new(
            deterministic::Config::new()
                .with_seed(seed)
                .with_timeout(Some(Duration::from_secs(30))),
        );
        runner.start(|context| {
            let fut = scenario(context.child("test"));
            async move {
                fut.await;
                context.auditor().state()
            }
        })
    };
    assert_eq!(run(), run(), "one seed, one execution");
}
