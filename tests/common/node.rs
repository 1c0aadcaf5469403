//! A shardcast engine fed through a channel, for tests that control every frame.
#![allow(dead_code)]

use bytes::Bytes;
use shardcast::net::{
    PeerSetSource, PeerSetUpdate, Receiver, Recipients, RecvError, SendError, Sender,
};
use shardcast::{Buffer, Codec, Config, Engine, EngineConfig, Message};
use std::sync::Arc;

/// Drops every send.
#[derive(Clone, Debug)]
pub struct NullSender;

impl Sender<u32> for NullSender {
    async fn send(&self, _: Recipients<u32>, _: Bytes, _: bool) -> Result<Vec<u32>, SendError> {
        Ok(Vec::new())
    }
}

/// Frames from a channel.
pub struct ChannelReceiver(pub flume::Receiver<(u32, Bytes)>);

impl Receiver<u32> for ChannelReceiver {
    async fn recv(&mut self) -> Result<(u32, Bytes), RecvError> {
        self.0.recv_async().await.map_err(|_| RecvError)
    }
}

/// Yields one set, then nothing (without closing).
pub struct OneSet(pub Option<PeerSetUpdate<u32>>);

impl PeerSetSource<u32> for OneSet {
    async fn next(&mut self) -> Option<PeerSetUpdate<u32>> {
        match self.0.take() {
            Some(update) => Some(update),
            None => std::future::pending().await,
        }
    }
}

/// An engine (our id 0) whose receiver is `frames`, with `primary` as its only peer set.
pub fn start<M: Message + Codec>(
    config: Config,
    engine: EngineConfig<M::Config>,
    primary: Vec<u32>,
    frames: flume::Receiver<(u32, Bytes)>,
) -> Engine<u32, M, NullSender> {
    let buffer = Arc::new(Buffer::new(config).expect("valid config"));
    let set = PeerSetUpdate {
        index: 0,
        primary,
        secondary: Vec::new(),
    };
    Engine::start(
        buffer,
        0,
        NullSender,
        ChannelReceiver(frames),
        OneSet(Some(set)),
        engine,
    )
    .expect("within a runtime")
}
