//! The `shardcast` binary: a small demo run delivers everything; bad flags fail clearly.

use std::process::Command;

fn shardcast(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_shardcast"))
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn small_demo_delivers_everything_and_prints_the_table() {
    let out = shardcast(&[
        "demo",
        "--nodes",
        "3",
        "--messages",
        "50",
        "--payload",
        "64",
        "--latency-ms",
        "2",
        "--jitter-ms",
        "1",
        "--loss",
        "0.05",
        "--retry-ms",
        "20",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("full delivery"), "{stdout}");
    assert!(
        stdout.contains("100/100"),
        "each node gets 2 peers x 50 messages: {stdout}"
    );
    assert!(stdout.contains("resident/bound"));
}

#[test]
fn demo_is_the_default_subcommand() {
    let out = shardcast(&[
        "--nodes",
        "2",
        "--messages",
        "5",
        "--latency-ms",
        "1",
        "--loss",
        "0",
    ]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("full delivery"));
}

#[test]
fn bad_flags_fail_with_a_clear_message() {
    for (args, needle) in [
        (&["--loss", "1.5"][..], "not in [0, 1)"),
        (&["--nodes", "0"][..], "--nodes"),
        (&["--payload", "4"][..], "--payload"),
        (&["--no-such-flag"][..], "unexpected argument"),
        (&["--metrics-addr", "nowhere"][..], "--metrics-addr"),
        (&["--network", "carrier-pigeon"][..], "--network"),
    ] {
        let out = shardcast(args);
        assert!(!out.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[cfg(not(feature = "commonware"))]
#[test]
fn commonware_network_without_the_feature_says_how_to_get_it() {
    let out = shardcast(&["--network", "commonware"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--features commonware"), "{stderr}");
}
