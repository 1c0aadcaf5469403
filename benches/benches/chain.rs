//! The marshal chain over commonware-p2p's authenticated network on 127.0.0.1 (tokio), with
//! shardcast and with the reference's `buffered` engine as the block buffer, one after the other
//! in one process (`shardcast_benches::tcp_chain`): 16 validators and 1 MiB blocks by default.
//!
//! `cargo bench -p shardcast-benches --bench chain [-- --validators N --blocks N --payload BYTES --quick]`
//!
//! The same chain runs from the demo binary: `cargo run --release -p shardcast-demo --features
//! chain -- chain`.

use shardcast_benches::tcp_chain::{Opts, compare};

fn opts() -> Opts {
    let mut opts = Opts::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || -> u64 { args.next().and_then(|v| v.parse().ok()).expect("a number") };
        match arg.as_str() {
            "--validators" => opts.validators = value() as usize,
            "--blocks" => opts.blocks = value(),
            "--payload" => opts.payload = value() as usize,
            "--quick" => opts.blocks = 10,
            "--bench" => {}
            other => panic!("unknown option {other}"),
        }
    }
    opts
}

fn main() {
    print!("{}", compare(&opts()));
}
