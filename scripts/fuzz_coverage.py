#!/usr/bin/env python3
"""Compares two measurements of scripts/fuzz_coverage.sh (the corpus before and after a
fuzzing round, on the same build) as the markdown table of reports/fuzz.md.

    python3 scripts/fuzz_coverage.py BEFORE_OUT AFTER_OUT
    python3 scripts/fuzz_coverage.py --series TARGET OUT...
    python3 scripts/fuzz_coverage.py --accumulate STATE TARGET OUT
    python3 scripts/fuzz_coverage.py --union STATE

A source region is a region of code as LLVM's source-based coverage maps it, named by where
it starts in its file, and covered if any copy of its function ran it: the region entries of
the export's segments, where the regions of every copy (instantiation) of a generic function
are merged. llvm-cov's own per-file summary counts instead, for each generic function, the
copy that covered the most: a copy running more of what other copies had already run adds
to that count, and a copy running a new region may add nothing. Neither is new source.

One row per target measured in both: the source regions its corpus covers in taskdist's
own files (the library and the fuzz harness) and in everything else (dependencies and the
standard library), before -> after, the regions covered after and not before, and the files
with the most of those.

Measuring the same corpus twice can differ by a few regions in code whose path depends on
thread timing or on a hash table's random seed (rayon's and crossbeam's waiting, hashbrown's
probing in rusqlite's statement cache), so a few regions outside taskdist, coming and
going, are not by themselves coverage.

`--series` tabulates one target's measurements in the order given (the corpus at the start
of a round, snapshots of it taken by scripts/fuzz_snapshots.sh, the corpus at the end): the
source regions covered in taskdist's files and in the rest, and how many of them no earlier
measurement of the series had covered, so the last measurement that adds one says when the
search last reached new source; and the instantiations covered (each copy of a generic
function apart, as libFuzzer's edges count them), which a new type through known source
adds to.

`--accumulate` is the series one measurement at a time, for scripts/fuzz_watch.sh: it adds
OUT's covered regions of TARGET to the union kept in the file STATE (created if missing),
and prints one line, `OWN OTHER NEW_OWN NEW_OTHER FILES`: the regions the union holds
afterwards in taskdist's files and in the rest, how many of OUT's regions it did not hold
before (all of them count as old on the first call, which only sets the union), and the
files of those new regions with how many each (`-` if none). The union's totals, not OUT's,
because the watch measures only the inputs that are new since its last measurement.

`--union` prints `OWN OTHER`, the regions the union in STATE holds (`0 0` if there is none
yet): where a watch goes on from an earlier run's union, its totals before it measures.
"""
import json
import os
import sys


def own(path):
    """Whether a source file is taskdist's rather than a dependency's or the toolchain's."""
    return not (
        "/.cargo/registry/" in path
        or "/.cargo/git/" in path
        or "/.rustup/" in path
        or path.startswith("/rustc/")
    )


def load(out, target):
    """The export of one measurement, or None if the target was not measured."""
    path = os.path.join(out, f"{target}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def covered(data):
    """{file: set of the source regions covered, each as the (line, column) it starts at}
    of one measurement's export."""
    files = {}
    for export in data["data"]:
        for entry in export["files"]:
            if "segments" not in entry:
                sys.exit("a measurement has no segments (made with -summary-only): measure again")
            # A segment is [line, column, count, has a count, starts a region, is a gap].
            files[entry["filename"]] = {
                (line, column)
                for line, column, count, has_count, starts, gap in entry["segments"]
                if starts and has_count and not gap and count > 0
            }
    return files


def instantiations(data):
    """The copies of generic functions covered, each apart, in one measurement's export."""
    return sum(
        entry["summary"]["instantiations"]["covered"]
        for export in data["data"]
        for entry in export["files"]
    )


def tally(files, seen):
    """(covered in `seen`, covered in `files`, covered in `files` and not in `seen`), each as
    [taskdist's, the rest's], and the last of them per file that has any; both map a file to
    its covered regions."""
    was, now, new, gains = [0, 0], [0, 0], [0, 0], {}
    for path, regions in files.items():
        side = 0 if own(path) else 1
        before = seen.get(path, set())
        gained = len(regions - before)
        was[side] += len(before)
        now[side] += len(regions)
        new[side] += gained
        if gained:
            gains[path] = gained
    return was, now, new, gains


def short(path):
    """The part of a path a reader recognizes: from the crate's directory on."""
    for marker in ("/index.crates.io-", "/src/", "/fuzz/"):
        at = path.find(marker)
        if at >= 0:
            if marker == "/index.crates.io-":
                return path[path.index("/", at + 1) + 1:]
            return path[at + 1:]
    return path


def main(before_out, after_out):
    targets = sorted(
        name[: -len(".json")]
        for name in os.listdir(after_out)
        if name.endswith(".json") and os.path.exists(os.path.join(before_out, name))
    )
    if not targets:
        sys.exit(f"no target measured in both {before_out} and {after_out}")
    print(
        "| target | taskdist's regions covered | new | other regions covered | new "
        "| files with the most new regions |\n| --- | ---: | ---: | ---: | ---: | --- |"
    )
    for target in targets:
        before = covered(load(before_out, target))
        after = covered(load(after_out, target))
        if set(before) != set(after):
            sys.exit(f"{target}: the two measurements are of different builds (other files)")
        was, now, new, gains = tally(after, before)
        most = sorted((-gained, short(path)) for path, gained in gains.items())
        top = ", ".join(f"{path} +{-gain}" for gain, path in most[:3]) or "none"
        print(
            f"| {target} | {was[0]:,} → {now[0]:,} | {new[0]:+,} "
            f"| {was[1]:,} → {now[1]:,} | {new[1]:+,} | {top} |"
        )


def series(target, outs):
    """Prints `target`'s covered source regions and instantiations in each measurement of
    `outs`, in that order, with the regions that no earlier measurement had covered (a
    region that comes and goes between measurements counts once) and the change in
    instantiations covered since the measurement before (negative where one comes and
    goes)."""
    print(
        "| measurement | taskdist's regions covered | first covered | other regions covered "
        "| first covered | instantiations covered | new |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    seen = None
    last_copies = None
    for out in outs:
        data = load(out, target)
        if data is None:
            sys.exit(f"{target} was not measured in {out}")
        files = covered(data)
        if seen is not None and set(files) != set(seen):
            sys.exit(f"{out}: measured on another build than the one before (other files)")
        copies = instantiations(data)
        _, now, new, _ = tally(files, seen if seen is not None else files)
        gained = copies - last_copies if last_copies is not None else 0
        print(
            f"| {os.path.basename(os.path.normpath(out))} | {now[0]:,} | {new[0]:+,} "
            f"| {now[1]:,} | {new[1]:+,} | {copies:,} | {gained:+,} |"
        )
        seen = {path: (seen or {}).get(path, set()) | regions for path, regions in files.items()}
        last_copies = copies


def accumulate(state, target, out):
    """Adds one measurement of `target` to the union of regions in the file `state` and
    prints what the union holds and what the measurement added (the `--accumulate` mode)."""
    data = load(out, target)
    if data is None:
        sys.exit(f"{target} was not measured in {out}")
    files = covered(data)
    first = not os.path.exists(state)
    seen = load_union(state)
    if not first:
        if set(files) != set(seen):
            sys.exit(f"{out}: measured on another build than the union in {state} (other files)")
    _, _, new, gains = tally(files, files if first else seen)
    union = {path: seen.get(path, set()) | regions for path, regions in files.items()}
    # Written aside and renamed: a watch interrupted mid-write keeps the union it had.
    with open(state + ".tmp", "w") as f:
        json.dump({path: sorted(regions) for path, regions in union.items()}, f)
    os.replace(state + ".tmp", state)
    where = ",".join(f"{short(path)}+{gained}" for path, gained in sorted(gains.items())) or "-"
    print(*held(union), new[0], new[1], where)


def load_union(state):
    """The union of regions kept in the file `state` ({} if there is none yet)."""
    if not os.path.exists(state):
        return {}
    with open(state) as f:
        return {path: {tuple(r) for r in regions} for path, regions in json.load(f).items()}


def held(union):
    """[taskdist's, the rest's] regions in a union."""
    return tally(union, union)[1]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--union":
        print(*held(load_union(sys.argv[2])))
    elif len(sys.argv) == 5 and sys.argv[1] == "--accumulate":
        accumulate(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) >= 4 and sys.argv[1] == "--series":
        series(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) == 3:
        main(sys.argv[1], sys.argv[2])
    else:
        sys.exit(__doc__)
