//! What `taskdist plan` reports: layers, parallelism, the critical path, total work, the
//! lower bounds on makespan for `m` agents (see [`super::Bounds`]), and the files that
//! serialize the most work.

use super::{Bounds, LockMode, Plan, TaskIdx};
use crate::model::{Human, Time, count, seconds};
use serde::Serialize;
use std::fmt;

/// One layer of the plan (the original's "parallel group").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerInfo {
    /// 0-based layer number.
    pub index: usize,
    /// Its tasks, in plan order.
    pub tasks: Vec<String>,
    /// Their summed estimates, in seconds.
    pub work: f64,
}

/// How much work a file's locks force into a sequence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileLoad {
    /// Normalized path.
    pub path: String,
    /// Tasks that write it.
    pub writers: usize,
    /// Tasks that read it.
    pub readers: usize,
    /// Seconds of estimated work that must run one at a time because of this file: every
    /// writer in turn, plus the longest reader (readers share, but never with a writer).
    pub serialized_work: f64,
}

/// The plan analysis for a given number of identical agents.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    /// Number of tasks.
    pub tasks: usize,
    /// Number of dependency edges.
    pub dependencies: usize,
    /// Agents assumed for the bound.
    pub agents: usize,
    /// The layers.
    pub layers: Vec<LayerInfo>,
    /// Largest layer: the most tasks the dependencies alone would let run at once.
    pub max_parallelism: usize,
    /// Tasks of the critical path, first to last.
    pub critical_path: Vec<String>,
    /// Its length in seconds.
    pub critical_path_length: f64,
    /// Summed estimates, seconds.
    pub total_work: f64,
    /// Total work on one agent, seconds (the serial time).
    pub serial_time: f64,
    /// `total_work / agents`, seconds.
    pub work_per_agent: f64,
    /// The busiest file's serialized work, seconds.
    pub max_file_work: f64,
    /// The best of every bound in `bounds`: no schedule on `agents` identical agents at
    /// speed 1, without failures, finishes sooner. Seconds.
    pub lower_bound: f64,
    /// Which bound sets it: `critical_path`, `work`, `file:<path>`, `lock`, `head_tail` or
    /// `energetic`.
    pub bound_by: String,
    /// Every bound, in milliseconds.
    pub bounds: Bounds,
    /// Files by serialized work, the heaviest first (at most 10, only those with writers).
    pub hot_files: Vec<FileLoad>,
}

/// The plan's lower bound on the makespan: the best of its [`Bounds`] and which one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LowerBound {
    /// The bound, in milliseconds.
    pub ms: Time,
    /// Which bound sets it: `critical_path`, `work`, `file:<path>` (the busiest file),
    /// `lock`, `head_tail` or `energetic`.
    pub set_by: String,
    /// Every bound.
    pub bounds: Bounds,
}

impl Plan {
    /// Total estimated work in milliseconds.
    pub fn total_work_ms(&self) -> Time {
        self.tasks.iter().map(|t| t.estimated_duration_ms).sum()
    }

    /// Length of the critical path in milliseconds.
    pub fn critical_path_ms(&self) -> Time {
        self.task_indices()
            .map(|t| self.bottom_level_ms(t))
            .max()
            .unwrap_or(0)
    }

    /// The critical path: from the first task (in plan order) with the longest bottom
    /// level, each step to the dependent with the longest bottom level.
    pub fn critical_path(&self) -> Vec<TaskIdx> {
        let longest = self.critical_path_ms();
        let Some(mut at) = self
            .task_indices()
            .find(|&t| self.bottom_level_ms(t) == longest)
        else {
            return Vec::new();
        };
        let mut path = vec![at];
        loop {
            let rest = self.bottom_level_ms(at) - self.task(at).estimated_duration_ms;
            if rest == 0 {
                return path;
            }
            at = self
                .succs(at)
                .iter()
                .map(|e| e.to)
                .find(|&s| self.bottom_level_ms(s) == rest)
                .expect("a bottom level is reached through some dependent");
            path.push(at);
        }
    }

    /// Serialized work per file in milliseconds, indexed by file: the sum of its writers'
    /// estimates plus its longest reader (zero if nobody writes it).
    pub fn file_work_ms(&self) -> Vec<Time> {
        let mut write = vec![0 as Time; self.files.len()];
        let mut read_max = vec![0 as Time; self.files.len()];
        for t in self.task_indices() {
            let d = self.task(t).estimated_duration_ms;
            for lock in self.locks(t) {
                match lock.mode {
                    LockMode::Write => write[lock.file.ix()] += d,
                    LockMode::Read => read_max[lock.file.ix()] = read_max[lock.file.ix()].max(d),
                }
            }
        }
        write
            .iter()
            .zip(&read_max)
            .map(|(&w, &r)| if w > 0 { w + r } else { 0 })
            .collect()
    }

    /// The plan's lower bound on the makespan for `agents` identical agents, in
    /// milliseconds: the best of [`Plan::bounds`] (see [`Plan::lower_bound`]).
    pub fn lower_bound_ms(&self, agents: usize) -> Time {
        self.bounds(agents).best_ms
    }

    /// The plan's lower bound on the makespan for `agents` identical agents at speed 1,
    /// without failures, on the estimates: the best of [`Plan::bounds`], and the bound
    /// that sets it. Every command that prints the plan's bound (`plan`, the summary of a
    /// run, a sweep) takes it from here.
    pub fn lower_bound(&self, agents: usize) -> LowerBound {
        let bounds = self.bounds(agents);
        let set_by = match bounds.set_by {
            "file" => {
                // The busiest file, the first in file order on a tie.
                let work = self.file_work_ms();
                let busiest = work
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))
                    .map_or(0, |(f, _)| f);
                format!("file:{}", self.files[busiest])
            }
            other => other.to_string(),
        };
        LowerBound {
            ms: bounds.best_ms,
            set_by,
            bounds,
        }
    }

    /// The full analysis for `agents` identical agents.
    pub fn analyse(&self, agents: usize) -> Analysis {
        let agents = agents.max(1);
        let mut layers: Vec<LayerInfo> = (0..self.layer_sizes().len())
            .map(|index| LayerInfo {
                index,
                tasks: Vec::new(),
                work: 0.0,
            })
            .collect();
        let mut layer_work = vec![0 as Time; layers.len()];
        for t in self.task_indices() {
            let l = self.layer(t) as usize;
            layers[l].tasks.push(self.task(t).id.to_string());
            layer_work[l] += self.task(t).estimated_duration_ms;
        }
        for (layer, work) in layers.iter_mut().zip(layer_work) {
            layer.work = seconds(work);
        }

        let total = self.total_work_ms();
        let critical = self.critical_path_ms();
        let per_agent = total.div_ceil(agents as Time);
        let file_work = self.file_work_ms();
        let mut hot: Vec<(Time, usize)> = file_work
            .iter()
            .enumerate()
            .filter(|&(_, &w)| w > 0)
            .map(|(f, &w)| (w, f))
            .collect();
        hot.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let busiest = hot.first().copied();
        let max_file = busiest.map_or(0, |(w, _)| w);
        let LowerBound {
            ms: bound,
            set_by: bound_by,
            bounds,
        } = self.lower_bound(agents);
        let mut counts = vec![(0usize, 0usize); self.files.len()];
        for t in self.task_indices() {
            for lock in self.locks(t) {
                match lock.mode {
                    LockMode::Write => counts[lock.file.ix()].0 += 1,
                    LockMode::Read => counts[lock.file.ix()].1 += 1,
                }
            }
        }
        let hot_files = hot
            .iter()
            .take(10)
            .map(|&(w, f)| FileLoad {
                path: self.files[f].to_string(),
                writers: counts[f].0,
                readers: counts[f].1,
                serialized_work: seconds(w),
            })
            .collect();

        Analysis {
            tasks: self.len(),
            dependencies: self.pred.len(),
            agents,
            max_parallelism: self.layer_sizes().iter().copied().max().unwrap_or(0) as usize,
            layers,
            critical_path: self
                .critical_path()
                .into_iter()
                .map(|t| self.task(t).id.to_string())
                .collect(),
            critical_path_length: seconds(critical),
            total_work: seconds(total),
            serial_time: seconds(total),
            work_per_agent: seconds(per_agent),
            max_file_work: seconds(max_file),
            lower_bound: seconds(bound),
            bound_by,
            bounds,
            hot_files,
        }
    }
}

fn ms(secs: f64) -> Human {
    Human((secs * 1000.0).round() as Time)
}

/// Lists at most this many ids per line of the text report.
const SHOWN: usize = 12;

fn list(ids: &[String]) -> String {
    if ids.len() <= SHOWN {
        ids.join(", ")
    } else {
        format!(
            "{}, … ({} more)",
            ids[..SHOWN].join(", "),
            ids.len() - SHOWN
        )
    }
}

impl fmt::Display for Analysis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}, {}, {}, max parallelism {}",
            count(self.tasks, "task", "tasks"),
            count(self.dependencies, "dependency", "dependencies"),
            count(self.layers.len(), "layer", "layers"),
            self.max_parallelism
        )?;
        writeln!(f, "\nlayers:")?;
        for layer in self.layers.iter().take(50) {
            writeln!(
                f,
                "  {:>3}  {:>4} {:<5}  {:>9}  {}",
                layer.index,
                layer.tasks.len(),
                count(layer.tasks.len(), "task", "tasks").noun(),
                ms(layer.work).to_string(),
                list(&layer.tasks)
            )?;
        }
        if self.layers.len() > 50 {
            writeln!(f, "  … {} more layers", self.layers.len() - 50)?;
        }
        writeln!(
            f,
            "\ncritical path ({}, {}): {}",
            ms(self.critical_path_length),
            count(self.critical_path.len(), "task", "tasks"),
            if self.critical_path.len() <= 2 * SHOWN {
                self.critical_path.join(" -> ")
            } else {
                format!(
                    "{} -> … -> {}",
                    self.critical_path[..SHOWN].join(" -> "),
                    self.critical_path[self.critical_path.len() - 3..].join(" -> ")
                )
            }
        )?;
        writeln!(f, "total work:    {}", ms(self.total_work))?;
        let b = &self.bounds;
        writeln!(
            f,
            "lower bound:   {} on {} agents, set by {} (critical path {}, work/agents {}, busiest file {}, lock {}, head/tail {}, energetic {})",
            ms(self.lower_bound),
            self.agents,
            self.bound_by,
            ms(self.critical_path_length),
            ms(self.work_per_agent),
            ms(self.max_file_work),
            Human(b.lock_ms),
            Human(b.head_tail_ms),
            if b.energetic_ms == 0 {
                "skipped".to_string()
            } else {
                Human(b.energetic_ms).to_string()
            },
        )?;
        writeln!(
            f,
            "best speedup:  {:.2}x over one agent",
            if self.lower_bound > 0.0 {
                self.serial_time / self.lower_bound
            } else {
                1.0
            }
        )?;
        if self.hot_files.is_empty() {
            writeln!(
                f,
                "\nno file is written by any task: locks serialize nothing"
            )?;
        } else {
            writeln!(f, "\nfiles that serialize the most work:")?;
            for file in &self.hot_files {
                writeln!(
                    f,
                    "  {:>9}  {}, {}  {}",
                    ms(file.serialized_work).to_string(),
                    count(file.writers, "writer", "writers"),
                    count(file.readers, "reader", "readers"),
                    file.path
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{Format, Scenario};
    use crate::plan::Plan;

    fn plan(text: &str) -> Plan {
        let (scenario, issues) = Scenario::parse(text, Format::Toml, "t.toml").unwrap();
        Plan::from_scenario(scenario, issues).unwrap().1
    }

    #[test]
    fn bound_terms() {
        // a(10) -> b(20); c(30) and d(15) write the same file; e(5) reads it.
        let p = plan(
            "[[agents]]\ncount=2\n\
             [[tasks]]\nid='a'\nestimated_duration=10\n\
             [[tasks]]\nid='b'\nestimated_duration=20\ndepends_on=['a']\n\
             [[tasks]]\nid='c'\nestimated_duration=30\nfiles_to_modify=['f']\n\
             [[tasks]]\nid='d'\nestimated_duration=15\nfiles_to_modify=['./f']\n\
             [[tasks]]\nid='e'\nestimated_duration=5\nfiles_to_read=['f']\n",
        );
        let a = p.analyse(4);
        assert_eq!(a.critical_path, vec!["a", "b"]);
        assert_eq!(a.critical_path_length, 30.0 * 60.0);
        assert_eq!(a.total_work, 80.0 * 60.0);
        assert_eq!(a.max_file_work, 50.0 * 60.0);
        assert_eq!(a.lower_bound, 50.0 * 60.0);
        assert_eq!(a.bound_by, "file:f");
        assert_eq!(a.hot_files[0].writers, 2);
        assert_eq!(a.hot_files[0].readers, 1);
        assert_eq!(a.max_parallelism, 4);
        // One agent: the serial time.
        assert_eq!(p.analyse(1).lower_bound, 80.0 * 60.0);
        assert_eq!(p.analyse(1).bound_by, "work");
    }
}
