#!/usr/bin/env python3
"""Compares two measurements of scripts/fuzz_coverage.sh (the corpus before and after a
fuzzing round, on the same build) as the markdown table of reports/fuzz.md.

    python3 scripts/fuzz_coverage.py BEFORE_OUT AFTER_OUT
    python3 scripts/fuzz_coverage.py --series TARGET OUT...

One row per target measured in both: the source regions its corpus covers in taskdist's
own files (the library and the fuzz harness) and in everything else (dependencies and the
standard library), before -> after, then the files that gained the most regions.

Measuring the same corpus twice can differ by a few regions in code whose path depends on
thread timing (rayon's and crossbeam's waiting, a hash table's growth under a parallel
build), so a small change in the other regions, either way, is not by itself coverage.

`--series` tabulates one target's measurements in the order given (the corpus at the start
of a round, snapshots of it taken by scripts/fuzz_snapshots.sh, the corpus at the end): the
regions covered in taskdist's files and in the rest, and what each added to the one before,
so the last measurement that added a region says when the search last reached new source;
and the instantiations covered (each copy of a generic function apart, as libFuzzer's
edges count them), which a new type through known source adds to.
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


def covered(out, target, what="regions"):
    """{file: covered regions} of one measurement (or of `what`: "instantiations", the
    copies of generic functions, each counted apart), or None if the target was not
    measured."""
    path = os.path.join(out, f"{target}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        data = json.load(f)
    return {
        entry["filename"]: entry["summary"][what]["covered"]
        for export in data["data"]
        for entry in export["files"]
    }


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
        before, after = covered(before_out, target), covered(after_out, target)
        if set(before) != set(after):
            sys.exit(f"{target}: the two measurements are of different builds (other files)")
        sums = {True: [0, 0], False: [0, 0]}
        gains = []
        for path, count in after.items():
            was = before[path]
            sums[own(path)][0] += was
            sums[own(path)][1] += count
            if count > was:
                gains.append((count - was, short(path)))
        gains.sort(key=lambda g: (-g[0], g[1]))
        top = ", ".join(f"{path} {gain:+d}" for gain, path in gains[:3]) or "none"
        (own_was, own_now), (other_was, other_now) = sums[True], sums[False]
        print(
            f"| {target} | {own_was:,} → {own_now:,} | {own_now - own_was:+,} "
            f"| {other_was:,} → {other_now:,} | {other_now - other_was:+,} | {top} |"
        )


def series(target, outs):
    """Prints `target`'s covered regions and instantiations in each measurement of `outs`,
    in that order, with what each added to the one before (per file: a file that lost some
    does not hide one that gained)."""
    print(
        "| measurement | taskdist's regions covered | new | other regions covered | new "
        "| instantiations covered | new |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    last = None
    last_copies = None
    for out in outs:
        files = covered(out, target)
        copies = covered(out, target, "instantiations")
        if files is None:
            sys.exit(f"{target} was not measured in {out}")
        if last is not None and set(files) != set(last):
            sys.exit(f"{out}: measured on another build than the one before (other files)")
        now = [sum(n for path, n in files.items() if own(path) == mine) for mine in (True, False)]
        # Per file, not in all: a file that lost regions must not hide one that gained.
        gained = [
            sum(max(0, n - last[path]) for path, n in files.items() if own(path) == mine)
            if last is not None
            else 0
            for mine in (True, False)
        ]
        new_copies = (
            sum(max(0, n - last_copies[path]) for path, n in copies.items())
            if last_copies is not None
            else 0
        )
        print(
            f"| {os.path.basename(os.path.normpath(out))} | {now[0]:,} | {gained[0]:+,} "
            f"| {now[1]:,} | {gained[1]:+,} | {sum(copies.values()):,} | {new_copies:+,} |"
        )
        last, last_copies = files, copies


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "--series":
        series(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) == 3:
        main(sys.argv[1], sys.argv[2])
    else:
        sys.exit(__doc__)
