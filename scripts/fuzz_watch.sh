#!/usr/bin/env bash
# Stops a running fuzz target once its search has reached no new *source region* for
# PLATEAU seconds (default 900) of the fuzzer's CPU time, and measures the corpus it ends
# with. It measures the copies scripts/fuzz_snapshots.sh makes of the corpus, newest first,
# on the instrumented build of scripts/fuzz_coverage.sh, and keeps the union of the regions
# they cover (scripts/fuzz_coverage.py --accumulate).
#
#   scripts/fuzz.sh TARGET &                       # PLATEAU_SECONDS caps it by edges
#   scripts/fuzz_snapshots.sh SNAPS 300 &
#   scripts/fuzz_watch.sh SNAPS TARGET OUT [PLATEAU]
#
# Why not libFuzzer's edges: its edge count (`cov:`) counts every inlined copy of a generic
# function apart and keeps growing for hours after the last new line of source first ran
# (reports/fuzz.md, round 23), so a plateau by edges may never come. A region is new when no
# earlier measurement of this watch covered it; the snapshot that first shows it dates it
# (the region was found between that snapshot and the one before, so the date is late by at
# most one interval, which can only make the plateau come later). The rule stops the fuzzer
# when a snapshot taken PLATEAU seconds of CPU after the dated one shows nothing new; the
# corpus at the end is then measured too, so the log says whether the last stretch (from
# that snapshot to the stop, while it was measured) found anything.
#
# Each copy is measured by the inputs it holds that no earlier measurement ran (libFuzzer
# names an input by its content's SHA-1, so a name measured once is the same input): the
# union of regions is what decides, and the coverage of a set of inputs is the union of
# theirs, so measuring only what is new adds to the union what measuring the whole copy
# would, in seconds instead of minutes for a corpus of 50,000 inputs, and leaves the CPU to
# the fuzzer. OUT/measured lists the inputs measured so far. Given the OUT of an earlier
# watch of the target, a watch goes on from its union and its list: a second run is judged
# against everything the first one covered.
#
# The watch follows one fuzzer: the one of the newest copy whose process is alive when it
# first sees one (copies of an earlier run, still in SNAPS, are not followed), then only
# that pid's copies. It looks for a new copy every FUZZ_WATCH_POLL seconds (default 10).
#
# OUT/log gets one line per copy: the fuzzer's CPU seconds at the copy, its inputs and how
# many of them are new, the regions the union holds in taskdist's files and in the rest,
# how many of each the copy covered first, and in which files. OUT/cov-cpuN/ keeps each
# export, of the new inputs only: `python3 scripts/fuzz_coverage.py --series TARGET
# OUT/cov-cpu*` tabulates again when each region was first covered. Measure nothing else of
# the target while this runs: the coverage build keeps one profile per target. Exit status:
# 0 at a plateau, 1 if the fuzzer ended first or the corpus at the end covers a region no
# snapshot did (no plateau either way).
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: scripts/fuzz_watch.sh SNAPS TARGET OUT [PLATEAU_SECONDS]" >&2; exit 2; }
snaps=$(realpath -m "$1")
target=$2
out=$(realpath -m "$3")
plateau=${4:-900}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/fuzz_common.sh"
mkdir -p "$out"
state=$out/union.json
log=$out/log
# fuzz_coverage.sh reads ROOT/TARGET: a root per measurement, linking to the snapshot.
roots=$(mktemp -d)
trap 'rm -rf "$roots"' EXIT

poll=${FUZZ_WATCH_POLL:-10}
measured=$out/measured
touch "$measured"

say() { echo "$(date +%T) $*" | tee -a "$log" >&2; }

# measure NAME DIR: measures the inputs of DIR not in OUT/measured as OUT/cov-NAME, adds
# them to the union and to OUT/measured, and sets `added` to the number of regions they
# covered first. A copy with no new input is not measured: it can add nothing. The union's
# totals, `own` and `other`, start from an earlier run's union where OUT has one.
read -r own other < <(python3 "$here/fuzz_coverage.py" --union "$state")
measure() {
    local new_own=0 new_other=0 files=- fresh total
    mkdir -p "$roots/$1/$target"
    # The copy's names, listed once, and those not measured yet (comm needs both lists in
    # the same order).
    ls "$2" | LC_ALL=C sort > "$roots/$1/all"
    total=$(wc -l < "$roots/$1/all")
    LC_ALL=C comm -23 "$roots/$1/all" <(LC_ALL=C sort "$measured") > "$roots/$1/names"
    fresh=$(wc -l < "$roots/$1/names")
    if ((fresh > 0)); then
        (cd "$2" && xargs -d '\n' cp -t "$roots/$1/$target") < "$roots/$1/names"
        "$here/fuzz_coverage.sh" "$out/cov-$1" "$roots/$1" "$target" 2>/dev/null
        read -r own other new_own new_other files < <(
            python3 "$here/fuzz_coverage.py" --accumulate "$state" "$target" "$out/cov-$1")
        cat "$roots/$1/names" >> "$measured"
    fi
    rm -rf "${roots:?}/$1"
    added=$((new_own + new_other))
    say "$1 inputs $total (new $fresh) taskdist $own (+$new_own) other $other (+$new_other) $files"
}

# The copies (scripts/fuzz_snapshots.sh names a copy when it is complete) of the pid given,
# or of any pid if none, as lines `CPU PID PATH`, newest last. Nothing (not a failure)
# before the first copy, when the folder does not exist yet.
copies() {
    { find "$snaps/$target" -mindepth 1 -maxdepth 1 -type d -name "*-pid${1:-*}-cpu*" \
        ! -name '*.part' 2>/dev/null || true; } |
        sed 's/.*-pid\([0-9]*\)-cpu\([0-9]*\)$/\2 \1 &/' | sort -n
}

pid=
last_new=-1
cpu=0
while :; do
    newest=
    if [ -n "$pid" ]; then
        newest=$(copies "$pid" | tail -1)
    else
        # Lock on the newest copy of a live fuzzer.
        while read -r at who path; do
            if kill -0 "$who" 2>/dev/null; then newest="$at $who $path"; fi
        done < <(copies)
    fi
    if [ -n "$newest" ]; then
        read -r at pid path <<< "$newest"
        if ((at > cpu || last_new < 0)); then
            cpu=$at
            # Zero-padded, so that OUT/cov-cpu* lists the measurements in the order taken.
            measure "$(printf 'cpu%06d' "$at")" "$path"
            if ((last_new < 0 || added > 0)); then last_new=$at; fi
            if ((at - last_new >= plateau)); then
                say "plateau: no new region from CPU $last_new s to $at s; stopping pid $pid"
                kill -INT "$pid" 2>/dev/null || true
                break
            fi
        fi
    fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
        say "the fuzzer (pid $pid) ended before a plateau: last new region at CPU $last_new s"
        break
    fi
    sleep "$poll"
done
while kill -0 "$pid" 2>/dev/null; do sleep 1; done
measure end "$(cd "$here/../fuzz" && pwd)/corpus/$target"
if ((added > 0)); then
    say "the corpus at the end covers $added regions no snapshot did: found after CPU $cpu s"
    exit 1
fi
if ((cpu - last_new >= plateau)); then exit 0; fi
exit 1
