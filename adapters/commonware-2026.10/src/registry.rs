//! shardcast's metrics in a commonware 2026.10 runtime's registry.
//!
//! The core hands every series over once, as cells it counts into
//! ([`shardcast::metrics::Registry`]); this module teaches prometheus-client 0.25 (the version
//! commonware-runtime 2026.10 registers) to read them at scrape time, and keeps every
//! `Registered` handle the runtime returns for as long as the engine runs: dropping one
//! unregisters its metric. As the reference's, an engine's metrics leave the registry when it
//! stops (or is dropped unstarted), and a labelled series appears once it was first counted.

use commonware_runtime::Metrics;
use commonware_runtime::telemetry::metrics::raw::Family;
use commonware_runtime::telemetry::metrics::{
    EncodeMetric, MetricEncoder, MetricType, NoLabelSet, TypedMetric,
};
use shardcast::metrics::{CounterCell, GaugeCell, PeerCounters, Registry};
use std::any::Any;

/// The `Registered` handles of one engine's metrics, kept alive with it.
pub(crate) type Handles = Vec<Box<dyn Any + Send + Sync>>;

/// A commonware 2026.10 context as a [`Registry`], collecting the handles to keep.
pub(crate) struct Context<'a, E> {
    pub(crate) context: &'a E,
    pub(crate) handles: Handles,
}

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
        self.handles
            .push(Box::new(self.context.register(name, help, family)));
    }

    fn gauge(&mut self, name: &'static str, help: &'static str, gauge: GaugeCell) {
        self.handles
            .push(Box::new(self.context.register(name, help, Gauge(gauge))));
    }

    fn peers(&mut self, name: &'static str, help: &'static str) -> PeerCounters {
        let family: Family<[(&'static str, String); 1], Counter> = Family::default();
        let registered = self.context.register(name, help, family);
        // The closure counts into the family; the registration stays with the other handles,
        // so the family leaves the registry with them when the engine stops.
        let family = registered.metric().clone();
        self.handles.push(Box::new(registered));
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
        // As the reference's families: a series appears once it was first counted.
        for (value, cell) in self.series.iter().filter(|(_, cell)| cell.get() > 0) {
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
