//! A shardcast engine fed through a channel (`shardcast::net::channel`).

use bytes::Bytes;
use shardcast::net::channel::{ChannelReceiver, NullSender, StaticPeerSet};
use shardcast::{Blob, BlobConfig, Buffer, Config, Engine, EngineConfig};
use std::sync::Arc;

/// A running shardcast engine fed through a channel.
pub struct Node {
    /// The engine.
    pub engine: Engine<u32, Blob>,
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
        let engine = Engine::start(
            buffer,
            0,
            NullSender,
            ChannelReceiver::new(rx),
            StaticPeerSet::new((0..=peers).collect()),
            config,
        )
        .expect("within a runtime");
        Self { engine, frames }
    }
}
