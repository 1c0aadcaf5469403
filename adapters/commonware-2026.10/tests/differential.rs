//! Differential test against the 2026.10 reference: `differential/driver.rs` runs a seeded
//! sequence of operations on four nodes against `buffered`: broadcasts to `All` and to `Some`,
//! subscriptions kept and dropped, gets, peer-set changes with two sets tracked, link cuts and
//! heals, engines aborted (a crash) and mailboxes dropped (the engine drains and stops). It is
//! compiled twice, once per `buffered`, and both runs must observe the same thing after every
//! step: what each `broadcast` answered (`Feedback`), what each `get` returned, which
//! subscriptions were answered (and with which message), which are pending or closed; and, at
//! the end, the same values in every metric of the reference's (`peer`, `receive`,
//! `subscribe`, `get` by label, `waiters`) as the runtime exports them. A difference fails
//! with its seed and step.
//!
//! Lossy links are not among the operations: the deterministic runtime's scheduler and the
//! simulated network's drops draw from one RNG, and the two engines run different numbers of
//! tasks, so the same seed would drop different messages in the two arms. The chain test
//! (`tests/chain.rs`) runs both engines over lossy links instead.
//!
//! `DIFF_SEEDS=N cargo test --release --test differential` (default 100 seeds).

mod common;

mod reference {
    use commonware_broadcast::buffered;
    include!("differential/driver.rs");
}

mod shardcast_arm {
    use shardcast_commonware_2026_10 as buffered;
    include!("differential/driver.rs");
}

#[test]
fn shardcast_observes_what_the_reference_observes() {
    let seeds: u64 = std::env::var("DIFF_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let (start, mut steps) = (std::time::Instant::now(), 0);
    for seed in 0..seeds {
        let reference = reference::run(seed);
        let shardcast = shardcast_arm::run(seed);
        assert_eq!(reference.len(), shardcast.len());
        for (step, (r, s)) in reference.iter().zip(&shardcast).enumerate() {
            assert_eq!(s, r, "seed {seed}, step {step}");
        }
        steps += reference.len();
    }
    println!(
        "figure: {seeds} seeds, {steps} observations compared: no difference, in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}
