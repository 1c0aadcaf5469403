// A small chain-shaped program written against `buffered`, the way a chain on commonware
// 2026.4.0 writes it. The module that includes this file decides what `buffered` is: the
// reference (`use commonware_broadcast::buffered;`) or shardcast
// (`use shardcast_commonware_2026_4 as buffered;`). That one line is the whole switch.

use commonware_broadcast::Broadcaster;
use commonware_codec::RangeCfg;
use commonware_cryptography::{Digestible, Signer as _, ed25519};
use commonware_p2p::{Manager as _, Recipients, simulated};
use commonware_runtime::{Clock, Metrics as _, Quota, Runner as _, deterministic};
use commonware_utils::ordered::Set;
use shardcast_benches::actor::ActorMessage as Block;
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

type Key = ed25519::PublicKey;

/// What each validator saw of each height: whether its subscription was answered with the
/// block, and whether `get` found it afterwards; and how many peers each proposal reached.
#[derive(Debug, PartialEq, Eq)]
pub struct Summary {
    pub seen: Vec<Vec<(bool, bool)>>,
    pub reached: Vec<usize>,
}

/// Proposes `block` to everyone: generic over any broadcaster of blocks, as a chain's
/// proposer is.
async fn propose<B>(broadcaster: &B, block: Block) -> Vec<Key>
where
    B: Broadcaster<Recipients = Recipients<Key>, Message = Block, Response = Vec<Key>>,
{
    broadcaster
        .broadcast(Recipients::All, block)
        .await
        .await
        .unwrap_or_default()
}

/// `validators` validators, `heights` heights, the proposer of height `h` is `h % validators`.
pub fn run(seed: u64, validators: usize, heights: u64) -> Summary {
    let config = deterministic::Config::new().with_seed(seed);
    deterministic::Runner::new(config).start(|context| async move {
        let keys: Vec<Key> = (0..validators as u64)
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
        oracle
            .manager()
            .track(0, Set::from_iter_dedup(keys.iter().cloned()))
            .await;
        let mut mailboxes: Vec<buffered::Mailbox<Key, Block>> = Vec::new();
        let mut handles = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let channel = oracle
                .control(key.clone())
                .register(0, Quota::per_second(NonZeroU32::MAX))
                .await
                .unwrap();
            for other in &keys {
                if other != key {
                    let link = simulated::Link {
                        latency: Duration::from_millis(10),
                        jitter: Duration::ZERO,
                        success_rate: 1.0,
                    };
                    oracle
                        .add_link(key.clone(), other.clone(), link)
                        .await
                        .unwrap();
                }
            }
            let (engine, mailbox) = buffered::Engine::new(
                context.with_label(&format!("buffer_{i}")),
                buffered::Config {
                    public_key: key.clone(),
                    mailbox_size: 1024,
                    deque_size: 10,
                    priority: false,
                    codec_config: RangeCfg::from(..),
                    peer_provider: oracle.manager(),
                },
            );
            handles.push(engine.start(channel));
            mailboxes.push(mailbox);
        }
        context.sleep(Duration::from_millis(10)).await;

        let mut seen = vec![Vec::new(); validators];
        let mut reached = Vec::new();
        for height in 1..=heights {
            let block = Block(format!("block {height}").into_bytes());
            let proposer = (height as usize) % validators;
            // Everyone else waits for the block before it is proposed, as marshal does.
            let mut waits = Vec::new();
            for (i, mailbox) in mailboxes.iter().enumerate() {
                if i != proposer {
                    waits.push((i, mailbox.subscribe(block.digest()).await));
                }
            }
            reached.push(propose(&mailboxes[proposer], block.clone()).await.len());
            for (i, wait) in waits {
                let got = context.timeout(Duration::from_secs(1), wait).await;
                let answered = matches!(&got, Ok(Ok(b)) if *b == block);
                let found = mailboxes[i].get(block.digest()).await == Some(block.clone());
                seen[i].push((answered, found));
            }
        }
        for handle in handles {
            handle.abort();
        }
        Summary { seen, reached }
    })
}
