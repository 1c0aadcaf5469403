//! Metric names and the cached handles the hot paths use.
//!
//! Metrics go through the [`metrics`] facade: install a recorder (for example
//! `metrics-exporter-prometheus`) *before* building the [`Buffer`](crate::Buffer), because every
//! handle is registered once, in [`Buffer::new`](crate::Buffer::new), and reused on every call: no
//! per-call registry lookup, no per-call string formatting (the one exception is the opt-in
//! per-sender series, looked up once per new sender).
//!
//! Names (each behind the configured prefix, default `shardcast_`) and label values follow the
//! reference engine, so existing dashboards keep working:
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `receive_total` | counter | `status` = `Success`, `Dropped`, `Invalid` | network receipts: inserted; duplicate from that peer or ineligible sender; failed to decode |
//! | `peer_total` | counter | `sequencer` | decoded receipts per sender (opt-in: [`Config::with_peer_metrics`](crate::Config::with_peer_metrics)) |
//! | `subscribe_total` | counter | `status` = `Success`, `Dropped` | subscriptions served; subscriptions cancelled (dropped) before being served |
//! | `get_total` | counter | `status` = `Success`, `Failure` | `get` hits and misses |
//! | `waiters` | gauge | | digests with at least one live subscription (exact at all times) |
//! | `subscriptions` | gauge | | live (unresolved) subscriptions |
//! | `cached` | gauge | | messages resident in the cache |
//! | `evictions_total` | counter | `reason` = `overflow`, `peer_left` | messages removed from the cache because the last deque holding them overflowed, or because the last peer holding them left the primary set |
//!
//! One deliberate difference: the reference counts an abandoned subscription as
//! `get_total{status="Dropped"}` (a bug, SPEC §4.7); shardcast counts it as
//! `subscribe_total{status="Dropped"}`, once, when it is dropped.

use metrics::{Counter, Gauge, describe_counter, describe_gauge};

/// Metric name suffixes (each is prefixed with [`Config::metrics_prefix`](crate::Config::metrics_prefix)).
pub mod names {
    /// Counter of network receipts by `status`.
    pub const RECEIVE: &str = "receive_total";
    /// Counter of decoded network receipts by `sequencer` (opt-in).
    pub const PEER: &str = "peer_total";
    /// Counter of subscriptions by `status`.
    pub const SUBSCRIBE: &str = "subscribe_total";
    /// Counter of `get` calls by `status`.
    pub const GET: &str = "get_total";
    /// Gauge of digests being awaited.
    pub const WAITERS: &str = "waiters";
    /// Gauge of live subscriptions.
    pub const SUBSCRIPTIONS: &str = "subscriptions";
    /// Gauge of cached messages.
    pub const CACHED: &str = "cached";
    /// Counter of messages removed from the cache by `reason`.
    pub const EVICTIONS: &str = "evictions_total";
}

/// Label values of `status`, spelled as the reference engine spells them.
pub mod status {
    /// The operation succeeded.
    pub const SUCCESS: &str = "Success";
    /// The operation found nothing.
    pub const FAILURE: &str = "Failure";
    /// The input could not be decoded.
    pub const INVALID: &str = "Invalid";
    /// The input was dropped: duplicate, ineligible sender, or a cancelled subscription.
    pub const DROPPED: &str = "Dropped";
}

/// Why a message left the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Eviction {
    /// The last deque holding it overflowed.
    Overflow,
    /// The last peer holding it left the primary set.
    PeerLeft,
}

/// Every handle the buffer and the engine touch on their hot paths.
pub(crate) struct Metrics {
    pub(crate) prefix: String,
    pub(crate) receive_success: Counter,
    pub(crate) receive_dropped: Counter,
    pub(crate) receive_invalid: Counter,
    pub(crate) subscribe_success: Counter,
    pub(crate) subscribe_dropped: Counter,
    pub(crate) get_success: Counter,
    pub(crate) get_failure: Counter,
    pub(crate) waiters: Gauge,
    pub(crate) subscriptions: Gauge,
    pub(crate) cached: Gauge,
    pub(crate) evict_overflow: Counter,
    pub(crate) evict_peer_left: Counter,
}

impl Metrics {
    /// Registers every series under `prefix` with the recorder installed now.
    pub(crate) fn new(prefix: &str) -> Self {
        let name = |suffix: &str| format!("{prefix}{suffix}");
        describe_counter!(
            name(names::RECEIVE),
            "Number of received messages by status"
        );
        describe_counter!(name(names::PEER), "Number of broadcasts received by peer");
        describe_counter!(name(names::SUBSCRIBE), "Number of subscriptions by status");
        describe_counter!(name(names::GET), "Number of get requests by status");
        describe_gauge!(name(names::WAITERS), "Number of digests being awaited");
        describe_gauge!(name(names::SUBSCRIPTIONS), "Number of live subscriptions");
        describe_gauge!(name(names::CACHED), "Number of cached messages");
        describe_counter!(
            name(names::EVICTIONS),
            "Number of messages removed from the cache by reason"
        );
        let counter = |suffix: &str, key: &'static str, value: &'static str| metrics::counter!(name(suffix), key => value);
        Self {
            receive_success: counter(names::RECEIVE, "status", status::SUCCESS),
            receive_dropped: counter(names::RECEIVE, "status", status::DROPPED),
            receive_invalid: counter(names::RECEIVE, "status", status::INVALID),
            subscribe_success: counter(names::SUBSCRIBE, "status", status::SUCCESS),
            subscribe_dropped: counter(names::SUBSCRIBE, "status", status::DROPPED),
            get_success: counter(names::GET, "status", status::SUCCESS),
            get_failure: counter(names::GET, "status", status::FAILURE),
            waiters: metrics::gauge!(name(names::WAITERS)),
            subscriptions: metrics::gauge!(name(names::SUBSCRIPTIONS)),
            cached: metrics::gauge!(name(names::CACHED)),
            evict_overflow: counter(names::EVICTIONS, "reason", "overflow"),
            evict_peer_left: counter(names::EVICTIONS, "reason", "peer_left"),
            prefix: prefix.to_owned(),
        }
    }

    /// Registers the per-sender counter for one sender (called once per new sender).
    pub(crate) fn peer_counter(&self, sequencer: String) -> Counter {
        metrics::counter!(format!("{}{}", self.prefix, names::PEER), "sequencer" => sequencer)
    }

    pub(crate) fn eviction(&self, reason: Eviction) -> &Counter {
        match reason {
            Eviction::Overflow => &self.evict_overflow,
            Eviction::PeerLeft => &self.evict_peer_left,
        }
    }
}
