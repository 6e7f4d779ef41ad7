#!/usr/bin/env bash
# Copies the corpus of every running fuzz target of fuzz/ every INTERVAL seconds (default
# 300) into OUT/TARGET/HHMMSS-pidPID-cpuCPU/, CPU being the fuzzer's own CPU seconds so far,
# and logs each copy to OUT/log. Run it beside scripts/fuzz.sh; stop it with a signal.
#
#   scripts/fuzz_snapshots.sh OUT [INTERVAL]
#
# What it is for: whether a target has stopped finding new source coverage. libFuzzer's
# edge count (`cov:`) counts every inlined copy of a generic function apart (a `Vec`'s
# deallocation, `copy_nonoverlapping`, a sort's merge paths, each at every call site), so it
# keeps growing for hours after the last new line of source first ran (reports/fuzz.md,
# round 23). A snapshot taken at least PLATEAU_SECONDS of the fuzzer's CPU time before its
# run ended, and the corpus at the end, measured on one instrumented build:
#
#   scripts/fuzz_coverage.sh BEFORE_OUT ROOT TARGET     # ROOT/TARGET -> the snapshot
#   scripts/fuzz_coverage.sh AFTER_OUT fuzz/corpus TARGET
#   python3 scripts/fuzz_coverage.py BEFORE_OUT AFTER_OUT
#
# say whether that last stretch of the search covered any source region the corpus had not.
# An input that covers a new region runs new basic blocks, and so new edges, which makes
# libFuzzer keep it: the corpus covers every region any execution covered.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: scripts/fuzz_snapshots.sh OUT [INTERVAL]" >&2; exit 2; }
out=$(realpath -m "$1")
interval=${2:-300}
. "$(dirname "$0")/fuzz_common.sh"
cd "$(dirname "$0")/../fuzz"
mkdir -p "$out"
while true; do
    for pid in $(pgrep -f "$fuzz_binaries/" || true); do
        exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || continue
        target=$(basename "$exe")
        [ -d "corpus/$target" ] || continue
        # A merge (`fuzz.sh --save`; libFuzzer runs it in a child with -merge_inner=1) or a
        # replay runs the same binary but does not search.
        if tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null |
            grep -qE '^-(merge=1|merge_inner=1|runs=0)$'; then
            continue
        fi
        cpu=$(cpu_seconds "$pid")
        dir=$out/$target/$(date +%H%M%S)-pid$pid-cpu$cpu
        mkdir -p "$dir.part"
        # libFuzzer replaces an input by a smaller one with the same coverage while this
        # copies: a file gone between the listing and its copy is skipped. A copy that
        # misses coverage can only make the next one look as if it found some, never hide
        # new coverage.
        cp -r "corpus/$target/." "$dir.part/" 2>/dev/null || true
        # Named when whole, so that scripts/fuzz_watch.sh never measures half a copy.
        mv "$dir.part" "$dir"
        echo "$(date +%T) $target pid $pid cpu $cpu inputs $(ls "$dir" | wc -l)" >> "$out/log"
    done
    sleep "$interval"
done
