"""The peer of taskdist's simulator, written with SimPy: the same scheduling semantics on
the same plan file, to compare speed and check that both give the same makespan.

Semantics modelled (those of `taskdist simulate --policy fifo` with fixed durations and
no faults and context sharing off, which is what `taskdist gen --deterministic` writes):

- a task becomes ready when every `depends_on` task has succeeded;
- `fifo` policy: ready tasks are dispatched by the time they became ready, ties in plan
  order; a task woken from a lock keeps its place;
- identical agents, one attempt each, at most `max_agents` busy;
- `files_to_modify` take write locks, `files_to_read` read locks, all at once or none; a
  task whose locks are busy parks on the first busy file (by first appearance in the plan)
  and the agent takes other work; a parked writer stops new readers; when a file's last
  holder lets go, every task parked on it is queued again;
- an attempt lasts exactly its estimate.

Each attempt is a SimPy process that holds its agent for the attempt's duration; SimPy's
event queue orders equal times by scheduling order, as taskdist's does.

Usage: python3 simpy_model.py PLAN.json [--repeat K]
Prints one JSON object: tasks, agents, makespan_ms, load_ms, sim_ms (best of K runs).
"""

import heapq
import json
import sys
import time

import simpy

UNIT_MS = {"milliseconds": 1, "seconds": 1000, "minutes": 60_000, "hours": 3_600_000}
READ, WRITE = 0, 1


class Plan:
    """The parts of a scenario file the model needs, with dense indices."""

    def __init__(self, path):
        with open(path) as f:
            data = json.load(f)
        unit = UNIT_MS[data.get("time_unit", "minutes")]
        tasks = data["tasks"]
        index = {t["id"]: i for i, t in enumerate(tasks)}
        n = len(tasks)
        self.n = n
        self.duration = []
        self.preds = [0] * n
        self.succs = [[] for _ in range(n)]
        self.locks = []
        files = {}
        for i, t in enumerate(tasks):
            estimate = t["estimated_duration"]
            if not isinstance(estimate, (int, float)):
                sys.exit(f"task {t['id']}: only numeric estimates are supported")
            self.duration.append(round(estimate * unit))
            if t.get("blocked_by"):
                sys.exit(f"task {t['id']}: blocked_by is not modelled")
            deps = sorted({index[d] for d in t.get("depends_on", [])})
            self.preds[i] = len(deps)
            for d in deps:
                self.succs[d].append(i)
            own = {}
            for mode, key in ((WRITE, "files_to_modify"), (READ, "files_to_read")):
                for p in t.get(key, []):
                    f = files.setdefault(p, len(files))
                    own[f] = max(own.get(f, READ), mode)
            self.locks.append(sorted(own.items()))
        self.files = len(files)
        config = data.get("config", {})
        if config.get("enable_context_sharing", True):
            sys.exit("context sharing is on: simulated discoveries shorten attempts (use gen --deterministic)")
        if config.get("policy") != "fifo":
            sys.exit("the model replays the fifo policy (use gen --policy fifo)")
        self.agents = sum(a.get("count", 1) for a in data["agents"])
        max_agents = data.get("config", {}).get("max_agents")
        if max_agents is not None:
            self.agents = min(self.agents, max_agents)


class Model:
    """One run: the dispatcher state and the SimPy environment."""

    def __init__(self, plan):
        self.plan = plan
        self.env = simpy.Environment()
        self.unmet = list(plan.preds)
        self.ready = []  # heap of (time it became ready, task)
        self.ready_at = [0] * plan.n
        self.free_agents = plan.agents
        self.holders = [set() for _ in range(plan.files)]
        self.writers_held = [0] * plan.files
        self.waiting_writers = [0] * plan.files
        self.parked = [[] for _ in range(plan.files)]
        self.done = 0
        self.makespan = 0

    def become_ready(self, t):
        self.ready_at[t] = self.env.now
        heapq.heappush(self.ready, (self.env.now, t))

    def conflict(self, t):
        """The first file `t` cannot lock now, with the mode it wants, or None."""
        for f, mode in self.plan.locks[t]:
            others = self.holders[f] - {t}
            if mode == WRITE:
                if others:
                    return f, mode
            elif self.writers_held[f] > 0 or self.waiting_writers[f] > 0:
                return f, mode
        return None

    def dispatch(self):
        while self.free_agents > 0 and self.ready:
            _, t = heapq.heappop(self.ready)
            blocked = self.conflict(t)
            if blocked is not None:
                f, mode = blocked
                if mode == WRITE:
                    self.waiting_writers[f] += 1
                self.parked[f].append(t)
                continue
            for f, mode in self.plan.locks[t]:
                self.holders[f].add(t)
                if mode == WRITE:
                    self.writers_held[f] += 1
            self.free_agents -= 1
            self.env.process(self.attempt(t))

    def attempt(self, t):
        yield self.env.timeout(self.plan.duration[t])
        self.complete(t)

    def complete(self, t):
        self.free_agents += 1
        for f, mode in self.plan.locks[t]:
            self.holders[f].discard(t)
            if mode == WRITE:
                self.writers_held[f] -= 1
            if not self.holders[f]:
                self.waiting_writers[f] = 0
                for w in self.parked[f]:
                    heapq.heappush(self.ready, (self.ready_at[w], w))
                self.parked[f].clear()
        self.done += 1
        self.makespan = self.env.now
        for s in self.plan.succs[t]:
            self.unmet[s] -= 1
            if self.unmet[s] == 0:
                self.become_ready(s)
        self.dispatch()

    def run(self):
        for t in range(self.plan.n):
            if self.unmet[t] == 0:
                self.become_ready(t)
        self.dispatch()
        self.env.run()
        assert self.done == self.plan.n, f"{self.done} of {self.plan.n} tasks ran"
        return self.makespan


def main():
    path = sys.argv[1]
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 1
    started = time.perf_counter()
    plan = Plan(path)
    load_ms = (time.perf_counter() - started) * 1e3
    best = float("inf")
    makespan = None
    for _ in range(max(repeat, 1)):
        started = time.perf_counter()
        makespan = Model(plan).run()
        best = min(best, (time.perf_counter() - started) * 1e3)
    print(
        json.dumps(
            {
                "what": "simpy",
                "simpy": simpy.__version__,
                "tasks": plan.n,
                "agents": plan.agents,
                "makespan_ms": makespan,
                "load_ms": round(load_ms, 1),
                "sim_ms": round(best, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
