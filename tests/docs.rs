//! The API documentation builds without a single rustdoc warning (broken intra-doc links,
//! missing docs, bad HTML, ...), with every feature on, as docs.rs builds it.
//!
//! Runs `cargo doc --all-features --no-deps` with `RUSTDOCFLAGS="-D warnings"` into a target
//! directory of its own (`target/doc-check`), so it never waits for the lock of the build
//! that runs this test. Measured on a shared 2-vCPU machine: about 45 s of CPU the first time
//! (checking every dependency once), then under 2 s after a change to the crate.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn cargo_doc_has_no_warnings() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(&root)
        .args(["doc", "--all-features", "--no-deps", "--target-dir"])
        .arg(root.join("target").join("doc-check"))
        .env("RUSTDOCFLAGS", "-D warnings")
        .output()
        .expect("run cargo doc");
    assert!(
        output.status.success(),
        "`RUSTDOCFLAGS=\"-D warnings\" cargo doc --all-features --no-deps` failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
