//! Sweeps across machines: the shard file one machine of a batch array writes
//! (`taskdist sweep … --shard I/N --out DIR` writes `DIR/shard.json`), and the checks that
//! put shards back together (`taskdist sweep-merge`).
//!
//! A shard file carries everything the merge needs and nothing it must guess: the sweep's
//! canonical arguments, the scenario's text and SHA-256, the `[simulation]` table that
//! replaced the scenario's when the sweep ran with `--calibration`, which shard it is, and
//! the results of its runs (the summary, or the error, and the realized critical path of
//! each) with their numbers in the sweep's run list. Every shard of one sweep has the same
//! `sweep_id` (the SHA-256 of the arguments, the scenario and the calibration's table), so
//! shards of different
//! sweeps, missing shards and shards given twice are refused before anything is written.
//! Floats go through JSON exactly (serde_json's `float_roundtrip`), so the merged files are
//! byte for byte those of the unsharded sweep.

use super::Summary;
use super::sha256_hex;
use super::sweep::Shard;
use crate::model::SimulationFile;
use crate::sim::SimError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The version of the shard file format this taskdist writes and reads.
pub const SHARD_FORMAT: u32 = 1;

/// The name of the shard file inside a shard directory.
pub const SHARD_FILE: &str = "shard.json";

/// Why shards could not be read or merged. Every variant is bad input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShardError {
    /// A shard directory without a readable shard file.
    #[error(
        "{dir}: no readable {SHARD_FILE} ({reason}); is it the --out of `taskdist sweep --shard`?"
    )]
    Unreadable {
        /// The directory given.
        dir: PathBuf,
        /// The OS error.
        reason: String,
    },
    /// A shard file that is not one, or is damaged.
    #[error("{dir}/{SHARD_FILE} is not a taskdist sweep shard or is damaged: {reason}")]
    Damaged {
        /// The directory given.
        dir: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Two shards of different sweeps (other arguments or another scenario).
    #[error(
        "{first} and {other} are shards of different sweeps:\n  {first_command}\n  {other_command}{scenario}"
    )]
    DifferentSweeps {
        /// The first shard's directory.
        first: PathBuf,
        /// The other shard's directory.
        other: PathBuf,
        /// The first shard's command.
        first_command: String,
        /// The other shard's command.
        other_command: String,
        /// A note when the commands agree but the scenario's content differs.
        scenario: String,
    },
    /// Shards of one sweep cut into different numbers of shards.
    #[error(
        "{first} is shard {first_shard} but {other} is shard {other_shard}: cut into different numbers of shards"
    )]
    CountMismatch {
        /// One directory.
        first: PathBuf,
        /// Its shard.
        first_shard: Shard,
        /// Another directory.
        other: PathBuf,
        /// Its shard.
        other_shard: Shard,
    },
    /// The same shard given twice.
    #[error("shard {shard} is given twice: {first} and {other}")]
    Duplicate {
        /// The shard.
        shard: Shard,
        /// One directory.
        first: PathBuf,
        /// The other.
        other: PathBuf,
    },
    /// Shards missing from the set.
    #[error("missing {} of {count} shards: {}", missing.len(), list(missing))]
    Missing {
        /// How many shards the sweep was cut into.
        count: u32,
        /// The indices not given.
        missing: Vec<u32>,
    },
}

fn list(indices: &[u32]) -> String {
    const SHOWN: usize = 20;
    let mut text: Vec<String> = indices.iter().take(SHOWN).map(u32::to_string).collect();
    if indices.len() > SHOWN {
        text.push(format!("… ({} more)", indices.len() - SHOWN));
    }
    text.join(", ")
}

/// One run's result in a shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardRun {
    /// Its number in the sweep's run list.
    pub index: u64,
    /// The summary, if the run finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
    /// Why it stopped early, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<SimError>,
    /// The tasks on its realized critical path (plan indices, ascending).
    #[serde(default)]
    pub critical: Vec<u32>,
}

/// The content of `shard.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardFile {
    /// [`SHARD_FORMAT`].
    pub taskdist_sweep_shard: u32,
    /// SHA-256 of the arguments and the scenario's SHA-256: equal for every shard of a sweep.
    pub sweep_id: String,
    /// The sweep's canonical arguments (after `taskdist`), without `--out`, `--shard` or `-j`.
    pub args: Vec<String>,
    /// SHA-256 of the scenario file's text.
    pub scenario_sha256: String,
    /// The scenario file's text, so the merge needs no copy of it.
    pub scenario: String,
    /// The `[simulation]` table that replaced the scenario's (`sweep --calibration`), so
    /// the merge needs no copy of the calibration file. Absent without `--calibration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulation: Option<SimulationFile>,
    /// Which shard this is.
    pub shard: Shard,
    /// Runs in the whole sweep.
    pub runs_total: u64,
    /// This shard's runs, by index.
    pub runs: Vec<ShardRun>,
}

impl ShardFile {
    /// A shard file; the sweep id is computed from `args`, the scenario and `simulation`
    /// (the calibration's table, if the sweep had one).
    pub fn new(
        args: Vec<String>,
        scenario: String,
        simulation: Option<SimulationFile>,
        shard: Shard,
        runs_total: u64,
        runs: Vec<ShardRun>,
    ) -> ShardFile {
        let scenario_sha256 = sha256_hex(scenario.as_bytes());
        ShardFile {
            taskdist_sweep_shard: SHARD_FORMAT,
            sweep_id: sweep_id(&args, &scenario_sha256, simulation.as_ref()),
            args,
            scenario_sha256,
            scenario,
            simulation,
            shard,
            runs_total,
            runs,
        }
    }

    /// The command the shard's sweep reproduces, as the report quotes it.
    pub fn command(&self) -> String {
        format!("taskdist {}", self.args.join(" "))
    }

    /// Reads `dir/shard.json` and checks that it is whole: the right format, and exactly
    /// the runs its shard takes.
    pub fn read(dir: &Path) -> Result<ShardFile, ShardError> {
        let path = dir.join(SHARD_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| ShardError::Unreadable {
            dir: dir.to_path_buf(),
            reason: e.to_string(),
        })?;
        let damaged = |reason: String| ShardError::Damaged {
            dir: dir.to_path_buf(),
            reason,
        };
        let file: ShardFile = serde_json::from_str(&text).map_err(|e| damaged(e.to_string()))?;
        if file.taskdist_sweep_shard != SHARD_FORMAT {
            return Err(damaged(format!(
                "format {} (this taskdist reads format {SHARD_FORMAT})",
                file.taskdist_sweep_shard
            )));
        }
        if file.sweep_id != sweep_id(&file.args, &file.scenario_sha256, file.simulation.as_ref())
            || file.scenario_sha256 != sha256_hex(file.scenario.as_bytes())
        {
            return Err(damaged("its checksums do not match its content".into()));
        }
        if file.shard.count == 0 || file.shard.index >= file.shard.count {
            return Err(damaged(format!("shard {} is out of range", file.shard)));
        }
        let expected =
            (file.shard.index as u64..file.runs_total).step_by(file.shard.count as usize);
        let whole = file.runs.len() as u64 == expected.clone().count() as u64
            && file.runs.iter().map(|r| r.index).eq(expected);
        if !whole {
            return Err(damaged(format!(
                "it does not hold exactly the runs of shard {}",
                file.shard
            )));
        }
        if let Some(run) = file
            .runs
            .iter()
            .find(|r| r.summary.is_some() == r.error.is_some())
        {
            return Err(damaged(format!(
                "run {} has {} a summary and an error",
                run.index,
                if run.summary.is_some() {
                    "both"
                } else {
                    "neither"
                }
            )));
        }
        Ok(file)
    }
}

/// The identity of a sweep. Without a calibration's table it is what shard files always
/// had, so older shards still merge.
fn sweep_id(args: &[String], scenario_sha256: &str, simulation: Option<&SimulationFile>) -> String {
    let mut identity = serde_json::json!({ "args": args, "scenario_sha256": scenario_sha256 });
    if let Some(table) = simulation {
        identity["simulation"] =
            serde_json::to_value(table).expect("a simulation table serializes");
    }
    sha256_hex(identity.to_string().as_bytes())
}

/// A complete set of shards, put back together.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    /// The sweep's canonical arguments.
    pub args: Vec<String>,
    /// The scenario's text.
    pub scenario: String,
    /// The calibration's `[simulation]` table, if the sweep ran with one.
    pub simulation: Option<SimulationFile>,
    /// Every run of the sweep, in its order.
    pub runs: Vec<ShardRun>,
}

/// Reads the shards in `dirs` and puts them together, refusing shards of different sweeps,
/// different shard counts, a shard given twice or a shard missing.
pub fn merge(dirs: &[PathBuf]) -> Result<Merged, ShardError> {
    let mut shards: BTreeMap<u32, (PathBuf, ShardFile)> = BTreeMap::new();
    let mut first: Option<(PathBuf, String, String, Shard)> = None;
    for dir in dirs {
        let file = ShardFile::read(dir)?;
        match &first {
            None => {
                first = Some((
                    dir.clone(),
                    file.sweep_id.clone(),
                    file.command(),
                    file.shard,
                ));
            }
            Some((first_dir, id, command, shard)) => {
                if *id != file.sweep_id {
                    let scenario = if *command == file.command() {
                        "\n  (the same command on scenarios with different content)".to_string()
                    } else {
                        String::new()
                    };
                    return Err(ShardError::DifferentSweeps {
                        first: first_dir.clone(),
                        other: dir.clone(),
                        first_command: command.clone(),
                        other_command: file.command(),
                        scenario,
                    });
                }
                if shard.count != file.shard.count {
                    return Err(ShardError::CountMismatch {
                        first: first_dir.clone(),
                        first_shard: *shard,
                        other: dir.clone(),
                        other_shard: file.shard,
                    });
                }
            }
        }
        if let Some((other, _)) = shards.get(&file.shard.index) {
            return Err(ShardError::Duplicate {
                shard: file.shard,
                first: other.clone(),
                other: dir.clone(),
            });
        }
        shards.insert(file.shard.index, (dir.clone(), file));
    }
    let Some((_, _, _, shard)) = first else {
        return Err(ShardError::Missing {
            count: 1,
            missing: vec![0],
        });
    };
    let missing: Vec<u32> = (0..shard.count)
        .filter(|i| !shards.contains_key(i))
        .collect();
    if !missing.is_empty() {
        return Err(ShardError::Missing {
            count: shard.count,
            missing,
        });
    }
    let mut files = shards.into_values().map(|(_, file)| file);
    let head = files.next().expect("at least one shard");
    let mut runs = head.runs;
    for file in files {
        runs.extend(file.runs);
    }
    runs.sort_by_key(|r| r.index);
    debug_assert!(
        runs.iter().map(|r| r.index).eq(0..head.runs_total),
        "whole shards of one count hold every run once"
    );
    Ok(Merged {
        args: head.args,
        scenario: head.scenario,
        simulation: head.simulation,
        runs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(dir: &Path, args: &[&str], scenario: &str, shard: Shard, total: u64) {
        let runs = (shard.index as u64..total)
            .step_by(shard.count as usize)
            .map(|index| ShardRun {
                index,
                summary: Some(Summary {
                    makespan: 0.1 + index as f64 / 3.0,
                    ..Summary::default()
                }),
                error: None,
                critical: vec![index as u32],
            })
            .collect();
        let file = ShardFile::new(
            args.iter().map(|s| s.to_string()).collect(),
            scenario.to_string(),
            None,
            shard,
            total,
            runs,
        );
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(SHARD_FILE), serde_json::to_string(&file).unwrap()).unwrap();
    }

    use crate::scratch::scratch;

    #[test]
    fn shards_merge_in_run_order_with_exact_floats() {
        let root = scratch("ok");
        let dirs: Vec<PathBuf> = (0..3).map(|i| root.join(format!("s{i}"))).collect();
        for (i, dir) in dirs.iter().enumerate().rev() {
            shard(
                dir,
                &["sweep", "x.toml"],
                "text",
                Shard {
                    index: i as u32,
                    count: 3,
                },
                10,
            );
        }
        let merged = merge(&[dirs[2].clone(), dirs[0].clone(), dirs[1].clone()]).unwrap();
        assert!(merged.runs.iter().map(|r| r.index).eq(0..10));
        let makespans: Vec<f64> = merged
            .runs
            .iter()
            .map(|r| r.summary.as_ref().unwrap().makespan)
            .collect();
        let exact: Vec<f64> = (0..10).map(|i| 0.1 + i as f64 / 3.0).collect();
        assert_eq!(makespans, exact);
    }

    #[test]
    fn different_sweeps_missing_and_duplicate_shards_are_refused() {
        let root = scratch("bad");
        let a = |i: u32| root.join(format!("a{i}"));
        for i in 0..3 {
            shard(
                &a(i),
                &["sweep", "x.toml"],
                "text",
                Shard { index: i, count: 3 },
                9,
            );
        }
        shard(
            &root.join("other"),
            &["sweep", "x.toml"],
            "changed",
            Shard { index: 2, count: 3 },
            9,
        );
        shard(
            &root.join("four"),
            &["sweep", "x.toml"],
            "text",
            Shard { index: 3, count: 4 },
            9,
        );
        let err = merge(&[a(0), a(1), root.join("other")]).unwrap_err();
        assert!(matches!(err, ShardError::DifferentSweeps { .. }), "{err}");
        assert!(err.to_string().contains("different content"), "{err}");
        let err = merge(&[a(0), a(2)]).unwrap_err();
        assert_eq!(err.to_string(), "missing 1 of 3 shards: 1");
        let err = merge(&[a(0), a(1), a(1), a(2)]).unwrap_err();
        assert!(matches!(err, ShardError::Duplicate { .. }), "{err}");
        assert!(
            err.to_string().contains("shard 1/3 is given twice"),
            "{err}"
        );
        let err = merge(&[a(0), root.join("four")]).unwrap_err();
        assert!(matches!(err, ShardError::CountMismatch { .. }), "{err}");
        let err = merge(&[root.join("nothing")]).unwrap_err();
        assert!(matches!(err, ShardError::Unreadable { .. }), "{err}");
        // A shard whose runs were tampered with is damaged.
        let path = a(1).join(SHARD_FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("\"index\":4", "\"index\":5")).unwrap();
        let err = merge(&[a(0), a(1), a(2)]).unwrap_err();
        assert!(matches!(err, ShardError::Damaged { .. }), "{err}");
        std::fs::write(&path, "{}").unwrap();
        assert!(matches!(
            ShardFile::read(&a(1)),
            Err(ShardError::Damaged { .. })
        ));
    }
}
