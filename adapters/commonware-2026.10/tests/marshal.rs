//! shardcast's mailbox through commonware-consensus 2026.10's `marshal::core::Buffer` for
//! `Standard<B>`, called the way marshal calls it (every call through the trait), on the
//! release's deterministic runtime and simulated network.

mod common;

use common::chain::{Blk, round};
use common::{Mailbox, Net, SETTLE, deterministic, network};
use commonware_consensus::marshal::core::Buffer;
use commonware_consensus::marshal::standard::Standard;
use commonware_consensus::types::Height;
use commonware_cryptography::{Digestible, Hasher, Sha256};
use commonware_p2p::Recipients;
use commonware_runtime::{Clock as _, deterministic};
use std::time::Duration;

type BlockBuffer = Mailbox<Blk>;

async fn started(context: &deterministic::Context, net: &mut Net) -> Vec<BlockBuffer> {
    let mut mailboxes = Vec::new();
    for i in 0..net.peers.len() {
        let (engine, mailbox) = common::engine::<Blk>(context, net, i, 1024, 64);
        drop(engine.start(net.networks[i].take().unwrap()));
        mailboxes.push(mailbox);
    }
    context.sleep(Duration::from_millis(10)).await;
    mailboxes
}

#[test]
fn a_block_sent_through_marshal_reaches_the_subscribers_and_the_finders() {
    deterministic(21, |context| async move {
        let mut net = network(&context, 3, 1).await;
        let buffers = started(&context, &mut net).await;
        let block = Blk::new(Sha256::hash(&[b"genesis"]), Height::new(1), vec![7]);
        let digest = block.digest();
        // Marshal subscribes (synchronously) before the block exists.
        let by_digest = Buffer::<Standard<Blk>>::subscribe_by_digest(&buffers[1], digest)
            .expect("shardcast always gives notifications");
        let by_commitment =
            Buffer::<Standard<Blk>>::subscribe_by_commitment(&buffers[2], digest).unwrap();
        Buffer::<Standard<Blk>>::send(&buffers[0], round(1), block.digested(), Recipients::All);
        assert_eq!(by_digest.await.unwrap().digest(), digest);
        assert_eq!(by_commitment.await.unwrap().inner(), &block);
        for buffer in &buffers {
            let found = Buffer::<Standard<Blk>>::find_by_digest(buffer, digest).await;
            assert_eq!(found.map(|b| b.digest()), Some(digest));
            let found = Buffer::<Standard<Blk>>::find_by_commitment(buffer, digest).await;
            assert_eq!(found.map(|b| b.digest()), Some(digest));
        }
    });
}

#[test]
fn a_subscription_stays_open_while_the_block_may_still_arrive() {
    deterministic(22, |context| async move {
        let mut net = network(&context, 2, 1).await;
        let buffers = started(&context, &mut net).await;
        let late = Blk::new(Sha256::hash(&[b"one"]), Height::new(2), vec![9]);
        let mut waiting =
            Buffer::<Standard<Blk>>::subscribe_by_digest(&buffers[1], late.digest()).unwrap();
        context.sleep(SETTLE).await;
        assert!(
            matches!(
                waiting.try_recv(),
                Err(tokio::sync::oneshot::error::TryRecvError::Empty)
            ),
            "closing it would make marshal give the key up"
        );
        assert!(
            Buffer::<Standard<Blk>>::find_by_digest(&buffers[1], late.digest())
                .await
                .is_none()
        );
        Buffer::<Standard<Blk>>::send(&buffers[0], round(2), late.digested(), Recipients::All);
        assert_eq!(waiting.await.unwrap().inner(), &late);
    });
}
