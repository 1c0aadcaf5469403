//! The one-line switch, compiled: `switch/chain.rs` is a chain-shaped program written against
//! commonware-broadcast's `buffered` (its six-field `Config` literal, `Engine::new`/`start`,
//! the mailbox's `subscribe` and `get`, and a proposer generic over `Broadcaster`). It is
//! compiled twice, and the only difference between the two copies is the `use` line that says
//! what `buffered` is. Both copies run the same chain and must see the same thing.
//!
//! `cargo test --release -p shardcast-benches --test switch`

mod reference {
    use commonware_broadcast::buffered;
    include!("switch/chain.rs");
}

mod shardcast_arm {
    use shardcast_commonware_2026_4 as buffered;
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
        assert_eq!(reference.reached, vec![3; 12]);
        assert_eq!(shardcast.seen, reference.seen, "seed {seed}");
        assert_eq!(shardcast.reached, reference.reached, "seed {seed}");
    }
}
