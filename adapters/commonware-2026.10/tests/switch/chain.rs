// A small chain-shaped program written against `buffered`, the way a chain on commonware
// 2026.10.0 writes it. The module that includes this file decides what `buffered` is: the
// reference (`use commonware_broadcast::buffered;`) or shardcast
// (`use shardcast_commonware_2026_10 as buffered;`). That one line is the whole switch.

use commonware_broadcast::Broadcaster;
use commonware_codec::RangeCfg;
use commonware_cryptography::{Digested, Digestible, ed25519};
use commonware_p2p::Recipients;
use commonware_parallel::Sequential;
use commonware_runtime::{Clock, Runner as _, Supervisor as _, deterministic};
use commonware_utils::NZUsize;
use std::time::Duration;

type Key = ed25519::PublicKey;

/// The chain's block: its bytes, identified by their SHA-256.
use crate::common::note::Note as Block;

/// What each validator saw of each height: whether its subscription was answered with the
/// block, and whether `get` found it afterwards; and whether each proposal was accepted.
#[derive(Debug, PartialEq, Eq)]
pub struct Summary {
    pub seen: Vec<Vec<(bool, bool)>>,
    pub accepted: Vec<bool>,
}

/// Proposes `block` to everyone: generic over any broadcaster of blocks, as a chain's
/// proposer is.
fn propose<B>(broadcaster: &B, block: &Block) -> bool
where
    B: Broadcaster<Recipients = Recipients<Key>, Message = Digested<Block>>,
{
    broadcaster
        .broadcast(
            Recipients::All,
            Digested::precomputed(block.clone(), block.digest()),
        )
        .accepted()
}

/// `validators` validators, `heights` heights, the proposer of height `h` is `h % validators`.
pub fn run(seed: u64, validators: usize, heights: u64) -> Summary {
    let config = deterministic::Config::new().with_seed(seed);
    deterministic::Runner::new(config).start(|context| async move {
        let mut net =
            crate::common::network_with(&context, validators, 1, Duration::from_millis(10)).await;
        let (keys, oracle) = (net.peers.clone(), net.oracle.clone());
        let mut mailboxes: Vec<buffered::Mailbox<Key, Block>> = Vec::new();
        let mut handles = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let channel = net.networks[i].take().unwrap();
            let (engine, mailbox) = buffered::Engine::new(
                context.child("buffer").with_attribute("validator", key),
                buffered::Config {
                    public_key: key.clone(),
                    mailbox_size: NZUsize!(1024),
                    deque_size: 10,
                    priority: false,
                    codec_config: RangeCfg::from(..),
                    peer_provider: oracle.manager(),
                    strategy: Sequential,
                },
            );
            handles.push(engine.start(channel));
            mailboxes.push(mailbox);
        }
        context.sleep(Duration::from_millis(10)).await;

        let mut seen = vec![Vec::new(); validators];
        let mut accepted = Vec::new();
        for height in 1..=heights {
            let block = Block(format!("block {height}").into_bytes());
            let proposer = (height as usize) % validators;
            // Everyone else waits for the block before it is proposed, as marshal does.
            let mut waits = Vec::new();
            for (i, mailbox) in mailboxes.iter().enumerate() {
                if i != proposer {
                    waits.push((i, mailbox.subscribe(block.digest())));
                }
            }
            accepted.push(propose(&mailboxes[proposer], &block));
            for (i, wait) in waits {
                let got = context.timeout(Duration::from_secs(1), wait).await;
                let answered = matches!(&got, Ok(Ok(b)) if b.inner() == &block);
                let found = mailboxes[i]
                    .get(block.digest())
                    .await
                    .is_some_and(|b| b.inner() == &block);
                seen[i].push((answered, found));
            }
        }
        for handle in handles {
            handle.abort();
        }
        Summary { seen, accepted }
    })
}
