//! `taskdist gen` end to end: the same seed writes the same file, TOML and JSON describe the
//! same plan, and what it writes validates and simulates (failures on) to the end.

use std::process::Command;

fn taskdist(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_taskdist"))
        .args(args)
        .output()
        .expect("the taskdist binary runs")
}

fn ok(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn generated_plans_are_reproducible_valid_and_simulate_to_the_end() {
    let dir = crate::scratch::scratch("gen");
    let toml = dir.join("plan.toml");
    let json = dir.join("plan.json");
    let gen_args = [
        "gen", "--tasks", "300", "--agents", "6", "--seed", "5", "-o",
    ];
    for path in [&toml, &json] {
        let mut args = gen_args.to_vec();
        args.push(path.to_str().unwrap());
        ok(&taskdist(&args));
    }
    let first = std::fs::read(&toml).unwrap();
    ok(&taskdist(
        &[&gen_args[..], &[toml.to_str().unwrap()]].concat(),
    ));
    assert_eq!(first, std::fs::read(&toml).unwrap(), "same seed, same file");
    let stdout = ok(&taskdist(&[
        "gen", "--tasks", "300", "--agents", "6", "--seed", "5",
    ]));
    assert_eq!(stdout.as_bytes(), &first[..], "stdout gets the same TOML");

    let summaries: Vec<serde_json::Value> = [&toml, &json]
        .iter()
        .map(|path| {
            let out = ok(&taskdist(&["simulate", path.to_str().unwrap(), "--json"]));
            serde_json::from_str(&out).unwrap()
        })
        .collect();
    assert_eq!(
        summaries[0], summaries[1],
        "TOML and JSON are the same plan"
    );
    assert_eq!(summaries[0]["tasks"], 300);
    assert!(
        summaries[0]["retries"].as_u64().unwrap() > 0,
        "failures are on"
    );

    let bad = taskdist(&["gen", "--tasks", "10", "--deps", "9"]);
    assert_eq!(bad.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--deps"));
}
