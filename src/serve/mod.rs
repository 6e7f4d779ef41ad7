//! The live progress page: a small HTTP server that serves one page (plain HTML and
//! JavaScript shipped inside the binary) and a WebSocket that streams the core's events as
//! JSON, the same objects `--events` writes, after a snapshot of everything so far.
//!
//! ```text
//!  driver's event callback ──▶ Live::publish ──▶ LiveState::apply (the snapshot)
//!  (runner or replay thread)         │
//!                                    └─▶ broadcast ring (bounded) ──▶ one task per page:
//!                                         never waits for a page       snapshot, then events;
//!                                                                       lagged ⇒ fresh snapshot
//! ```
//!
//! The driver's side never waits for a browser: [`Live::publish`] folds the event into the
//! state and drops the serialized event into a bounded broadcast ring, and returns. Each
//! page is served by its own task on the server's own thread and tokio runtime; a page that
//! falls more than the ring's length behind (slow, or gone and not yet noticed) skips what
//! it missed and gets a fresh snapshot instead, so it catches up without holding anything
//! back. A send that stalls for [`SEND_TIMEOUT`] drops the page.
//!
//! Messages on the WebSocket, one JSON object each:
//!
//! - `{"snapshot": LiveState}` first, and again after a page fell behind;
//! - an event, exactly as in `events.jsonl` (it has an `"event"` field);
//! - `{"ended": "completed"}` when the driver says no more events will come.
//!
//! Access: the server binds loopback unless told otherwise. A non-loopback address
//! requires a token ([`ServeError::TokenRequired`]), which the page asks for and sends as
//! `?token=` on `/ws` and `/snapshot`; with a token set, both refuse requests without it.
//! WebSocket requests from another site's page (an `Origin` that is not this server) are
//! refused, so a page elsewhere cannot read the stream through the operator's browser.

mod error;
mod server;
mod state;

pub use error::ServeError;
pub use server::{SEND_TIMEOUT, ServeOptions, Server};
pub use state::{
    AgentView, BLOCK_ITEMS, BOARD_ITEMS, Bar, BarOutcome, BlockItem, BoardItem, Counts, LiveState,
    Source, TaskState, TaskView,
};

use crate::core::Event;
use axum::extract::ws::Utf8Bytes;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

/// Messages a page may fall behind by before it is resynchronized from a snapshot.
pub const CLIENT_BUFFER: usize = 4096;

/// The page, as shipped.
pub const PAGE: &str = include_str!("page.html");

/// One message for the pages: its version (see [`Live`]) and its JSON text.
type Message = (u64, Utf8Bytes);

/// The hub between a driver and the pages: the live state and the stream of changes.
/// Cheap to clone; every clone is the same hub.
#[derive(Clone)]
pub struct Live {
    shared: Arc<Mutex<Hub>>,
}

struct Hub {
    state: LiveState,
    /// Bumped by every change; a page skips the messages its snapshot already includes.
    version: u64,
    /// `None` once the stream has ended.
    tx: Option<broadcast::Sender<Message>>,
}

impl Live {
    /// A hub starting from `state`, letting a page fall `client_buffer` messages behind.
    pub fn new(state: LiveState, client_buffer: usize) -> Live {
        let (tx, _) = broadcast::channel(client_buffer.max(1));
        Live {
            shared: Arc::new(Mutex::new(Hub {
                state,
                version: 0,
                tx: Some(tx),
            })),
        }
    }

    fn hub(&self) -> MutexGuard<'_, Hub> {
        // A panic elsewhere while holding the lock leaves a state that is still readable.
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Folds `event` into the state and sends it to every page. Never waits for a page.
    pub fn publish(&self, event: &Event) {
        let text = Utf8Bytes::from(serde_json::to_string(event).expect("events serialize"));
        let mut hub = self.hub();
        hub.state.apply(event);
        hub.version += 1;
        let version = hub.version;
        if let Some(tx) = &hub.tx {
            // An error only means no page is connected.
            let _ = tx.send((version, text));
        }
    }

    /// Says no more events will come, and why (`completed`, `failed`, `interrupted`, …).
    /// Connected pages get `{"ended": why}`; the server keeps serving the final state.
    pub fn finish(&self, why: &str) {
        let mut hub = self.hub();
        if hub.tx.is_none() {
            return;
        }
        hub.state.ended = Some(why.to_string());
        hub.version += 1;
        let text = serde_json::json!({ "ended": why }).to_string();
        let version = hub.version;
        if let Some(tx) = hub.tx.take() {
            let _ = tx.send((version, Utf8Bytes::from(text)));
        }
    }

    /// A copy of the state now.
    pub fn state(&self) -> LiveState {
        self.hub().state.clone()
    }

    /// The stream of later changes (`None` once it has ended), then the snapshot message
    /// and its version: a page sends the snapshot, then the messages of a later version.
    /// Subscribing first means nothing falls between the two.
    fn subscribe(&self) -> (Option<broadcast::Receiver<Message>>, Message) {
        let (rx, version, state) = {
            let hub = self.hub();
            let rx = hub.tx.as_ref().map(broadcast::Sender::subscribe);
            (rx, hub.version, hub.state.clone())
        };
        // Serialized outside the lock: the driver is not kept waiting by a big snapshot.
        let text = serde_json::json!({ "snapshot": state }).to_string();
        (rx, (version, Utf8Bytes::from(text)))
    }
}

/// Parses a `--serve` address: `PORT`, `HOST`, `HOST:PORT`, `[IPv6]:PORT`, where HOST is an
/// IP address or `localhost`; a missing port is 0 (any free port); `PORT` alone is on
/// 127.0.0.1.
pub fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::new(localhost, port));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 0));
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) => (
            host,
            port.parse::<u16>()
                .map_err(|_| format!("`{port}` is not a port number"))?,
        ),
        None => (text, 0),
    };
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(SocketAddr::new(localhost, port));
    }
    Err(format!(
        "`{text}` is not an address: give PORT, HOST:PORT or HOST, with HOST an IP address or localhost"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_its_config_slot_and_loads_nothing_from_elsewhere() {
        assert_eq!(PAGE.matches("/*TASKDIST_CONFIG*/{}").count(), 1);
        for remote in ["http://", "https://", "//cdn", "@import"] {
            assert!(!PAGE.contains(remote), "the page refers to {remote}");
        }
    }

    #[test]
    fn addresses() {
        let ok = |s: &str| parse_addr(s).unwrap().to_string();
        assert_eq!(ok("8080"), "127.0.0.1:8080");
        assert_eq!(ok("0.0.0.0:80"), "0.0.0.0:80");
        assert_eq!(ok("127.0.0.1"), "127.0.0.1:0");
        assert_eq!(ok("localhost:9"), "127.0.0.1:9");
        assert_eq!(ok("[::1]:7"), "[::1]:7");
        assert_eq!(ok("::1"), "[::1]:0");
        assert!(parse_addr("example.com:80").is_err());
        assert!(parse_addr("localhost:http").is_err());
        assert!(parse_addr("").is_err());
    }
}
