//! `taskdist worker`, `taskdist keygen`, and the broker options of `run` and `resume`:
//! turning flags and key files into the settings of [`taskdist::remote::driver`].

use anyhow::Context;
use clap::Args;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use taskdist::model::TaskType;
use taskdist::remote::RemoteError;
use taskdist::remote::driver::{self, HubSettings, Log, WorkerSettings};
use taskdist::remote::protocol;
use tokio_util::sync::CancellationToken;

/// The keys of a coordinator (`run --broker`, `resume`).
#[derive(Debug, Args, Default)]
pub struct CoordinatorKeys {
    /// The coordinator's secret key (from `taskdist keygen`): assignments are signed with
    /// it. Without --key and --trust the broker must be on a loopback address.
    #[arg(long, value_name = "FILE", requires = "trust")]
    pub key: Option<PathBuf>,
    /// The workers' public keys, one `.pub` line each: only these workers may join, each
    /// under the name its line gives.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub trust: Option<PathBuf>,
    /// The CA certificate (PEM) a rediss:// broker's certificate must chain to [default:
    /// the usual web roots].
    #[arg(long, value_name = "FILE")]
    pub broker_ca: Option<PathBuf>,
}

/// Prints broker messages on stderr.
pub fn stderr_log(who: &'static str) -> Log {
    Arc::new(move |line: &str| eprintln!("taskdist {who}: {line}"))
}

impl CoordinatorKeys {
    /// Opens the broker and reads the keys; the hub's settings.
    pub fn settings(
        &self,
        url: &str,
        exec: Option<taskdist::model::CommandSpec>,
    ) -> Result<HubSettings, RemoteError> {
        let client = driver::open_broker(url, self.key.is_some(), self.broker_ca.as_deref())?;
        let key = self.key.as_deref().map(protocol::read_secret).transpose()?;
        let trust = match &self.trust {
            Some(path) => protocol::read_public(path)?,
            None => BTreeMap::new(),
        };
        Ok(HubSettings {
            client,
            key,
            trust,
            exec,
            log: stderr_log("coordinator"),
            stale: None,
        })
    }
}

/// Arguments of `taskdist worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The broker: redis://[:PASSWORD@]HOST:PORT[/DB] or rediss:// for TLS.
    #[arg(long, value_name = "URL")]
    broker: String,
    /// The CA certificate (PEM) a rediss:// broker's certificate must chain to [default:
    /// the usual web roots].
    #[arg(long, value_name = "FILE")]
    broker_ca: Option<PathBuf>,
    /// The worker id [default: the --key file's name, else worker-<pid>].
    #[arg(long, value_name = "ID")]
    id: Option<String>,
    /// Task types it runs, comma-separated [default: every type].
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    capabilities: Option<Vec<String>>,
    /// Attempts it runs at once.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    slots: u32,
    /// Its relative speed (informational for the scheduler's ranking).
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    speed: f64,
    /// Where commands run [default: the current directory].
    #[arg(long, value_name = "DIR")]
    workdir: Option<PathBuf>,
    /// The worker's secret key (from `taskdist keygen`); results are signed with it.
    #[arg(long, value_name = "FILE", requires = "coordinator_key")]
    key: Option<PathBuf>,
    /// The coordinator's public key: nothing that does not verify against it runs.
    #[arg(long, value_name = "FILE", requires = "key")]
    coordinator_key: Option<PathBuf>,
}

/// A usage error of `taskdist worker` (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadWorkerArgs(String);

/// Runs a worker until Ctrl-C or SIGTERM.
pub fn worker(args: &WorkerArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let client = driver::open_broker(&args.broker, args.key.is_some(), args.broker_ca.as_deref())?;
    let key = args.key.as_deref().map(protocol::read_secret).transpose()?;
    let coordinator = args
        .coordinator_key
        .as_deref()
        .map(protocol::read_one_public)
        .transpose()?;
    let id = match (&args.id, &args.key) {
        (Some(id), _) => id.clone(),
        (None, Some(key)) => key
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        (None, None) => format!("worker-{}", std::process::id()),
    };
    if !protocol::valid_worker_id(&id) {
        return Err(BadWorkerArgs(format!(
            "worker id `{id}`: use 1 to 64 of A-Z a-z 0-9 - _ ."
        ))
        .into());
    }
    if !(args.speed.is_finite() && args.speed > 0.0) {
        return Err(BadWorkerArgs(format!("--speed {}: must be above 0", args.speed)).into());
    }
    let capabilities = match &args.capabilities {
        None => None,
        Some(names) => Some(
            names
                .iter()
                .map(|n| {
                    let n = n.trim();
                    TaskType::ALL
                        .into_iter()
                        .find(|t| t.as_str() == n)
                        .ok_or_else(|| {
                            BadWorkerArgs(format!("--capabilities: unknown task type `{n}`"))
                        })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let workdir = match &args.workdir {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().context("reading the current directory")?,
    };
    let settings = WorkerSettings {
        client,
        id,
        capabilities,
        slots: args.slots,
        speed: args.speed,
        workdir,
        key,
        coordinator,
        log: stderr_log("worker"),
    };
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    tokio.block_on(async {
        let stop = CancellationToken::new();
        let signals = tokio::spawn(super::run::stop_on_signal(stop.clone()));
        let result = driver::run_worker(settings, stop).await;
        signals.abort();
        result
    })?;
    writeln!(out, "worker stopped")?;
    Ok(())
}

/// Arguments of `taskdist keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// The key's name: a worker's id, or e.g. `coordinator`.
    #[arg(value_name = "NAME")]
    name: String,
    /// Where to write NAME.key and NAME.pub.
    #[arg(long, value_name = "DIR", default_value = ".")]
    dir: PathBuf,
}

/// Writes a new Ed25519 key pair.
pub fn keygen(args: &KeygenArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    if !protocol::valid_worker_id(&args.name) {
        return Err(BadWorkerArgs(format!(
            "key name `{}`: use 1 to 64 of A-Z a-z 0-9 - _ .",
            args.name
        ))
        .into());
    }
    let (secret, public) = protocol::keygen(&args.dir, &args.name, rand::random())?;
    writeln!(
        out,
        "wrote {} (secret: keep it on this machine) and {} (public: give it to the other side)",
        secret.display(),
        public.display()
    )?;
    Ok(())
}

/// Whether the error is bad input (exit 2).
pub fn is_bad_input(err: &anyhow::Error) -> bool {
    err.downcast_ref::<BadWorkerArgs>().is_some()
        || matches!(
            err.downcast_ref::<RemoteError>(),
            Some(
                RemoteError::BadUrl { .. }
                    | RemoteError::NotLoopback { .. }
                    | RemoteError::Key(_)
                    | RemoteError::Rejected { .. }
                    | RemoteError::CoordinatorKey { .. }
            )
        )
}
