//! Imported workflows end to end: the fixtures in `scenarios/imported/` (STG, WfCommons,
//! DAX) load directly in `validate`, `plan` and `simulate`, `taskdist import` writes a TOML
//! scenario that plans and simulates identically, broken files exit 2 naming file and
//! line, and the schedule-quality report (`taskdist::report::stg`, the maintainer's
//! `scripts/stg-report.sh`) runs on a miniature copy of the shared data layout.

use serde_json::Value;
use std::path::Path;

use crate::support::taskdist;
use taskdist::report::stg::StgReport;

fn ok(args: &[&str]) -> String {
    let run = taskdist(args);
    assert_eq!(run.code, Some(0), "taskdist {args:?}\n{}", run.stderr);
    run.stdout
}

fn json(args: &[&str]) -> Value {
    serde_json::from_str(&ok(args)).expect("JSON output")
}

use crate::scratch::scratch;

const STG: &str = "scenarios/imported/small.stg";
const WFCOMMONS: &str = "scenarios/imported/wfcommons-tiny.json";
const DAX: &str = "scenarios/imported/heft.dax";

#[test]
fn fixtures_validate_by_extension_and_content() {
    assert_eq!(
        ok(&["validate", STG]),
        format!("OK {STG}: 9 tasks, 4 agents, 4 layers\n")
    );
    assert_eq!(
        ok(&["validate", WFCOMMONS]),
        format!("OK {WFCOMMONS}: 4 tasks, 4 agents, 3 layers\n")
    );
    assert_eq!(
        ok(&["validate", DAX]),
        format!("OK {DAX}: 10 tasks, 4 agents, 4 layers\n")
    );
}

#[test]
fn plans_match_the_published_figures() {
    // Topcuoglu et al. (2002): without communication, CP 66 and total work 127.
    let heft = json(&["plan", DAX, "--json", "-m", "3"]);
    assert_eq!(heft["critical_path_length"], 66.0);
    assert_eq!(heft["total_work"], 127.0);
    assert_eq!(
        heft["critical_path"],
        serde_json::json!(["n1", "n2", "n9", "n10"])
    );

    let stg = json(&["plan", STG, "--json", "-m", "2"]);
    assert_eq!(stg["critical_path_length"], 10.0);
    assert_eq!(stg["total_work"], 22.0);
    // max(CP, ceil(W/2)) is 11; the energetic bound proves the optimum, 12 (the file's
    // header has it from exhaustive search).
    assert_eq!(stg["lower_bound"], 12.0);
    assert_eq!(stg["bound_by"], "energetic");

    // Files written are write locks, files read are read locks.
    let tiny = json(&["plan", WFCOMMONS, "--json", "-m", "2"]);
    assert_eq!(tiny["critical_path_length"], 25.625);
    assert_eq!(tiny["hot_files"][0]["path"], "out_1.txt");
    assert_eq!(tiny["hot_files"][0]["serialized_work"], 23.125);
    assert_eq!(tiny["hot_files"][0]["writers"], 1);
    assert_eq!(tiny["hot_files"][0]["readers"], 1);
}

#[test]
fn simulate_reaches_the_known_makespans() {
    let makespan = |file: &str, agents: &str| {
        json(&["simulate", file, "--agents", agents, "--json"])["makespan"].clone()
    };
    // The STG fixture's optimum on 2 processors is 12 (one time unit = one second).
    assert_eq!(makespan(STG, "2"), 12.0);
    assert_eq!(makespan(STG, "16"), 10.0);
    assert_eq!(makespan(DAX, "3"), 66.0);
    assert_eq!(makespan(WFCOMMONS, "2"), 25.625);
    assert_eq!(makespan(WFCOMMONS, "1"), 37.625);
}

#[test]
fn format_flag_overrides_the_extension() {
    let dir = scratch("format");
    let copy = dir.join("graph.txt");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join(STG), &copy).unwrap();
    let path = copy.to_str().unwrap();
    let run = taskdist(&["validate", path]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("unknown scenario format"),
        "{}",
        run.stderr
    );
    assert!(ok(&["validate", "--format", "stg", path]).starts_with("OK "));
    // Read as a DAX, an STG file is not XML.
    let run = taskdist(&["validate", "--format", "dax", path]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.starts_with(&format!("error: {path}:1:")),
        "{}",
        run.stderr
    );
}

#[test]
fn import_writes_a_scenario_that_plans_and_simulates_identically() {
    let dir = scratch("roundtrip");
    for (format, file) in [("stg", STG), ("wfcommons", WFCOMMONS), ("dax", DAX)] {
        let out = dir.join(format!("{format}.toml"));
        let out = out.to_str().unwrap();
        let said = ok(&["import", format, file, "-o", out, "--agents", "3"]);
        assert!(said.starts_with(&format!("wrote {out}: ")), "{said}");
        let text = std::fs::read_to_string(out).unwrap();
        assert!(text.contains("time_unit = \"seconds\""), "{text}");
        assert!(text.contains("count = 3"), "{text}");

        let original = json(&["plan", file, "--json", "-m", "3"]);
        let written = json(&["plan", out, "--json", "-m", "3"]);
        assert_eq!(original, written, "{format}: the plans differ");
        assert_eq!(
            ok(&["plan", file, "--dot"]),
            ok(&["plan", out, "--dot"]),
            "{format}: the graphs differ"
        );
        let run = |path: &str| {
            let summary = json(&["simulate", path, "--agents", "3", "--json"]);
            (summary["makespan"].clone(), summary["trace_hash"].clone())
        };
        assert_eq!(run(file), run(out), "{format}: the simulations differ");
    }
    // Without -o the scenario goes to standard output.
    let printed = ok(&["import", "stg", STG]);
    assert!(printed.contains("[[tasks]]\nid = \"t1\""), "{printed}");
}

/// Asserts a run failed as bad input, with a message that starts with `prefix` and
/// contains `needle`.
fn assert_bad(args: &[&str], prefix: &str, needle: &str) {
    let run = taskdist(args);
    assert_eq!(run.code, Some(2), "taskdist {args:?}\n{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.starts_with(&format!("error: {prefix}")),
        "expected `{prefix}`:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(needle),
        "expected `{needle}`:\n{}",
        run.stderr
    );
}

#[test]
fn broken_workflows_exit_2_naming_file_and_line() {
    let dir = scratch("broken");
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let stg = write("truncated.stg", "3\n0 0 0\n1 4 1 0\n2 2 1 0\n");
    assert_bad(
        &["validate", &stg],
        &format!("{stg}:4: "),
        "the task graph ends before task 3",
    );
    let cycle = write("cycle.stg", "2\n0 0 0\n1 4 1 2\n2 2 1 1\n3 0 1 2\n");
    assert_bad(
        &["plan", &cycle],
        &cycle,
        &format!("{cycle}:3: dependency cycle: t1 -> t2 -> t1"),
    );

    let dax = write(
        "unknown.dax",
        "<adag>\n  <job id='a' runtime='1'/>\n  <job id='b' runtime='-2'/>\n  <child ref='b'><parent ref='ghost'/></child>\n</adag>\n",
    );
    assert_bad(
        &["simulate", &dax],
        &dax,
        &format!("{dax}:3: task `b`: depends_on names unknown task `ghost`"),
    );
    assert_bad(&["import", "dax", &dax], &dax, "duration `-2` is negative");

    let json = write(
        "broken.json",
        "{\"workflow\": {\"specification\": {\"tasks\": [\n  {\"id\": 7}]}}}",
    );
    assert_bad(
        &["validate", "--format", "wfcommons", &json],
        &format!("{json}:2:"),
        "workflow.specification.tasks[0].id: invalid type: integer `7`, expected a string",
    );
    // Read by extension, a JSON file without `workflow` is a scenario, with the scenario's
    // own message.
    let scenario = write("scenario.json", "{\"tasks\": [{\"id\": \"a\"}]}");
    assert_bad(
        &["validate", &scenario],
        &scenario,
        "missing field `estimated_duration`",
    );

    assert_bad(
        &["import", "stg", "no/such/file.stg"],
        "no/such/file.stg: ",
        "No such file",
    );
}

#[test]
fn stg_report_runs_on_a_miniature_data_folder() {
    let dir = scratch("report");
    let data = dir.join("data");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(data.join("stg/random/50")).unwrap();
    std::fs::create_dir_all(data.join("stg/reference")).unwrap();
    std::fs::create_dir_all(data.join("pegasus_synthetic")).unwrap();
    std::fs::copy(root.join(STG), data.join("stg/random/50/rand0000.stg")).unwrap();
    std::fs::copy(root.join(DAX), data.join("pegasus_synthetic/heft.xml")).unwrap();
    std::fs::write(
        data.join("stg/reference/makespan_reference_50_100.csv"),
        "graph,processors,lower_bound,upper_bound,status,cp_length,total_work,trivial_lb_max_cp_ceil_w_over_m\n\
         50/rand0000.stg,2,12,12,optimal,10,22,11\n\
         50/rand0000.stg,4,10,10,optimal,10,22,10\n\
         50/rand0000.stg,8,10,10,optimal,10,22,10\n\
         50/rand0000.stg,16,10,10,optimal,10,22,10\n",
    )
    .unwrap();
    let report = StgReport::build(&data).unwrap();
    let headline = report.headline();
    assert!(
        headline.contains(
            &"critical-path, m =  2: optimal on 100.0% (1/1), mean ratio 1.0000, worst 1.0000"
                .to_string()
        ),
        "{headline:?}"
    );
    let out = dir.join("out/stg.md");
    report.write(&out).unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text, report.render());
    assert!(
        text.contains(&format!(
            "Generated by `scripts/stg-report.sh --data {} -o reports/stg.md`",
            data.display()
        )),
        "{text}"
    );
    assert!(text.contains("| 2 | 1 | 1 | 100.0% | 1.0000 |"), "{text}");
    assert!(
        text.contains("| pegasus_synthetic/heft.xml | 10 |"),
        "{text}"
    );
    assert!(text.contains("equal the reference table"), "{text}");
    // The report is a function of the data only, but for the wall times it measures (and
    // the load average it gives beside them).
    let again = StgReport::build(&data).unwrap();
    assert_eq!(timeless(&again.render()), timeless(&text));

    let Err(err) = StgReport::build(&dir) else {
        panic!("a folder without stg/ made a report");
    };
    assert!(err.is_bad_input(), "{err}");
    assert!(err.to_string().contains("no stg/ folder"), "{err}");
}

/// The report with its measured wall times (table cells like `0.004 s`) and load averages
/// blanked out: what must be the same from run to run.
fn timeless(report: &str) -> String {
    report
        .lines()
        .map(|line| {
            if line.contains("load average") {
                return "(a line with the load average)".to_string();
            }
            line.split('|')
                .map(|cell| match cell.trim().strip_suffix(" s") {
                    Some(n) if n.parse::<f64>().is_ok() => " (time) ",
                    _ => cell,
                })
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect::<Vec<_>>()
        .join("\n")
}
