//! The test of `sim/scratch.rs`, kept out of that file so that it runs once: the file is
//! compiled into both the library's unit tests and the `sim` suite.

use crate::scratch::scratch;
use std::path::PathBuf;

#[test]
fn a_passing_test_leaves_nothing_and_a_failing_one_keeps_its_directory() {
    let passed = {
        let dir = scratch("scratch-passes");
        std::fs::write(dir.join("f"), "x").unwrap();
        dir.to_path_buf()
    };
    assert!(!passed.exists(), "{} was left behind", passed.display());

    let mut failed = PathBuf::new();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let dir = scratch("scratch-fails");
        std::fs::write(dir.join("f"), "x").unwrap();
        failed = dir.to_path_buf();
        panic!("a failing test (on purpose)");
    }));
    assert!(outcome.is_err());
    assert!(
        failed.join("f").exists(),
        "{} was removed",
        failed.display()
    );
    std::fs::remove_dir_all(&failed).unwrap();
}
