//! Metric names and the cached handles the hot paths use.
//!
//! Every handle is registered once, when the buffer is built, and reused on every call: no
//! per-call registry lookup, no per-call string formatting (the one exception is the opt-in
//! per-sender series, looked up once per new sender). Two backends sit behind the same handles,
//! so the hot path costs the same whichever backs it (one predictable branch and one atomic
//! add on a cache line of the calling thread's own):
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
//! # Striped counters, and how fresh a count is
//!
//! A counter bumped on every `get` by tasks on several cores would be one cache line bouncing
//! between them: at two threads that costs more than the lookup it counts. So every hot-path
//! counter is split into 16 stripes, each on its own 128-byte line, and a thread adds to the
//! stripe it was given on its first count (round-robin). What a scrape reads depends on the
//! backend:
//!
//! - **Registry: exact.** The counter is registered as a metric of our own whose encoding sums
//!   the stripes, so `context.encode()` reads every count made before it.
//! - **Facade: at most 63 per thread behind, for at most a second under an engine.** The
//!   `metrics` facade has no hook at scrape time, so a stripe hands its count to the recorder
//!   when it reaches [`FACADE_BATCH`] (64). A series can lag by up to 63 for each stripe in use
//!   (at most 16 x 63 = 1,008) until something hands over the rest: a running engine does so
//!   once a second (so a rare count, an `Invalid` frame, is seen within a second), and
//!   [`Buffer::flush_metrics`](crate::Buffer::flush_metrics), `Buffer::close` and the
//!   buffer's drop do at once. A bare buffer with no engine reports rare counts only on those
//!   calls: call `flush_metrics` from your own timer, or before reading a count that must be
//!   exact.
//!
//! Gauges are not striped: they move on inserts, evictions and subscriptions, not on `get`,
//! and the facade's gauges must stay exact.
//!
//! Names and label values follow the reference engine, so existing dashboards keep working:
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `receive_total` | counter | `status` = `Success`, `Dropped`, `Invalid` | network receipts: inserted; duplicate from that peer, ineligible sender, or over the per-peer byte budget; failed to decode |
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
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

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
type RegistryFamily<V, M = RegistryCounter> =
    prometheus_client::metrics::family::Family<[(&'static str, V); 1], M>;

/// Stripes per hot-path counter. Threads take stripes round-robin, so up to this many threads
/// count without sharing a cache line.
const STRIPES: usize = 16;

/// A facade counter's stripe hands its count to the recorder once it holds this many. See
/// [`Buffer::flush_metrics`](crate::Buffer::flush_metrics) for what that means for a scrape.
pub const FACADE_BATCH: u64 = 64;

/// One stripe, alone on its cache line (128 bytes: adjacent-line prefetchers pair lines).
#[derive(Default)]
#[repr(align(128))]
struct Stripe(AtomicU64);

/// A count split over [`STRIPES`] cache lines: each thread adds to its own stripe, so counting
/// on a hot path from several cores is one uncontended atomic add, never a shared line.
#[derive(Default)]
pub(crate) struct Stripes([Stripe; STRIPES]);

/// This thread's stripe, assigned round-robin on its first count.
#[inline]
fn stripe_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    }
    // During thread teardown the slot may be gone: any stripe is correct, only slower.
    INDEX.try_with(|index| *index).unwrap_or(0)
}

impl Stripes {
    /// Adds `n` to this thread's stripe; returns the stripe and its new value.
    #[inline]
    pub(crate) fn add(&self, n: u64) -> (usize, u64) {
        let index = stripe_index();
        // Release, paired with `sum`'s Acquire: whoever sees this count also sees what the
        // thread wrote before it (the engine counts a frame's outcome before its total). On
        // x86 every read-modify-write is a locked instruction anyway.
        let before = self.0[index].0.fetch_add(n, Ordering::Release);
        (index, before.wrapping_add(n))
    }

    /// Empties stripe `index`, returning what it held.
    fn take(&self, index: usize) -> u64 {
        self.0[index].0.swap(0, Ordering::Relaxed)
    }

    /// Empties every stripe, returning the sum.
    fn drain(&self) -> u64 {
        (0..STRIPES).map(|i| self.take(i)).sum()
    }

    /// The sum of the stripes.
    #[cfg(any(feature = "engine", feature = "commonware"))]
    pub(crate) fn sum(&self) -> u64 {
        self.0
            .iter()
            .map(|s| s.0.load(Ordering::Acquire))
            .fold(0, u64::wrapping_add)
    }
}

/// A striped counter for a commonware registry: exact at every scrape, because encoding sums
/// the stripes.
#[cfg(feature = "commonware")]
#[derive(Clone, Default)]
pub(crate) struct StripedCounter(Arc<Stripes>);

#[cfg(feature = "commonware")]
impl std::fmt::Debug for StripedCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("StripedCounter")
            .field(&self.0.sum())
            .finish()
    }
}

#[cfg(feature = "commonware")]
impl prometheus_client::metrics::TypedMetric for StripedCounter {
    const TYPE: prometheus_client::metrics::MetricType =
        prometheus_client::metrics::MetricType::Counter;
}

#[cfg(feature = "commonware")]
impl prometheus_client::encoding::EncodeMetric for StripedCounter {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::MetricEncoder,
    ) -> Result<(), std::fmt::Error> {
        encoder
            .encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(&self.0.sum(), None)
    }

    fn metric_type(&self) -> prometheus_client::metrics::MetricType {
        <Self as prometheus_client::metrics::TypedMetric>::TYPE
    }
}

/// A striped counter in front of a facade counter: counts reach the recorder
/// [`FACADE_BATCH`] at a time per stripe, and in full on a flush or when the last handle drops.
pub(crate) struct FacadeCounter {
    stripes: Stripes,
    sink: metrics::Counter,
}

impl FacadeCounter {
    fn flush(&self) {
        let pending = self.stripes.drain();
        if pending > 0 {
            self.sink.increment(pending);
        }
    }
}

impl Drop for FacadeCounter {
    fn drop(&mut self) {
        self.flush();
    }
}

/// A cached counter handle, on either backend.
///
/// The hot-path counters are striped (one uncontended add on the calling thread's cache line);
/// the opt-in per-sender series, one per sender, are plain.
#[derive(Clone)]
pub(crate) enum Counter {
    Facade(Arc<FacadeCounter>),
    FacadePlain(metrics::Counter),
    #[cfg(feature = "commonware")]
    Registry(StripedCounter),
    #[cfg(feature = "commonware")]
    RegistryPlain(RegistryCounter),
}

impl Counter {
    fn facade(sink: metrics::Counter) -> Self {
        Self::Facade(Arc::new(FacadeCounter {
            stripes: Stripes::default(),
            sink,
        }))
    }

    #[inline]
    pub(crate) fn increment(&self, n: u64) {
        match self {
            Self::Facade(counter) => {
                let (index, pending) = counter.stripes.add(n);
                if pending >= FACADE_BATCH {
                    counter.sink.increment(counter.stripes.take(index));
                }
            }
            Self::FacadePlain(counter) => counter.increment(n),
            #[cfg(feature = "commonware")]
            Self::Registry(counter) => {
                counter.0.add(n);
            }
            #[cfg(feature = "commonware")]
            Self::RegistryPlain(counter) => {
                counter.inc_by(n);
            }
        }
    }

    /// Hands what the stripes hold to the recorder (facade; registry counters are always
    /// exact).
    fn flush(&self) {
        if let Self::Facade(counter) = self {
            counter.flush();
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
            Counter::facade(metrics::counter!(name(suffix), key => value))
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
            let family: RegistryFamily<&'static str, StripedCounter> = Family::default();
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
                Counter::FacadePlain(metrics::counter!(name.clone(), "sequencer" => sequencer))
            }
            #[cfg(feature = "commonware")]
            PeerSeries::Registry(family) => {
                Counter::RegistryPlain(family.get_or_create(&[("sequencer", sequencer)]).clone())
            }
        }
    }

    /// Whether these are facade counters, whose counts wait in stripes until a flush.
    #[cfg(feature = "engine")]
    pub(crate) fn lags(&self) -> bool {
        matches!(self.get_success, Counter::Facade(_))
    }

    /// Hands every count the facade counters' stripes hold to the recorder.
    pub(crate) fn flush(&self) {
        for counter in [
            &self.receive_success,
            &self.receive_dropped,
            &self.receive_invalid,
            &self.subscribe_success,
            &self.subscribe_dropped,
            &self.get_success,
            &self.get_failure,
            &self.evict_overflow,
            &self.evict_peer_left,
            &self.evict_closed,
            &self.evict_bytes,
        ] {
            counter.flush();
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
