//! shardcast over commonware-p2p's authenticated network, on real TCP sockets bound to
//! 127.0.0.1 only, on commonware-runtime's tokio runner (feature `commonware`):
//! `cargo test --release --features commonware --test commonware`.
//!
//! Four nodes each broadcast 50 messages; every node receives all 200 through `subscribe`; a
//! peer-set update removing one node evicts its messages everywhere; a fifth node that sends
//! garbage on the channel disturbs nobody.
#![cfg(feature = "commonware")]

use bytes::Buf;
use shardcast::commonware::codec::{
    EncodeSize, Error as CodecError, RangeCfg, Read, ReadRangeExt, Write,
};
use shardcast::commonware::cryptography::{Digestible, Hasher, Sha256, Signer, ed25519, sha256};
use shardcast::commonware::p2p::{Address, AddressableManager, Sender as _, authenticated::lookup};
use shardcast::commonware::runtime::{IoBuf, Metrics as _, Quota, Runner as _, tokio as cw};
use shardcast::commonware::utils::ordered::Map;
use shardcast::commonware::{self as interop, Wire};
use shardcast::net::Recipients;
use shardcast::{Buffer, Engine};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// A commonware message (SHA-256 of its bytes), carried through `Wire`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Note(Vec<u8>);

impl Digestible for Note {
    type Digest = sha256::Digest;
    fn digest(&self) -> sha256::Digest {
        Sha256::hash(&self.0)
    }
}

impl Write for Note {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.0.write(buf);
    }
}

impl EncodeSize for Note {
    fn encode_size(&self) -> usize {
        self.0.encode_size()
    }
}

impl Read for Note {
    type Cfg = RangeCfg<usize>;
    fn read_cfg(buf: &mut impl Buf, cfg: &Self::Cfg) -> Result<Self, CodecError> {
        Ok(Self(Vec::<u8>::read_range(buf, *cfg)?))
    }
}

type Key = ed25519::PublicKey;
type Node = (
    Arc<Buffer<Key, Wire<Note>>>,
    Engine<Key, Wire<Note>, interop::P2pSender<lookup::Sender<Key, cw::Context>>>,
);

/// Ports the OS says are free on 127.0.0.1 right now.
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<_> = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

fn peers(keys: &[Key], addrs: &[SocketAddr]) -> Map<Key, Address> {
    keys.iter()
        .cloned()
        .zip(addrs.iter().map(|a| Address::from(*a)))
        .collect::<Vec<_>>()
        .try_into()
        .expect("distinct keys")
}

/// Re-sends each message to the nodes that lack it (connections come up over the first
/// second), until every node holds every message or the deadline passes.
async fn disseminate(nodes: &[Node], keys: &[Key], messages: &[(usize, Note)]) {
    let subs: Vec<Vec<_>> = nodes
        .iter()
        .map(|(buffer, _)| {
            messages
                .iter()
                .map(|(_, m)| buffer.subscribe(m.digest()))
                .collect()
        })
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut missing = 0;
        for (index, (origin, message)) in messages.iter().enumerate() {
            let lacking: Vec<Key> = (0..nodes.len())
                .filter(|n| n != origin && !subs[*n][index].is_ready())
                .map(|n| keys[n].clone())
                .collect();
            if !lacking.is_empty() {
                missing += lacking.len();
                nodes[*origin]
                    .1
                    .broadcast(Recipients::Some(lacking), Wire(message.clone()))
                    .await;
            }
        }
        if missing == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{missing} deliveries missing after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for (n, node_subs) in subs.into_iter().enumerate() {
        for (sub, (_, message)) in node_subs.into_iter().zip(messages) {
            assert_eq!(sub.await.0, *message, "node {n}");
        }
    }
}

#[test]
fn four_nodes_over_loopback_tcp() {
    let runner = cw::Runner::new(cw::Config::new().with_worker_threads(2));
    runner.start(|context| async move {
        let secrets: Vec<ed25519::PrivateKey> =
            (0..5).map(ed25519::PrivateKey::from_seed).collect();
        let keys: Vec<Key> = secrets.iter().map(Signer::public_key).collect();
        let addrs: Vec<SocketAddr> = free_ports(5)
            .into_iter()
            .map(|port| SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
            .collect();
        let all = peers(&keys, &addrs);
        let mut oracles = Vec::new();
        let mut nodes: Vec<Node> = Vec::new();
        let mut garbage_sender = None;
        for (i, secret) in secrets.iter().enumerate() {
            let config =
                lookup::Config::local(secret.clone(), b"shardcast-test", addrs[i], 1 << 20);
            let (mut network, mut oracle) =
                lookup::Network::new(context.with_label(&format!("node{i}")), config);
            oracle.track(0, all.clone()).await;
            let (sender, receiver) = network.register(0, Quota::per_second(NonZeroU32::MAX), 4096);
            network.start();
            if i == 4 {
                garbage_sender = Some(sender);
            } else {
                let node = interop::start::<Key, Note, _, _, _>(
                    interop::Config {
                        public_key: keys[i].clone(),
                        deque_size: 256,
                        priority: false,
                        codec_config: RangeCfg::from(..=4096),
                        peer_provider: oracle.clone(),
                        workers: 2,
                    },
                    (sender, receiver),
                )
                .await
                .expect("started");
                nodes.push(node);
            }
            oracles.push(oracle);
        }

        // The fifth node sends garbage to everyone, several times, while the others work.
        let mut garbage_sender = garbage_sender.unwrap();
        for junk in [&b"\xff\xff\xff\xff"[..], b"", b"\x05ab", b"\x01ab"] {
            let _ = garbage_sender
                .send(commonware_p2p_all(), IoBuf::from(junk.to_vec()), false)
                .await;
        }

        let messages: Vec<(usize, Note)> = (0..4)
            .flat_map(|origin| {
                (0..50).map(move |i| {
                    (
                        origin,
                        Note(format!("node {origin} message {i}").into_bytes()),
                    )
                })
            })
            .collect();
        disseminate(&nodes, &keys, &messages).await;
        for (n, (buffer, engine)) in nodes.iter().enumerate() {
            assert!(
                engine.stats().received >= 150,
                "node {n} received {:?}",
                engine.stats()
            );
            for (_, message) in &messages {
                assert!(
                    buffer.contains(&message.digest()),
                    "node {n} lacks a message"
                );
            }
        }
        // Garbage keeps coming; it is counted as invalid, and valid traffic still flows.
        for _ in 0..20 {
            let _ = garbage_sender
                .send(commonware_p2p_all(), IoBuf::from(vec![0xEE; 3]), false)
                .await;
        }
        let late: Vec<(usize, Note)> = vec![(0, Note(b"after the garbage".to_vec()))];
        disseminate(&nodes, &keys, &late).await;
        let invalid: u64 = nodes.iter().map(|(_, e)| e.stats().invalid).sum();
        assert!(invalid > 0, "the garbage reached nobody");

        // Remove node 3 from the primary set: its messages go from every remaining node.
        let without_3 = peers(
            &[
                keys[0].clone(),
                keys[1].clone(),
                keys[2].clone(),
                keys[4].clone(),
            ],
            &[addrs[0], addrs[1], addrs[2], addrs[4]],
        );
        for oracle in &mut oracles {
            oracle.track(1, without_3.clone()).await;
        }
        for (buffer, engine) in &nodes[..3] {
            tokio::time::timeout(Duration::from_secs(30), engine.wait_for_peer_set(1))
                .await
                .expect("peer set 1 applied");
            for (origin, message) in &messages {
                // Node 3's messages are only in node 3's deque: gone. The others stay.
                assert_eq!(buffer.contains(&message.digest()), *origin != 3);
            }
            buffer.check_invariants();
        }
        for (_, engine) in &nodes {
            engine.shutdown().await;
        }
    });
}

fn commonware_p2p_all() -> shardcast::commonware::p2p::Recipients<Key> {
    shardcast::commonware::p2p::Recipients::All
}
