//! The bounds and the optimizer against exhaustive search on small random plans, with an
//! exact decoder of its own: the agents as one resource of capacity m (any m tasks may
//! overlap; identical agents can then always be assigned), the locks as resources, and
//! each task at the earliest time these allow. Over every precedence-feasible order that
//! yields every active schedule, a set that holds an optimum.

use super::decode::Instance;
use super::*;
use crate::model::{Format, Scenario};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A random plan of `n` tasks (minutes 1–9), edges forward with probability 0.3, two
/// files locked with probability 0.25 each (write or read), on `m` agents.
pub(crate) fn random_plan(seed: u64, n: usize, m: usize) -> Plan {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut text = format!("[[agents]]\ncount = {m}\n[config]\nmax_agents = {m}\n");
    for i in 0..n {
        text += &format!(
            "[[tasks]]\nid = 't{i}'\nestimated_duration = {}\n",
            rng.random_range(1..10)
        );
        let deps: Vec<String> = (0..i)
            .filter(|_| rng.random::<f64>() < 0.3)
            .map(|j| format!("'t{j}'"))
            .collect();
        text += &format!("depends_on = [{}]\n", deps.join(","));
        let (mut write, mut read) = (Vec::new(), Vec::new());
        for file in ["'a'", "'b'"] {
            if rng.random::<f64>() < 0.25 {
                if rng.random::<bool>() {
                    write.push(file);
                } else {
                    read.push(file);
                }
            }
        }
        text += &format!(
            "files_to_modify = [{}]\nfiles_to_read = [{}]\n",
            write.join(","),
            read.join(",")
        );
    }
    let (scenario, issues) = Scenario::parse(&text, Format::Toml, "r.toml").unwrap();
    Plan::from_scenario(scenario, issues).unwrap().1
}

/// The makespan of `order` on `m` identical agents, each task as early as possible.
fn exact_decode(inst: &Instance, m: usize, order: &[u32]) -> Time {
    let mut placed: Vec<(usize, Time, Time)> = Vec::new();
    let mut end = vec![0; inst.len()];
    for &t in order {
        let t = t as usize;
        let d = inst.dur[t];
        let ready = inst
            .preds
            .row(t)
            .iter()
            .map(|&p| end[p as usize])
            .max()
            .unwrap_or(0);
        let mut candidates: Vec<Time> = placed.iter().map(|p| p.2).filter(|&e| e > ready).collect();
        candidates.push(ready);
        candidates.sort_unstable();
        let fits = |c: Time| {
            let overlapping: Vec<&(usize, Time, Time)> =
                placed.iter().filter(|p| p.1 < c + d && c < p.2).collect();
            // The load is highest at c or at a start inside [c, c + d).
            let points =
                std::iter::once(c).chain(overlapping.iter().map(|p| p.1).filter(|&s| s > c));
            let agents_ok = points
                .map(|x| overlapping.iter().filter(|p| p.1 <= x && x < p.2).count())
                .all(|load| load < m);
            let locks_ok = overlapping.iter().all(|p| {
                !inst
                    .locks
                    .row(t)
                    .iter()
                    .any(|&(f, w)| inst.locks.row(p.0).iter().any(|&(g, v)| f == g && (w || v)))
            });
            agents_ok && locks_ok
        };
        let start = candidates
            .into_iter()
            .find(|&c| fits(c))
            .expect("the last end fits");
        placed.push((t, start, start + d));
        end[t] = start + d;
    }
    end.into_iter().max().unwrap_or(0)
}

fn exhaustive(inst: &Instance, m: usize) -> Time {
    fn go(inst: &Instance, m: usize, order: &mut Vec<u32>, used: &mut [bool]) -> Time {
        let n = inst.len();
        if order.len() == n {
            return exact_decode(inst, m, order);
        }
        let mut best = Time::MAX;
        for t in 0..n {
            if used[t] || inst.preds.row(t).iter().any(|&p| !used[p as usize]) {
                continue;
            }
            used[t] = true;
            order.push(t as u32);
            best = best.min(go(inst, m, order, used));
            order.pop();
            used[t] = false;
        }
        best
    }
    go(inst, m, &mut Vec::new(), &mut vec![false; inst.len()])
}

/// Checks a schedule against the plan: dependencies, one task at a time per slot,
/// locks, and the makespan.
pub(crate) fn assert_feasible(plan: &Plan, s: &Schedule) {
    let mut at = vec![None; plan.len()];
    for (k, slot) in s.slots.iter().enumerate() {
        for w in slot.tasks.windows(2) {
            assert!(w[0].end_ms <= w[1].start_ms, "slot {k} overlaps: {w:?}");
        }
        for p in &slot.tasks {
            let t = plan.task_index(&p.task).unwrap();
            assert!(at[t.ix()].is_none(), "{} twice", p.task);
            assert_eq!(p.end_ms - p.start_ms, plan.estimate_ms(t));
            at[t.ix()] = Some((p.start_ms, p.end_ms));
        }
    }
    let at: Vec<(Time, Time)> = at.into_iter().map(|x| x.expect("every task")).collect();
    for t in plan.task_indices() {
        for p in plan.preds(t) {
            assert!(at[p.ix()].1 <= at[t.ix()].0, "{p:?} before {t:?}");
        }
        for u in plan.task_indices().filter(|&u| u > t) {
            let clash = plan.locks(t).iter().any(|a| {
                plan.locks(u).iter().any(|b| {
                    a.file == b.file && (a.mode == LockMode::Write || b.mode == LockMode::Write)
                })
            });
            let (x, y) = (at[t.ix()], at[u.ix()]);
            if clash && x.0 < x.1 && y.0 < y.1 {
                assert!(x.1 <= y.0 || y.1 <= x.0, "{t:?} and {u:?} share a lock");
            }
        }
    }
    assert_eq!(s.makespan_ms, at.iter().map(|x| x.1).max().unwrap());
}

#[test]
fn bounds_never_exceed_the_optimum_and_the_optimizer_finds_it() {
    let (mut proved, mut missed) = (0, 0);
    for seed in 0..300 {
        let n = 3 + (seed as usize % 5);
        let m = 1 + (seed as usize / 5) % 3;
        let plan = random_plan(seed, n, m);
        let slots = slots_for(&plan.agents, m);
        let inst = instance(&plan, &slots).unwrap();
        let opt = exhaustive(&inst, m);
        let b = plan.bounds(m);
        for (name, bound) in [
            ("critical_path", b.critical_path_ms),
            ("work", b.work_ms),
            ("file", b.file_ms),
            ("lock", b.lock_ms),
            ("head_tail", b.head_tail_ms),
            ("energetic", b.energetic_ms),
            ("best", b.best_ms),
        ] {
            assert!(
                bound <= opt,
                "seed {seed}: {name} bound {bound} > optimum {opt}"
            );
        }
        let out = optimize(&plan, &plan.agents, m, Budget::default()).unwrap();
        assert_feasible(&plan, &out.schedule);
        assert!(
            out.schedule.makespan_ms >= opt,
            "seed {seed}: below the optimum"
        );
        assert!(out.schedule.lower_bound_ms <= opt);
        // Its decoder keeps each agent's gaps apart, so it can miss an optimum whose
        // inserted task would straddle two agents' gaps; rarely.
        missed += usize::from(out.schedule.makespan_ms > opt);
        if out.schedule.proved_by.is_some() {
            proved += 1;
        }
    }
    assert!(missed <= 6, "missed the optimum on {missed} of 300");
    // The bound proves most of these small schedules optimal.
    assert!(proved > 150, "proved {proved} of 300");
}

#[test]
fn same_inputs_same_schedule_and_budget_is_counted() {
    let plan = random_plan(7, 30, 3);
    let budget = Budget {
        decodes: 200,
        seed: 5,
        wall_cap: None,
    };
    let a = optimize(&plan, &plan.agents, 3, budget).unwrap();
    let b = optimize(&plan, &plan.agents, 3, budget).unwrap();
    assert_eq!(a, b);
    assert!(a.decodes <= 200);
    assert_feasible(&plan, &a.schedule);
    // Never worse than the critical-path rule alone (the first candidate).
    let one = optimize(
        &plan,
        &plan.agents,
        3,
        Budget {
            decodes: 1,
            ..budget
        },
    )
    .unwrap();
    assert_eq!(one.decodes, 1);
    assert!(a.schedule.makespan_ms <= one.schedule.makespan_ms);
}

#[test]
fn capabilities_restrict_slots() {
    let text = "[[agents]]\nid = 'gen'\n[[agents]]\nid = 'tester'\ncapabilities = ['testing']\n\
                [[tasks]]\nid = 'a'\nestimated_duration = 5\n\
                [[tasks]]\nid = 'b'\nestimated_duration = 5\ntype = 'testing'\n\
                [[tasks]]\nid = 'c'\nestimated_duration = 5\n";
    let (scenario, issues) = Scenario::parse(text, Format::Toml, "c.toml").unwrap();
    let plan = Plan::from_scenario(scenario, issues).unwrap().1;
    let out = optimize(&plan, &plan.agents, 2, Budget::default()).unwrap();
    let tester = &out.schedule.slots[1];
    assert!(tester.tasks.iter().all(|p| &*p.task == "b"), "{tester:?}");
    assert_eq!(out.schedule.makespan_ms, 10 * 60_000);
    // With only the tester as a slot, `a` cannot be placed.
    let err = optimize(&plan, &plan.agents[1..], 1, Budget::default()).unwrap_err();
    assert!(err.to_string().contains("task `a`"), "{err}");
}
