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
# OUT/log gets one line per measurement: the fuzzer's CPU seconds at the copy, the inputs,
# the regions covered in taskdist's files and in the rest, how many of each no earlier
# measurement had covered, and in which files. OUT/cov-cpuN/ keeps each export, so that
# `python3 scripts/fuzz_coverage.py --series TARGET OUT/cov-cpu*` can tabulate them again.
# Measure nothing else of the target while this runs: the coverage build keeps one profile
# per target. Exit status: 0 at a plateau, 1 if the fuzzer ended first or the corpus at the end
# covers a region no snapshot did (no plateau either way).
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

say() { echo "$(date +%T) $*" | tee -a "$log" >&2; }

# measure NAME DIR: measures the corpus in DIR as OUT/cov-NAME, adds it to the union, and
# sets `added` to the number of regions it covered first.
measure() {
    mkdir -p "$roots/$1"
    ln -sfn "$2" "$roots/$1/$target"
    "$here/fuzz_coverage.sh" "$out/cov-$1" "$roots/$1" "$target" 2>/dev/null
    local own other new_own new_other files
    read -r own other new_own new_other files < <(
        python3 "$here/fuzz_coverage.py" --accumulate "$state" "$target" "$out/cov-$1")
    added=$((new_own + new_other))
    say "$1 inputs $(ls "$2" | wc -l) taskdist $own (+$new_own) other $other (+$new_other) $files"
}

pid=
last_new=-1
cpu=0
while :; do
    # The newest whole copy (scripts/fuzz_snapshots.sh names a copy when it is complete) of
    # the fuzzer this watch follows: the first one it sees.
    # Nothing (not a failure) before the first copy, when the folder does not exist yet.
    newest=$({ find "$snaps/$target" -mindepth 1 -maxdepth 1 -type d -name "*-pid${pid:-*}-cpu*" \
        ! -name '*.part' 2>/dev/null || true; } | sed 's/.*-cpu\([0-9]*\)$/\1 &/' | sort -n |
        tail -1 | cut -d' ' -f2-)
    if [ -n "$newest" ]; then
        name=$(basename "$newest")
        pid=${name#*-pid}
        pid=${pid%-cpu*}
        at=${name##*-cpu}
        if ((at > cpu || last_new < 0)); then
            cpu=$at
            # Zero-padded, so that OUT/cov-cpu* lists the measurements in the order taken.
            measure "$(printf 'cpu%06d' "$at")" "$newest"
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
    sleep 10
done
while kill -0 "$pid" 2>/dev/null; do sleep 2; done
measure end "$(cd "$here/../fuzz" && pwd)/corpus/$target"
if ((added > 0)); then
    say "the corpus at the end covers $added regions no snapshot did: found after CPU $cpu s"
    exit 1
fi
if ((cpu - last_new >= plateau)); then exit 0; fi
exit 1
