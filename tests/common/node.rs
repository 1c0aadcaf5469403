//! A shardcast engine fed through a channel, for tests that control every frame.
#![allow(dead_code)]

use shardcast::net::channel::{ChannelReceiver, NullSender, StaticPeerSet};
use shardcast::{Buffer, Codec, Config, Engine, EngineConfig, Message};
use std::sync::Arc;

/// An engine (our id 0) whose receiver is `frames`, with `primary` as its only peer set.
pub fn start<M: Message + Codec>(
    config: Config,
    engine: EngineConfig<M::Config>,
    primary: Vec<u32>,
    frames: ChannelReceiver<u32>,
) -> Engine<u32, M> {
    let buffer = Arc::new(Buffer::new(config).expect("valid config"));
    Engine::start(
        buffer,
        0,
        NullSender,
        frames,
        StaticPeerSet::new(primary),
        engine,
    )
    .expect("within a runtime")
}
