//! shardcast's mailbox through commonware-consensus 2026.10's `marshal::core::Buffer` for
//! `Standard<B>`, called the way marshal calls it (every call through the trait), on the
//! release's deterministic runtime and simulated network.

mod common;

use common::{Mailbox, Net, SETTLE, deterministic, network};
use commonware_codec::{Buf, EncodeSize, Error as CodecError, Read, ReadExt as _, Write};
use commonware_consensus::marshal::core::Buffer;
use commonware_consensus::marshal::standard::Standard;
use commonware_consensus::types::{Epoch, Height, Round, View};
use commonware_consensus::{Block, Heightable};
use commonware_cryptography::{Digested, Digestible, Hasher, Sha256, sha256::Digest};
use commonware_p2p::Recipients;
use commonware_runtime::{BufMut, Clock as _, deterministic};
use std::time::Duration;

/// A block of a toy chain: its height, its parent's digest, a payload.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Blk {
    height: u64,
    parent: Digest,
    payload: u64,
}

impl Blk {
    fn digested(&self) -> Digested<Self> {
        Digested::precomputed(self.clone(), self.digest())
    }
}

impl Digestible for Blk {
    type Digest = Digest;
    fn digest(&self) -> Digest {
        Sha256::hash(&[
            &self.height.to_be_bytes(),
            self.parent.as_ref(),
            &self.payload.to_be_bytes(),
        ])
    }
}

impl Heightable for Blk {
    fn height(&self) -> Height {
        Height::new(self.height)
    }
}

impl Block for Blk {
    fn parent(&self) -> Digest {
        self.parent
    }
}

impl Write for Blk {
    fn write(&self, buf: &mut impl BufMut) {
        self.height.write(buf);
        self.parent.write(buf);
        self.payload.write(buf);
    }
}

impl EncodeSize for Blk {
    fn encode_size(&self) -> usize {
        self.height.encode_size() + self.parent.encode_size() + self.payload.encode_size()
    }
}

impl Read for Blk {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            height: u64::read(buf)?,
            parent: Digest::read(buf)?,
            payload: u64::read(buf)?,
        })
    }
}

type BlockBuffer = Mailbox<Blk>;

async fn started(context: &deterministic::Context, net: &mut Net) -> Vec<BlockBuffer> {
    let mut mailboxes = Vec::new();
    for i in 0..net.peers.len() {
        let (engine, mailbox) = common::engine::<Blk>(context, net, i, 1024, ());
        drop(engine.start(net.networks[i].take().unwrap()));
        mailboxes.push(mailbox);
    }
    context.sleep(Duration::from_millis(10)).await;
    mailboxes
}

fn round(view: u64) -> Round {
    Round::new(Epoch::new(0), View::new(view))
}

#[test]
fn a_block_sent_through_marshal_reaches_the_subscribers_and_the_finders() {
    deterministic(21, |context| async move {
        let mut net = network(&context, 3, 1).await;
        let buffers = started(&context, &mut net).await;
        let block = Blk {
            height: 1,
            parent: Sha256::hash(&[b"genesis"]),
            payload: 7,
        };
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
        let late = Blk {
            height: 2,
            parent: Sha256::hash(&[b"one"]),
            payload: 9,
        };
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
