//! The patches of `scripts/rule-breaks/` (each breaks one scheduling rule to show that its
//! property test fails) must keep applying to today's code: a patch that no longer applies
//! silently drops its row from reports/rule-breaks.md the next time the table is made.

use crate::support::skip_unless_ci;
use std::path::Path;
use std::process::Command;

#[test]
fn every_rule_break_patch_still_applies() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let git = Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !git || !root.join(".git").exists() {
        skip_unless_ci(
            "every_rule_break_patch_still_applies",
            "this is not a git checkout with git on PATH",
        );
        return;
    }
    let mut patches: Vec<_> = std::fs::read_dir(root.join("scripts/rule-breaks"))
        .expect("scripts/rule-breaks")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "patch"))
        .collect();
    patches.sort();
    assert!(patches.len() >= 10, "only {} patches", patches.len());
    let stale: Vec<String> = patches
        .iter()
        .filter(|patch| {
            !Command::new("git")
                .current_dir(root)
                .args(["apply", "--check"])
                .arg(patch)
                .output()
                .expect("git apply runs")
                .status
                .success()
        })
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        stale.is_empty(),
        "these patches no longer apply; remake them against today's code: {stale:?}"
    );
}
