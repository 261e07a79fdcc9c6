//! Small libp2p test-plans gossipsub-interop runs on loopback (interop/test-plans), each a
//! mixed network of our nodes and libp2p-gossipsub 0.50.1 nodes with a shortened schedule:
//! subnet-blob-msg on 4 + 4 nodes (every scored message must reach every node) in one test;
//! partial-messages, then partial-messages-fanout, on 3 + 3 nodes (every node must assemble
//! the whole group) in the other. Every node must finish its script. The two tests run in
//! parallel.
//!
//! Builds the node crate (its own workspace) into this crate's target directory, so the
//! libp2p crates it shares with our dev-dependencies are reused, then runs
//! `interop/test-plans/run` (python3).

use std::path::{Path, PathBuf};
use std::process::Command;

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|d| if d.is_absolute() { d } else { root.join(d) })
        .unwrap_or_else(|| root.join("target"))
}

/// The value of the first `"name":` in the runner's JSON summary, as written.
fn summary_field(text: &str, name: &str) -> String {
    let at = text
        .find(&format!("\"{name}\":"))
        .unwrap_or_else(|| panic!("{name} in {text}"));
    let rest = &text[at + name.len() + 3..];
    rest[..rest.find([',', '\n', '}']).unwrap()]
        .trim()
        .to_string()
}

/// Builds the node crate into this crate's target directory (once per process in effect:
/// the second build is a no-op behind cargo's lock).
fn build_nodes(root: &Path, target: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    // Without the variables cargo sets for this test process: build scripts that watch one
    // of them would otherwise rebuild half of libp2p on every switch between this build
    // and a plain `cargo build` of the node crate.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let keep = [
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_",
            "CARGO_NET_",
        ]
        .iter()
        .any(|k| key.starts_with(k))
            || [
                "CARGO_REGISTRIES_",
                "CARGO_TERM_",
                "CARGO_PROFILE_",
                "CARGO_HTTP_",
            ]
            .iter()
            .any(|k| key.starts_with(k));
        if (key.starts_with("CARGO_") && !keep) || key == "OUT_DIR" {
            build.env_remove(&*key);
        }
    }
    let build = build
        .args(["build", "--bins", "--manifest-path"])
        .arg(root.join("interop/test-plans/Cargo.toml"))
        .arg("--target-dir")
        .arg(target)
        .status()
        .expect("cargo runs");
    assert!(build.success(), "building interop/test-plans failed");
}

/// Runs `interop/test-plans/run` with the built nodes and `args`, on ports from `port_base`;
/// returns its stdout and its JSON summary. Fails the test if the runner fails.
fn run_scenario(root: &Path, target: &Path, port_base: u32, args: &[&str]) -> (String, String) {
    let summary = target.join(format!(
        "test-plans-summary-{}-{port_base}.json",
        std::process::id()
    ));
    let run = Command::new("python3")
        .arg(root.join("interop/test-plans/run"))
        .args(["--no-build", "--quiet"])
        .args(args)
        .arg("--port-base")
        .arg(port_base.to_string())
        .arg("--target-dir")
        .arg(target)
        .arg("--out")
        .arg(target.join("test-plans-runs"))
        .arg("--json")
        .arg(&summary)
        .output()
        .expect("python3 runs interop/test-plans/run");
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.status.success(),
        "runner failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(&summary).expect("runner wrote its summary");
    let _ = std::fs::remove_file(&summary);
    (stdout, text)
}

#[test]
fn mixed_network_of_ours_and_libp2p_gossipsub_reaches_every_node() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = target_dir(root);
    build_nodes(root, &target);

    // Ports away from the runner's default 9000, different per test process.
    let port_base = 30_000 + (std::process::id() % 1_400) * 24;
    let (stdout, text) = run_scenario(
        root,
        &target,
        port_base,
        &[
            "--scenario",
            "subnet-blob-msg",
            "--nodes",
            "8",
            "--composition",
            "ours:4,libp2p-gossipsub:4",
            "--setup",
            "4",
            "--interval",
            "1",
            "--messages",
            "6",
            "--flush",
            "3",
            "--skip",
            "2",
            "--seed",
            "1",
            "--paths",
        ],
    );
    let field = |name: &str| summary_field(&text, name);
    assert_eq!(field("nodes"), "8", "{stdout}");
    // --paths: every delivery (4 scored messages to 7 nodes each, plus any publisher echoes)
    // falls on a path, and both implementations appear as receivers.
    let all_paths = stdout
        .lines()
        .find_map(|l| l.strip_prefix("| all | all | all | all | "))
        .and_then(|rest| rest.split(" |").next())
        .and_then(|n| n.parse::<u32>().ok());
    assert!(
        all_paths.is_some_and(|n| n >= 28),
        "per-path table counts every delivery:\n{stdout}"
    );
    for receiver in ["ours", "libp2p-gossipsub"] {
        assert!(
            stdout.lines().any(|l| l.starts_with("| ")
                && l.split(" | ").nth(3) == Some(receiver)
                && !l.starts_with("| all")),
            "a per-path row with receiver {receiver}:\n{stdout}"
        );
    }
    assert_eq!(
        field("messages"),
        "4",
        "every published message was received:\n{stdout}"
    );
    assert_eq!(
        field("reach_min"),
        "1.0",
        "every node got every message:\n{stdout}"
    );
    assert_eq!(
        field("failed_count"),
        "0",
        "every node finished its script:\n{stdout}"
    );
    // Duplicates are logged (a mesh of 8 sends some): the harness scores them.
    assert!(
        field("dup_per_node").parse::<f64>().unwrap() > 0.0,
        "duplicates are logged:\n{stdout}"
    );
}

#[test]
fn mixed_network_assembles_partial_messages() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = target_dir(root);
    build_nodes(root, &target);
    // Next to the other test's ports (it uses 8 from its base); this one uses 12.
    let port_base = 30_000 + (std::process::id() % 1_400) * 24 + 8;
    let (stdout, text) = run_scenario(
        root,
        &target,
        port_base,
        &[
            "--scenario",
            "partial-messages",
            "--nodes",
            "6",
            "--composition",
            "ours:3,libp2p-gossipsub:3",
            "--setup",
            "3",
            "--flush",
            "2",
            "--seed",
            "1",
        ],
    );
    let field = |name: &str| summary_field(&text, name);
    assert_eq!(field("nodes"), "6", "{stdout}");
    assert_eq!(field("groups"), "1", "{stdout}");
    assert_eq!(
        field("complete_min"),
        "1.0",
        "every node logged All parts received:\n{stdout}"
    );
    assert_eq!(
        field("failed_count"),
        "0",
        "every node finished its script:\n{stdout}"
    );

    // partial-messages-fanout: node 0 (ours with seed 5), not subscribed, holds the whole
    // group and publishes it to nodes 1..5 by name (`publish_partial_to`); every node must
    // assemble it.
    let (stdout, text) = run_scenario(
        root,
        &target,
        port_base + 6,
        &[
            "--scenario",
            "partial-messages-fanout",
            "--nodes",
            "6",
            "--composition",
            "ours:3,libp2p-gossipsub:3",
            "--setup",
            "3",
            "--flush",
            "2",
            "--seed",
            "5",
        ],
    );
    let field = |name: &str| summary_field(&text, name);
    assert_eq!(
        field("node0"),
        "\"ours\"",
        "the publisher is our node:\n{text}"
    );
    assert_eq!(
        field("complete_min"),
        "1.0",
        "every node logged All parts received:\n{stdout}"
    );
    assert_eq!(
        field("failed_count"),
        "0",
        "every node finished its script (none exits 2, unsupported):\n{stdout}"
    );
}
