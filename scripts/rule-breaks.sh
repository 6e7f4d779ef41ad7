#!/usr/bin/env bash
# Shows that each property test can fail: applies each patch under scripts/rule-breaks/ (a
# one-line break of one rule, in src/core unless its header says otherwise), runs the
# property's test, records whether it FAILED (it must) and its first failure line, and
# reverts the patch. Writes the table to reports/rule-breaks.md.
#
#   scripts/rule-breaks.sh               every patch
#   scripts/rule-breaks.sh 05 11-timer   the patches whose names start with these
#
# Each patch starts with three header lines, which `git apply` skips:
#   Property: <number>   Test: <test path in the proptests binary>   Rule broken: <text>
#
# The tests run with proptest's case count as in CI (DEFAULT_CASES unless PROPTEST_CASES
# is set) and a bounded shrink, so the whole table takes a few minutes. The patch is always
# reverted (also on Ctrl-C), and proptest-regressions/ is put back as it was: seeds found
# under a broken core are not regressions of the real one.
#
# Exit status: 0 if every property failed under its patch, 1 if one did not (or a patch no
# longer applies, or did not build), 2 on a usage error or a dirty src/.
set -euo pipefail
cd "$(dirname "$0")/.."

patches_dir=scripts/rule-breaks
report=reports/rule-breaks.md

if [ -n "$(git status --porcelain -- src/)" ]; then
    echo "rule-breaks: src/ has uncommitted changes; commit or stash them first:" >&2
    git status --short -- src/ >&2
    exit 2
fi

patches=()
for patch in "$patches_dir"/*.patch; do
    name=$(basename "$patch" .patch)
    if [ $# -eq 0 ]; then
        patches+=("$patch")
    else
        for prefix in "$@"; do
            if [[ $name == "$prefix"* ]]; then
                patches+=("$patch")
                break
            fi
        done
    fi
done
if [ ${#patches[@]} -eq 0 ]; then
    echo "rule-breaks: no patch matches: $*" >&2
    exit 2
fi

# Shrinking makes the failure line readable; bounded, so a broken rule costs seconds.
export PROPTEST_MAX_SHRINK_ITERS="${PROPTEST_MAX_SHRINK_ITERS:-2000}"
export PROPTEST_MAX_SHRINK_TIME="${PROPTEST_MAX_SHRINK_TIME:-30000}"

work=$(mktemp -d)
cp -r proptest-regressions "$work/regressions"
applied=""
cleanup() {
    if [ -n "$applied" ]; then
        git apply -R "$applied" || echo "rule-breaks: could not revert $applied; revert it by hand" >&2
        applied=""
    fi
    rm -rf proptest-regressions
    cp -r "$work/regressions" proptest-regressions
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

header() { sed -n "s/^$2: //p" "$1" | head -n 1; }

# file:line of the first changed line of the patch, in the patched file.
where() {
    awk '
        /^\+\+\+ b\// { file = substr($0, 7) }
        /^@@ / { split($3, a, ","); line = substr(a[1], 2); in_hunk = 1; next }
        in_hunk && /^[-+]/ && !/^(\+\+\+|---) / { print file ":" line; exit }
        in_hunk && /^ / { line++ }
    ' "$1"
}

# The first line that says what failed: proptest's message, or for an assertion of
# equality the message given with it (what differs, where).
failure_line() {
    local log=$1 line
    line=$(grep -m 1 '^Test failed: ' "$log" | sed 's/^Test failed: //') || true
    if [[ -z $line ]]; then
        line=$(grep -m 1 -E "panicked at|error(\[E[0-9]+\])?:" "$log") || true
    elif [[ $line == "assertion failed: \`(left == right)\`"* ]]; then
        # The left/right values follow on their own lines; the message ends the last one.
        line="assertion failed: $(grep -m 1 -oE '`: .*' "$log" | sed 's/^`: //')"
    fi
    line=$(printf '%s' "$line" | sed -E 's/ at proptests\/[a-z_]+\.rs:[0-9]+\.?$//')
    # Long messages (whole decision lists) are cut: the table wants the gist.
    line=${line//|/\\|}
    if [ ${#line} -gt 240 ]; then line="${line:0:240}…"; fi
    printf '%s' "$line"
}

rows=()
missed=0
for patch in "${patches[@]}"; do
    name=$(basename "$patch" .patch)
    property=$(header "$patch" Property)
    test=$(header "$patch" Test)
    rule=$(header "$patch" "Rule broken")
    at=$(where "$patch")
    echo "== $name: property $property, $test" >&2
    if ! git apply --check "$patch" 2>"$work/apply.log"; then
        echo "rule-breaks: $patch no longer applies to src/ (the code it breaks has changed):" >&2
        cat "$work/apply.log" >&2
        rows+=("| $property | $rule | \`$at\` | \`$test\` | **PATCH DOES NOT APPLY** | $(head -n 1 "$work/apply.log") |")
        missed=$((missed + 1))
        continue
    fi
    git apply "$patch"
    applied=$patch
    log="$work/$name.log"
    set +e
    cargo test --release --test proptests -- --exact "$test" >"$log" 2>&1
    status=$?
    set -e
    git apply -R "$patch"
    applied=""
    rm -rf proptest-regressions
    cp -r "$work/regressions" proptest-regressions
    if grep -q "^test $test \.\.\. FAILED" "$log"; then
        result=FAILED
        echo "   FAILED, as it must" >&2
    elif grep -q "^test $test \.\.\. ok" "$log"; then
        result="**passed: the property missed the break**"
        missed=$((missed + 1))
        echo "   passed: the property did not catch this break" >&2
    elif grep -q "^error" "$log"; then
        result="**did not build**"
        missed=$((missed + 1))
        echo "   the patched tree did not build:" >&2
        grep -m 5 "^error" "$log" >&2
    else
        result="**not run (exit $status)**"
        missed=$((missed + 1))
        echo "   the test did not run (exit $status); see the log:" >&2
        tail -n 20 "$log" >&2
    fi
    rows+=("| $property | $rule | \`$at\` | \`$test\` | $result | $(failure_line "$log") |")
done

table() {
    echo "| property | rule broken | file:line | test | result | first failure line |"
    echo "| --- | --- | --- | --- | --- | --- |"
    printf '%s\n' "${rows[@]}"
}
if [ $# -gt 0 ]; then
    # A partial run does not overwrite the committed table.
    table
    echo "rule-breaks: ${#rows[@]} patches, $missed not shown to fail" >&2
    [ "$missed" -eq 0 ]
    exit
fi
mkdir -p reports
{
    echo "# Rule breaks: each property fails when its rule is broken"
    echo
    echo "Generated by \`scripts/rule-breaks.sh\` at $(git rev-parse --short HEAD): each row applies"
    echo "one patch from \`scripts/rule-breaks/\` (a one-line break of one rule), runs the named test"
    echo "of the \`proptests\` binary with ${PROPTEST_CASES:-the default number of} cases, and reverts"
    echo "the patch. Every result must be FAILED. \`file:line\` is the first changed line of the patch."
    echo
    table
    echo
    echo "How the mutation testing of the core went, and what these rows mean: [mutants.md](mutants.md)."
} >"$report"
echo "rule-breaks: wrote $report (${#rows[@]} patches, $missed not shown to fail)" >&2
[ "$missed" -eq 0 ]
