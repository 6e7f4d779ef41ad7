//! The counting rules of the fuzzing round's scripts, on small made-up inputs whose answers
//! are known: `scripts/fuzz_coverage.py` (source regions covered, each counted once, from
//! `llvm-cov export`) and `scripts/fuzz_stats.py` (the tables of reports/fuzz.md from a log
//! of `scripts/fuzz.sh`), and `scripts/fuzz_watch.sh`'s choices (which fuzzer it follows,
//! which inputs it measures, when it stops) on a stand-in fuzzer and measurement.
//! reports/fuzz.md's plateau judgments rest on these; the fuzzers themselves need a nightly
//! toolchain and hours, so they are not run here.
//!
//! The scripts are Python: without `python3` on PATH these tests skip with a message,
//! unless `CI` is set.

use crate::scratch::scratch;
use crate::support::{root, skip_unless_ci};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

/// A dependency's source file, as llvm-cov names one (`own` in fuzz_coverage.py: not
/// taskdist's).
const DEP: &str = "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/foo-1.0.0/src/lib.rs";
/// A file of taskdist's own.
const OWN: &str = "/work/taskdist/src/a.rs";

/// `python3 scripts/SCRIPT args...` from the repository's root: (status, stdout, stderr),
/// or None (with a message) where python3 is missing outside CI.
fn python(test: &str, script: &str, args: &[&Path]) -> Option<(bool, String, String)> {
    let output = match Command::new("python3")
        .arg(root().join("scripts").join(script))
        .args(args)
        .output()
    {
        Ok(output) => output,
        Err(error) => {
            skip_unless_ci(test, &format!("python3 cannot be started: {error}"));
            return None;
        }
    };
    Some((
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    ))
}

/// One file of an export: its segments (`[line, column, count, has a count, starts a
/// region, is a gap]`) and its covered instantiations.
fn file(name: &str, segments: Value, instantiations: u64) -> Value {
    json!({
        "filename": name,
        "segments": segments,
        "summary": { "instantiations": { "covered": instantiations } },
    })
}

/// Writes one measurement of target `t` (`OUT/t.json`, as scripts/fuzz_coverage.sh does).
fn measurement(dir: &Path, name: &str, files: &[Value]) -> std::path::PathBuf {
    let out = dir.join(name);
    std::fs::create_dir_all(&out).unwrap();
    let export = json!({ "data": [ { "files": files } ] });
    std::fs::write(out.join("t.json"), export.to_string()).unwrap();
    out
}

/// taskdist's file with region (2, 1) covered or not. Beside it: a second region starting
/// at (1, 1) (a nested one: one region), a segment that starts nothing, a gap and a segment
/// without a count, none of which is a covered region.
fn own_file(second: bool, instantiations: u64) -> Value {
    file(
        OWN,
        json!([
            [1, 1, 5, true, true, false],
            [1, 1, 3, true, true, false],
            [2, 1, u64::from(second), true, true, false],
            [3, 1, 4, true, false, false],
            [4, 1, 2, true, true, true],
            [5, 1, 7, false, true, false],
        ]),
        instantiations,
    )
}

/// The dependency's file with region (10, 5) covered, and (11, 1) too if `more`.
fn dep_file(more: bool) -> Value {
    file(
        DEP,
        json!([
            [10, 5, 1, true, true, false],
            [11, 1, u64::from(more), true, true, false]
        ]),
        1,
    )
}

#[test]
fn fuzz_coverage_counts_each_source_region_once_and_first_coverage_once() {
    let dir = scratch("fuzz-coverage");
    let m1 = measurement(&dir, "m1", &[own_file(false, 2), dep_file(false)]);
    // Region (2, 1) is reached, by two more copies of its generic function.
    let m2 = measurement(&dir, "m2", &[own_file(true, 4), dep_file(false)]);
    // It goes (a timing-dependent path), and the copies with it ...
    let m3 = measurement(&dir, "m3", &[own_file(false, 2), dep_file(false)]);
    // ... and comes back: not new source a second time. The dependency gains a region.
    let m4 = measurement(&dir, "m4", &[own_file(true, 2), dep_file(true)]);
    let Some((ok, out, err)) = python(
        "fuzz_coverage --series",
        "fuzz_coverage.py",
        &[Path::new("--series"), Path::new("t"), &m1, &m2, &m3, &m4],
    ) else {
        return;
    };
    assert!(ok, "{err}");
    let rows: Vec<&str> = out.lines().skip(2).collect();
    assert_eq!(
        rows,
        [
            "| m1 | 1 | +0 | 1 | +0 | 3 | +0 |",
            "| m2 | 2 | +1 | 1 | +0 | 5 | +2 |",
            "| m3 | 1 | +0 | 1 | +0 | 3 | -2 |",
            "| m4 | 2 | +0 | 2 | +1 | 3 | +0 |",
        ],
        "{out}"
    );

    // Before and after: the regions the second covers and the first did not, by file.
    let (ok, out, err) = python(
        "fuzz_coverage",
        "fuzz_coverage.py",
        &[m1.as_path(), m4.as_path()],
    )
    .unwrap();
    assert!(ok, "{err}");
    assert_eq!(
        out.lines().nth(2),
        Some("| t | 1 → 2 | +1 | 1 → 2 | +1 | foo-1.0.0/src/lib.rs +1, src/a.rs +1 |"),
        "{out}"
    );
}

#[test]
fn fuzz_coverage_accumulates_one_measurement_at_a_time() {
    // The series of the test above, as scripts/fuzz_watch.sh feeds it: one call per
    // measurement, the union kept in a file between calls.
    let dir = scratch("fuzz-coverage-accumulate");
    let state = dir.join("union.json");
    let measurements = [
        measurement(&dir, "m1", &[own_file(false, 2), dep_file(false)]),
        measurement(&dir, "m2", &[own_file(true, 4), dep_file(false)]),
        measurement(&dir, "m3", &[own_file(false, 2), dep_file(false)]),
        measurement(&dir, "m4", &[own_file(true, 2), dep_file(true)]),
    ];
    let mut lines = Vec::new();
    for m in &measurements {
        let Some((ok, out, err)) = python(
            "fuzz_coverage --accumulate",
            "fuzz_coverage.py",
            &[Path::new("--accumulate"), &state, Path::new("t"), m],
        ) else {
            return;
        };
        assert!(ok, "{err}");
        lines.push(out.trim_end().to_string());
    }
    // The first call only sets the union: nothing is new. The totals are the union's: m3
    // covers one region of taskdist's, the union still holds two. A region that comes back
    // (m4's (2, 1)) is not new again; the dependency's new region is, by file.
    assert_eq!(
        lines,
        [
            "1 1 0 0 -",
            "2 1 1 0 src/a.rs+1",
            "2 1 0 0 -",
            "2 2 0 1 foo-1.0.0/src/lib.rs+1",
        ]
    );

    // A measurement of another build (other files) is not added to the union.
    let other = measurement(&dir, "other", &[own_file(true, 1)]);
    let (ok, _, err) = python(
        "fuzz_coverage --accumulate",
        "fuzz_coverage.py",
        &[Path::new("--accumulate"), &state, Path::new("t"), &other],
    )
    .unwrap();
    assert!(!ok);
    assert!(err.contains("another build"), "{err}");
}

#[test]
fn fuzz_coverage_refuses_what_it_cannot_count() {
    let dir = scratch("fuzz-coverage-refuses");
    let full = measurement(&dir, "full", &[own_file(true, 1), dep_file(false)]);
    // An export made with -summary-only has no segments: counting none would be a lie.
    let summary = measurement(
        &dir,
        "summary",
        &[json!({ "filename": OWN, "summary": { "instantiations": { "covered": 1 } } })],
    );
    let Some((ok, _, err)) = python(
        "fuzz_coverage refuses",
        "fuzz_coverage.py",
        &[Path::new("--series"), Path::new("t"), &full, &summary],
    ) else {
        return;
    };
    assert!(!ok);
    assert!(err.contains("-summary-only"), "{err}");

    // Measurements of different builds (other files) are not compared.
    let other = measurement(&dir, "other", &[own_file(true, 1)]);
    let (ok, _, err) = python(
        "fuzz_coverage refuses",
        "fuzz_coverage.py",
        &[full.as_path(), other.as_path()],
    )
    .unwrap();
    assert!(!ok);
    assert!(err.contains("different builds"), "{err}");
}

#[test]
fn fuzz_seeds_write_enums_in_every_shape_members_and_keys_twice_and_every_escape() {
    let dir = scratch("fuzz-seeds");
    let out = dir.join("pieces");
    let Some((ok, _, err)) = python("fuzz_seeds", "fuzz_seeds.py", &[Path::new("pieces"), &out])
    else {
        return;
    };
    assert!(ok, "{err}");
    let seeds: Vec<Vec<u8>> = std::fs::read_dir(&out)
        .unwrap()
        .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
        .collect();
    let held = |needle: &str| {
        seeds
            .iter()
            .any(|seed| seed.windows(needle.len()).any(|w| w == needle.as_bytes()))
    };
    // fuzz/seeds/full.toml's `policy = "layered"` as a unit, struct, tuple and newtype
    // variant, in JSON (the first byte odd) and in TOML (even); its `max_agents` twice.
    for needle in [
        r#""policy":{"layered":null}"#,
        r#""policy":{"layered":{}}"#,
        r#""policy":{"layered":[]}"#,
        r#""policy":{"layered":0}"#,
        r#"policy = { "layered" = {} }"#,
        r#"policy = { "layered" = [] }"#,
        r#""max_agents":4,"max_agents":4"#,
        // Every escape a JSON or TOML string has, in place of a string value.
        r#""policy":"\b\f\n\r\t\"\\\/\u0001\u007f""#,
        r#"policy = "\b\f\n\r\t\"\\\u0001\U0001F600""#,
    ] {
        assert!(held(needle), "no seed holds {needle}");
    }
    // A whole object member twice, not cut at its first comma.
    assert!(
        held(r#""crash_recovery":"15m","crashes":[{"agent":"w_1""#),
        "the seeds are not derived from fuzz/seeds/full.toml as this test expects"
    );
    let crashes = r#""crashes":[{"agent":"w_1","at":"50m","recover_after":"20m"}]"#;
    assert!(
        held(&format!("{crashes},{crashes}")),
        "no seed holds {crashes} twice"
    );
    // Each way a TOML document defines a key or a table twice: a key line repeated, a
    // dotted key through its value, an inline table's member twice, a table's key as a
    // dotted key at the top before its header, and a header again at the end as either kind.
    for needle in [
        "max_agents = 4\nmax_agents = 4\n",
        "max_agents = 4\nmax_agents.x = 0\n",
        r#"duration = { model = "lognormal", model = "lognormal", spread"#,
        "\u{0}config.max_agents = 4\n# A seed",
    ] {
        assert!(held(needle), "no seed holds {needle:?}");
    }
    for end in ["\n[config]\n", "\n[[config]]\n"] {
        assert!(
            seeds
                .iter()
                .any(|seed| seed[0] == 0 && seed.ends_with(end.as_bytes())),
            "no TOML seed ends with {end:?}"
        );
    }
}

#[test]
fn fuzz_stats_reads_a_run_of_fuzz_sh() {
    let dir = scratch("fuzz-stats");
    // One run as scripts/fuzz.sh logs it: libFuzzer's lines with their `NEW_PC`s, its final
    // statistics, and the script's own clock and stop lines. The taskdist path does not
    // exist, so the derive check finds no `#[derive` there: hand-written code.
    let log = "\
fuzz: dax for 600s
INFO: Seed: 1
#2\tINITED cov: 100 ft: 200 corp: 10/1Kb exec/s: 0 rss: 30Mb
\tNEW_PC: 0x1 in taskdist::plan::x /nonexistent/src/plan.rs:10:5
#50\tNEW    cov: 101 ft: 201 corp: 11/1Kb exec/s: 0 rss: 30Mb
\tNEW_PC: 0x2 in roxmltree::parse /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/roxmltree-0.20.0/src/parse.rs:5:1
#80\tNEW    cov: 102 ft: 203 corp: 12/1Kb exec/s: 0 rss: 30Mb
#100\tDONE   cov: 102 ft: 203 corp: 12/1Kb exec/s: 10 rss: 30Mb
stat::number_of_executed_units: 100
stat::average_exec_per_sec:     10
fuzz: dax: last new edge at 8 s, in taskdist at 5 s (1 new there since the corpus was loaded), of 10 s of CPU time
fuzz: dax stopped after 12 s (no new coverage for 2 s of CPU time)
";
    let path = dir.join("fuzz.log");
    std::fs::write(&path, log).unwrap();
    let Some((ok, out, err)) = python("fuzz_stats", "fuzz_stats.py", &[&path]) else {
        return;
    };
    assert!(ok, "{err}");
    // Seconds from the stop line; coverage when loaded, at half the executions (#50) and at
    // the end; the last new edge at #80, 20 executions at 10 a second before the end.
    assert!(
        out.contains(
            "| dax | 12 | 100 | 100 | 101 | 102 | 80 | 0.0 | no new coverage for 2 s of CPU time |"
        ),
        "{out}"
    );
    // After half the executions: one new edge, in roxmltree.
    assert!(
        out.contains("| dax | 1 | 0 (0 derived) | 0 | roxmltree 1 |"),
        "{out}"
    );
    // The clocks: 10 s of CPU, 2 without a new edge, 5 without one in taskdist, whose last
    // hand-written edge came at execution 50.
    assert!(
        out.contains("| dax | 10 | 2 | 5 | 1 | 50 of 100 |"),
        "{out}"
    );
}

/// A stand-in for scripts/fuzz_coverage.sh (`OUT ROOT TARGET`) for the watch's test: each
/// input is a list of line numbers, each the start of a region of taskdist's file `OWN` it
/// covers, and the export covers lines 1 to 9. It logs the inputs of each call, one line
/// per call, to `runs` beside `scripts/`.
const COVERAGE_STAND_IN: &str = r#"#!/usr/bin/env bash
set -euo pipefail
mkdir -p "$1"
ls "$2/$3" | tr '\n' ' ' | sed 's/ $//' >> "$(dirname "$0")/../runs"
echo >> "$(dirname "$0")/../runs"
python3 - "$1" "$2/$3" "$3" <<'PY'
import json, os, sys
out, corpus, target = sys.argv[1:]
lines = set()
for name in os.listdir(corpus):
    with open(os.path.join(corpus, name)) as f:
        lines |= {int(word) for word in f.read().split()}
segments = [[line, 1, int(line in lines), True, True, False] for line in range(1, 10)]
files = [{"filename": "/work/taskdist/src/a.rs", "segments": segments,
          "summary": {"instantiations": {"covered": 1}}}]
with open(os.path.join(out, target + ".json"), "w") as f:
    json.dump({"data": [{"files": files}]}, f)
PY
"#;

#[test]
fn fuzz_watch_follows_the_live_fuzzer_measures_only_new_inputs_and_stops_at_a_plateau() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let test = "fuzz_watch";
    if Command::new("python3").arg("--version").output().is_err() {
        skip_unless_ci(test, "python3 cannot be started");
        return;
    }
    // The watch finds its helpers beside itself: the real ones but the measurement.
    let dir = scratch("fuzz-watch");
    let scripts = dir.join("scripts");
    std::fs::create_dir_all(&scripts).unwrap();
    for name in ["fuzz_watch.sh", "fuzz_common.sh", "fuzz_coverage.py"] {
        std::fs::copy(root().join("scripts").join(name), scripts.join(name)).unwrap();
    }
    let stand_in = scripts.join("fuzz_coverage.sh");
    std::fs::write(&stand_in, COVERAGE_STAND_IN).unwrap();
    std::fs::set_permissions(&stand_in, std::fs::Permissions::from_mode(0o755)).unwrap();
    let snaps = dir.join("snaps");
    let out = dir.join("out");
    // A copy as scripts/fuzz_snapshots.sh makes one: written aside, then named.
    let copy = |pid: u32, cpu: u32, inputs: &[(&str, &str)]| {
        let part = snaps
            .join("t")
            .join(format!("000000-pid{pid}-cpu{cpu}.part"));
        std::fs::create_dir_all(&part).unwrap();
        for (name, lines) in inputs {
            std::fs::write(part.join(name), lines).unwrap();
        }
        std::fs::rename(&part, part.with_extension("")).unwrap();
    };
    // A copy of an earlier run, newer by CPU than any of this run's: its fuzzer is gone,
    // so the watch must not follow it, nor measure its input.
    let mut gone = Command::new("true").spawn().unwrap();
    let gone_pid = gone.id();
    gone.wait().unwrap();
    copy(gone_pid, 9999, &[("old", "9")]);

    // A stand-in fuzzer (it only has to live until the watch stops it) and a watch of
    // target `t` into `out`, looking for copies every 0.1 s, plateau at 100 s of CPU. The
    // stand-in ends at SIGINT as libFuzzer does, even where the test runs with SIGINT
    // ignored (a job started in the background by a shell without job control), which
    // `sleep` would inherit. It says when it is ready, so that no SIGINT can come before.
    let start = || {
        let mut fuzzer = Command::new("python3")
            .args([
                "-c",
                "import signal, time\n\
                 signal.signal(signal.SIGINT, signal.SIG_DFL)\n\
                 print('ready', flush=True)\n\
                 time.sleep(120)",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut ready = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(fuzzer.stdout.take().unwrap()),
            &mut ready,
        )
        .unwrap();
        assert_eq!(ready, "ready\n");
        let watch = Command::new("bash")
            .arg(scripts.join("fuzz_watch.sh"))
            .args([&snaps, Path::new("t"), &out, Path::new("100")])
            .env("FUZZ_WATCH_POLL", "0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        (fuzzer, watch)
    };
    let (mut fuzzer, mut watch) = start();
    let pid = fuzzer.id();
    // The log's lines without their time of day, once it has `n`.
    let log_lines = |n: usize| -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = std::fs::read_to_string(out.join("log")).unwrap_or_default();
            let lines: Vec<String> = text
                .lines()
                .map(|line| line.split_once(' ').unwrap().1.to_string())
                .collect();
            if lines.len() >= n {
                return lines;
            }
            assert!(Instant::now() < deadline, "the watch logged only {lines:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    // The watch's exit status, once its fuzzer has ended.
    let ended = |watch: &mut std::process::Child| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = watch.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                watch.kill().unwrap();
                panic!("the watch did not end once its fuzzer had");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    copy(pid, 10, &[("a", "1"), ("b", "2")]);
    log_lines(1);
    copy(pid, 60, &[("a", "1"), ("b", "2"), ("c", "3")]);
    log_lines(2);
    // Input d covers only what the union holds.
    let four = [("a", "1"), ("b", "2"), ("c", "3"), ("d", "1 3")];
    copy(pid, 120, &four);
    log_lines(3);
    // The corpus at the end: one more input, covering nothing new either.
    let end = dir.join("fuzz").join("corpus").join("t");
    std::fs::create_dir_all(&end).unwrap();
    for (name, lines) in four.iter().chain(&[("e", "2 3")]) {
        std::fs::write(end.join(name), lines).unwrap();
    }
    // No new input at all, 110 s of CPU after the last new region: the plateau.
    copy(pid, 170, &four);
    log_lines(5);
    // Reaped here, as scripts/fuzz.sh reaps its fuzzer: a zombie still answers `kill -0`.
    let killed = fuzzer.wait().unwrap();
    let status = ended(&mut watch);
    assert_eq!(
        log_lines(6),
        [
            "cpu000010 inputs 2 (new 2) taskdist 2 (+0) other 0 (+0) -".to_string(),
            "cpu000060 inputs 3 (new 1) taskdist 3 (+1) other 0 (+0) src/a.rs+1".into(),
            "cpu000120 inputs 4 (new 1) taskdist 3 (+0) other 0 (+0) -".into(),
            "cpu000170 inputs 4 (new 0) taskdist 3 (+0) other 0 (+0) -".into(),
            format!("plateau: no new region from CPU 60 s to 170 s; stopping pid {pid}"),
            "end inputs 5 (new 1) taskdist 3 (+0) other 0 (+0) -".into(),
        ]
    );
    assert_eq!(
        status.code(),
        Some(0),
        "a plateau, and nothing new at the end"
    );
    assert_eq!(
        killed.signal(),
        Some(2),
        "the watch stops its fuzzer with SIGINT"
    );
    // Each input was run once, the earlier run's never.
    let runs = std::fs::read_to_string(dir.join("runs")).unwrap();
    assert_eq!(runs.lines().collect::<Vec<_>>(), ["a b", "c", "d", "e"]);
    assert_eq!(
        std::fs::read_to_string(out.join("measured")).unwrap(),
        "a\nb\nc\nd\ne\n"
    );

    // A second run, watched into the same OUT: it goes on from the first one's union and
    // inputs, so its first copy, of inputs already measured, shows the union's totals and
    // runs nothing. Its fuzzer then ends before a plateau.
    let (mut fuzzer, mut watch) = start();
    let second = fuzzer.id();
    copy(second, 5, &four);
    log_lines(7);
    fuzzer.kill().unwrap();
    fuzzer.wait().unwrap();
    let status = ended(&mut watch);
    assert_eq!(
        log_lines(9)[6..],
        [
            "cpu000005 inputs 4 (new 0) taskdist 3 (+0) other 0 (+0) -".to_string(),
            format!("the fuzzer (pid {second}) ended before a plateau: last new region at CPU 5 s"),
            "end inputs 5 (new 0) taskdist 3 (+0) other 0 (+0) -".into(),
        ]
    );
    assert_eq!(status.code(), Some(1), "no plateau");
    let runs = std::fs::read_to_string(dir.join("runs")).unwrap();
    assert_eq!(runs.lines().count(), 4, "nothing measured again: {runs}");
}
