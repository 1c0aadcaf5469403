//! Buffer configuration, validated when the buffer is built.

use thiserror::Error;

/// The default prefix of every metric name.
pub const DEFAULT_METRICS_PREFIX: &str = "shardcast_";

/// Configuration of a [`Buffer`](crate::Buffer).
///
/// ```
/// use shardcast::Config;
///
/// let config = Config::new(10)
///     .with_shards(16)
///     .with_metrics_prefix("node_a_")
///     .with_peer_metrics(true)
///     .with_max_subscriptions(Some(100_000));
/// assert_eq!(config.deque_size(), 10);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    deque_size: usize,
    shards: usize,
    metrics_prefix: String,
    peer_metrics: bool,
    max_subscriptions: Option<usize>,
    peer_bytes: Option<usize>,
}

impl Config {
    /// A configuration that caches at most `deque_size` digests per primary peer.
    ///
    /// `0` is legal: nothing is ever cached, but subscribers are still served by every insert.
    /// Everything else takes its default: 32 shards per core (a power of two), metrics prefix
    /// [`DEFAULT_METRICS_PREFIX`], no per-peer metric series, no limit on subscriptions.
    pub fn new(deque_size: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            deque_size,
            // Many shards: two readers rarely share a shard lock's cache line (dashmap's own
            // default of four per core measured slower for concurrent `get`).
            shards: (cores * 32).next_power_of_two().max(2),
            metrics_prefix: DEFAULT_METRICS_PREFIX.to_owned(),
            peer_metrics: false,
            max_subscriptions: None,
            peer_bytes: None,
        }
    }

    /// Sets the number of lock shards of each concurrent map: a power of two, at least 2.
    /// More shards mean less contention and a little more memory.
    pub fn with_shards(mut self, shards: usize) -> Self {
        self.shards = shards;
        self
    }

    /// Sets the prefix of every metric name (default `shardcast_`). It must be empty or a valid
    /// Prometheus name start: ASCII letters, digits, `_` and `:`, not starting with a digit.
    pub fn with_metrics_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.metrics_prefix = prefix.into();
        self
    }

    /// Enables the per-sender counter `peer_total{sequencer}` (off by default: it creates one
    /// metric series per distinct sender, which is unbounded cardinality).
    pub fn with_peer_metrics(mut self, enabled: bool) -> Self {
        self.peer_metrics = enabled;
        self
    }

    /// Sets a limit on live (unresolved) subscriptions; `None`, the default, is unbounded like
    /// the reference engine. At the limit [`Buffer::try_subscribe`](crate::Buffer::try_subscribe)
    /// returns an error.
    pub fn with_max_subscriptions(mut self, limit: Option<usize>) -> Self {
        self.max_subscriptions = limit;
        self
    }

    /// Bounds each primary peer's deque in bytes as well as in count: the [sizes](crate::Message::size)
    /// of the messages it holds sum to at most `limit`. Each message counts in full against
    /// every deque that holds it (the stored copy's size). Inserting evicts the peer's oldest
    /// digests until both bounds hold, never another peer's; a message larger than `limit` is
    /// not cached for that peer ([`Insert::TooLarge`](crate::Insert::TooLarge)), but its
    /// subscribers are served. Cached bytes then stay within |primary| x `limit` at every
    /// instant, whatever peers send. (One exception, only for digests that do not cover the
    /// whole message: when two copies of one digest differ in size and race, an insert may store
    /// the larger copy a moment before it evicts for it.)
    ///
    /// Pick a count alone when messages are of one size (it is the reference's bound), a byte
    /// budget when sizes vary widely (150 B to 8 MiB blocks), and both to cap the number of
    /// small messages too.
    pub fn with_peer_bytes(mut self, limit: usize) -> Self {
        self.peer_bytes = Some(limit);
        self
    }

    /// The per-peer byte budget, if any.
    pub fn peer_bytes(&self) -> Option<usize> {
        self.peer_bytes
    }

    /// Most digests cached per primary peer.
    pub fn deque_size(&self) -> usize {
        self.deque_size
    }

    /// Lock shards per concurrent map.
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// Prefix of every metric name.
    pub fn metrics_prefix(&self) -> &str {
        &self.metrics_prefix
    }

    /// Whether `peer_total{sequencer}` is recorded.
    pub fn peer_metrics(&self) -> bool {
        self.peer_metrics
    }

    /// Limit on live subscriptions, if any.
    pub fn max_subscriptions(&self) -> Option<usize> {
        self.max_subscriptions
    }

    /// Checks every value; [`Buffer::new`](crate::Buffer::new) calls this.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.shards < 2 || !self.shards.is_power_of_two() {
            return Err(ConfigError::Shards(self.shards));
        }
        let mut chars = self.metrics_prefix.chars();
        let valid_start = chars
            .next()
            .is_none_or(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
        let valid_rest = chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
        if !(valid_start && valid_rest) {
            return Err(ConfigError::MetricsPrefix(self.metrics_prefix.clone()));
        }
        Ok(())
    }
}

/// An invalid configuration value: of a [`Config`], of an
/// [`EngineConfig`](crate::EngineConfig), or of a `commonware::Config`. Every configuration is
/// checked when it is used (`Buffer::new`, `Engine::start`, `commonware::Engine::try_new`),
/// never clamped: the error names the value and what it must be.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The shard count is not a power of two of at least 2.
    #[error("shard count must be a power of two of at least 2, got {0}")]
    Shards(usize),
    /// The metrics prefix would not make valid Prometheus metric names.
    #[error(
        "metrics prefix {0:?} is not a valid Prometheus name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)"
    )]
    MetricsPrefix(String),
    /// An engine needs at least one receive worker.
    #[error("workers must be at least 1")]
    Workers,
    /// The queue between the reader and the workers needs room for at least one batch.
    #[error("frame_queue must be at least 1")]
    FrameQueue,
    /// The byte bound on frames waiting for the workers must let one byte through.
    #[error("max_queued_bytes must be at least 1")]
    MaxQueuedBytes,
    /// The queue of broadcasts waiting to be sent (`mailbox_size` on commonware) must hold one.
    #[error("the outbox (mailbox_size) must hold at least 1 broadcast")]
    Outbox,
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let config = Config::new(0);
        assert_eq!(config.validate(), Ok(()));
        assert!(config.shards() >= 2 && config.shards().is_power_of_two());
        assert_eq!(config.metrics_prefix(), DEFAULT_METRICS_PREFIX);
        assert!(!config.peer_metrics());
        assert_eq!(config.max_subscriptions(), None);
    }

    #[test]
    fn shard_count_must_be_a_power_of_two_of_at_least_two() {
        for bad in [0, 1, 3, 6, 100] {
            assert_eq!(
                Config::new(1).with_shards(bad).validate(),
                Err(ConfigError::Shards(bad))
            );
        }
        for good in [2, 4, 1024] {
            assert_eq!(Config::new(1).with_shards(good).validate(), Ok(()));
        }
    }

    #[test]
    fn metrics_prefix_must_be_a_prometheus_name() {
        for good in ["", "shardcast_", "node:a_", "_x1"] {
            assert_eq!(Config::new(1).with_metrics_prefix(good).validate(), Ok(()));
        }
        for bad in ["1x", "a-b", "a b", "é"] {
            assert_eq!(
                Config::new(1).with_metrics_prefix(bad).validate(),
                Err(ConfigError::MetricsPrefix(bad.to_owned()))
            );
        }
    }
}
