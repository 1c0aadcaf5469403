//! The one-line switch on commonware 2026.10.0, compiled: `switch/chain.rs` is a chain-shaped
//! program written against that release's `buffered` (its seven-field `Config` literal,
//! `Engine::new`/`start`, the synchronous `subscribe`, `get` returning `Digested`, and a
//! proposer generic over `Broadcaster` with `Feedback`). It is compiled twice; the only
//! difference between the copies is the `use` line saying what `buffered` is. Both run the
//! same chain on the same seeds and must see the same thing.

mod common;

mod reference {
    use commonware_broadcast::buffered;
    include!("switch/chain.rs");
}

mod shardcast_arm {
    use shardcast_commonware_2026_10 as buffered;
    include!("switch/chain.rs");
}

#[test]
fn the_same_chain_program_runs_on_either_buffer() {
    for seed in 0..5 {
        let reference = reference::run(seed, 4, 12);
        let shardcast = shardcast_arm::run(seed, 4, 12);
        assert!(
            reference
                .seen
                .iter()
                .flatten()
                .all(|&(answered, found)| answered && found),
            "the reference delivers every block: {reference:?}"
        );
        assert!(reference.accepted.iter().all(|&ok| ok));
        assert_eq!(shardcast.seen, reference.seen, "seed {seed}");
        assert_eq!(shardcast.accepted, reference.accepted, "seed {seed}");
    }
}
