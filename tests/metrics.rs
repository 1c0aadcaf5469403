//! Metric values after a known sequence of operations (the reference engine's metric probe, plus shardcast's own
//! gauges), read from a real Prometheus recorder's rendered output.

mod common;

use common::{Msg, msg};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};
use shardcast::{Buffer, Config};

fn recorder() -> PrometheusRecorder {
    PrometheusBuilder::new().build_recorder()
}

/// The value of the series `series` (name and labels exactly as rendered), or 0 when absent.
fn value(rendered: &str, series: &str) -> f64 {
    rendered
        .lines()
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().expect("a number"))
        })
        .unwrap_or(0.0)
}

fn buffer_with(recorder: &PrometheusRecorder, config: Config) -> Buffer<u32, Msg> {
    metrics::with_local_recorder(recorder, || Buffer::new(config)).unwrap()
}

#[test]
fn reference_probe_sequence_counts_like_the_reference_except_abandoned_subscriptions() {
    let recorder = recorder();
    // Per-sender series are registered when a sender first shows up, with the recorder in force
    // then: keep this one in force for the whole test.
    let _guard = metrics::set_default_local_recorder(&recorder);
    let buffer = buffer_with(&recorder, Config::new(10).with_peer_metrics(true));
    buffer.update_primary([1]);

    // 1 malformed frame, m1, m1 again, m2 from peer 1; one message from a non-primary peer.
    buffer.record_invalid();
    buffer.receive(1, msg(1));
    buffer.receive(1, msg(1));
    buffer.receive(1, msg(2));
    // 4 get misses, 1 hit.
    for id in [10, 11, 12, 13] {
        assert!(buffer.get(&id).is_none());
    }
    assert!(buffer.get(&1).is_some());
    // 1 immediate subscribe.
    assert!(buffer.subscribe(2).is_ready());
    // 1 waiter dropped before its digest arrives; 1 waiter dropped, then its digest is served.
    drop(buffer.subscribe(20));
    let abandoned = buffer.subscribe(21);
    let kept = buffer.subscribe(22);
    let rendered = recorder.handle().render();
    assert_eq!(value(&rendered, "shardcast_waiters"), 2.0);
    assert_eq!(value(&rendered, "shardcast_subscriptions"), 2.0);
    drop(abandoned);
    buffer.receive(2, msg(21)); // ineligible sender: served nobody, counted dropped
    buffer.receive(1, msg(22));
    assert!(kept.is_ready());

    buffer.flush_metrics();
    let rendered = recorder.handle().render();
    let v = |series: &str| value(&rendered, series);
    assert_eq!(v(r#"shardcast_receive_total{status="Success"}"#), 3.0);
    assert_eq!(v(r#"shardcast_receive_total{status="Dropped"}"#), 2.0);
    assert_eq!(v(r#"shardcast_receive_total{status="Invalid"}"#), 1.0);
    assert_eq!(v(r#"shardcast_peer_total{sequencer="1"}"#), 4.0);
    assert_eq!(v(r#"shardcast_peer_total{sequencer="2"}"#), 1.0);
    assert_eq!(v(r#"shardcast_get_total{status="Success"}"#), 1.0);
    assert_eq!(v(r#"shardcast_get_total{status="Failure"}"#), 4.0);
    // The reference counts abandoned waiters as get{Dropped}; shardcast does not.
    assert_eq!(v(r#"shardcast_get_total{status="Dropped"}"#), 0.0);
    assert_eq!(v(r#"shardcast_subscribe_total{status="Success"}"#), 2.0);
    assert_eq!(v(r#"shardcast_subscribe_total{status="Dropped"}"#), 2.0);
    assert_eq!(v("shardcast_waiters"), 0.0, "exact at once, no sweep");
    assert_eq!(v("shardcast_subscriptions"), 0.0);
    assert_eq!(v("shardcast_cached"), 3.0);
    buffer.check_invariants();
}

#[test]
fn cached_gauge_and_eviction_counters_follow_overflow_and_peer_departure() {
    let recorder = recorder();
    let buffer = buffer_with(&recorder, Config::new(2).with_metrics_prefix("node_"));
    buffer.update_primary([1, 2]);
    for id in 0..5 {
        buffer.insert(1, msg(id)); // 3 overflow evictions
    }
    buffer.insert(2, msg(4)); // shared with peer 1
    buffer.insert(2, msg(9));
    buffer.update_primary([1]); // 9 goes, 4 stays (peer 1 holds it)

    buffer.flush_metrics();
    let rendered = recorder.handle().render();
    let v = |series: &str| value(&rendered, series);
    assert_eq!(v(r#"node_evictions_total{reason="overflow"}"#), 3.0);
    assert_eq!(v(r#"node_evictions_total{reason="peer_left"}"#), 1.0);
    assert_eq!(v("node_cached"), 2.0);
    assert_eq!(v("node_cached"), buffer.stats().cached as f64);
    assert!(
        !rendered.contains("node_peer_total"),
        "per-peer series are opt-in"
    );
    assert!(
        !rendered.contains("shardcast_"),
        "the prefix applies to every name"
    );
}

#[test]
fn subscription_cancelled_concurrently_with_its_insert_is_counted_exactly_once() {
    let recorder = recorder();
    let buffer = std::sync::Arc::new(buffer_with(&recorder, Config::new(4)));
    buffer.update_primary([1]);
    let rounds = 2_000u64;
    std::thread::scope(|scope| {
        let subscriber = buffer.clone();
        let subs = scope.spawn(move || {
            (0..rounds)
                .map(|id| subscriber.subscribe(id))
                .collect::<Vec<_>>()
        });
        let subs = subs.join().unwrap();
        let inserter = buffer.clone();
        let inserts = scope.spawn(move || {
            (0..rounds).for_each(|id| {
                let _ = inserter.insert(1, msg(id));
            })
        });
        drop(subs); // races with the inserts
        inserts.join().unwrap();
    });
    buffer.flush_metrics();
    let rendered = recorder.handle().render();
    let served = value(&rendered, r#"shardcast_subscribe_total{status="Success"}"#);
    let dropped = value(&rendered, r#"shardcast_subscribe_total{status="Dropped"}"#);
    assert_eq!(served + dropped, rounds as f64);
    assert_eq!(value(&rendered, "shardcast_subscriptions"), 0.0);
    buffer.check_invariants();
}

/// A byte budget: `cached_bytes` follows the stored copies, evictions to make room count
/// `reason="bytes"`, a message over the budget is counted dropped, serves its subscriber, and
/// is not cached.
#[test]
fn byte_budget_metrics() {
    let recorder = recorder();
    let buffer = buffer_with(&recorder, Config::new(10).with_peer_bytes(50));
    buffer.update_primary([1, 2]);
    // Sizes: 10 x (id % 4 + 1) + 7 x copy.
    assert_eq!(buffer.receive(1, msg(1)), shardcast::Insert::Added); // 20 bytes
    assert_eq!(buffer.receive(1, msg(2)), shardcast::Insert::Added); // 30 bytes
    let rendered = recorder.handle().render();
    assert_eq!(value(&rendered, "shardcast_cached_bytes"), 50.0);
    assert_eq!(buffer.stats().cached_bytes, 50);
    // 10 more bytes for peer 1: its oldest (id 1) goes; peer 2 is untouched.
    assert_eq!(buffer.receive(2, msg(4)), shardcast::Insert::Added); // 10 bytes
    assert_eq!(buffer.receive(1, msg(0)), shardcast::Insert::Added); // 10 bytes
    assert_eq!(buffer.peer_digests(&1), Some(vec![0, 2]));
    assert_eq!(buffer.peer_digests(&2), Some(vec![4]));
    let too_large = Msg { id: 3, copy: 2 }; // 54 bytes
    let waiting = buffer.subscribe(3);
    assert_eq!(
        buffer.receive(2, too_large.clone()),
        shardcast::Insert::TooLarge
    );
    assert!(waiting.is_ready(), "its subscriber is served");
    assert!(!buffer.contains(&3));
    buffer.flush_metrics();
    let rendered = recorder.handle().render();
    assert_eq!(
        value(&rendered, "shardcast_evictions_total{reason=\"bytes\"}"),
        1.0
    );
    assert_eq!(value(&rendered, "shardcast_cached_bytes"), 50.0);
    assert_eq!(
        value(&rendered, "shardcast_receive_total{status=\"Dropped\"}"),
        1.0
    );
    buffer.check_invariants();
}

/// Facade counters are striped per thread and reach the recorder in batches of
/// `FACADE_BATCH`: a count below a batch is held until `flush_metrics`, a full batch is handed
/// over at once, and after a flush the sum over several threads is exact. Dropping the buffer
/// flushes what is left.
#[test]
fn facade_counters_reach_the_recorder_in_batches_and_exactly_on_flush() {
    use shardcast::metrics::FACADE_BATCH;
    let recorder = recorder();
    let buffer = std::sync::Arc::new(buffer_with(&recorder, Config::new(4)));
    let misses = |recorder: &PrometheusRecorder| {
        value(
            &recorder.handle().render(),
            r#"shardcast_get_total{status="Failure"}"#,
        )
    };
    for id in 0..FACADE_BATCH - 1 {
        assert!(buffer.get(&id).is_none());
    }
    assert_eq!(misses(&recorder), 0.0, "held in this thread's stripe");
    assert!(buffer.get(&0).is_none());
    assert_eq!(misses(&recorder), FACADE_BATCH as f64, "a full batch");

    let (threads, per_thread) = (4u64, 1_000u64);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let buffer = buffer.clone();
            scope.spawn(move || {
                for id in 0..per_thread {
                    assert!(buffer.get(&id).is_none());
                }
            });
        }
    });
    let total = FACADE_BATCH + threads * per_thread;
    assert!(misses(&recorder) <= total as f64);
    buffer.flush_metrics();
    assert_eq!(misses(&recorder), total as f64, "exact after a flush");

    assert!(buffer.get(&1).is_none());
    drop(buffer);
    assert_eq!(misses(&recorder), (total + 1) as f64, "the drop flushed");
}

/// `close` hands the facade counters' remainders to the recorder: counts made just before, or
/// by the close itself (`evictions_total{closed}`), are not left in the stripes while
/// subscriptions keep the counters alive.
#[test]
fn close_flushes_the_facade_counters() {
    let recorder = recorder();
    let buffer = buffer_with(&recorder, Config::new(4));
    buffer.update_primary([1]);
    buffer.insert(1, msg(1));
    assert!(buffer.get(&9).is_none());
    let _pending = buffer.subscribe(5); // holds the counters alive past the close
    buffer.close();
    let rendered = recorder.handle().render();
    assert_eq!(
        value(&rendered, r#"shardcast_get_total{status="Failure"}"#),
        1.0
    );
    assert_eq!(
        value(&rendered, r#"shardcast_evictions_total{reason="closed"}"#),
        1.0
    );
}

/// A running engine hands its buffer's striped counts to the recorder once a second, so a rare
/// count (one undecodable frame: far below a stripe's batch of 64) shows without anyone calling
/// `flush_metrics`.
#[tokio::test(start_paused = true)]
async fn a_running_engine_reports_a_rare_count_within_a_second() {
    use shardcast::net::channel::{self, NullSender, StaticPeerSet};
    use shardcast::{Blob, BlobConfig, Engine, EngineConfig};
    use std::time::Duration;
    let recorder = recorder();
    let buffer: std::sync::Arc<Buffer<u32, Blob>> = std::sync::Arc::new(
        metrics::with_local_recorder(&recorder, || Buffer::new(Config::new(4))).unwrap(),
    );
    let (frames, receiver) = channel::unbounded();
    let engine = Engine::start(
        buffer,
        0,
        NullSender,
        receiver,
        StaticPeerSet::new(vec![0, 1]),
        EngineConfig::new(BlobConfig::default()),
    )
    .unwrap();
    frames
        .send((1, bytes::Bytes::from_static(b"\xff")))
        .unwrap();
    while engine.stats().invalid == 0 {
        tokio::task::yield_now().await;
    }
    let invalid = |recorder: &PrometheusRecorder| {
        value(
            &recorder.handle().render(),
            r#"shardcast_receive_total{status="Invalid"}"#,
        )
    };
    assert_eq!(invalid(&recorder), 0.0, "still in its stripe");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(invalid(&recorder), 1.0, "flushed by the engine's tick");
    engine.shutdown().await;
}
