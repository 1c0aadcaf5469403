//! Inputs of a commonware engine that a test drives by hand: a receiver fed (and failed)
//! through a channel, a peer-set provider whose subscription the test holds, and a sender whose
//! sends wait until the test lets them through.
#![allow(dead_code)]

use commonware_cryptography::ed25519;
use commonware_p2p::{
    CheckedSender, LimitedSender, PeerSetSubscription, PeerSetUpdate, Provider, Receiver,
    Recipients, TrackedPeers,
};
use commonware_runtime::{IoBuf, IoBufs};
use commonware_utils::ordered::Set;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio::sync::{Semaphore, mpsc};

type Key = ed25519::PublicKey;

/// The scripted input was closed by the test.
#[derive(Debug)]
pub struct Ended;

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ended by the test")
    }
}

impl std::error::Error for Ended {}

/// A receiver that yields what the test pushes through [`frames`] and fails once the test
/// drops every pushing end.
#[derive(Debug)]
pub struct ScriptedReceiver {
    frames: mpsc::UnboundedReceiver<(Key, Vec<u8>)>,
}

/// A scripted receiver and the end that feeds it.
pub fn frames() -> (mpsc::UnboundedSender<(Key, Vec<u8>)>, ScriptedReceiver) {
    let (push, frames) = mpsc::unbounded_channel();
    (push, ScriptedReceiver { frames })
}

impl Receiver for ScriptedReceiver {
    type Error = Ended;
    type PublicKey = Key;

    async fn recv(&mut self) -> Result<(Key, IoBuf), Ended> {
        let (peer, frame) = self.frames.recv().await.ok_or(Ended)?;
        Ok((peer, IoBuf::from(frame)))
    }
}

/// A provider whose one subscription is the receiving end of [`updates`]: the test pushes the
/// updates and closes it by dropping the pushing end.
#[derive(Clone, Debug)]
pub struct ScriptedProvider {
    subscription: Arc<Mutex<Option<PeerSetSubscription<Key>>>>,
}

/// A scripted provider and the end that feeds its subscription.
pub fn updates() -> (Updates, ScriptedProvider) {
    let (push, subscription) = commonware_utils::channel::mpsc::unbounded_channel();
    (
        Updates(push),
        ScriptedProvider {
            subscription: Arc::new(Mutex::new(Some(subscription))),
        },
    )
}

/// The pushing end of a [`ScriptedProvider`]'s subscription.
pub struct Updates(pub commonware_utils::channel::mpsc::UnboundedSender<PeerSetUpdate<Key>>);

impl Updates {
    /// Pushes set `index` with `primary` (and `secondary`) peers.
    pub fn push(&self, index: u64, primary: &[Key], secondary: &[Key]) {
        let latest = TrackedPeers::new(
            Set::from_iter_dedup(primary.iter().cloned()),
            Set::from_iter_dedup(secondary.iter().cloned()),
        );
        let _ = self.0.send(PeerSetUpdate {
            index,
            all: latest.clone(),
            latest,
        });
    }
}

impl Provider for ScriptedProvider {
    type PublicKey = Key;

    async fn peer_set(&mut self, _id: u64) -> Option<TrackedPeers<Key>> {
        None
    }

    /// The scripted subscription the first time; a closed one after that.
    async fn subscribe(&mut self) -> PeerSetSubscription<Key> {
        let taken = self.subscription.lock().unwrap().take();
        taken.unwrap_or_else(|| commonware_utils::channel::mpsc::unbounded_channel().1)
    }
}

/// A sender whose every send waits for one permit of its gate, then reports `to` as the
/// recipients.
#[derive(Clone, Debug)]
pub struct GatedSender {
    pub gate: Arc<Semaphore>,
    pub to: Vec<Key>,
}

/// The checked form of a [`GatedSender`].
pub struct GatedSend {
    gate: Arc<Semaphore>,
    to: Vec<Key>,
}

impl CheckedSender for GatedSend {
    type PublicKey = Key;
    type Error = Ended;

    async fn send(
        self,
        _message: impl Into<IoBufs> + Send,
        _priority: bool,
    ) -> Result<Vec<Key>, Ended> {
        self.gate.acquire().await.map_err(|_| Ended)?.forget();
        Ok(self.to)
    }
}

impl LimitedSender for GatedSender {
    type PublicKey = Key;
    type Checked<'a> = GatedSend;

    async fn check(&mut self, _recipients: Recipients<Key>) -> Result<GatedSend, SystemTime> {
        Ok(GatedSend {
            gate: self.gate.clone(),
            to: self.to.clone(),
        })
    }
}
