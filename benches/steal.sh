# Sourced by the benchmarks that compare wall times (runner.sh, broker.sh): how much of the
# machine's CPU time the hypervisor took for other guests while a measurement ran.
#
# This machine is a virtual one with 2 vCPUs. When the host is busy, a vCPU that wants to
# run waits, and the guest counts that wait as `steal` in /proc/stat. The same command
# measured 9.5 s in one run and 21.8 s in the next with 24 % steal in between: a wall time
# taken under steal measures the host, so each row of a report says how much there was.
#
#   mark=$(steal_mark)      the counters now
#   steal_since "$mark"     the percentage of all CPU time since the mark that was stolen

steal_mark() {
    # The `cpu` line: user nice system idle iowait irq softirq steal, then guest time that
    # user already counts.
    awk '/^cpu / { total = 0; for (i = 2; i <= 9; i++) total += $i; print $9, total }' /proc/stat
}

steal_since() {
    local now
    now=$(steal_mark)
    awk -v before="$1" -v now="$now" 'BEGIN {
        split(before, b, " "); split(now, n, " ")
        total = n[2] - b[2]
        stolen = total > 0 ? 100 * (n[1] - b[1]) / total : 0
        printf "%.1f\n", stolen
    }'
}
