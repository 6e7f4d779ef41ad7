#!/usr/bin/env bash
# Measures which source regions a fuzz target's corpus reaches (`cargo fuzz coverage`,
# LLVM source-based coverage; needs the nightly toolchain's `llvm-tools` component:
# `rustup component add llvm-tools --toolchain nightly`), and writes, per target, the
# export of `llvm-cov export -skip-functions` as OUT/TARGET.json: each file's summary, and
# its segments, where the regions of every copy of a generic function are merged, which
# fuzz_coverage.py counts as source regions.
#
#   scripts/fuzz_coverage.sh OUT [CORPUS_ROOT] [TARGET...]
#       CORPUS_ROOT defaults to fuzz/corpus; the targets, to every target of fuzz/.
#   python3 scripts/fuzz_coverage.py BEFORE_OUT AFTER_OUT
#       what a fuzzing round added: regions of taskdist's own files and of the rest.
#
# libFuzzer's edge count (`cov:`) grows while a target explores its dependencies'
# internals (the TOML lexer, serde_json, SQLite) as much as taskdist's readers. Measuring
# the corpus before and after a round, on the same instrumented build, says where the new
# coverage was: copy the corpus before the round (`cp -r fuzz/corpus BEFORE`) and run this
# on the copy, then on fuzz/corpus after it.
set -euo pipefail
out=$(realpath -m "$1")
shift
cd "$(dirname "$0")/../fuzz"
root=corpus
if [ $# -gt 0 ]; then
    root=$1
    shift
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(scenario_toml scenario_json pieces duration stg dax wfcommons resume)
fi
llvm_cov=$(ls "$(rustc +nightly --print sysroot)"/lib/rustlib/*/bin/llvm-cov 2>/dev/null | head -1)
if [ -z "$llvm_cov" ]; then
    echo "fuzz_coverage: no llvm-cov in the nightly toolchain: rustup component add llvm-tools --toolchain nightly" >&2
    exit 2
fi
# `resume` copies a run database per input: in memory, as scripts/fuzz.sh does.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
    export TMPDIR=/dev/shm
fi
mkdir -p "$out"
for target in "${targets[@]}"; do
    if [ ! -d "$root/$target" ]; then
        echo "fuzz_coverage: no corpus $root/$target" >&2
        exit 2
    fi
    start=$(date +%s)
    cargo +nightly fuzz coverage -O "$target" "$root/$target" > "$out/$target.log" 2>&1
    binary=$(find target -path '*/coverage/*/release/*' -type f -name "$target" -perm -u+x | head -1)
    "$llvm_cov" export -skip-functions "$binary" \
        -instr-profile="coverage/$target/coverage.profdata" > "$out/$target.json"
    echo "fuzz_coverage: $target: $(ls "$root/$target" | wc -l) inputs in $(($(date +%s) - start)) s" >&2
done
