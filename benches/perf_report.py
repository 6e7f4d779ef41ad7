"""Writes reports/perf.md from the JSON lines benches/perf.sh collected.

Usage: python3 benches/perf_report.py RESULTS.jsonl COMMIT > reports/perf.md
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import time


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def size(n):
    if n >= 1_000_000:
        return f"{n // 1_000_000}M"
    if n >= 1000:
        return f"{n // 1000}k"
    return str(n)


def cpu():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def rustc():
    try:
        return subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"


def yes(ok):
    return "yes" if ok else "**no**"


BIG_START = "<!-- big files: PERF_PART=big bash benches/perf.sh replaces this section -->"
BIG_END = "<!-- end of big files -->"


def big_files(rows, commit, load_avg):
    """The section of issue 16: `taskdist simulate` of the 1M-task files, end to end."""
    by = {(r["what"], r.get("format")): r for r in rows if r["what"] in ("cli", "cli_out", "cli_out_over")}
    js, tm, wo = by.get(("cli", "json")), by.get(("cli", "toml")), by.get(("cli_out", "json"))
    over = by.get(("cli_out_over", "json"))
    out = [BIG_START, "## Big files (issue 16)", ""]
    w = out.append
    if not (js and tm and wo and over):
        return out + ["(not measured)", BIG_END]
    w(
        f"`taskdist gen --tasks {js['tasks']} --agents 1000 --seed 1 -o FILE`, then `taskdist simulate --json FILE` "
        "in its own process: read, parse, validate, simulate and summarize. Wall time, CPU time "
        "(user + system, all threads) and peak memory from `/usr/bin/time -v`, best of 3 processes "
        "by wall time; the load average (1 min) when each best run started, since the machine is "
        f"shared (commit `{commit}`, load at the start {load_avg}). On a busy machine the wall "
        "time waits for the cores and the CPU time is the steadier figure; with two free cores "
        "the wall time can be below the CPU time (the TOML and JSON parsers and the writer of "
        "`events.jsonl` use a second thread)."
    )
    w("")
    w("| command | file | wall | CPU (user + sys) | peak memory | load |")
    w("| --- | ---: | ---: | ---: | ---: | ---: |")
    rows_shown = (
        ("simulate big.json", js),
        ("simulate big.toml", tm),
        ("simulate --out DIR big.json, DIR empty", wo),
        ("simulate --out DIR big.json, over DIR's files", over),
    )
    for label, r in rows_shown:
        mib = r.get("file_mib", js["file_mib"])
        cpu_s = f"{r['cpu_s']:.2f} s ({r['user_s']:.2f} + {r['sys_s']:.2f})" if "cpu_s" in r else "?"
        w(f"| `{label}` | {mib:.0f} MiB | {r['process_s']:.2f} s | {cpu_s} | {r['peak_mib']:.0f} MiB | {r['load']} |")
    w("")
    files = ", ".join(f"{name} {size_b / 2**20:.1f} MiB" for name, size_b in wo.get("files", {}).items())
    w(f"`--out` wrote {files}.")
    w("")
    w("| target | measured | met |")
    w("| --- | --- | --- |")
    w(f"| JSON end to end under 2 s | {js['process_s']:.2f} s | {yes(js['process_s'] < 2)} |")
    w(f"| … and under 1 GiB | {js['peak_mib']:.0f} MiB | {yes(js['peak_mib'] < 1024)} |")
    w(f"| TOML at most 1.5 GiB | {tm['peak_mib']:.0f} MiB | {yes(tm['peak_mib'] <= 1536)} |")
    ratio = tm["process_s"] / js["process_s"]
    w(f"| TOML at most 3x JSON's time | {tm['process_s']:.2f} / {js['process_s']:.2f} s = {ratio:.2f}x | {yes(ratio <= 3)} |")
    for label, r in (("into an empty directory", wo), ("over an earlier run's files", over)):
        ratio = r["process_s"] / js["process_s"]
        w(f"| `--out` within 2x of `simulate` alone, {label} | {r['process_s']:.2f} / {js['process_s']:.2f} s = {ratio:.2f}x | {yes(ratio <= 2)} |")
    if all("cpu_s" in r for r in (js, tm, wo, over)):
        w(
            f"| (CPU time, for comparison) | JSON {js['cpu_s']:.2f} s; TOML {tm['cpu_s']:.2f} s = "
            f"{tm['cpu_s'] / js['cpu_s']:.2f}x; `--out` {wo['cpu_s']:.2f} s = {wo['cpu_s'] / js['cpu_s']:.2f}x, "
            f"over files {over['cpu_s']:.2f} s = {over['cpu_s'] / js['cpu_s']:.2f}x | |"
        )
    w("")
    out.extend(against_baseline(rows))
    w(BIG_END)
    return out


def against_baseline(rows):
    """The JSON file against an earlier commit's binary (`PERF_BASELINE`), if measured."""
    pairs = [r for r in rows if r["what"] == "pair"]
    if not pairs:
        return []
    base = next(r["binary"] for r in pairs if r["binary"] != "head")
    runs = {name: [r for r in pairs if r["binary"] == name] for name in (base, "head")}
    out = [
        f"Against the binary of `{base}`, the same JSON file on the same machine "
        f"(`PERF_BASELINE={base}`): the two interleaved in {len(runs['head'])} pairs, each "
        "pair's order alternating, every process's figures kept. Medians, with the range:",
        "",
        "| binary | wall | CPU (user + sys) | peak memory |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, label in ((base, f"`{base}`"), ("head", "this commit")):
        r = runs[name]
        wall, cpu_s, peak = ([x[k] for x in r] for k in ("process_s", "cpu_s", "peak_mib"))
        out.append(
            f"| {label} | {statistics.median(wall):.2f} s ({min(wall):.2f}–{max(wall):.2f}) "
            f"| {statistics.median(cpu_s):.2f} s ({min(cpu_s):.2f}–{max(cpu_s):.2f}) "
            f"| {statistics.median(peak):.0f} MiB |"
        )
    ratio = statistics.median([x["process_s"] for x in runs[base]]) / statistics.median([x["process_s"] for x in runs["head"]])
    cpu_ratio = statistics.median([x["cpu_s"] for x in runs[base]]) / statistics.median([x["cpu_s"] for x in runs["head"]])
    out += [
        "",
        f"This commit is {ratio:.2f}x faster than `{base}` by the median wall time, "
        f"{cpu_ratio:.2f}x by the median CPU time.",
        "",
    ]
    return out


def main():
    rows = load(sys.argv[1])
    if os.environ.get("PERF_PART") == "big":
        # Only this section: replaced in the report given, everything else kept.
        path = sys.argv[3]
        text = open(path).read() if os.path.exists(path) else "# Performance\n"
        section = "\n".join(big_files(rows, sys.argv[2], os.environ.get("PERF_LOAD", "?")))
        if BIG_START in text and BIG_END in text:
            before, rest = text.split(BIG_START, 1)
            text = before + section + rest.split(BIG_END, 1)[1]
        else:
            anchor = "## Against SimPy"
            text = text.replace(anchor, section + "\n\n" + anchor) if anchor in text else text + "\n" + section + "\n"
        open(path, "w").write(text)
        return
    commit = sys.argv[2] if len(sys.argv) > 2 else "?"
    core = {r["tasks"]: r for r in rows if r["what"] == "core"}
    sims = [r for r in rows if r["what"] == "sim" and r.get("policy") != "fifo"]
    sim = {r["tasks"]: r for r in sims}
    plan = next((r for r in rows if r["what"] == "plan"), None)
    cli = next((r for r in rows if r["what"] == "cli" and r.get("format") == "json"), None)
    peers_td = [r for r in rows if r["what"] == "sim" and r.get("policy") == "fifo"]
    peers_py = [r for r in rows if r["what"] == "simpy"]
    load_avg = os.environ.get("PERF_LOAD", "?")

    out = []
    w = out.append
    w("# Performance")
    w("")
    w("Generated by `bash benches/perf.sh` (do not edit by hand): every figure below comes from")
    w("one run of that script. Plans are the layered random DAGs of `taskdist gen` (about 3")
    w("dependencies per task, 10% of tasks on hot files). Each measurement runs in its own")
    w("process; wall times are the best of several runs (15 up to 10k tasks, 7 at 100k, 3 at")
    w("1M) in each of several processes (5 up to 100k tasks, 2 at 1M; see `measure_best` in")
    w("the script for why); peak memory is `/usr/bin/time -v`'s maximum resident set of the")
    w("fastest process (plan generation and validation included). Release build, one thread.")
    w("")
    w(f"- commit `{commit}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    w(f"- {cpu()}, {os.cpu_count()} cores shared with other work; load average at the start: {load_avg}")
    w(f"- {rustc()}; SimPy {peers_py[0]['simpy'] if peers_py else '?'} on Python {platform.python_version()}")
    w("")

    w("## Targets (issue 7)")
    w("")
    w("| target | measured | met |")
    w("| --- | --- | --- |")
    big = sim.get(max(sim) if sim else 0)
    if big:
        w(
            f"| simulate {size(big['tasks'])} tasks on {big['agents']} agents, failures on: under 2 s "
            f"| {big['sim_ms'] / 1e3:.2f} s | {yes(big['sim_ms'] < 2000)} |"
        )
        w(
            f"| … and under 1 GiB peak memory | {big['peak_mib']:.0f} MiB "
            f"| {yes(big['peak_mib'] < 1024)} |"
        )
    if 100_000 in core:
        c = core[100_000]
        w(
            f"| core ≥ 2M task completions/s at 100k tasks | {c['completions_per_s'] / 1e6:.2f} M/s "
            f"| {yes(c['completions_per_s'] >= 2e6)} |"
        )
    for name, table in (("core", core), ("simulation", sim)):
        if 10_000 in table and 1_000_000 in table:
            ratio = table[1_000_000]["ns_per_task"] / table[10_000]["ns_per_task"]
            w(
                f"| {name}: time per task at 1M within 1.5x of 10k "
                f"| {table[1_000_000]['ns_per_task']:.0f} / {table[10_000]['ns_per_task']:.0f} ns = {ratio:.2f}x "
                f"| {yes(ratio <= 1.5)} |"
            )
    if plan:
        w(
            f"| plan analysis of {size(plan['tasks'])} tasks under 1 s | {plan['plan_ms'] / 1e3:.2f} s "
            f"(`Plan::build_owned` + `analyse`); {plan['plan_copy_ms'] / 1e3:.2f} s with `Plan::build`, "
            f"which copies the tasks | {yes(plan['plan_ms'] < 1000)} |"
        )
    w("")

    w("## Core alone")
    w("")
    w("`scale core`: 1000 agents register, every assignment succeeds the moment it is made")
    w("(fixed durations, no failures); events are drained and dropped.")
    w("")
    w("| tasks | time | completions/s | ns per task | peak memory |")
    w("| ---: | ---: | ---: | ---: | ---: |")
    for n in sorted(core):
        c = core[n]
        w(
            f"| {size(n)} | {c['core_ms']:.1f} ms | {c['completions_per_s'] / 1e6:.2f} M | "
            f"{c['ns_per_task']:.0f} | {c['peak_mib']:.0f} MiB |"
        )
    w("")

    w("## Simulation end to end")
    w("")
    w("`scale sim`: the generated plan with its `[simulation]` table (log-normal durations σ 0.3,")
    w("5% of attempts failing, retried after a backoff), 1000 agents, critical-path policy, every")
    w("event handed to the caller.")
    w("")
    w("| tasks | simulate | ns per task | attempts | events | plan setup | peak memory |")
    w("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in sorted(sim):
        s = sim[n]
        w(
            f"| {size(n)} | {s['sim_ms']:.0f} ms | {s['ns_per_task']:.0f} | {s['attempts']} | "
            f"{s['events']} | {s['setup_ms']:.0f} ms | {s['peak_mib']:.0f} MiB |"
        )
    if plan:
        w("")
        w(
            f"Plan analysis alone (`scale plan`, {size(plan['tasks'])} tasks, {plan['dependencies']} "
            f"dependencies): {plan['plan_ms']:.0f} ms moving the tasks in, {plan['plan_copy_ms']:.0f} ms "
            f"copying them; generating the plan in memory took {plan['generate_ms']:.0f} ms."
        )
    if cli:
        w("")
        w(
            f"From the command line (`taskdist simulate --json FILE`, one process): the "
            f"{size(cli['tasks'])}-task JSON file that `taskdist gen --tasks {cli['tasks']} --agents 1000 "
            f"--seed 1` writes ({cli['file_mib']:.0f} MiB) is read, validated, simulated and "
            f"summarized in {cli['process_s']:.1f} s, {cli['peak_mib']:.0f} MiB at the peak."
        )
    w("")

    out.extend(big_files(rows, commit, load_avg))
    w("")

    w("## Against SimPy")
    w("")
    w("The same plan file for both (`taskdist gen --deterministic --policy fifo --agents 100`):")
    w("fixed durations, no failures, dependencies, read/write file locks, fifo order. The SimPy")
    w("model is `benches/peers/simpy_model.py`; both times are the simulation alone, without")
    w("reading the file (best of several runs, as above).")
    w("")
    w("| tasks | taskdist | SimPy | taskdist / SimPy | makespan taskdist | makespan SimPy | same |")
    w("| ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for td, py in zip(peers_td, peers_py):
        same = td["makespan_ms"] == py["makespan_ms"]
        w(
            f"| {size(td['tasks'])} | {td['sim_ms']:.1f} ms | {py['sim_ms']:.1f} ms | "
            f"{td['sim_ms'] / py['sim_ms']:.3f} | {td['makespan_ms']} ms | {py['makespan_ms']} ms | {yes(same)} |"
        )
    w("")
    notes = os.path.join(os.path.dirname(__file__), "perf_notes.md")
    if os.path.exists(notes):
        with open(notes) as f:
            w(f.read().rstrip())
            w("")
    print("\n".join(out))


if __name__ == "__main__":
    main()
