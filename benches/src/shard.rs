//! In-process plumbing for a shardcast engine: a channel-backed receiver, a sender that drops
//! every send, and a peer-set source with one set.

use bytes::Bytes;
use shardcast::net::{
    PeerSetSource, PeerSetUpdate, Receiver, Recipients, RecvError, SendError, Sender,
};
use shardcast::{Blob, BlobConfig, Buffer, Config, Engine, EngineConfig};
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

/// A running shardcast engine fed through a channel.
pub struct Node {
    /// The engine.
    pub engine: Engine<u32, Blob, NullSender>,
    /// Frames pushed here reach the engine's receive path.
    pub frames: flume::Sender<(u32, Bytes)>,
}

impl Node {
    /// Starts an engine (own id 0) with peers `0..=peers` primary, `workers` receive workers,
    /// and `preloaded` frames already waiting in its receiver.
    pub fn start(
        peers: u32,
        deque_size: usize,
        workers: usize,
        preloaded: Vec<(u32, Bytes)>,
    ) -> Self {
        let buffer = Arc::new(Buffer::new(Config::new(deque_size)).expect("valid config"));
        let (frames, rx) = flume::unbounded();
        for frame in preloaded {
            frames.send(frame).expect("open");
        }
        let mut config = EngineConfig::new(BlobConfig::default());
        config.workers = workers;
        let set = PeerSetUpdate {
            index: 0,
            primary: (0..=peers).collect(),
            secondary: Vec::new(),
        };
        let engine = Engine::start(
            buffer,
            0,
            NullSender,
            ChannelReceiver(rx),
            OneSet(Some(set)),
            config,
        )
        .expect("within a runtime");
        Self { engine, frames }
    }
}
