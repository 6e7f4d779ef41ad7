//! Sweeps across machines, end to end: `taskdist sweep --shard I/N` on every shard, then
//! `taskdist sweep-merge`, gives files byte-identical to the unsharded sweep's for N = 1,
//! 3 and 7 (shards given in any order); shards of different sweeps, a missing shard, a
//! shard given twice or a bad `--shard` exit 2 with a clear message and write nothing.

use crate::support::{Run, ok, taskdist, temp};
use std::path::Path;

/// The sweep every test shards: failures, crashes and a vary axis, so the shard files
/// carry retries, errors and every summary field.
const SWEEP: [&str; 10] = [
    "sweep",
    "scenarios/failures.toml",
    "--agents",
    "1..4",
    "--seeds",
    "3",
    "--vary",
    "failure=0,0.2",
    "--policy",
    "critical-path,fifo",
];

fn sweep(extra: &[&str]) -> Run {
    let mut args = SWEEP.to_vec();
    args.extend_from_slice(extra);
    taskdist(&args)
}

/// Every file of `dir`, by name.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let bytes = std::fs::read(dir.join(&n)).unwrap();
            (n, bytes)
        })
        .collect()
}

fn shards(root: &Path, count: u32) -> Vec<String> {
    (0..count)
        .map(|i| {
            let dir = root.join(format!("shard-{count}-{i}"));
            let dir = dir.to_str().unwrap().to_string();
            ok(
                &sweep(&["--shard", &format!("{i}/{count}"), "--out", &dir]),
                "a shard",
            );
            dir
        })
        .collect()
}

#[test]
fn merged_shards_are_byte_identical_to_the_unsharded_sweep() {
    let root = temp("shards");
    let whole = root.join("whole");
    ok(&sweep(&["--out", whole.to_str().unwrap()]), "unsharded");
    let expected = files(&whole);
    assert!(expected.len() >= 7, "{:?}", expected.iter().map(|f| &f.0));
    for count in [1, 3, 7] {
        let mut dirs = shards(&root, count);
        // Given in any order.
        dirs.reverse();
        let merged = root.join(format!("merged-{count}"));
        let mut args = vec!["sweep-merge"];
        args.extend(dirs.iter().map(String::as_str));
        args.extend(["--out", merged.to_str().unwrap()]);
        let run = taskdist(&args);
        ok(&run, "merge");
        assert!(
            run.stdout
                .contains("swept scenarios/failures.toml: 48 runs")
        );
        let got = files(&merged);
        assert_eq!(
            got.iter().map(|f| &f.0).collect::<Vec<_>>(),
            expected.iter().map(|f| &f.0).collect::<Vec<_>>(),
            "N = {count}: the same files"
        );
        for ((name, a), (_, b)) in got.iter().zip(&expected) {
            assert!(
                a == b,
                "N = {count}: {name} differs from the unsharded sweep's"
            );
        }
    }
    std::fs::remove_dir_all(root).ok();
}

#[test]
fn shards_of_other_sweeps_missing_or_repeated_shards_are_refused() {
    let root = temp("shards-bad");
    let three = shards(&root, 3);
    let other = root.join("other");
    let other = other.to_str().unwrap();
    // The same shard of a sweep with other seeds.
    let mut args = SWEEP.to_vec();
    args[5] = "4";
    args.extend(["--shard", "2/3", "--out", other]);
    ok(&taskdist(&args), "another sweep's shard");
    let out = root.join("out");
    let merge = |dirs: &[&str]| {
        let mut args = vec!["sweep-merge"];
        args.extend_from_slice(dirs);
        args.extend(["--out", out.to_str().unwrap()]);
        taskdist(&args)
    };
    let cases: [(Vec<&str>, &str); 4] = [
        (
            vec![&three[0], &three[1], other],
            "shards of different sweeps",
        ),
        (vec![&three[0], &three[2]], "missing 1 of 3 shards: 1"),
        (
            vec![&three[0], &three[1], &three[1], &three[2]],
            "shard 1/3 is given twice",
        ),
        (vec![root.to_str().unwrap()], "no readable shard.json"),
    ];
    for (dirs, message) in cases {
        let run = merge(&dirs);
        assert_eq!(run.code, Some(2), "{dirs:?}: {}", run.stderr);
        assert!(run.stderr.contains(message), "{dirs:?}: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        assert!(!out.exists(), "nothing is written");
    }
    for (shard, message) in [
        ("3/3", "must be below N"),
        ("1/0", "N must be"),
        ("x", "expected I/N"),
    ] {
        let run = sweep(&["--shard", shard, "--out", out.to_str().unwrap()]);
        assert_eq!(run.code, Some(2), "{shard}");
        assert!(run.stderr.contains(message), "{shard}: {}", run.stderr);
    }
    // A shard needs a directory to write.
    assert_eq!(sweep(&["--shard", "0/2"]).code, Some(2));
    std::fs::remove_dir_all(root).ok();
}
