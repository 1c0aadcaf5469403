//! Model-based test: a plain sequential model of the reference engine's cache (written with
//! BTreeMaps and a linearly scanned VecDeque, the way the reference does it, plus `close`) and `Buffer`
//! run the same random operation sequences. Every return value, every subscription's state and
//! value, every deque and `stats()` must agree, and `check_invariants()` holds after each step.

mod common;

use common::model::{Op, run_with};
use proptest::prelude::*;

fn op() -> impl Strategy<Value = Op> {
    let peer = 0u32..5;
    let id = 0u64..8;
    prop_oneof![
        24 => (peer.clone(), id.clone(), 0u32..3).prop_map(|(peer, id, copy)| Op::Insert { peer, id, copy }),
        4 => proptest::collection::btree_set(peer, 0..5).prop_map(Op::UpdatePrimary),
        8 => id.clone().prop_map(Op::Get),
        8 => id.prop_map(Op::Subscribe),
        4 => any::<usize>().prop_map(Op::Drop),
        4 => any::<usize>().prop_map(Op::Poll),
        // Rare: once closed, little else happens.
        1 => Just(Op::Close),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn buffer_agrees_with_the_sequential_reference_model(
        deque_size in 0usize..5,
        // Messages are 10 to 54 bytes: budgets from "nothing fits" to "never binds".
        peer_bytes in prop_oneof![Just(None), (0usize..120).prop_map(Some)],
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        run_with(deque_size, peer_bytes, ops).map_err(TestCaseError::fail)?;
    }
}
