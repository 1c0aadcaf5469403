//! shardcast over commonware-p2p's authenticated network, on real TCP sockets bound to
//! 127.0.0.1 only, on commonware-runtime's tokio runner:
//! `cargo test --release -p shardcast-commonware-2026-4 --test commonware`.
//!
//! Four nodes each broadcast 50 messages; every node receives all 200 through `subscribe`; a
//! peer-set update removing one node evicts its messages everywhere; a fifth node that sends
//! garbage on the channel disturbs nobody.

use commonware_codec::RangeCfg;
use commonware_cryptography::{Digestible, Signer, ed25519};
use commonware_p2p::Recipients;
use commonware_p2p::{Address, AddressableManager, Sender as _, authenticated::lookup};
use commonware_runtime::{IoBuf, Metrics as _, Quota, Runner as _, tokio as cw};
use commonware_utils::ordered::Map;
use shardcast_commonware_2026_4 as interop;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::num::NonZeroU32;
use std::time::Duration;

mod common;
use common::note::Note;

type Key = ed25519::PublicKey;
type Node = (interop::Mailbox<Key, Note>, commonware_runtime::Handle<()>);

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
        .map(|(mailbox, _)| {
            messages
                .iter()
                .map(|(_, m)| mailbox.buffer().subscribe(m.digest()))
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
                // The send runs on the engine's task: `sent_to` is of no interest here.
                drop(
                    nodes[*origin]
                        .0
                        .broadcast(Recipients::Some(lacking), message.clone())
                        .await,
                );
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
            assert_eq!(*sub.await.expect("open").get(), *message, "node {n}");
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
                let (engine, mailbox) = interop::Engine::with_options(
                    context.with_label(&format!("engine{i}")),
                    interop::Config {
                        public_key: keys[i].clone(),
                        mailbox_size: 1024,
                        deque_size: 256,
                        priority: false,
                        codec_config: RangeCfg::from(..=4096),
                        peer_provider: oracle.clone(),
                    },
                    interop::Options::default().with_workers(2),
                );
                let handle = engine.start((sender, receiver));
                nodes.push((mailbox, handle));
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
        for (n, (mailbox, _)) in nodes.iter().enumerate() {
            assert!(
                mailbox.stats().received >= 150,
                "node {n} received {:?}",
                mailbox.stats()
            );
            for (_, message) in &messages {
                assert!(
                    mailbox.buffer().contains(&message.digest()),
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
        let invalid: u64 = nodes.iter().map(|(m, _)| m.stats().invalid).sum();
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
        for (mailbox, _) in &nodes[..3] {
            tokio::time::timeout(Duration::from_secs(30), mailbox.wait_for_peer_set(1))
                .await
                .expect("peer set 1 applied");
            let buffer = mailbox.buffer();
            for (origin, message) in &messages {
                // Node 3's messages are only in node 3's deque: gone. The others stay.
                assert_eq!(buffer.contains(&message.digest()), *origin != 3);
            }
            buffer.check_invariants();
        }
        for (mailbox, handle) in nodes {
            let pending = mailbox
                .subscribe(Note(b"never sent".to_vec()).digest())
                .await;
            handle.abort();
            // Aborting the engine's task closes its buffer: the pending subscription is
            // cancelled, as the reference's, and nothing stays cached.
            let outcome = tokio::time::timeout(Duration::from_secs(30), pending).await;
            assert!(outcome.expect("resolved").is_err(), "cancelled");
            assert_eq!(mailbox.get(messages[0].1.digest()).await, None);
        }
    });
}

fn commonware_p2p_all() -> commonware_p2p::Recipients<Key> {
    commonware_p2p::Recipients::All
}
