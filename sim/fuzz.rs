//! Every input kept under `fuzz/regressions/TARGET/` (crashers the fuzzers found, once
//! fixed, and a few seeds of each format) goes through the same code as the fuzz target
//! TARGET (fuzz/harness.rs): it must be accepted or refused with a message, never panic.
//! A crasher found by `scripts/fuzz.sh` lands in `fuzz/artifacts/TARGET/`; once fixed, it is
//! copied here so the normal suite keeps it fixed.

#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::Path;

/// What a fuzz target does with one input.
type Check = fn(&[u8]) -> harness::Verdict;

/// Runs every file of `fuzz/regressions/{target}` through `check`; returns how many.
fn replay(target: &str, check: Check) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    files.sort();
    for file in &files {
        let data = std::fs::read(file).expect("a regression input");
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(
            outcome.is_ok(),
            "{target}: {} panicked (reproduce: cd fuzz && cargo +nightly fuzz run {target} {})",
            file.display(),
            file.display()
        );
    }
    files.len()
}

#[test]
fn every_kept_fuzz_input_is_accepted_or_refused_with_a_message() {
    let targets: [(&str, Check); 8] = [
        ("scenario_toml", harness::scenario_toml),
        ("scenario_json", harness::scenario_json),
        ("pieces", harness::pieces),
        ("duration", harness::duration),
        ("stg", harness::stg),
        ("dax", harness::dax),
        ("wfcommons", harness::wfcommons),
        ("resume", harness::resume),
    ];
    for (target, check) in targets {
        assert!(replay(target, check) > 0, "{target}: no kept inputs");
    }
}

#[test]
fn the_kept_seeds_are_read_as_their_formats_intend() {
    // The seeds are real inputs of each format: a parser that refused them all would make
    // the test above pass while checking nothing past the first error.
    let read = |target: &str, name: &str, check: Check| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/regressions")
            .join(target)
            .join(name);
        check(&std::fs::read(path).expect("a seed"))
    };
    for (target, name, check, accepted) in [
        (
            "scenario_toml",
            "seed-sleep.toml",
            harness::scenario_toml as Check,
            true,
        ),
        (
            "scenario_toml",
            "seed-cycle.toml",
            harness::scenario_toml,
            false,
        ),
        (
            "scenario_json",
            "seed-garbage",
            harness::scenario_json,
            false,
        ),
        ("pieces", "seed-toml", harness::pieces, true),
        ("pieces", "seed-json", harness::pieces, true),
        ("duration", "seed-30m", harness::duration, true),
        ("stg", "seed-small.stg", harness::stg, true),
        ("dax", "seed-heft.dax", harness::dax, true),
        ("wfcommons", "seed-tiny.json", harness::wfcommons, true),
        ("resume", "seed", harness::resume, true),
    ] {
        let verdict = read(target, name, check);
        assert_eq!(
            matches!(verdict, harness::Verdict::Accepted),
            accepted,
            "{target}/{name}: {verdict:?}"
        );
    }
}
