//! shardcast's metrics in a commonware 2026.4 runtime's registry: the [`Registry`] the drop-in
//! engine builds its buffer with, so the series appear in `context.encode()` under the
//! context's label, as the reference engine's do.
//!
//! Each series is a cell the buffer counts into (see [`shardcast::metrics`]); the types below only
//! teach prometheus-client 0.24 (the version commonware-runtime 2026.4 registers) to read them
//! at scrape time.

use commonware_runtime::Metrics;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::{MetricType, TypedMetric};
use shardcast::metrics::{CounterCell, GaugeCell, PeerCounters, Registry};

/// A commonware 2026.4 context as a [`Registry`].
pub(crate) struct Context<'a, E>(pub(crate) &'a E);

impl<E: Metrics> Registry for Context<'_, E> {
    fn counters(
        &mut self,
        name: &'static str,
        help: &'static str,
        key: &'static str,
        series: &[(&'static str, CounterCell)],
    ) {
        let family = Counters {
            key,
            series: series.to_vec(),
        };
        self.0.register(name, help, family);
    }

    fn gauge(&mut self, name: &'static str, help: &'static str, gauge: GaugeCell) {
        self.0.register(name, help, Gauge(gauge));
    }

    fn peers(&mut self, name: &'static str, help: &'static str) -> PeerCounters {
        let family: Family<[(&'static str, String); 1], Counter> = Family::default();
        self.0.register(name, help, family.clone());
        Box::new(move |sequencer| family.get_or_create(&[("sequencer", sequencer)]).0.clone())
    }
}

/// One counter, read from its cell.
#[derive(Clone, Debug, Default)]
struct Counter(CounterCell);

impl TypedMetric for Counter {
    const TYPE: MetricType = MetricType::Counter;
}

impl EncodeMetric for Counter {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_counter::<NoLabelSet, _, u64>(&self.0.get(), None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }
}

/// A fixed family of counters, one per value of its label.
#[derive(Debug)]
struct Counters {
    key: &'static str,
    series: Vec<(&'static str, CounterCell)>,
}

impl EncodeMetric for Counters {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for (value, cell) in &self.series {
            let labels = [(self.key, *value)];
            let encoder = encoder.encode_family(&labels)?;
            Counter(cell.clone()).encode(encoder)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }
}

/// One gauge, read from its cell.
#[derive(Debug)]
struct Gauge(GaugeCell);

impl EncodeMetric for Gauge {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_gauge(&self.0.get())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Gauge
    }
}
