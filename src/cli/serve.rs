//! `--serve [ADDR]`, `--token` and `--linger` for `run` and `simulate`: starting the live
//! page's server before anything runs, and winding it down when the run is over.

use anyhow::Context;
use clap::Args;
use std::net::SocketAddr;
use std::time::Duration;
use taskdist::serve::{CLIENT_BUFFER, Live, LiveState, ServeOptions, Server, parse_addr};

/// How long connected pages get to receive the last events when the server stops.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// The live page's options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Serve a live progress page at ADDR (PORT, HOST:PORT or HOST) [default:
    /// 127.0.0.1 on any free port; the address is printed at start].
    #[arg(
        long,
        value_name = "ADDR",
        num_args = 0..=1,
        default_missing_value = "127.0.0.1:0",
        value_parser = parse_addr
    )]
    pub serve: Option<SocketAddr>,
    /// The token the page asks for; required to serve on a non-loopback address (8 to 256
    /// characters from A-Z a-z 0-9 - . _ ~).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "TASKDIST_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Once the run is over, keep the page up this many seconds (Ctrl-C ends it sooner).
    #[arg(long, value_name = "SECS", requires = "serve", default_value_t = 0.0, value_parser = parse_secs)]
    pub linger: f64,
}

fn parse_secs(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && (0.0..=86_400.0 * 365.0).contains(&s) => Ok(s),
        _ => Err(format!(
            "`{text}` is not a number of seconds from 0 up to a year"
        )),
    }
}

/// A live page being served.
pub struct Page {
    live: Live,
    server: Server,
    linger: Duration,
}

impl ServeArgs {
    /// Starts the server if `--serve` was given and says where on stderr.
    pub fn start(&self, state: LiveState) -> anyhow::Result<Option<Page>> {
        let Some(addr) = self.serve else {
            return Ok(None);
        };
        let live = Live::new(state, CLIENT_BUFFER);
        let server = Server::start(
            live.clone(),
            ServeOptions {
                addr,
                token: self.token.clone(),
            },
        )?;
        let bound = server.local_addr();
        if bound.ip().is_unspecified() {
            eprintln!(
                "live page: http://{bound}/ (on every interface: open it with this machine's name or address)"
            );
        } else {
            eprintln!("live page: {}", server.url());
        }
        Ok(Some(Page {
            live,
            server,
            linger: Duration::from_secs_f64(self.linger),
        }))
    }
}

impl Page {
    /// The hub to publish events to.
    pub fn live(&self) -> Live {
        self.live.clone()
    }

    /// Tells the pages the run is over (`why`), keeps serving for `--linger` seconds or
    /// until Ctrl-C (unless `linger` is false: the user has already pressed Ctrl-C), then
    /// stops.
    pub fn finish(self, why: &str, linger: bool) -> anyhow::Result<()> {
        self.live.finish(why);
        if linger && !self.linger.is_zero() {
            eprintln!(
                "the run is over ({why}); the live page stays up for {} s at {} (Ctrl-C to stop)",
                self.linger.as_secs_f64(),
                self.server.url()
            );
            let tokio = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the tokio runtime")?;
            tokio.block_on(async {
                tokio::select! {
                    () = tokio::time::sleep(self.linger) => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            });
        }
        self.server.stop(STOP_GRACE);
        Ok(())
    }
}

/// Whether the error is a `--serve` problem the user fixes on the command line (exit 2).
pub fn is_bad_input(err: &anyhow::Error) -> bool {
    err.downcast_ref::<taskdist::serve::ServeError>()
        .is_some_and(|e| e.is_bad_input())
}
