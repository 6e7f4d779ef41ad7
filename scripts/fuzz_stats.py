#!/usr/bin/env python3
"""Summarizes the output of scripts/fuzz.sh as the markdown table of reports/fuzz.md.

    python3 scripts/fuzz_stats.py fuzz.log

One row per target run in the log: seconds, executions, the edge count (`cov:`) when the
corpus was loaded, at half the executions and at the end, the executions at the last new
edge, and the minutes since then (estimated from the average executions per second).

A second table says where the edges found after half the executions are, by the
`NEW_PC` lines scripts/fuzz.sh has libFuzzer print (`-print_pcs`): in taskdist's own code,
in the standard library, or in which other crate; of taskdist's, how many are in code a
derive macro generated (serde's visitors: which names came in which order), found by the
source line and function they point at. Late edges in a sort's small-slice
cases or a parser's rare branches say something different from late edges in taskdist.

A third table, for logs that have them, gives each run's clocks in the fuzzer's CPU time
(the `last new edge` line scripts/fuzz.sh prints after each target): how long it ran, and
how long it had gone without a new edge, and without a new edge in taskdist's library code
(src/), when it stopped; and at which execution its last new edge in taskdist's
hand-written code came (derived code apart), counted from the log.
"""
import functools
import re
import sys

HEADER = (
    "| target | seconds | executions | coverage at start | at half the executions | at end "
    "| executions at the last new coverage | minutes without new coverage at the end | stopped by |\n"
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
)


ORIGINS_HEADER = (
    "| target | new edges after half the executions | in taskdist (of them in derived code) "
    "| in the standard library "
    "| in other crates |\n"
    "| --- | ---: | ---: | ---: | --- |"
)


CLOCKS_HEADER = (
    "| target | CPU seconds | without a new edge at the end | without a new edge in taskdist's "
    "code at the end | new edges in taskdist's code after loading the corpus "
    "| executions at the last in its hand-written code, of all |\n"
    "| --- | ---: | ---: | ---: | ---: | ---: |"
)


def clocks(body, name):
    """(CPU seconds, quiet seconds, quiet seconds in taskdist, edges there) of one run, or None."""
    line = re.search(
        rf"^fuzz: {re.escape(name)}: last new edge at (\d+) s, in taskdist at (\d+) s "
        r"\((\d+) new there since the corpus was loaded\), of (\d+) s of CPU time$", body, re.M)
    if not line:
        return None
    edge, own, count, cpu = (int(g) for g in line.groups())
    return cpu, cpu - edge, cpu - own, count


def origin(line):
    """Where the code of a `NEW_PC` line is: "taskdist" (its library, src/), "derived"
    (there, but code a derive macro generated: serde's visitors), "harness" (fuzz/), "std",
    a crate's name or "unknown"."""
    path = line.rsplit(" ", 1)[-1]
    crate = re.search(r"/index\.crates\.io-[^/]+/([A-Za-z0-9_-]+?)-\d+\.\d+\.\d+[^/]*/", path)
    if crate:
        return crate.group(1)
    if "/rustc/" in path:
        return "std"
    if "/fuzz/" in path:
        # The harness (fuzz/harness.rs, fuzz_targets/): taskdist's, but not its library,
        # which is what scripts/fuzz.sh's clock counts.
        return "harness"
    if "/src/" in path:
        return "derived" if generated(line, path) else "taskdist"
    return "unknown"


def generated(line, path):
    """Whether a `NEW_PC` line in taskdist's tree is in code a derive macro wrote: placed
    at a `#[derive(...)]` line, or with no line at all (hand-written code always has one),
    or one of serde's visitors, which sit at the field or variant they visit."""
    function = line.split(" in ", 1)[-1].rsplit(" ", 1)[0]
    if not re.search(r":\d+:\d+$", path) or at_derive(path):
        return True
    return "__FieldVisitor" in function or re.match(r"visit_(map|seq|enum|str)<", function) is not None


@functools.lru_cache(maxsize=None)
def source_lines(path):
    """The lines of a source file, read once per log ([] if it cannot be read)."""
    try:
        with open(path) as source:
            return source.read().splitlines()
    except OSError:
        return []


def at_derive(location):
    """Whether `FILE:LINE:COLUMN` is a `#[derive(...)]` line, where a derive macro's code is
    placed (read from the source as it is now, so for a log of today's code)."""
    match = re.match(r"(.+):(\d+):\d+$", location)
    if not match:
        return False
    lines = source_lines(match.group(1))
    number = int(match.group(2))
    return 0 < number <= len(lines) and "#[derive(" in lines[number - 1]


def new_edges(body):
    """(execution, whether the corpus was loaded by then, origins of its new edges) for each
    input of one run's `body` that added edges, in order."""
    pending, loaded = [], False
    for line in body.splitlines():
        if "NEW_PC:" in line:
            pending.append(origin(line))
            continue
        point = re.match(r"^#(\d+)\s+(\S+)", line)
        if point:
            # libFuzzer prints an input's new PCs just before the line that reports it.
            if pending:
                yield int(point.group(1)), loaded, pending
            loaded = loaded or point.group(2) == "INITED"
            pending = []


def late_origins(edges, executions):
    """Counts by origin of the edges (from `new_edges`) found after half the executions."""
    counts = {}
    for executed, _, origins in edges:
        if executed > executions / 2:
            for where in origins:
                counts[where] = counts.get(where, 0) + 1
    return counts


def last_handwritten(edges):
    """The execution at which a run's last new edge in taskdist's hand-written code (not
    derived) came, after its corpus was loaded; None if none did."""
    found = [executed for executed, loaded, origins in edges if loaded and "taskdist" in origins]
    return found[-1] if found else None


def rows(log):
    """(target, seconds, executions, start, half, end, last new, quiet minutes, reason)."""
    parts = re.split(r"^fuzz: (\S+) for (\d+)s$", log, flags=re.M)
    for i in range(1, len(parts), 3):
        name, limit, body = parts[i], int(parts[i + 1]), parts[i + 2]
        points = [
            (int(m.group(1)), m.group(2), int(m.group(3)))
            for m in re.finditer(r"^#(\d+)\s+(\S+)\s+cov: (\d+)", body, re.M)
        ]
        executed = re.search(r"stat::number_of_executed_units: (\d+)", body)
        rate = re.search(r"stat::average_exec_per_sec:\s+(\d+)", body)
        if not points or not executed or not rate:
            continue
        executions, rate = int(executed.group(1)), max(int(rate.group(1)), 1)
        stopped = re.search(rf"^fuzz: {re.escape(name)} stopped after (\d+) s \((.*)\)$", body, re.M)
        if stopped:
            seconds, reason = int(stopped.group(1)), stopped.group(2)
        elif re.search(rf"^fuzz: {re.escape(name)} found something", body, re.M):
            seconds, reason = round(executions / rate), "a finding"
        elif "run interrupted" in body:
            seconds, reason = round(executions / rate), "interrupted"
        else:
            seconds, reason = limit, "time limit"
        # Coverage when the corpus had been loaded, not the first pulse while loading it.
        inited = [p for p in points if p[1] == "INITED"]
        start = inited[0] if inited else points[0]
        after = [p for p in points if p[0] >= start[0]]
        half = [p for p in after if p[0] <= executions / 2]
        half = half[-1] if half else start
        best, last_new = start[2], None
        for executed_at, _, cov in after:
            if cov > best:
                best, last_new = cov, executed_at
        since = executions - (last_new if last_new is not None else start[0])
        edges = list(new_edges(body))
        timed = clocks(body, name)
        if timed:
            timed += (last_handwritten(edges), executions)
        yield (name, seconds, executions, start[2], half[2], after[-1][2], last_new,
               since / rate / 60, reason, late_origins(edges, executions), timed)


def main():
    log = open(sys.argv[1], errors="replace").read()
    runs = list(rows(log))
    print(HEADER)
    for name, seconds, executions, start, half, end, last_new, quiet, reason, *_ in runs:
        last = f"{last_new:,}" if last_new is not None else "none"
        print(f"| {name} | {seconds} | {executions:,} | {start} | {half} | {end} | {last} "
              f"| {quiet:.1f} | {reason} |")
    # Only logs written with -print_pcs have NEW_PC lines to count.
    if "NEW_PC:" in log:
        print()
        print(ORIGINS_HEADER)
        for name, *_, counts, _ in runs:
            others = sorted((c for c in counts.items() if c[0] not in ("taskdist", "derived", "std")),
                            key=lambda c: (-c[1], c[0]))
            derived = counts.get("derived", 0)
            own = counts.get("taskdist", 0) + derived
            print(f"| {name} | {sum(counts.values())} | {own} ({derived} derived) "
                  f"| {counts.get('std', 0)} "
                  f"| {', '.join(f'{k} {v}' for k, v in others) or 'none'} |")

    timed = [(run[0], run[-1]) for run in runs if run[-1] is not None]
    if timed:
        print()
        print(CLOCKS_HEADER)
        for name, (cpu, quiet, quiet_own, count, hand, executions) in timed:
            hand = f"{hand:,}" if hand is not None else "none"
            print(f"| {name} | {cpu:,} | {quiet:,} | {quiet_own:,} | {count:,} "
                  f"| {hand} of {executions:,} |")


if __name__ == "__main__":
    main()
