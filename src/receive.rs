//! Receive accounting: what the network delivered and what became of it.
//!
//! The cache itself ([`crate::buffer`]) only inserts; everything that counts receipts from the
//! network lives here, on the receive side:
//!
//! - [`Buffer::receive`] and [`Buffer::record_invalid`], the entry points for messages from the
//!   network (the engine's workers call them for every frame; a transport of your own can too):
//!   `receive_total{status}` and the opt-in per-sender `peer_total{sequencer}` series;
//! - the engine's totals behind [`EngineStats`] (feature `engine`).
//!
//! The per-frame counts are striped counters (see [`crate::metrics`]): a frame costs a few
//! additions on cache lines of the worker's own thread, never a shared line, so there is
//! nothing to batch. The opt-in per-sender series are plain counters, one per sender.

use crate::buffer::peers::{ByOrd, PeerEntry};
use crate::buffer::{Buffer, Insert};
use crate::message::{Message, Peer};
use crate::metrics::Counter;
use crate::sync::Op;

impl<P: Peer, M: Message> Buffer<P, M> {
    /// [`insert`](Self::insert) for a message that arrived from the network: also counts
    /// `peer_total{sequencer}` (when enabled) and `receive_total{status}` (`Success` when
    /// inserted, `Dropped` when a duplicate, from an ineligible peer, or over the byte budget).
    pub fn receive(&self, peer: P, message: M) -> Insert {
        self.receive_from(&peer, message)
    }

    /// [`receive`](Self::receive) with the sender borrowed: the engine's workers keep it, to
    /// name it in a log line if the frame's handling panics, without a copy per frame.
    pub(crate) fn receive_from(&self, peer: &P, message: M) -> Insert {
        let (digest, size) = (message.digest(), message.size());
        let deque = self.peers.deque(peer);
        self.count_peer(peer, deque.as_deref());
        let result = self.insert_into(deque, digest, size, message);
        let metrics = self.metrics();
        match result {
            Insert::Added => metrics.receive_success.increment(1),
            Insert::Duplicate | Insert::Ineligible | Insert::TooLarge => {
                metrics.receive_dropped.increment(1)
            }
        }
        result
    }

    /// Counts a frame from the network that could not be decoded (`receive_total{Invalid}`).
    pub fn record_invalid(&self) {
        self.metrics().receive_invalid.increment(1);
    }

    /// Counts `frames` from the network dropped undecoded because the receive path had no
    /// room for them (`receive_total{Dropped}`).
    #[cfg(feature = "engine")]
    pub(crate) fn record_shed(&self, frames: u64) {
        self.metrics().receive_dropped.increment(frames);
    }

    /// Counts one more message from `peer` in its `peer_total{sequencer}` series, when enabled.
    ///
    /// A primary sender's handle is kept in its deque entry, which the insert looks up anyway:
    /// the hot path is one atomic load and one add. The buffer's map of handles (one series per
    /// sender, whether or not it is primary) is read only for a sender without a deque, and
    /// once per new deque.
    fn count_peer(&self, peer: &P, entry: Option<&PeerEntry<M::Digest>>) {
        let Some(counters) = &self.peer_counters else {
            return;
        };
        if let Some(counter) = entry.and_then(PeerEntry::counter) {
            counter.increment(1);
            return;
        }
        let counter = match counters.read(ByOrd::of(peer), Counter::clone) {
            Some(counter) => counter,
            None => {
                // First message from this sender: register its series outside any lock.
                let counter = self.metrics().peer_counter((self.peer_label)(peer));
                counters
                    .update(ByOrd(peer.clone()), |slot| match slot {
                        Some(kept) => (Op::Keep, kept.clone()),
                        None => (Op::Insert(counter.clone()), counter),
                    })
                    .0
            }
        };
        counter.increment(1);
        if let Some(entry) = entry {
            entry.keep_counter(counter);
        }
    }
}

#[cfg(feature = "engine")]
/// Counts of what an engine's receive path did with the frames it received (the same outcomes
/// `receive_total{status}` counts). More fields may come.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EngineStats {
    /// Frames that decoded.
    pub received: u64,
    /// Decoded messages inserted (new in the sender's deque).
    pub added: u64,
    /// Decoded messages the sender's deque already held.
    pub duplicate: u64,
    /// Decoded messages from peers outside the primary set.
    pub ineligible: u64,
    /// Decoded messages larger than the per-peer byte budget: not cached.
    pub too_large: u64,
    /// Frames rejected: oversized, undecodable, or whose handling panicked.
    pub invalid: u64,
    /// Of `invalid`, frames whose handling panicked in user code.
    pub panicked: u64,
    /// Frames dropped undecoded because their worker's share of the byte budget was full
    /// while another worker had room (see [`EngineConfig::with_max_queued_bytes`](crate::EngineConfig::with_max_queued_bytes)).
    /// Never with one worker.
    pub shed: u64,
    /// Bytes of frames handed to the workers and not yet handled, now.
    pub queued_bytes: u64,
    /// The most `queued_bytes` has been: at most `max_queued_bytes`, plus at most one frame per
    /// worker larger than its share (see [`EngineConfig::with_max_queued_bytes`](crate::EngineConfig::with_max_queued_bytes)).
    pub queued_bytes_peak: u64,
    /// Broadcasts waiting for the sender task, now: at most
    /// [`EngineConfig::with_outbox`](crate::EngineConfig::with_outbox) (`mailbox_size` on
    /// commonware) in the outbox, plus those [`Engine::try_broadcast`](crate::engine::Engine::try_broadcast)
    /// put in the overflow behind it.
    pub outbox: u64,
}

/// What became of the frames an engine received: the totals behind
/// [`EngineStats`], one striped counter each.
#[cfg(feature = "engine")]
#[derive(Default)]
pub(crate) struct ReceiveCounts {
    received: crate::metrics::Stripes,
    added: crate::metrics::Stripes,
    duplicate: crate::metrics::Stripes,
    ineligible: crate::metrics::Stripes,
    too_large: crate::metrics::Stripes,
    invalid: crate::metrics::Stripes,
    panicked: crate::metrics::Stripes,
    shed: crate::metrics::Stripes,
}

#[cfg(feature = "engine")]
impl ReceiveCounts {
    /// A frame decoded and was offered to the buffer with this outcome. The outcome is counted
    /// before the total, so that a reader who sees the total also sees the outcome
    /// ([`stats`](Self::stats) reads the totals first).
    pub(crate) fn decoded(&self, outcome: Insert) {
        match outcome {
            Insert::Added => self.added.add(1),
            Insert::Duplicate => self.duplicate.add(1),
            Insert::Ineligible => self.ineligible.add(1),
            Insert::TooLarge => self.too_large.add(1),
        };
        self.received.add(1);
    }

    /// A frame was rejected (oversized or undecodable), or its handling panicked (counted
    /// before the total, as in [`decoded`](Self::decoded)).
    pub(crate) fn rejected(&self, panicked: bool) {
        if panicked {
            self.panicked.add(1);
        }
        self.invalid.add(1);
    }

    /// Frames shed undecoded.
    pub(crate) fn shed(&self, frames: u64) {
        self.shed.add(frames);
    }

    /// The totals, with the receive path's queue figures.
    pub(crate) fn stats(
        &self,
        queued_bytes: u64,
        queued_bytes_peak: u64,
        outbox: u64,
    ) -> EngineStats {
        // Totals first: each outcome was counted before its total (`decoded`, `rejected`), so
        // the outcomes read after them include at least what the totals account for.
        let (received, invalid) = (self.received.sum(), self.invalid.sum());
        EngineStats {
            received,
            added: self.added.sum(),
            duplicate: self.duplicate.sum(),
            ineligible: self.ineligible.sum(),
            too_large: self.too_large.sum(),
            invalid,
            panicked: self.panicked.sum(),
            shed: self.shed.sum(),
            queued_bytes,
            queued_bytes_peak,
            outbox,
        }
    }
}

#[cfg(all(test, not(loom), feature = "engine"))]
mod tests {
    use crate::{Blob, Buffer, Config};

    #[test]
    fn a_primary_senders_counter_is_kept_in_its_deque_entry() {
        let buffer: Buffer<u8, Blob> = Buffer::new(Config::new(4).with_peer_metrics(true)).unwrap();
        buffer.update_primary([1u8]);
        let _ = buffer.receive(1, Blob::new(&b"a"[..]));
        let entry = buffer.peers.deque(&1).unwrap();
        assert!(
            entry.counter().is_some(),
            "the first frame from a primary sender keeps its handle beside its deque"
        );
        let _ = buffer.receive(1, Blob::new(&b"b"[..]));
        assert!(entry.counter().is_some());
    }
}
