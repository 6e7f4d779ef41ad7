#!/usr/bin/env bash
# Runs the coverage-guided fuzz targets of fuzz/ (cargo fuzz, libFuzzer; needs a nightly
# toolchain and `cargo install cargo-fuzz`), each for SECONDS (default 600), seeded with the
# shipped scenarios and the shared data sets. Crashers land in fuzz/artifacts/TARGET/.
#
#   scripts/fuzz.sh                  every target
#   scripts/fuzz.sh stg resume       these targets
#   SECONDS_PER_TARGET=3600 scripts/fuzz.sh
#
# Limits: 2 GiB RSS, 1 GiB per allocation, 10 s per input: an input that passes one of them
# is a finding (allocation without bound, or a hang), as is a panic or an audit violation.
# Once a crasher is fixed, copy it to fuzz/regressions/TARGET/: `cargo test --test sim fuzz`
# replays every file there through the same code.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${SECONDS_PER_TARGET:-600}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(scenario_toml scenario_json duration stg dax wfcommons resume)
fi
data=../../shared/data
mkdir -p corpus/{scenario_toml,scenario_json,duration,stg,dax,wfcommons,resume}
cp ../scenarios/*.toml ../scenarios/invalid/*.toml corpus/scenario_toml/ 2>/dev/null || true
cp ../scenarios/invalid/*.json corpus/scenario_json/ 2>/dev/null || true
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
for target in "${targets[@]}"; do
    echo "fuzz: $target for ${seconds}s" >&2
    cargo +nightly fuzz run -O "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 \
        -max_len=8192 -print_final_stats=1
done
