//! The HTTP side: `/` (the page), `/ws` (the stream) and `/snapshot` (the state as JSON),
//! on a thread and current-thread tokio runtime of their own, so that serving pages never
//! takes time from the driver's thread.

use super::{Live, Message, PAGE, ServeError};
use axum::Router;
use axum::extract::ws::{self, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::{broadcast, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A page whose socket accepts nothing for this long is dropped.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The address to listen on (port 0: any free port).
    pub addr: SocketAddr,
    /// The token pages must present; required unless `addr` is loopback.
    pub token: Option<String>,
}

/// The running server. Dropping it stops it at once; [`Server::stop`] lets pages receive
/// what is still on its way first.
pub struct Server {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<Duration>>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Clone)]
struct App {
    live: Live,
    token: Option<Arc<str>>,
    page: Arc<str>,
    closing: CancellationToken,
    tracker: TaskTracker,
}

impl Server {
    /// Checks the options, binds the address (so a busy port is reported now) and starts
    /// serving `live` on a thread of its own.
    pub fn start(live: Live, options: ServeOptions) -> Result<Server, ServeError> {
        let ServeOptions { addr, token } = options;
        if let Some(token) = &token {
            let usable = (8..=256).contains(&token.len())
                && token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
            if !usable {
                return Err(ServeError::BadToken);
            }
        } else if !addr.ip().is_loopback() {
            return Err(ServeError::TokenRequired { addr });
        }
        let listener =
            TcpListener::bind(addr).map_err(|source| ServeError::Bind { addr, source })?;
        let bound = listener
            .local_addr()
            .and_then(|a| listener.set_nonblocking(true).map(|()| a))
            .map_err(|source| ServeError::Bind { addr, source })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ServeError::Start)?;
        let config = serde_json::json!({ "token_required": token.is_some() }).to_string();
        let app = App {
            live,
            token: token.map(Arc::from),
            page: Arc::from(PAGE.replace("/*TASKDIST_CONFIG*/{}", &config)),
            closing: CancellationToken::new(),
            tracker: TaskTracker::new(),
        };
        let (shutdown, shutdown_rx) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("taskdist-serve".to_string())
            .spawn(move || runtime.block_on(serve(listener, app, shutdown_rx)))
            .map_err(ServeError::Start)?;
        Ok(Server {
            addr: bound,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The page's address, e.g. `http://127.0.0.1:40123/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Stops accepting, gives connected pages up to `grace` to receive what is queued for
    /// them, closes them and returns.
    pub fn stop(mut self, grace: Duration) {
        self.stop_within(grace);
    }

    fn stop_within(&mut self, grace: Duration) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(grace);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_within(Duration::ZERO);
    }
}

async fn serve(listener: TcpListener, app: App, shutdown: oneshot::Receiver<Duration>) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    let grace = Arc::new(Mutex::new(Duration::ZERO));
    let signal = {
        let (grace, closing) = (grace.clone(), app.closing.clone());
        async move {
            if let Ok(g) = shutdown.await {
                *grace.lock().unwrap_or_else(|e| e.into_inner()) = g;
            }
            closing.cancel();
        }
    };
    let tracker = app.tracker.clone();
    let app_closing = app.closing.clone();
    let router = Router::new()
        .route("/", get(page))
        .route("/ws", get(stream))
        .route("/snapshot", get(snapshot))
        .with_state(app);
    let closing = app_closing;
    let serving = axum::serve(listener, router).with_graceful_shutdown(signal);
    // A half-sent request must not keep the process from exiting: once told to stop, the
    // server waits at most a second for the HTTP side. Dropping the runtime after this
    // function ends whatever is left.
    tokio::select! {
        // Errors of single connections are handled inside; an accept loop error ends
        // serving, which the driver does not depend on.
        _ = serving => {}
        () = async {
            closing.cancelled().await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        } => {}
    }
    tracker.close();
    let grace = *grace.lock().unwrap_or_else(|e| e.into_inner());
    let _ = tokio::time::timeout(grace, tracker.wait()).await;
}

fn headers(content_type: &'static str) -> [(header::HeaderName, HeaderValue); 5] {
    [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; \
                 frame-ancestors 'none'",
            ),
        ),
    ]
}

async fn page(State(app): State<App>) -> Response {
    (headers("text/html; charset=utf-8"), app.page.to_string()).into_response()
}

async fn snapshot(State(app): State<App>, Access(granted): Access) -> Response {
    if let Err(refusal) = granted {
        return refusal.into_response();
    }
    let json = serde_json::to_string(&app.live.state()).expect("the state serializes");
    (headers("application/json"), json).into_response()
}

async fn stream(
    State(app): State<App>,
    Access(granted): Access,
    upgrade: WebSocketUpgrade,
) -> Response {
    if let Err(refusal) = granted {
        return refusal.into_response();
    }
    let tracker = app.tracker.clone();
    upgrade
        // Pages send nothing that matters; anything big is not a page of ours.
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| tracker.track_future(feed(socket, app.live, app.closing)))
}

/// Whether the request may see the run: the right token, if one is set, and no foreign
/// `Origin`. Carries the refusal to send otherwise.
struct Access(Result<(), Refusal>);

/// A status and a one-line explanation.
type Refusal = (StatusCode, &'static str);

impl FromRequestParts<App> for Access {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Access, Self::Rejection> {
        Ok(Access(check_access(
            &parts.uri,
            &parts.headers,
            app.token.as_deref(),
        )))
    }
}

fn check_access(uri: &Uri, headers: &HeaderMap, token: Option<&str>) -> Result<(), Refusal> {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let origin_host = origin.to_str().ok().and_then(|o| {
            o.strip_prefix("http://")
                .or_else(|| o.strip_prefix("https://"))
        });
        if host.is_none() || origin_host != host {
            return Err((StatusCode::FORBIDDEN, "cross-origin requests are refused\n"));
        }
    }
    if let Some(expected) = token {
        let given = uri
            .query()
            .unwrap_or("")
            .split('&')
            .find_map(|pair| pair.strip_prefix("token="))
            .unwrap_or("");
        if !same(given.as_bytes(), expected.as_bytes()) {
            return Err((StatusCode::UNAUTHORIZED, "a valid token is required\n"));
        }
    }
    Ok(())
}

/// Compares without stopping at the first difference, so timing tells nothing of the token.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What a page's task does after a send or a receive.
enum Next {
    Go,
    Resync,
    Quit,
}

/// Serves one page: a snapshot, then every later message; a fresh snapshot whenever it
/// fell behind; at shutdown, what is still queued for it and a close frame.
async fn feed(mut socket: WebSocket, live: Live, closing: CancellationToken) {
    'resync: loop {
        let (rx, (version, snapshot)) = live.subscribe();
        if send(&mut socket, snapshot).await.is_err() {
            return;
        }
        let mut rx = rx;
        loop {
            let next = tokio::select! {
                biased;
                () = closing.cancelled() => {
                    if let Some(rx) = &mut rx {
                        while let Ok((v, text)) = rx.try_recv() {
                            if v > version && send(&mut socket, text).await.is_err() {
                                return;
                            }
                        }
                    }
                    let _ = socket.send(ws::Message::Close(None)).await;
                    return;
                }
                message = recv(&mut rx) => match message {
                    Ok((v, _)) if v <= version => Next::Go,
                    Ok((_, text)) => match send(&mut socket, text).await {
                        Ok(()) => Next::Go,
                        Err(()) => Next::Quit,
                    },
                    Err(broadcast::error::RecvError::Lagged(_)) => Next::Resync,
                    Err(broadcast::error::RecvError::Closed) => {
                        // The stream has ended: keep the page until it or the server goes.
                        rx = None;
                        Next::Go
                    }
                },
                incoming = socket.recv() => match incoming {
                    None | Some(Err(_)) | Some(Ok(ws::Message::Close(_))) => Next::Quit,
                    Some(Ok(_)) => Next::Go,
                },
            };
            match next {
                Next::Go => {}
                Next::Resync => continue 'resync,
                Next::Quit => return,
            }
        }
    }
}

/// The next message, or never once the stream has ended.
async fn recv(
    rx: &mut Option<broadcast::Receiver<Message>>,
) -> Result<Message, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn send(socket: &mut WebSocket, text: ws::Utf8Bytes) -> Result<(), ()> {
    match tokio::time::timeout(SEND_TIMEOUT, socket.send(ws::Message::Text(text))).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str, origin: Option<&str>) -> (Uri, HeaderMap) {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:5000"));
        if let Some(o) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        (uri.parse().unwrap(), headers)
    }

    #[test]
    fn tokens_and_origins() {
        let ok = |uri, origin, token| {
            let (u, h) = req(uri, origin);
            check_access(&u, &h, token).is_ok()
        };
        assert!(ok("/ws", None, None));
        assert!(ok("/ws", Some("http://127.0.0.1:5000"), None));
        assert!(!ok("/ws", Some("http://evil.example"), None));
        assert!(!ok("/ws", Some("null"), None));
        assert!(ok("/ws?token=abcdefgh", None, Some("abcdefgh")));
        assert!(ok("/ws?x=1&token=abcdefgh", None, Some("abcdefgh")));
        assert!(!ok("/ws?token=abcdefgX", None, Some("abcdefgh")));
        assert!(!ok("/ws", None, Some("abcdefgh")));
    }

    #[test]
    fn non_loopback_needs_a_good_token() {
        let live = || {
            Live::new(
                super::super::LiveState::new(
                    &crate::plan::Plan::build(
                        &crate::model::Scenario::parse(
                            "[[agents]]\n[[tasks]]\nid='a'\nestimated_duration='1m'\n",
                            crate::model::Format::Toml,
                            "t",
                        )
                        .unwrap()
                        .0,
                    )
                    .unwrap(),
                    "t",
                    super::super::Source::Run,
                    1.0,
                ),
                16,
            )
        };
        let open = |addr: &str, token: Option<&str>| {
            Server::start(
                live(),
                ServeOptions {
                    addr: addr.parse().unwrap(),
                    token: token.map(str::to_string),
                },
            )
        };
        assert!(matches!(
            open("0.0.0.0:0", None),
            Err(ServeError::TokenRequired { .. })
        ));
        assert!(matches!(
            open("127.0.0.1:0", Some("short")),
            Err(ServeError::BadToken)
        ));
        assert!(matches!(
            open("127.0.0.1:0", Some("has space in it")),
            Err(ServeError::BadToken)
        ));
        let server = open("127.0.0.1:0", None).unwrap();
        assert_ne!(server.local_addr().port(), 0);
        let busy = server.local_addr().to_string();
        assert!(matches!(open(&busy, None), Err(ServeError::Bind { .. })));
        server.stop(Duration::ZERO);
    }
}
