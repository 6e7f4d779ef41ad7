#!/usr/bin/env bash
# Regenerates the committed reports under reports/ from the shipped scenarios.
#
#   scripts/reports.sh             everything below
#   scripts/reports.sh baselines   reports/baselines/*.json (what `cargo test` checks)
#   scripts/reports.sh sweeps      reports/sweeps/*/ (CSVs, plots, report.md)
#   scripts/reports.sh gantt       reports/gantt/webapp/ (simulate --out, with the Gantt chart)
#
# Every output is deterministic: rerunning without a code or scenario change leaves git
# clean, so a diff here is a change in behaviour to review.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet
taskdist() { cargo run --release --quiet -- "$@"; }

baselines() {
    for scenario in scenarios/*.toml; do
        name=$(basename "$scenario" .toml)
        taskdist baseline "$scenario" --seeds 50 -o "reports/baselines/$name.json"
    done
}

sweeps() {
    rm -rf reports/sweeps
    # The capacity-planning question: how many agents, which policy?
    taskdist sweep scenarios/webapp.toml --agents 1..16 --seeds 100 \
        --policy critical-path,fifo,layered --out reports/sweeps/webapp
    # What do failures cost?
    taskdist sweep scenarios/webapp.toml --agents 1..12 --seeds 50 \
        --vary failure=0,0.1,0.2,0.3 --out reports/sweeps/webapp-failure
    # What do file locks cost, and what do they buy?
    taskdist sweep scenarios/locks.toml --agents 1..12 --seeds 50 \
        --vary locks=on,off --out reports/sweeps/locks-prevention
}

gantt() {
    rm -rf reports/gantt/webapp
    taskdist simulate scenarios/webapp.toml --out reports/gantt/webapp
}

case "${1:-all}" in
    baselines) baselines ;;
    sweeps) sweeps ;;
    gantt) gantt ;;
    all) baselines; sweeps; gantt ;;
    *) echo "usage: $0 [baselines|sweeps|gantt|all]" >&2; exit 2 ;;
esac
