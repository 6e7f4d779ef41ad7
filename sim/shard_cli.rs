//! Sweeps across machines, end to end: `taskdist sweep --shard I/N` on every shard, then
//! `taskdist sweep-merge`, gives files byte-identical to the unsharded sweep's for N = 1,
//! 3 and 7 (shards given in any order), also with `--calibration` (N = 1 and 3: the shard
//! files carry the calibration's table, so the merge needs no copy of the file); shards
//! of different sweeps, a missing shard, a
//! shard given twice or a bad `--shard` exit 2 with a clear message and write nothing.

use crate::scratch::scratch;
use crate::support::{Run, ok, taskdist};
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

/// Runs every shard of the sweep (with `extra` arguments) cut into `count`.
fn shards(root: &Path, count: u32, extra: &[&str]) -> Vec<String> {
    (0..count)
        .map(|i| {
            let dir = root.join(format!("shard-{count}-{i}"));
            let dir = dir.to_str().unwrap().to_string();
            let shard = format!("{i}/{count}");
            let mut args = extra.to_vec();
            args.extend(["--shard", &shard, "--out", &dir]);
            ok(&sweep(&args), "a shard");
            dir
        })
        .collect()
}

/// `sweep-merge DIRS --out OUT`, the directories given last first.
fn merge_into(dirs: &[String], out: &Path) -> Run {
    let mut args = vec!["sweep-merge"];
    args.extend(dirs.iter().rev().map(String::as_str));
    args.extend(["--out", out.to_str().unwrap()]);
    taskdist(&args)
}

/// Asserts that `dir` holds exactly the files of `expected`, byte for byte.
fn assert_same_files(dir: &Path, expected: &[(String, Vec<u8>)], what: &str) {
    let got = files(dir);
    assert_eq!(
        got.iter().map(|f| &f.0).collect::<Vec<_>>(),
        expected.iter().map(|f| &f.0).collect::<Vec<_>>(),
        "{what}: the same files"
    );
    for ((name, a), (_, b)) in got.iter().zip(expected) {
        assert!(a == b, "{what}: {name} differs from the unsharded sweep's");
    }
}

#[test]
fn merged_shards_are_byte_identical_to_the_unsharded_sweep() {
    let root = scratch("shards");
    let whole = root.join("whole");
    ok(&sweep(&["--out", whole.to_str().unwrap()]), "unsharded");
    let expected = files(&whole);
    assert!(expected.len() >= 7, "{:?}", expected.iter().map(|f| &f.0));
    for count in [1, 3, 7] {
        // Given in any order.
        let dirs = shards(&root, count, &[]);
        let merged = root.join(format!("merged-{count}"));
        let run = merge_into(&dirs, &merged);
        ok(&run, "merge");
        assert!(
            run.stdout
                .contains("swept scenarios/failures.toml: 48 runs")
        );
        assert_same_files(&merged, &expected, &format!("N = {count}"));
    }
}

/// A calibration's table for failures.toml, as `taskdist calibrate` writes one (with the
/// intervals the tornado takes); it replaces the scenario's own.
const CALIBRATION: &str = "[simulation]\n\
    failure_probability = 0.12\n\
    duration_interval = [0.9, 1.12]\n\
    failure_interval = [0.05, 0.25]\n\
    dispatch_overhead = \"3ms\"\n\n\
    [simulation.duration]\nmodel = \"lognormal\"\nspread = 0.3\nmedian = 1.05\n\n\
    [simulation.types.testing]\nfailure_probability = 0.3\nfailure_interval = [0.2, 0.41]\n";

#[test]
fn shards_of_a_calibrated_sweep_carry_the_calibration_and_merge_byte_identical() {
    let root = scratch("shards-calibrated");
    let table = root.join("cal.toml");
    std::fs::write(&table, CALIBRATION).unwrap();
    let calibration = ["--calibration", table.to_str().unwrap()];
    let whole = root.join("whole");
    let mut args = calibration.to_vec();
    args.extend(["--out", whole.to_str().unwrap()]);
    ok(&sweep(&args), "unsharded");
    let expected = files(&whole);
    // The report quotes the calibration, and the tornado takes its intervals.
    let report = std::fs::read_to_string(whole.join("report.md")).unwrap();
    assert!(report.contains("--calibration"), "{report}");
    let tornado = std::fs::read_to_string(whole.join("tornado.csv")).unwrap();
    assert!(
        tornado.contains("testing,failure,0.2,0.41,interval,"),
        "{tornado}"
    );
    let sets: Vec<(u32, Vec<String>)> = [1, 3]
        .into_iter()
        .map(|count| (count, shards(&root, count, &calibration)))
        .collect();
    // The merge needs no copy of the calibration file: the shards carry its table.
    std::fs::remove_file(&table).unwrap();
    for (count, dirs) in &sets {
        let merged = root.join(format!("merged-{count}"));
        ok(&merge_into(dirs, &merged), "merge");
        assert_same_files(&merged, &expected, &format!("calibrated, N = {count}"));
    }
    // A shard of the same sweep without the calibration is another sweep's.
    let plain = shards(&root.join("plain"), 3, &[]);
    let out = root.join("mixed");
    let mixed = [sets[1].1[0].clone(), sets[1].1[1].clone(), plain[2].clone()];
    let run = merge_into(&mixed, &out);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("shards of different sweeps"),
        "{}",
        run.stderr
    );
    assert!(!out.exists(), "nothing is written");
}

#[test]
fn shards_of_other_sweeps_missing_or_repeated_shards_are_refused() {
    let root = scratch("shards-bad");
    let three = shards(&root, 3, &[]);
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
}
