//! A shardcast engine fed through a channel (`shardcast::net::channel`).

use crate::PeerKey;
use bytes::Bytes;
use shardcast::net::channel::{self, FrameSender, NullSender, StaticPeerSet};
use shardcast::{Blob, BlobConfig, Buffer, Config, Engine, EngineConfig};
use std::sync::Arc;

/// A running shardcast engine fed through a channel.
pub struct Node<P: PeerKey = u32> {
    /// The engine.
    pub engine: Engine<P, Blob>,
    /// Frames pushed here reach the engine's receive path.
    pub frames: FrameSender<P>,
    /// When the engine was started (after the preloaded frames were queued: the time to fill
    /// the channel is not the engine's).
    pub started: std::time::Instant,
}

impl<P: PeerKey> Node<P> {
    /// Starts an engine with own id `keys[0]` and every key primary, `workers` receive
    /// workers, and `preloaded` frames already waiting in its receiver.
    pub fn start(
        keys: Vec<P>,
        deque_size: usize,
        workers: usize,
        preloaded: Vec<(P, Bytes)>,
    ) -> Self {
        let buffer = Arc::new(Buffer::new(Config::new(deque_size)).expect("valid config"));
        let (frames, rx) = channel::unbounded();
        // The preloaded burst is ingested in full, as the actor ingests it: each worker may
        // hold all of it, so that none is ever full and nothing is shed.
        let (count, bytes) = (
            preloaded.len(),
            preloaded.iter().map(|(_, f)| f.len()).sum::<usize>(),
        );
        for frame in preloaded {
            frames.send(frame).expect("open");
        }
        let config = EngineConfig::new(BlobConfig::default())
            .with_workers(workers)
            .with_frame_queue(count.max(1024))
            .with_max_queued_bytes(
                (bytes * workers.max(1)).max(shardcast::engine::DEFAULT_MAX_QUEUED_BYTES),
            );
        let started = std::time::Instant::now();
        let engine = Engine::start(
            buffer,
            keys[0].clone(),
            NullSender,
            rx,
            StaticPeerSet::new(keys),
            config,
        )
        .expect("within a runtime");
        Self {
            engine,
            frames,
            started,
        }
    }
}
