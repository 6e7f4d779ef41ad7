#!/usr/bin/env bash
# Regenerates reports/stg.md, the schedule quality of every policy against published optima
# (the `stg_report` example; about 15 minutes on two cores).
#
#   scripts/stg-report.sh [--data DIR] [-o FILE]    defaults: ../shared/data, reports/stg.md
#
# Paths are taken from where you run it, as the report's own defaults are: run it from the
# repository root to use them. The output depends on the data only, but for the measured
# wall times and load averages of the optimizer's table.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
exec cargo run --release --quiet --manifest-path "$root/Cargo.toml" --example stg_report -- "$@"
