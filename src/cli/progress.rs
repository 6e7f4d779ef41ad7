//! Progress on stderr while a big plan loads and simulates: a spinner while the file is
//! read and validated, a bar of tasks ended while it simulates. Only on a terminal (stderr
//! is a tty) and only for big plans, where the wait is long enough to wonder; otherwise
//! nothing is drawn, so piped output and small runs stay exactly as they were.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;
use taskdist::core::{Event, EventKind};

/// A file at least this large shows a spinner while it loads (about 50k generated tasks).
pub const BIG_FILE_BYTES: u64 = 8 << 20;
/// A plan with at least this many tasks shows a bar while it simulates.
pub const BIG_PLAN_TASKS: usize = 50_000;
/// Events between two updates of the bar: a simulation raises millions of them.
const EVENTS_PER_UPDATE: u32 = 4_096;

/// Whether progress is drawn: on a terminal, for a big plan.
pub fn wanted(terminal: bool, big: bool) -> bool {
    terminal && big
}

/// A spinner while `path` loads, if it is big and stderr is a terminal.
pub fn loading(path: &Path) -> Option<ProgressBar> {
    let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
    if !wanted(std::io::stderr().is_terminal(), bytes >= BIG_FILE_BYTES) {
        return None;
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("a valid template"),
    );
    bar.set_message(format!(
        "loading {} ({} MiB): reading, parsing, validating",
        path.display(),
        bytes >> 20
    ));
    bar.enable_steady_tick(Duration::from_millis(120));
    Some(bar)
}

/// Counts the tasks a simulation has ended, from its events, onto a bar.
pub struct Simulating {
    bar: Option<ProgressBar>,
    ended: u64,
    since_update: u32,
}

impl Simulating {
    /// A bar over `tasks` if the plan is big and stderr is a terminal; else counts only.
    pub fn new(tasks: usize) -> Simulating {
        let bar = wanted(std::io::stderr().is_terminal(), tasks >= BIG_PLAN_TASKS).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(tasks as u64), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "simulating [{bar:40}] {pos}/{len} tasks ended, {eta} left",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar
        });
        Simulating {
            bar,
            ended: 0,
            since_update: 0,
        }
    }

    /// Takes one event of the run.
    pub fn observe(&mut self, event: &Event) {
        match &event.kind {
            EventKind::TaskComplete { .. } | EventKind::TaskSkipped { .. } => self.ended += 1,
            EventKind::TaskFailed { will_retry, .. } if !will_retry => self.ended += 1,
            _ => {}
        }
        self.since_update += 1;
        if self.since_update == EVENTS_PER_UPDATE {
            self.since_update = 0;
            if let Some(bar) = &self.bar {
                bar.set_position(self.ended);
            }
        }
    }

    /// Removes the bar (the summary follows on stdout).
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use taskdist::plan::Text;

    #[test]
    fn drawn_only_on_a_terminal_for_big_plans() {
        assert!(wanted(true, true));
        assert!(!wanted(false, true));
        assert!(!wanted(true, false));
    }

    #[test]
    fn counts_tasks_that_ended_for_good() {
        let mut s = Simulating::new(3);
        assert!(s.bar.is_none(), "small plans draw nothing");
        let task = Text::from("a");
        let agent: Arc<str> = Arc::from("x");
        let event = |kind| Event { time: 0, kind };
        s.observe(&event(EventKind::TaskComplete {
            task: task.clone(),
            agent: agent.clone(),
            attempt: 1,
            duration: 5,
            result: None,
        }));
        let failed = |will_retry| EventKind::TaskFailed {
            task: task.clone(),
            agent: agent.clone(),
            attempt: 1,
            error: "e".into(),
            retry_count: 1,
            will_retry,
        };
        s.observe(&event(failed(true)));
        s.observe(&event(failed(false)));
        s.observe(&event(EventKind::TaskSkipped {
            task: task.clone(),
            because: task.clone(),
        }));
        assert_eq!(s.ended, 3);
        s.finish();
    }
}
