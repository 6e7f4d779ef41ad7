//! Remote workers over Redis Streams (see `docs/protocol.md`): the wire protocol and its
//! signatures ([`protocol`]), the two sides as sans-IO state machines ([`coordinator`],
//! [`worker`]) driven with integer time like the core, and the thin tokio drivers that
//! alone talk to Redis ([`driver`]).
//!
//! ```text
//!  coordinator (taskdist run/resume)                 workers (taskdist worker)
//!  Runner ─ RemoteAgent ─ Hub ─┬─ taskdist:inbox:W ─▶ Worker ─ CommandAgent
//!          (one per worker)    ◀─ taskdist:up (group) ─┤
//!                              ◀─ taskdist:beats ──────┤
//!                              └─ taskdist:control ──▶ ┘
//! ```

pub mod coordinator;
pub mod driver;
pub mod protocol;
pub mod worker;

/// The `agent_type` of every remote worker in a run.
pub const REMOTE_AGENT_TYPE: &str = "remote";

/// What stops a coordinator or a worker from using the broker.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The broker URL cannot be read.
    #[error("broker URL `{url}`: {reason}")]
    BadUrl {
        /// The URL, password hidden.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// An unsigned run on a broker other hosts can reach.
    #[error(
        "broker `{url}` is not on a loopback address: without keys anyone who can write to it could run commands; give --key and --trust (coordinator) or --key and --coordinator-key (worker), made by `taskdist keygen`"
    )]
    NotLoopback {
        /// The URL, password hidden.
        url: String,
    },
    /// The broker cannot be reached or refused a command.
    #[error("broker: {reason}")]
    Broker {
        /// Redis's message.
        reason: String,
    },
    /// A key file cannot be used.
    #[error(transparent)]
    Key(#[from] protocol::KeyError),
    /// Every coordinator message the worker read failed to verify against its
    /// `--coordinator-key`.
    #[error(
        "{seen} coordinator messages in a row did not verify against --coordinator-key and none did: it is not the public key of the coordinator's --key; nothing was run"
    )]
    CoordinatorKey {
        /// How many were read.
        seen: u32,
    },
    /// The coordinator refused this worker.
    #[error("the coordinator refused this worker: {reason}")]
    Rejected {
        /// Its reason.
        reason: String,
    },
}
