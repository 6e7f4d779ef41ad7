#!/usr/bin/env bash
# Runs the coverage-guided fuzz targets of fuzz/ (cargo fuzz, libFuzzer; needs a nightly
# toolchain and `cargo install cargo-fuzz`), each for SECONDS (default 600), seeded with the
# shipped scenarios and the shared data sets. Crashers land in fuzz/artifacts/TARGET/.
#
#   scripts/fuzz.sh                  every target
#   scripts/fuzz.sh stg resume       these targets
#   SECONDS_PER_TARGET=3600 scripts/fuzz.sh
#   PLATEAU_SECONDS=900 SECONDS_PER_TARGET=7200 scripts/fuzz.sh
#                                    each until it has found no new edge in 15 minutes of
#                                    its CPU time (at most two hours of wall time)
#   PLATEAU_SCOPE=taskdist PLATEAU_SECONDS=900 scripts/fuzz.sh
#                                    the same, counting only new edges in taskdist's own
#                                    library code (src/), not in its dependencies
#   scripts/fuzz.sh --save pieces dax
#                                    minimize these targets' corpora into fuzz/corpus-min/
#                                    (committed, and where the next round on any machine
#                                    starts)
#
# To fuzz beside other work, `nice -n 19` is not enough where the kernel groups processes
# by session (kernel.sched_autogroup_enabled = 1): sessions share the CPU equally whatever
# their nice value. Give the fuzzer's session the low weight too:
# `echo 19 > /proc/PID/autogroup` for any process of that session.
#
# The loaders' targets start from structure-derived seeds too (scripts/fuzz_seeds.py, from
# fuzz/seeds/ and the shipped scenarios and data): each document cut at every token, padded
# with white space at every token and each value replaced by one of every type. Round 20
# of reports/fuzz.md: they reach in a minute thousands of edges that 41 hours of mutation
# had not.
#
# Each target but `duration` and `stg` fuzzes with dictionaries (fuzz/dicts/): the tokens
# of its format's grammar and the names of its schema, which random byte mutations take
# hours to spell (without them, most late edges were the parsers' rare syntax: round 17 of
# reports/fuzz.md).
#
# Each new edge is logged as a `NEW_PC` line naming its function, file and line, so a log
# shows where late coverage came from. Most late edges of the loaders are in serde_json,
# the TOML crates and roxmltree, whose coverage grows for many hours more than taskdist's
# own (round 18 of reports/fuzz.md); the edges in taskdist's library (src/) are counted
# apart, and `PLATEAU_SCOPE=taskdist` makes the plateau rule count only those. Either way
# the fuzzer is guided by every edge: the scope changes when a run stops, not what it
# searches. Each target's last line before `stopped` gives both clocks, the second counted
# from the end of the corpus's loading:
# `fuzz: TARGET: last new edge at A s, in taskdist at B s (N new there since the corpus was
# loaded), of C s of CPU time`.
#
# Each target ends with a line `fuzz: TARGET stopped after S s (REASON)`, REASON being the
# time limit, the plateau, or "interrupted" (a SIGINT from outside, to stop a run by hand).
# `python3 scripts/fuzz_stats.py LOG` turns the output into the table of reports/fuzz.md.
#
# Limits: 2 GiB RSS, 1 GiB per allocation, 10 s per input: an input that passes one of them
# is a finding (allocation without bound, or a hang), as is a panic or an audit violation.
# libFuzzer times an input by the wall clock, so a fuzzer at the lowest weight beside a
# build that takes both cores can be stopped by an input that takes a fraction of a second
# of CPU time: TIMEOUT_SECONDS=60 gives such runs room (an endless loop is still caught).
# Once a crasher is fixed, copy it to fuzz/regressions/TARGET/: `cargo test --test sim fuzz`
# replays every file there through the same code.
set -euo pipefail
. "$(dirname "$0")/fuzz_common.sh"
cd "$(dirname "$0")/../fuzz"
# The limits of every run, merges included: a merge without fuzzing's `-max_len` would keep
# seeds longer than any input the fuzzer runs, and count edges no fuzzing run reaches.
limits=(-rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout="${TIMEOUT_SECONDS:-10}" -max_len=8192)
# `scripts/fuzz.sh --save TARGET...`: minimizes each TARGET's corpus (libFuzzer's -merge,
# which keeps the smallest set of inputs with the same coverage) into
# corpus-min/TARGET.tar.gz, to be committed.
if [ "${1:-}" = --save ]; then
    shift
    [ $# -gt 0 ] || { echo "usage: scripts/fuzz.sh --save TARGET..." >&2; exit 2; }
    # Every target checked before any is saved: a typo saves nothing rather than some.
    for target in "$@"; do
        if [ ! -d "corpus/$target" ]; then
            echo "fuzz: no corpus/$target to save" >&2
            exit 2
        fi
    done
    merged=$(mktemp -d)
    trap 'rm -rf "$merged"' EXIT
    mkdir -p corpus-min
    for target in "$@"; do
        cargo +nightly fuzz build -O "$target"
        binary=$fuzz_binaries/$target
        mkdir "$merged/$target"
        # An input the merge finds crashing or timing out is written where the fuzzer's
        # findings go, not into the working folder. A merge beside running fuzzers at the
        # lowest weight can time inputs out by the wall clock (see TIMEOUT_SECONDS above).
        mkdir -p "artifacts/$target"
        "$binary" -merge=1 "${limits[@]}" -artifact_prefix="artifacts/$target/" \
            "$merged/$target" "corpus/$target" 2>&1 | tail -1
        # Sorted names and fixed metadata: the same corpus gives the same archive.
        (cd "$merged/$target" && find . -type f -printf '%P\n' | LC_ALL=C sort |
            tar --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - -T -) |
            gzip -n -9 > "corpus-min/$target.tar.gz"
        echo "fuzz: corpus-min/$target.tar.gz: $(ls "$merged/$target" | wc -l) inputs," \
            "$(stat -c %s "corpus-min/$target.tar.gz") bytes" >&2
    done
    exit 0
fi
seconds="${SECONDS_PER_TARGET:-600}"
plateau="${PLATEAU_SECONDS:-0}"
scope="${PLATEAU_SCOPE:-all}"
case $scope in
    all | taskdist) ;;
    *) echo "fuzz: PLATEAU_SCOPE is all or taskdist, not '$scope'" >&2; exit 2 ;;
esac
# `resume` copies a run database into a fresh folder for every input and deletes it after:
# on a disk file system that is an fsync per input, and on ext4 without a journal every
# deleted inode slows the next file's creation for minutes (benches/inodes.sh). In memory
# it is neither.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
    export TMPDIR=/dev/shm
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(scenario_toml scenario_json pieces duration stg dax wfcommons resume)
fi
data=../../shared/data
mkdir -p corpus/{scenario_toml,scenario_json,pieces,duration,stg,dax,wfcommons,resume}
cp ../scenarios/*.toml ../scenarios/invalid/*.toml corpus/scenario_toml/ 2>/dev/null || true
cp ../scenarios/invalid/*.json corpus/scenario_json/ 2>/dev/null || true
# `pieces` reads its first byte as the format and piece size (even: TOML, odd: JSON).
# Written by redirection, not `cp`: two runs of this script side by side copy the same
# seeds, and `cp` fails on a file the other created between its check and its open.
for f in regressions/pieces/*; do cat "$f" > "corpus/pieces/$(basename "$f")"; done
# A minimized corpus of an earlier round (`corpus-min/TARGET.tar.gz`, made by
# `scripts/fuzz.sh --save TARGET`), so that a new machine goes on from where the last
# round ended instead of from the seeds. Files already there are kept.
for archive in corpus-min/*.tar.gz; do
    [ -e "$archive" ] || continue
    tar -xzf "$archive" --skip-old-files -C "corpus/$(basename "$archive" .tar.gz)"
done
for f in ../scenarios/*.toml; do
    { printf '\000'; cat "$f"; } > "corpus/pieces/$(basename "$f")"
done
# Structure-derived seeds (scripts/fuzz_seeds.py): every field of the format cut short,
# padded with white space and given a value of every type. Written into the corpus, so that
# `--save` keeps those that add coverage; files already there are kept.
for target in "${targets[@]}"; do
    python3 ../scripts/fuzz_seeds.py "$target" "corpus/$target"
done
for d in 30m 1.5h 250ms 45s 2e3 0.5 10sec; do printf '%s' "$d" > "corpus/duration/$d"; done
if [ -d "$data" ]; then
    # `head` closing the pipe early kills `find` with SIGPIPE, which pipefail would turn
    # into the script's silent end: those pipelines may fail.
    find "$data/stg" -type f -size -8k | head -50 | xargs -r -I{} cp {} corpus/stg/ || true
    find "$data" \( -name '*.dax' -o -name '*.xml' \) -size -64k | head -10 | xargs -r -I{} cp {} corpus/dax/ || true
    find "$data/wfcommons" -name '*.json' -size -64k | head -10 | xargs -r -I{} cp {} corpus/wfcommons/ || true
fi
printf '0 {"call":"input","input":{"input":"agent_up","spec":{"id":"agent_1","name":"agent_1","agent_type":"worker","capabilities":null,"max_concurrent_tasks":1,"speed":1.0}}}\n11 {"call":"input","input":{"input":"task_started","task":0,"agent":0,"attempt":1}}\n@0 1\n' \
    > corpus/resume/seed
# Passes libFuzzer's output through, and writes its highest edge count so far (`cov: N`)
# to the file $1, and the number of new edges in taskdist's library code (`NEW_PC` lines
# in $own) since the corpus was loaded to the file $1.own, for the plateau watch below.
own="$(cd .. && pwd)/src/"
note_coverage() {
    local best=-1 mine=0 line
    while IFS= read -r line; do
        printf '%s\n' "$line"
        if [[ $line =~ cov:\ ([0-9]+) ]] && ((BASH_REMATCH[1] > best)); then
            best=${BASH_REMATCH[1]}
            echo "$best" > "$1"
        fi
        if [[ $line == *INITED* ]]; then
            # The count goes from -1 to 0 once the corpus is loaded, so that the watch
            # starts this clock there: loading the corpus is not a search that found nothing.
            mine=0
            echo 0 > "$1.own"
        elif [[ $line == *NEW_PC:* && $line == *" $own"* ]]; then
            mine=$((mine + 1))
            echo "$mine" > "$1.own"
        fi
    done
}

# The dictionaries (fuzz/dicts/) of a target: its format's grammar and its schema's names.
# libFuzzer takes one `-dict`, so they are joined into one file per run, each entry once
# (JSON and TOML share brackets, booleans and numbers; a repeated entry would be drawn
# more often). `cargo test --test sim fuzz` checks their syntax.
dicts_of() {
    case $1 in
        scenario_json) echo json scenario ;;
        scenario_toml) echo toml scenario ;;
        pieces) echo json toml scenario ;;
        wfcommons) echo json wfcommons ;;
        dax) echo xml dax ;;
        resume) echo json resume ;;
    esac
}
dict_dir=$(mktemp -d)
trap 'rm -rf "$dict_dir"' EXIT

for target in "${targets[@]}"; do
    echo "fuzz: $target for ${seconds}s" >&2
    cargo +nightly fuzz build -O "$target"
    binary=$fuzz_binaries/$target
    stamp=$(mktemp)
    echo -1 > "$stamp"
    echo -1 > "$stamp.own"
    start=$(date +%s)
    mkdir -p "artifacts/$target"
    dict=()
    names=$(dicts_of "$target")
    if [ -n "$names" ]; then
        for name in $names; do cat "dicts/$name.dict"; done |
            awk '!/^#/ && NF && !seen[$0]++' > "$dict_dir/$target.dict"
        dict=(-dict="$dict_dir/$target.dict")
    fi
    # Run directly rather than through `cargo fuzz run`, so that the watch below can
    # interrupt the fuzzer itself (which then prints its final statistics).
    "$binary" "corpus/$target" -artifact_prefix="artifacts/$target/" \
        -max_total_time="$seconds" "${limits[@]}" "${dict[@]}" -print_final_stats=1 -print_pcs=1 \
        > >(note_coverage "$stamp") 2>&1 &
    fuzzer=$!
    reason="time limit"
    interrupted=0
    # The plateau is counted in the fuzzer's own CPU time, not the wall clock's: beside other
    # work at the lowest weight, a fuzzer may get little of the CPU for minutes, and those
    # minutes would count as a search that found nothing.
    edges=-1
    edges_at=0
    own_edges=-1
    own_at=0
    cpu=0
    while kill -0 "$fuzzer" 2>/dev/null; do
        sleep 5
        # 0 once the fuzzer has gone between the check above and this read: keep the last.
        now_cpu=$(cpu_seconds "$fuzzer")
        ((now_cpu < cpu)) || cpu=$now_cpu
        now_edges=$(cat "$stamp")
        now_own=$(cat "$stamp.own")
        # Empty if read between note_coverage's truncating a file and writing it.
        now_edges=${now_edges:-$edges}
        now_own=${now_own:-$own_edges}
        if ((now_edges != edges)); then
            edges=$now_edges
            edges_at=$cpu
        fi
        if ((now_own != own_edges)); then
            own_edges=$now_own
            own_at=$cpu
        fi
        if [ "$scope" = taskdist ]; then quiet=$((cpu - own_at)); else quiet=$((cpu - edges_at)); fi
        if ((plateau > 0 && quiet >= plateau)); then
            if [ "$scope" = taskdist ]; then
                reason="no new edge in taskdist's code for ${plateau} s of CPU time"
            else
                reason="no new coverage for ${plateau} s of CPU time"
            fi
            kill -INT "$fuzzer" 2>/dev/null || true
            interrupted=1
            break
        fi
    done
    status=0
    wait "$fuzzer" || status=$?
    rm -f "$stamp" "$stamp.own"
    echo "fuzz: $target: last new edge at $edges_at s, in taskdist at $own_at s ($((own_edges < 0 ? 0 : own_edges)) new there since the corpus was loaded), of $cpu s of CPU time" >&2
    # libFuzzer ends with 72 when interrupted: by the plateau check above, or by a SIGINT
    # from outside (stopping a run by hand), which is no finding either.
    if ((status == 72)); then
        ((interrupted)) || reason="interrupted"
    elif ((status != 0)); then
        echo "fuzz: $target found something (exit $status): see artifacts/$target/" >&2
        exit "$status"
    fi
    echo "fuzz: $target stopped after $(($(date +%s) - start)) s ($reason)" >&2
done
