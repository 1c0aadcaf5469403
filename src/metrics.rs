//! Metric names and the cached handles the hot paths use.
//!
//! Every handle is registered once, when the buffer is built, and reused on every call: no
//! per-call registry lookup, no per-call string formatting (the one exception is the opt-in
//! per-sender series, looked up once per new sender). Two backends sit behind the same handles,
//! so the hot path costs the same whichever backs it (one predictable branch and one atomic
//! add):
//!
//! - **the [`metrics`] facade**, for [`Buffer::new`](crate::Buffer::new) and the tokio engine:
//!   install a recorder (for example `metrics-exporter-prometheus`) *before* building the
//!   buffer. Names carry the configured prefix (default `shardcast_`).
//! - **a commonware runtime's registry** (feature `commonware`), for
//!   [`commonware::Engine`](crate::commonware::Engine): the metrics are registered with
//!   `context.register`, as prometheus-client types, under the context's label, so they appear
//!   in `context.encode()` beside the application's own. prometheus-client appends `_total` to
//!   counter names, so the names below read the same in both.
//!
//! Names and label values follow the reference engine, so existing dashboards keep working:
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
//! | `cached_bytes` | gauge | | bytes of the messages resident in the cache ([`Message::size`](crate::Message::size), each stored message once) |
//! | `evictions_total` | counter | `reason` = `overflow`, `bytes`, `peer_left`, `closed` | messages removed from the cache because the last deque holding them overflowed (count or bytes), the last peer holding them left the primary set, or the buffer closed |
//!
//! `evictions_total` also counts `reason="bytes"`, messages evicted to keep a deque within its
//! byte budget, and `reason="closed"`, messages freed when the buffer closed.
//!
//! One deliberate difference: the reference counts a subscription abandoned before it was served
//! as `get_total{status="Dropped"}` when it sweeps it away (a miscount: it was never a `get`);
//! shardcast counts it as `subscribe_total{status="Dropped"}`, once, when it is dropped.
//!
//! The `waiters` gauge has the reference's meaning (digests with at least one live subscriber)
//! but is exact at every instant, where the reference refreshes it once per event of its loop.

use metrics::{describe_counter, describe_gauge};

/// Metric name suffixes (each is prefixed with [`Config::metrics_prefix`](crate::Config::metrics_prefix)
/// on the facade, and with the context's label in a commonware registry).
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
    /// Gauge of the bytes of cached messages (each counted once).
    pub const CACHED_BYTES: &str = "cached_bytes";
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
    /// The buffer closed.
    Closed,
    /// The deque's byte budget needed room.
    Bytes,
}

/// Help texts, as the reference engine words them where it has the metric.
const HELP: [(&str, &str); 9] = [
    (names::RECEIVE, "Number of received messages by status"),
    (names::PEER, "Number of broadcasts received by peer"),
    (names::SUBSCRIBE, "Number of `subscribe` requests by status"),
    (names::GET, "Number of `get` requests by status"),
    (names::WAITERS, "Number of digests being awaited"),
    (names::SUBSCRIPTIONS, "Number of live subscriptions"),
    (names::CACHED, "Number of cached messages"),
    (names::CACHED_BYTES, "Bytes of cached messages"),
    (
        names::EVICTIONS,
        "Number of messages removed from the cache by reason",
    ),
];

#[cfg(feature = "commonware")]
fn help(name: &str) -> &'static str {
    HELP.iter()
        .find(|(n, _)| *n == name)
        .map_or("", |(_, h)| *h)
}

#[cfg(feature = "commonware")]
type RegistryCounter = prometheus_client::metrics::counter::Counter;
#[cfg(feature = "commonware")]
type RegistryGauge = prometheus_client::metrics::gauge::Gauge;
#[cfg(feature = "commonware")]
type RegistryFamily<V> =
    prometheus_client::metrics::family::Family<[(&'static str, V); 1], RegistryCounter>;

/// A cached counter handle, on either backend.
#[derive(Clone)]
pub(crate) enum Counter {
    Facade(metrics::Counter),
    #[cfg(feature = "commonware")]
    Registry(RegistryCounter),
}

impl Counter {
    #[inline]
    pub(crate) fn increment(&self, n: u64) {
        match self {
            Self::Facade(counter) => counter.increment(n),
            #[cfg(feature = "commonware")]
            Self::Registry(counter) => {
                counter.inc_by(n);
            }
        }
    }
}

/// A cached gauge handle, on either backend.
pub(crate) enum Gauge {
    Facade(metrics::Gauge),
    #[cfg(feature = "commonware")]
    Registry(RegistryGauge),
}

impl Gauge {
    #[inline]
    pub(crate) fn increment(&self, n: u64) {
        match self {
            Self::Facade(gauge) => gauge.increment(n as f64),
            #[cfg(feature = "commonware")]
            Self::Registry(gauge) => {
                gauge.inc_by(n as i64);
            }
        }
    }

    #[inline]
    pub(crate) fn decrement(&self, n: u64) {
        match self {
            Self::Facade(gauge) => gauge.decrement(n as f64),
            #[cfg(feature = "commonware")]
            Self::Registry(gauge) => {
                gauge.dec_by(n as i64);
            }
        }
    }
}

/// Where the opt-in per-sender series are created.
enum PeerSeries {
    /// The facade's full metric name.
    Facade(String),
    #[cfg(feature = "commonware")]
    Registry(RegistryFamily<String>),
}

/// Every handle the buffer and the engine touch on their hot paths.
pub(crate) struct Metrics {
    peer_series: PeerSeries,
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
    pub(crate) cached_bytes: Gauge,
    pub(crate) evict_overflow: Counter,
    pub(crate) evict_peer_left: Counter,
    pub(crate) evict_closed: Counter,
    pub(crate) evict_bytes: Counter,
}

impl Metrics {
    /// Registers every series under `prefix` with the `metrics` recorder installed now.
    pub(crate) fn facade(prefix: &str) -> Self {
        let name = |suffix: &str| format!("{prefix}{suffix}");
        for (suffix, text) in HELP {
            if suffix.ends_with("_total") {
                describe_counter!(name(suffix), text);
            } else {
                describe_gauge!(name(suffix), text);
            }
        }
        let counter = |suffix: &str, key: &'static str, value: &'static str| {
            Counter::Facade(metrics::counter!(name(suffix), key => value))
        };
        let gauge = |suffix: &str| Gauge::Facade(metrics::gauge!(name(suffix)));
        Self {
            receive_success: counter(names::RECEIVE, "status", status::SUCCESS),
            receive_dropped: counter(names::RECEIVE, "status", status::DROPPED),
            receive_invalid: counter(names::RECEIVE, "status", status::INVALID),
            subscribe_success: counter(names::SUBSCRIBE, "status", status::SUCCESS),
            subscribe_dropped: counter(names::SUBSCRIBE, "status", status::DROPPED),
            get_success: counter(names::GET, "status", status::SUCCESS),
            get_failure: counter(names::GET, "status", status::FAILURE),
            waiters: gauge(names::WAITERS),
            subscriptions: gauge(names::SUBSCRIPTIONS),
            cached: gauge(names::CACHED),
            cached_bytes: gauge(names::CACHED_BYTES),
            evict_overflow: counter(names::EVICTIONS, "reason", "overflow"),
            evict_peer_left: counter(names::EVICTIONS, "reason", "peer_left"),
            evict_closed: counter(names::EVICTIONS, "reason", "closed"),
            evict_bytes: counter(names::EVICTIONS, "reason", "bytes"),
            peer_series: PeerSeries::Facade(name(names::PEER)),
        }
    }

    /// Registers every metric in a commonware runtime's registry, under `context`'s label, with
    /// the reference engine's names (`receive`, `subscribe`, `get`, `waiters`, and `peer` when
    /// `peer_metrics`) and shardcast's own (`cached`, `subscriptions`, `evictions`).
    ///
    /// Panics, like any duplicate registration on the deterministic runtime, when `context`
    /// already registered these names: give each engine its own label.
    #[cfg(feature = "commonware")]
    pub(crate) fn registry(context: &impl commonware_runtime::Metrics, peer_metrics: bool) -> Self {
        use prometheus_client::metrics::family::Family;

        let family = |suffix: &'static str, key: &'static str| {
            let family: RegistryFamily<&'static str> = Family::default();
            context.register(
                suffix.trim_end_matches("_total"),
                help(suffix),
                family.clone(),
            );
            move |value: &'static str| {
                Counter::Registry(family.get_or_create(&[(key, value)]).clone())
            }
        };
        let gauge = |suffix: &'static str| {
            let gauge = RegistryGauge::default();
            context.register(suffix, help(suffix), gauge.clone());
            Gauge::Registry(gauge)
        };
        let receive = family(names::RECEIVE, "status");
        let subscribe = family(names::SUBSCRIBE, "status");
        let get = family(names::GET, "status");
        let evictions = family(names::EVICTIONS, "reason");
        let peers: RegistryFamily<String> = Family::default();
        if peer_metrics {
            context.register("peer", help(names::PEER), peers.clone());
        }
        Self {
            receive_success: receive(status::SUCCESS),
            receive_dropped: receive(status::DROPPED),
            receive_invalid: receive(status::INVALID),
            subscribe_success: subscribe(status::SUCCESS),
            subscribe_dropped: subscribe(status::DROPPED),
            get_success: get(status::SUCCESS),
            get_failure: get(status::FAILURE),
            waiters: gauge(names::WAITERS),
            subscriptions: gauge(names::SUBSCRIPTIONS),
            cached: gauge(names::CACHED),
            cached_bytes: gauge(names::CACHED_BYTES),
            evict_overflow: evictions("overflow"),
            evict_peer_left: evictions("peer_left"),
            evict_closed: evictions("closed"),
            evict_bytes: evictions("bytes"),
            peer_series: PeerSeries::Registry(peers),
        }
    }

    /// The per-sender counter for one sender, labelled `sequencer` (called once per new sender).
    pub(crate) fn peer_counter(&self, sequencer: String) -> Counter {
        match &self.peer_series {
            PeerSeries::Facade(name) => {
                Counter::Facade(metrics::counter!(name.clone(), "sequencer" => sequencer))
            }
            #[cfg(feature = "commonware")]
            PeerSeries::Registry(family) => {
                Counter::Registry(family.get_or_create(&[("sequencer", sequencer)]).clone())
            }
        }
    }

    pub(crate) fn eviction(&self, reason: Eviction) -> &Counter {
        match reason {
            Eviction::Overflow => &self.evict_overflow,
            Eviction::PeerLeft => &self.evict_peer_left,
            Eviction::Closed => &self.evict_closed,
            Eviction::Bytes => &self.evict_bytes,
        }
    }
}
