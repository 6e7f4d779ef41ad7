#!/usr/bin/env bash
# Throughput through the broker (issue 13, section 4); writes reports/broker.md.
#
# Builds in release, starts its own redis-server on a free loopback port (no persistence:
# `--save "" --appendonly no`), starts 4 `taskdist worker` processes with SLOTS slots each,
# and runs `taskdist run PLAN --broker URL --agents 0` on N tasks whose command is `true`
# (no dependencies, no files). Then, as a reference, the same plan run locally with
# 4 x SLOTS agents (no broker). Everything it reports comes from the runs' own databases
# and from /usr/bin/time -v:
#
# - tasks per second: N over the `taskdist run` process's wall time (start to exit, which
#   includes the workers joining and the run's end), and N over the span of the run's
#   records (first attempt assigned to last attempt ended, on the coordinator's clock);
# - assign-to-start latency: per attempt, `started_ms - assigned_ms` of its row in
#   `task_assignments`, both on the coordinator's clock: from the scheduler's assignment
#   to the coordinator handling the worker's `started` (the `assign` written to the
#   worker's inbox, read by the worker, the command spawned, `started` written to
#   taskdist:up, read by the coordinator's group reader). The local run's same figure is
#   the spawn alone; the difference of the two is what the broker adds;
# - CPU time (user + sys) of the coordinator and of the 4 workers together.
#
#   bash benches/broker.sh                  # N = 10,000, 8 slots per worker
#   N=2000 SLOTS=4 bash benches/broker.sh   # other sizes
#   LOCAL=0 bash benches/broker.sh          # without the local reference run
#   NOOP=static bash benches/broker.sh      # every command a static no-op executable
#
# By default every task's command is `true`, run as `sh -c true`: on this VM an exec of a
# dynamically linked program costs about 1.3 ms of CPU, most of it the loader probing the
# CPU's caches with `cpuid`, which traps to the hypervisor; with two cores that alone caps
# any runner near 1,400 commands per second. NOOP=static compiles (with cc) a no-op
# without libc, which does nothing but the `exit` system call, and gives it as each
# task's argv, so that the figures are the broker path's and not the loader's.
#
# Needs: cargo, python3, redis-server, /usr/bin/time (Debian package `time`).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=${CARGO_TARGET_DIR:-target}
WORK=$TARGET/broker-perf
N=${N:-10000}
SLOTS=${SLOTS:-8}
NOOP=${NOOP:-sh}
# Each kind of command has its own report.
REPORT=reports/broker.md
if [ "$NOOP" = static ]; then
    REPORT=reports/broker-static.md
fi
WORKERS=4
LOCAL=${LOCAL:-1}
# The attempt directories (tens of thousands of files) are deleted at the end, and a run
# waits until files deleted before it are 6 minutes old: see benches/inodes.sh for why.
. benches/inodes.sh
. benches/steal.sh
inodes_delete "$WORK"
inodes_settle
mkdir -p "$WORK"

echo "broker: building (release)" >&2
cargo build --release --quiet
TASKDIST=$(pwd)/$TARGET/release/taskdist
COMMIT=$(git rev-parse --short HEAD)
if ! git diff --quiet HEAD -- src Cargo.toml Cargo.lock; then
    COMMIT="$COMMIT+changes"
fi

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="redis://127.0.0.1:$PORT"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    inodes_delete "$WORK"/w[0-9]* "$WORK"/remote/attempts "$WORK"/local/attempts
}
trap cleanup EXIT
redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no \
    > "$WORK/redis.log" 2>&1 &
PIDS+=($!)
until redis-cli -p "$PORT" ping > /dev/null 2>&1; do sleep 0.1; done

case "$NOOP" in
    sh) COMMAND="'true'" COMMAND_TEXT='`true` (run as `sh -c true`)' ;;
    static)
        printf '%s\n' 'void _start(void) { __asm__ volatile("mov $60, %eax\n xor %edi, %edi\n syscall"); }' \
            > "$WORK/noop.c"
        cc -nostdlib -static -O2 -o "$WORK/noop" "$WORK/noop.c"
        COMMAND="['$(realpath "$WORK/noop")']"
        COMMAND_TEXT='a static no-op without libc (`exit(0)` as its one system call), executed directly'
        ;;
    *)
        echo "broker: NOOP is sh or static, not $NOOP" >&2
        exit 2
        ;;
esac
python3 - "$N" "$COMMAND" > "$WORK/noop.toml" <<'PY'
import sys
n, command = int(sys.argv[1]), sys.argv[2]
print("time_unit = 'ms'\n[config]\nmax_agents = 64\n[[agents]]\ncount = 1")
for i in range(n):
    print(f"[[tasks]]\nid = 't{i}'\nestimated_duration = 1\ncommand = {command}")
PY

for w in $(seq 1 $WORKERS); do
    mkdir -p "$WORK/w$w"
    /usr/bin/time -v -o "$WORK/w$w.time" "$TASKDIST" worker --broker "$URL" --id "w$w" \
        --slots "$SLOTS" --workdir "$WORK/w$w" > /dev/null 2> "$WORK/w$w.log" &
    PIDS+=($!)
done
sleep 1
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
echo "broker: $N tasks on $WORKERS workers x $SLOTS slots (load $LOAD)" >&2
mark=$(steal_mark)
(cd "$WORK" && /usr/bin/time -v -o coordinator.time "$TASKDIST" run noop.toml \
    --broker "$URL" --agents 0 --out remote > coordinator.out 2> coordinator.log)
STEAL=$(steal_since "$mark")
# CPU seconds of each process still running, its own and its reaped children's (a
# worker's commands), from /proc/PID/stat, before they are stopped: `name own children`.
ticks=$(getconf CLK_TCK)
cpu_of() {
    awk -v name="$1" -v hz="$ticks" '{ printf "%s %.2f %.2f\n", name, ($14 + $15) / hz, ($16 + $17) / hz }' \
        "/proc/$2/stat"
}
cpu_of redis-server "${PIDS[0]}" > "$WORK/cpu.txt"
for pid in "${PIDS[@]:1}"; do
    cpu_of worker "$(pgrep -P "$pid")" >> "$WORK/cpu.txt"
done
# The workers (children of their /usr/bin/time) stop on SIGTERM; time writes its file as
# each exits.
for pid in "${PIDS[@]:1}"; do
    pkill -TERM -P "$pid"
done
wait "${PIDS[@]:1}" 2>/dev/null || true
PIDS=("${PIDS[0]}")

LOCAL_LOAD=""
LOCAL_STEAL=""
if [ "$LOCAL" = 1 ]; then
    LOCAL_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
    echo "broker: the same plan locally on $((WORKERS * SLOTS)) agents (load $LOCAL_LOAD)" >&2
    mark=$(steal_mark)
    (cd "$WORK" && /usr/bin/time -v -o local.time "$TASKDIST" run noop.toml \
        --agents $((WORKERS * SLOTS)) --out local > local.out 2> local.log)
    LOCAL_STEAL=$(steal_since "$mark")
fi

python3 - "$WORK" "$N" "$WORKERS" "$SLOTS" "$COMMIT" "$LOAD" "$LOCAL_LOAD" "$STEAL" \
    "$LOCAL_STEAL" "$COMMAND_TEXT" "$NOOP" > "$REPORT" <<'PY'
import re, sqlite3, sys
work, n, workers, slots, commit, load, local_load, steal, local_steal, command, noop = sys.argv[1:]
n, workers, slots = int(n), int(workers), int(slots)

def time_file(path):
    text = open(path).read()
    m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", text)
    wall = int(m.group(1) or 0) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    user = float(re.search(r"User time \(seconds\): ([\d.]+)", text).group(1))
    sys_ = float(re.search(r"System time \(seconds\): ([\d.]+)", text).group(1))
    return wall, user + sys_

def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]

def rows(run):
    db = sqlite3.connect(f"{work}/{run}/taskdist.db")
    got = db.execute(
        "SELECT status, assigned_ms, started_ms, ended_ms FROM task_assignments").fetchall()
    db.close()
    done = [r for r in got if r[0] == "completed"]
    assert len(done) == n, f"{run}: {len(done)} of {n} tasks completed"
    lat = [s - a for _, a, s, _ in got if s is not None]
    span = (max(r[3] for r in got) - min(r[1] for r in got)) / 1000
    return len(got), lat, span

def line(run, label, wall, cpu):
    attempts, lat, span = rows(run)
    return (f"| {label} | {attempts:,} | {wall:.2f} s | **{n / wall:,.0f}** | {span:.2f} s "
            f"| {n / span:,.0f} | {pct(lat, 50)} ms | {pct(lat, 99)} ms | {max(lat)} ms "
            f"| {cpu:.1f} s |"), lat

wall, cpu = time_file(f"{work}/coordinator.time")
worker_cpu = sum(time_file(f"{work}/w{w}.time")[1] for w in range(1, workers + 1))
remote, remote_lat = line("remote", f"broker, {workers} workers x {slots} slots", wall, cpu)
table = [remote]
if local_load:
    lwall, lcpu = time_file(f"{work}/local.time")
    local, local_lat = line("local", f"local, {workers * slots} agents (reference)", lwall, lcpu)
    table.append(local)

print("# Throughput through the broker\n")
setting = f"N = {n:,}, SLOTS = {slots}" + (", NOOP = static" if noop == "static" else "")
print(f"Generated by `bash benches/broker.sh` ({setting}) at {commit}: its own")
print("redis-server on a loopback port without persistence, 4 `taskdist worker --slots "
      f"{slots}`")
print("processes, and `taskdist run noop.toml --broker URL --agents 0`, every task's command")
print(f"{command}. The local reference runs the same plan with as many local")
print(f"agents as the workers' slots (`--agents {workers * slots}`, no broker).\n")
print(f"Load average (1, 5, 15 min) before the broker run: {load}"
      + (f"; before the local run: {local_load}" if local_load else "")
      + ". The machine has 2 cores, shared with other work. CPU time stolen by the "
      f"hypervisor for other guests (benches/steal.sh): {steal} % during the broker run"
      + (f", {local_steal} % during the local run" if local_steal else "") + ".\n")
print("| run | attempts | wall (process) | tasks/s (wall) | span of records | tasks/s (span) "
      "| assign→start p50 | p99 | max | coordinator CPU |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for row in table:
    print(row)
print(f"\nThe 4 workers used {worker_cpu:.1f} s of CPU (user + sys) together.\n")
# Where the CPU of the broker run went, per task: what two cores can sustain at most.
procs = [line.split() for line in open(f"{work}/cpu.txt")]
redis_cpu = sum(float(own) for name, own, _ in procs if name == "redis-server")
workers_own = sum(float(own) for name, own, _ in procs if name == "worker")
commands = sum(float(kids) for name, _, kids in procs if name == "worker")
per_task = {"the coordinator": cpu, "the workers themselves": workers_own,
            "the commands": commands, "redis-server": redis_cpu}
total = sum(per_task.values())
print("CPU of the broker run per task, from /proc/PID/stat of each process before it stopped:\n")
print("| process | CPU | per task |")
print("| --- | ---: | ---: |")
for name, seconds in per_task.items():
    print(f"| {name} | {seconds:.1f} s | {seconds / n * 1000:.2f} ms |")
print(f"| all | {total:.1f} s | **{total / n * 1000:.2f} ms** |\n")
print(f"At {total / n * 1000:.2f} ms of CPU per task, two cores sustain at most "
      f"{2 * n / total:,.0f} tasks/s; the commands and redis-server alone, "
      f"{2 * n / (commands + redis_cpu):,.0f}.\n")
print("What is measured: **wall** is the `taskdist run` process from start to exit (/usr/bin/time),")
print("including the workers joining and the end of the run; the **span** is from the first")
print("attempt's `assigned_ms` to the last one's `ended_ms` in the run's `task_assignments`.")
print("**assign→start** is `started_ms - assigned_ms` of each attempt's row, both on the")
print("coordinator's clock (ms): from the scheduler's assignment to the coordinator handling")
print("the worker's `started`, i.e. the `assign` written to the worker's inbox, read by the")
print("worker, the command spawned, the `started` written to taskdist:up and read back. On the")
print("local run the same figure is the spawn alone, so the broker adds the difference")
if local_load:
    print(f"(p50 {pct(remote_lat, 50) - pct(local_lat, 50)} ms, p99 "
          f"{pct(remote_lat, 99) - pct(local_lat, 99)} ms here).")
else:
    print("(not measured here: LOCAL=0).")
PY
# What earlier runs found (before/after a change, the profile): kept by hand.
if [ "$NOOP" = sh ] && [ -f benches/broker_notes.md ]; then
    printf '\n' >> "$REPORT"
    cat benches/broker_notes.md >> "$REPORT"
fi
cat "$REPORT"
