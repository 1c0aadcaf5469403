// One side of the differential test; the including module says what `buffered` is.

use super::{DEQUE, LATENCY, NODES, Observation, Op, POOL, QUIESCE, Sent, Sub, id_of, message};
use commonware_broadcast::Broadcaster;
use commonware_codec::RangeCfg;
use commonware_cryptography::{Digestible as _, Signer as _, ed25519};
use commonware_p2p::{Manager as _, Recipients, TrackedPeers, simulated};
use commonware_runtime::{Clock as _, Metrics as _, Quota, Runner as _, deterministic};
use commonware_utils::channel::oneshot;
use commonware_utils::ordered::Set;
use shardcast_benches::actor::ActorMessage;
use std::num::{NonZeroU32, NonZeroUsize};

type Key = ed25519::PublicKey;

fn set(keys: &[Key], nodes: &[usize]) -> Set<Key> {
    Set::from_iter_dedup(nodes.iter().map(|&n| keys[n].clone()))
}

fn link() -> simulated::Link {
    simulated::Link {
        latency: LATENCY,
        jitter: std::time::Duration::ZERO,
        success_rate: 1.0,
    }
}

/// Runs `ops` from seed `seed` and returns what was observed after each.
pub fn run(seed: u64, ops: &[Op]) -> Vec<Observation> {
    let config = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(std::time::Duration::from_secs(3_600)));
    deterministic::Runner::new(config).start(|context| async move {
        let keys: Vec<Key> = (0..NODES as u64)
            .map(|i| ed25519::PrivateKey::from_seed(i).public_key())
            .collect();
        let (network, oracle) = simulated::Network::new(
            context.with_label("network"),
            simulated::Config {
                max_size: 1 << 20,
                disconnect_on_block: true,
                tracked_peer_sets: NonZeroUsize::MIN,
            },
        );
        network.start();
        let all: Vec<usize> = (0..NODES).collect();
        oracle.manager().track(0, set(&keys, &all)).await;
        let mut index = 0;
        let mut mailboxes = Vec::new();
        let mut handles = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let channel = oracle
                .control(key.clone())
                .register(0, Quota::per_second(NonZeroU32::MAX))
                .await
                .unwrap();
            for (j, other) in keys.iter().enumerate() {
                if i != j {
                    oracle.add_link(key.clone(), other.clone(), link()).await.unwrap();
                }
            }
            let (engine, mailbox) = buffered::Engine::new(
                context.with_label(&format!("n{i}")),
                buffered::Config {
                    public_key: key.clone(),
                    mailbox_size: 1024,
                    deque_size: DEQUE,
                    priority: false,
                    codec_config: RangeCfg::from(..),
                    peer_provider: oracle.manager(),
                },
            );
            handles.push(engine.start(channel));
            mailboxes.push(Some(mailbox));
        }
        let mut running = [true; NODES];
        context.sleep(QUIESCE).await;

        let mut subscriptions: Vec<(Option<oneshot::Receiver<ActorMessage>>, Sub)> = Vec::new();
        let mut sent: Vec<(Option<oneshot::Receiver<Vec<Key>>>, Sent)> = Vec::new();
        let mut observations = Vec::with_capacity(ops.len());
        for op in ops {
            match op {
                Op::Broadcast { node, to, id } => {
                    if let Some(mailbox) = &mailboxes[*node] {
                        let recipients = match to {
                            None => Recipients::All,
                            Some(nodes) => {
                                Recipients::Some(nodes.iter().map(|&n| keys[n].clone()).collect())
                            }
                        };
                        let receiver = Broadcaster::broadcast(mailbox, recipients, message(*id)).await;
                        sent.push((Some(receiver), Sent::Pending));
                    }
                }
                Op::Subscribe { node, id } => {
                    if let Some(mailbox) = &mailboxes[*node] {
                        let receiver = mailbox.subscribe(message(*id).digest()).await;
                        subscriptions.push((Some(receiver), Sub::Pending));
                    }
                }
                Op::SubscribePrepared { node, id, dropped } => {
                    if let Some(mailbox) = &mailboxes[*node] {
                        let (responder, receiver) = oneshot::channel();
                        let receiver = if *dropped {
                            drop(receiver);
                            None
                        } else {
                            Some(receiver)
                        };
                        mailbox
                            .subscribe_prepared(message(*id).digest(), responder)
                            .await;
                        if let Some(receiver) = receiver {
                            subscriptions.push((Some(receiver), Sub::Pending));
                        }
                    }
                }
                Op::Unsubscribe { index } => {
                    let pending: Vec<usize> = (0..subscriptions.len())
                        .filter(|&i| subscriptions[i].1 == Sub::Pending)
                        .collect();
                    if !pending.is_empty() {
                        let chosen = pending[index % pending.len()];
                        subscriptions[chosen] = (None, Sub::Dropped);
                    }
                }
                Op::Track { primary, secondary } => {
                    index += 1;
                    let peers =
                        TrackedPeers::new(set(&keys, primary), set(&keys, secondary));
                    oracle.manager().track(index, peers).await;
                }
                Op::Cut { from, to } => {
                    let _ = oracle.remove_link(keys[*from].clone(), keys[*to].clone()).await;
                }
                Op::Heal { from, to } => {
                    let _ = oracle
                        .add_link(keys[*from].clone(), keys[*to].clone(), link())
                        .await;
                }
                Op::DropMailbox { node } => {
                    if mailboxes[*node].take().is_some() {
                        running[*node] = false;
                    }
                }
                Op::Abort { node } => {
                    handles[*node].abort();
                    running[*node] = false;
                }
            }
            context.sleep(QUIESCE).await;

            // Observe.
            let mut found = Vec::with_capacity(NODES);
            for mailbox in &mailboxes {
                let mut ids = Vec::new();
                if let Some(mailbox) = mailbox {
                    for id in 0..POOL {
                        if mailbox.get(message(id).digest()).await == Some(message(id)) {
                            ids.push(id);
                        }
                    }
                }
                found.push(ids);
            }
            for (receiver, state) in &mut subscriptions {
                if *state != Sub::Pending {
                    continue;
                }
                let held = receiver.as_mut().expect("a pending subscription is held");
                match held.try_recv() {
                    Ok(got) => *state = Sub::Got(id_of(&got)),
                    Err(oneshot::error::TryRecvError::Empty) => {}
                    Err(oneshot::error::TryRecvError::Closed) => *state = Sub::Canceled,
                }
            }
            for (receiver, state) in &mut sent {
                if *state != Sent::Pending {
                    continue;
                }
                let held = receiver.as_mut().expect("a pending broadcast is held");
                match held.try_recv() {
                    Ok(peers) => {
                        let mut to: Vec<usize> = peers
                            .iter()
                            .map(|peer| keys.iter().position(|k| k == peer).unwrap())
                            .collect();
                        to.sort_unstable();
                        *state = Sent::To(to);
                    }
                    Err(oneshot::error::TryRecvError::Empty) => {}
                    Err(oneshot::error::TryRecvError::Closed) => *state = Sent::Canceled,
                }
            }
            let encoded = context.encode();
            observations.push(Observation {
                found,
                subscriptions: subscriptions.iter().map(|(_, s)| s.clone()).collect(),
                sent: sent.iter().map(|(_, s)| s.clone()).collect(),
                metrics: (0..NODES)
                    .map(|node| super::metrics_of(&encoded, node, running[node]))
                    .collect(),
            });
        }
        observations
    })
}
