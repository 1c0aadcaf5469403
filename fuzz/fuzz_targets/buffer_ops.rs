//! (b) Random operation sequences on `Buffer`, checked step by step against the sequential
//! reference model of the integration tests (`tests/common/model.rs`).
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeSet;

#[allow(dead_code, unused_imports)]
#[path = "../../tests/common/mod.rs"]
mod common;

use common::model::{Op, run_with};

fn op(u: &mut Unstructured<'_>) -> arbitrary::Result<Op> {
    Ok(match u.int_in_range(0..=40)? {
        0..=5 => Op::Insert {
            peer: u.int_in_range(0..=4)?,
            id: u.int_in_range(0..=7)?,
            copy: u.int_in_range(0..=2)?,
        },
        6 => {
            let mask: u8 = u.arbitrary()?;
            Op::UpdatePrimary((0..5).filter(|p| mask >> p & 1 == 1).collect::<BTreeSet<u32>>())
        }
        7 | 8 => Op::Get(u.int_in_range(0..=7)?),
        9 | 10 => Op::Subscribe(u.int_in_range(0..=7)?),
        11 => Op::Drop(usize::arbitrary(u)?),
        12 | 13 => Op::Poll(usize::arbitrary(u)?),
        14 => Op::Close,
        // Weighted towards the operations above: an early close ends most of the interest.
        n => Op::Insert {
            peer: (n % 5) as u32,
            id: u.int_in_range(0..=7)?,
            copy: 0,
        },
    })
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(deque_size) = u.int_in_range(0..=4usize) else { return };
    let Ok(budget) = u.int_in_range(0..=120usize) else { return };
    // Half the inputs run without a byte budget.
    let peer_bytes = (budget < 60).then_some(budget * 2);
    let mut ops = Vec::new();
    while ops.len() < 256 {
        match op(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    if let Err(disagreement) = run_with(deque_size, peer_bytes, ops) {
        panic!("Buffer and the reference model disagree: {disagreement}");
    }
});
