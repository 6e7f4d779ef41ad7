//! Why the live page could not be served.

use std::io;
use std::net::SocketAddr;

/// Why [`Server::start`](super::Server::start) refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The address is reachable from other machines and no token was given.
    #[error(
        "{addr} is not a loopback address: serving there needs a token (--token or TASKDIST_TOKEN), which the page then asks for"
    )]
    TokenRequired {
        /// The address.
        addr: SocketAddr,
    },
    /// The token is unusable.
    #[error("the token must be 8 to 256 characters from A-Z a-z 0-9 - . _ ~ (it travels in URLs)")]
    BadToken,
    /// The address could not be listened on (in use, not this machine's, not permitted).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// The server's thread or runtime could not be started.
    #[error("cannot start the page server: {0}")]
    Start(#[source] io::Error),
}

impl ServeError {
    /// Whether the user can fix it by changing the command line (the CLI exits 2).
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, ServeError::Start(_))
    }
}
