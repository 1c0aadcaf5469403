//! Not gated on `cfg(loom)`: fails when the suite is built without it, so that the loom suite
//! can never pass by compiling to nothing. Run the suite with `loom-tests/run`.

#[test]
#[allow(clippy::assertions_on_constants)] // constant per build: that is the point
fn suite_is_built_with_cfg_loom() {
    assert!(
        cfg!(loom),
        "the loom suite was built without `--cfg loom`: run it with `loom-tests/run`"
    );
}
