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
//! - **a [`Registry`] of the caller's**, for [`Buffer::with_registry`](crate::Buffer::with_registry):
//!   every series is handed over once, as a cell ([`CounterCell`], [`GaugeCell`]) the buffer
//!   counts into and the registry reads at scrape time. This is how each commonware adapter
//!   puts the metrics in its runtime's registry (`context.encode()`, under the context's
//!   label) with the prometheus-client version of its release, while the core names none.
//!   prometheus-client appends `_total` to counter names, so the names below read the same in
//!   both.
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
//!   when it reaches 64. A series can lag by up to 63 for each stripe in use
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
//!
//! A registry of the caller's gets every series once, when the buffer is built
//! ([`Buffer::with_registry`](crate::Buffer::with_registry)), and reads the cells when it is
//! scraped:
//!
//! ```
//! use shardcast::metrics::{CounterCell, GaugeCell, PeerCounters, Registry, names, status};
//! use shardcast::{Buffer, Config, Message};
//! use std::collections::BTreeMap;
//!
//! #[derive(Default)]
//! struct Cells {
//!     gauges: BTreeMap<&'static str, GaugeCell>,
//!     counters: BTreeMap<(&'static str, &'static str), CounterCell>,
//! }
//!
//! impl Registry for Cells {
//!     fn counters(&mut self, name: &'static str, _: &'static str, _key: &'static str,
//!                 series: &[(&'static str, CounterCell)]) {
//!         for (value, cell) in series {
//!             self.counters.insert((name, *value), cell.clone());
//!         }
//!     }
//!     fn gauge(&mut self, name: &'static str, _: &'static str, gauge: GaugeCell) {
//!         self.gauges.insert(name, gauge);
//!     }
//!     fn peers(&mut self, _: &'static str, _: &'static str) -> PeerCounters {
//!         Box::new(|_sequencer| CounterCell::plain()) // per-sender series: not kept here
//!     }
//! }
//!
//! #[derive(Clone, Debug)]
//! struct Note(u64);
//! impl Message for Note {
//!     type Digest = u64;
//!     fn digest(&self) -> u64 { self.0 }
//! }
//!
//! let mut cells = Cells::default();
//! let buffer: Buffer<u32, Note> = Buffer::with_registry(Config::new(8), &mut cells).unwrap();
//! buffer.update_primary([1]);
//! buffer.insert(1, Note(7));
//! assert!(buffer.get(&7).is_some());
//! assert_eq!(cells.gauges[names::CACHED].get(), 1);
//! let gets: u64 = cells.counters.iter()
//!     .filter(|((name, value), _)| names::GET.starts_with(*name) && *value == status::SUCCESS)
//!     .map(|(_, cell)| cell.get())
//!     .sum();
//! assert_eq!(gets, 1);
//! ```

use metrics::{describe_counter, describe_gauge};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};

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

/// The help text of `name` (a [`names`] constant), as the reference words it where it has the
/// metric.
pub fn help(name: &str) -> &'static str {
    HELP.iter()
        .find(|(n, _)| *n == name)
        .map_or("", |(_, h)| *h)
}

/// Stripes per hot-path counter. Threads take stripes round-robin, so up to this many threads
/// count without sharing a cache line.
const STRIPES: usize = 16;

/// A facade counter's stripe hands its count to the recorder once it holds this many. See
/// [`Buffer::flush_metrics`](crate::Buffer::flush_metrics) for what that means for a scrape.
#[doc(hidden)] // Not part of the API: for this repository's tests, benches and demo.
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
    pub(crate) fn sum(&self) -> u64 {
        self.0
            .iter()
            .map(|s| s.0.load(Ordering::Acquire))
            .fold(0, u64::wrapping_add)
    }
}

/// A counter that a buffer counts into and a registry of the caller's reads at scrape time:
/// what a [`Registry`] is handed. Cloning shares the count.
///
/// The hot-path counters are striped (see the [module docs](self)), so [`get`](Self::get) is
/// exact whenever it is called: no count waits for a flush.
#[derive(Clone)]
pub struct CounterCell(CellRepr);

#[derive(Clone)]
enum CellRepr {
    Striped(Arc<Stripes>),
    Plain(Arc<AtomicU64>),
}

impl CounterCell {
    /// A striped cell, for a counter bumped from many threads.
    fn striped() -> Self {
        Self(CellRepr::Striped(Arc::default()))
    }

    /// A plain cell (one atomic), for a counter with many series, such as one per sender.
    pub fn plain() -> Self {
        Self(CellRepr::Plain(Arc::default()))
    }

    /// The count so far.
    pub fn get(&self) -> u64 {
        match &self.0 {
            CellRepr::Striped(stripes) => stripes.sum(),
            CellRepr::Plain(count) => count.load(Ordering::Acquire),
        }
    }

    #[inline]
    fn add(&self, n: u64) {
        match &self.0 {
            CellRepr::Striped(stripes) => {
                stripes.add(n);
            }
            CellRepr::Plain(count) => {
                count.fetch_add(n, Ordering::Release);
            }
        }
    }
}

impl Default for CounterCell {
    /// A plain cell.
    fn default() -> Self {
        Self::plain()
    }
}

impl std::fmt::Debug for CounterCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CounterCell").field(&self.get()).finish()
    }
}

/// A gauge that a buffer moves and a registry of the caller's reads at scrape time. Cloning
/// shares the value.
#[derive(Clone, Default)]
pub struct GaugeCell(Arc<AtomicI64>);

impl GaugeCell {
    /// The value now.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Acquire)
    }
}

impl std::fmt::Debug for GaugeCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("GaugeCell").field(&self.get()).finish()
    }
}

/// Makes one sender's `peer` counter from its `sequencer` label (called once per new sender).
pub type PeerCounters = Box<dyn Fn(String) -> CounterCell + Send + Sync>;

/// A metrics registry of the caller's, for [`Buffer::with_registry`](crate::Buffer::with_registry):
/// how an adapter puts a buffer's metrics beside an application's own (a commonware runtime's
/// `context.encode()`, say), in whatever registry type its release uses.
///
/// The buffer hands over every series once, when it is built, as cells it counts into; the
/// registry encodes them when scraped. Names are the [`names`] constants without a `_total`
/// suffix (registries of the prometheus-client kind add it to counters), help texts come from
/// [`help`], and label values are the [`status`] constants and the eviction reasons.
pub trait Registry {
    /// Registers the counter family `name`, each of whose `series` is labelled `key` = value.
    fn counters(
        &mut self,
        name: &'static str,
        help: &'static str,
        key: &'static str,
        series: &[(&'static str, CounterCell)],
    );

    /// Registers the gauge `name`.
    fn gauge(&mut self, name: &'static str, help: &'static str, gauge: GaugeCell);

    /// Registers the per-sender counter family `name`, labelled `sequencer`, and returns how to
    /// add one sender's series to it. Called only when per-sender metrics are on.
    fn peers(&mut self, name: &'static str, help: &'static str) -> PeerCounters;
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
    Cell(CounterCell),
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
            Self::Cell(cell) => cell.add(n),
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
    Cell(GaugeCell),
}

impl Gauge {
    #[inline]
    pub(crate) fn increment(&self, n: u64) {
        match self {
            Self::Facade(gauge) => gauge.increment(n as f64),
            Self::Cell(gauge) => {
                gauge.0.fetch_add(n as i64, Ordering::Release);
            }
        }
    }

    #[inline]
    pub(crate) fn decrement(&self, n: u64) {
        match self {
            Self::Facade(gauge) => gauge.decrement(n as f64),
            Self::Cell(gauge) => {
                gauge.0.fetch_sub(n as i64, Ordering::Release);
            }
        }
    }
}

/// Where the opt-in per-sender series are created.
enum PeerSeries {
    /// The facade's full metric name.
    Facade(String),
    /// A [`Registry`]'s family (`None`: per-sender metrics are off).
    Registry(Option<PeerCounters>),
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

    /// Hands every series to `registry`, with the reference engine's names (`receive`,
    /// `subscribe`, `get`, `waiters`, and `peer` when `peer_metrics`) and shardcast's own
    /// (`cached`, `cached_bytes`, `subscriptions`, `evictions`).
    pub(crate) fn registry(registry: &mut impl Registry, peer_metrics: bool) -> Self {
        let mut family = |suffix: &'static str, key: &'static str, values: &[&'static str]| {
            let series: Vec<(&'static str, CounterCell)> = values
                .iter()
                .map(|value| (*value, CounterCell::striped()))
                .collect();
            registry.counters(
                suffix.trim_end_matches("_total"),
                help(suffix),
                key,
                &series,
            );
            series.into_iter().map(|(_, cell)| Counter::Cell(cell))
        };
        let mut receive = family(
            names::RECEIVE,
            "status",
            &[status::SUCCESS, status::DROPPED, status::INVALID],
        );
        let (receive_success, receive_dropped, receive_invalid) = (
            receive.next().unwrap(),
            receive.next().unwrap(),
            receive.next().unwrap(),
        );
        let mut subscribe = family(
            names::SUBSCRIBE,
            "status",
            &[status::SUCCESS, status::DROPPED],
        );
        let (subscribe_success, subscribe_dropped) =
            (subscribe.next().unwrap(), subscribe.next().unwrap());
        let mut get = family(names::GET, "status", &[status::SUCCESS, status::FAILURE]);
        let (get_success, get_failure) = (get.next().unwrap(), get.next().unwrap());
        let mut evictions = family(
            names::EVICTIONS,
            "reason",
            &["overflow", "peer_left", "closed", "bytes"],
        );
        let (evict_overflow, evict_peer_left, evict_closed, evict_bytes) = (
            evictions.next().unwrap(),
            evictions.next().unwrap(),
            evictions.next().unwrap(),
            evictions.next().unwrap(),
        );
        let mut gauge = |name: &'static str| {
            let cell = GaugeCell::default();
            registry.gauge(name, help(name), cell.clone());
            Gauge::Cell(cell)
        };
        let (waiters, subscriptions, cached, cached_bytes) = (
            gauge(names::WAITERS),
            gauge(names::SUBSCRIPTIONS),
            gauge(names::CACHED),
            gauge(names::CACHED_BYTES),
        );
        let peers = peer_metrics.then(|| registry.peers("peer", help(names::PEER)));
        Self {
            receive_success,
            receive_dropped,
            receive_invalid,
            subscribe_success,
            subscribe_dropped,
            get_success,
            get_failure,
            waiters,
            subscriptions,
            cached,
            cached_bytes,
            evict_overflow,
            evict_peer_left,
            evict_closed,
            evict_bytes,
            peer_series: PeerSeries::Registry(peers),
        }
    }

    /// The per-sender counter for one sender, labelled `sequencer` (called once per new sender).
    pub(crate) fn peer_counter(&self, sequencer: String) -> Counter {
        match &self.peer_series {
            PeerSeries::Facade(name) => {
                Counter::FacadePlain(metrics::counter!(name.clone(), "sequencer" => sequencer))
            }
            PeerSeries::Registry(Some(make)) => Counter::Cell(make(sequencer)),
            // Not reached: without per-sender metrics the buffer keeps no per-sender handles.
            PeerSeries::Registry(None) => Counter::Cell(CounterCell::plain()),
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
