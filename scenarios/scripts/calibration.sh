#!/bin/sh
# The command of every task of scenarios/calibration.toml: an attempt whose outcome and
# duration are drawn from known distributions, so that `taskdist calibrate` can be checked
# against the truth. Seeded by CALIBRATION_SEED (default 1), the task id and the attempt
# number: the same seed gives the same draws.
#
# The truth, per task type (factors of the estimate; log-normal parameters of the logs):
#   hang        4 % of attempts, every type (sleeps until the task timeout kills it)
#   failure     feature_implementation 15 %, testing 30 %, documentation 0 % (of the
#               attempts that do not hang); a failed attempt runs a factor with
#               mu = -1.0, sigma = 0.3 (time-to-failure), then exits 1
#   success     feature_implementation mu = 0.1, sigma = 0.25
#               testing                mu = -0.1, sigma = 0.35
#               documentation          mu = 0.0, sigma = 0.2
set -eu
plan=$(awk -v seed="${CALIBRATION_SEED:-1}" -v task="$TASKDIST_TASK_ID" \
    -v attempt="$TASKDIST_ATTEMPT" -v type="$TASKDIST_TASK_TYPE" \
    -v estimate="$TASKDIST_ESTIMATED_SECONDS" 'BEGIN {
    chars = "abcdefghijklmnopqrstuvwxyz0123456789_-"
    h = 0
    for (i = 1; i <= length(task); i++) h = (h * 31 + index(chars, substr(task, i, 1))) % 1000003
    srand(seed * 7919 + h * 101 + attempt)
    pi = 3.141592653589793
    u_hang = rand(); u_fail = rand(); u1 = rand(); u2 = rand()
    if (u1 < 1e-12) u1 = 1e-12
    z = sqrt(-2 * log(u1)) * cos(2 * pi * u2)
    if (type == "testing") { p = 0.30; mu = -0.1; sigma = 0.35 }
    else if (type == "documentation") { p = 0.0; mu = 0.0; sigma = 0.2 }
    else { p = 0.15; mu = 0.1; sigma = 0.25 }
    if (u_hang < 0.04) { printf "hang 3600\n"; exit }
    if (u_fail < p) { printf "fail %.3f\n", estimate * exp(-1.0 + 0.3 * z); exit }
    printf "ok %.3f\n", estimate * exp(mu + sigma * z)
}')
outcome=${plan% *}
seconds=${plan#* }
sleep "$seconds"
[ "$outcome" = ok ]
