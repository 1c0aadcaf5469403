//! The comparison harness: shardcast, the actor engine it replaces, and the limit (a bare
//! `DashMap` / a bare `oneshot`), on the same workloads, in one process run, on one tokio runtime
//! (commonware-runtime's tokio runner, 2 worker threads by default).
//!
//! `cargo bench -p shardcast-benches --bench compare -- [--quick] [--runs N] [--threads 1,2]
//! [--out DIR]`. Prints one table (median of the runs, with min-max) and writes `compare.md`,
//! `compare.svg` and `scaling.svg` into DIR (default `target/shardcast-bench`; a relative DIR
//! is taken from the workspace root).
//!
//! The scenarios, in the order they run (`--only NAME` selects): `get` (get.rs), `ingest`
//! (ingest.rs), `wakeup` (wakeup.rs), `mixed` (mixed.rs), `scaling` (scaling.rs). What they
//! share is in harness.rs; the table and charts in report.rs.

mod get;
mod harness;
mod ingest;
mod mixed;
mod report;
mod scaling;
mod wakeup;

use commonware_runtime::Runner as _;
use harness::{Bench, Instant, bench_selected, opts};
use report::{ratio_svg, scaling_svg, table};

fn main() {
    let opts = opts();
    // shardcast's metrics go to a real Prometheus recorder, as in production.
    if !opts.no_recorder {
        metrics::set_global_recorder(
            metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder(),
        )
        .expect("no other recorder");
    }
    let workers = opts.threads.iter().copied().max().unwrap_or(2).max(2);
    let runner = commonware_runtime::tokio::Runner::new(
        commonware_runtime::tokio::Config::new().with_worker_threads(workers),
    );
    let started = Instant::now();
    let (rows, scaling) = runner.start(|context| {
        let opts = opts.clone();
        async move {
            let mut bench = Bench {
                context,
                opts,
                rows: Vec::new(),
                scaling: Vec::new(),
                labels: 0,
            };
            let selected = bench.opts.clone();
            let run = |name: &str| bench_selected(&selected, name);
            if run("get") {
                eprintln!("get:");
                bench.get().await;
            }
            if run("ingest") {
                eprintln!("ingest:");
                bench.ingest().await;
            }
            if run("wakeup") {
                eprintln!("subscribe wake-up:");
                bench.wakeup().await;
            }
            if run("mixed") {
                eprintln!("mixed:");
                bench.mixed().await;
            }
            if run("scaling") {
                eprintln!("scaling with the work:");
                bench.scaling().await;
            }
            (bench.rows, bench.scaling)
        }
    });
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let header = format!(
        "shardcast vs actor vs limit: {} runs each (median, min-max), {} runtime workers, {cores} cores{}, {:.0} s\n\n",
        opts.runs,
        workers,
        if opts.quick { ", --quick" } else { "" },
        started.elapsed().as_secs_f64()
    );
    let md = format!("{header}{}", table(&rows));
    println!("{md}");
    std::fs::create_dir_all(&opts.out).expect("output directory");
    std::fs::write(opts.out.join("compare.md"), &md).expect("write");
    std::fs::write(opts.out.join("compare.svg"), ratio_svg(&rows)).expect("write");
    std::fs::write(opts.out.join("scaling.svg"), scaling_svg(&scaling)).expect("write");
    eprintln!(
        "wrote {}/compare.{{md,svg}} and scaling.svg",
        opts.out.display()
    );
}
