//! The thin tokio drivers around the two state machines: the only code that talks to
//! Redis. Each blocking read has a connection of its own (a blocked connection answers
//! nothing else); writes share one. A broken connection is retried every second, and the
//! state machine is told, so it says hello (worker) or beats (coordinator) again.

use super::RemoteError;
use super::coordinator::{Coordinator, Delivery, Timing};
use super::protocol::{self, Entry, Message, Rejected, Stream, Trust};
use super::worker::{Action, Worker};
use crate::core::{AgentIdx, Event, EventKind};
use crate::model::{AgentSpec, CommandSpec, Config, Scenario, TaskSpec, TaskType, Time};
use crate::plan::{Plan, TaskIdx};
use crate::runtime::{Agent, BoxFuture, CommandAgent, CommandSettings, Job, Joining, Note, Report};
use ed25519_dalek::{SigningKey, VerifyingKey};
use redis::Value;
use redis::aio::MultiplexedConnection;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Where the drivers write what they log (stale and forged messages, reconnects).
pub type Log = Arc<dyn Fn(&str) + Send + Sync>;

/// How long one blocking read waits before it is repeated.
const BLOCK_MS: u64 = 1_000;
/// Entries kept on the streams nobody acknowledges (control, beats).
const KEEP: u64 = 1_000;
/// A worker that has verified no coordinator message stops after this many on the
/// control stream fail to verify: its `--coordinator-key` is not the coordinator's.
const WRONG_KEY_AFTER: u32 = 3;

/// Opens the broker URL, refusing an unsigned run on a broker that is not on this host.
/// With `ca` (a PEM file), a `rediss://` broker's certificate must chain to it instead of
/// to the usual web roots.
pub fn open_broker(
    url: &str,
    signed: bool,
    ca: Option<&std::path::Path>,
) -> Result<redis::Client, RemoteError> {
    let bad = |reason: String| RemoteError::BadUrl {
        url: redact(url),
        reason,
    };
    let client = match ca {
        None => redis::Client::open(url).map_err(|e| bad(e.to_string()))?,
        Some(path) => {
            if !url.starts_with("rediss://") {
                return Err(bad(
                    "--broker-ca is for a TLS broker (rediss://)".to_string()
                ));
            }
            let pem = std::fs::read(path)
                .map_err(|e| bad(format!("--broker-ca {}: {e}", path.display())))?;
            let certificates = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem),
            };
            redis::Client::build_with_tls(url, certificates)
                .map_err(|e| bad(format!("--broker-ca {}: {e}", path.display())))?
        }
    };
    if !signed && !is_loopback(client.get_connection_info().addr()) {
        return Err(RemoteError::NotLoopback { url: redact(url) });
    }
    Ok(client)
}

/// The URL with its password (if any) replaced by `***`, for messages and for the run
/// database: `redis://user:***@host:6379`.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}://{user}:***@{}", &url[..scheme], &url[at + 1..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Whether `url` is one [`redact`] hid a password of.
pub fn has_hidden_password(url: &str) -> bool {
    url.find("://")
        .zip(url.rfind('@'))
        .is_some_and(|(scheme, at)| at > scheme && url[scheme + 3..at].ends_with(":***"))
}

fn is_loopback(addr: &redis::ConnectionAddr) -> bool {
    let host = match addr {
        redis::ConnectionAddr::Tcp(host, _) => host,
        redis::ConnectionAddr::TcpTls { host, .. } => host,
        _ => return true, // a Unix socket is on this host
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A fresh instance id: 32 lowercase hex digits from the OS's entropy.
pub fn instance_id() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn connect(client: &redis::Client) -> redis::RedisResult<MultiplexedConnection> {
    // TLS (rediss://) needs a process-wide crypto provider; a second install is a no-op.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = redis::AsyncConnectionConfig::new()
        .set_response_timeout(Some(Duration::from_millis(BLOCK_MS + 5_000)))
        .set_connection_timeout(Some(Duration::from_secs(5)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// The first connection of a coordinator or a worker: failing it is an error of the
/// command (a broker it cannot reach), not a lost connection to retry.
/// A `PING` makes a refused password (or none given) such an error too.
async fn first_connection(client: &redis::Client) -> Result<MultiplexedConnection, RemoteError> {
    let broker = |e: redis::RedisError| RemoteError::Broker {
        reason: e.to_string(),
    };
    let mut con = connect(client).await.map_err(broker)?;
    redis::cmd("PING")
        .query_async::<Value>(&mut con)
        .await
        .map_err(broker)?;
    Ok(con)
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// One entry read from a stream: its key, id and fields (`None` if they are not ours).
type Read = (String, String, Option<Entry>);

/// Reads an `XREAD`/`XREADGROUP`/`XRANGE` reply (RESP2 arrays or RESP3 maps).
fn parse_entries(key: &str, v: &Value) -> Vec<Read> {
    let mut out = Vec::new();
    let pairs = |v: &Value| -> Vec<(String, Value)> {
        match v {
            Value::Array(items) => items
                .iter()
                .filter_map(|kv| match kv {
                    Value::Array(p) if p.len() == 2 => Some((text(&p[0])?, p[1].clone())),
                    _ => None,
                })
                .collect(),
            Value::Map(items) => items
                .iter()
                .filter_map(|(k, v)| Some((text(k)?, v.clone())))
                .collect(),
            _ => Vec::new(),
        }
    };
    let entries = |key: &str, list: &Value, out: &mut Vec<Read>| {
        let Value::Array(list) = list else { return };
        for e in list {
            let Value::Array(p) = e else { continue };
            let (Some(id), Some(fields)) = (p.first().and_then(text), p.get(1)) else {
                continue;
            };
            let fields = match fields {
                Value::Array(f) => f
                    .chunks(2)
                    .filter_map(|c| Some((text(&c[0])?, text(c.get(1)?)?)))
                    .collect::<Vec<_>>(),
                Value::Map(f) => f
                    .iter()
                    .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
                    .collect(),
                _ => Vec::new(),
            };
            let entry = Entry::from_fields(fields.iter().map(|(k, v)| (k.as_str(), v.clone())));
            out.push((key.to_string(), id, entry));
        }
    };
    match v {
        Value::Nil => {}
        // XRANGE: a plain list of entries.
        Value::Array(items) if items.first().is_some_and(|i| matches!(i, Value::Array(p) if p.len() == 2 && matches!(p[1], Value::Array(_) | Value::Map(_)) && text(&p[0]).is_some_and(|s| s.contains('-')))) => {
            entries(key, v, &mut out)
        }
        _ => {
            for (k, list) in pairs(v) {
                entries(&k, &list, &mut out);
            }
        }
    }
    out
}

/// The `XADD` of one message, sealed with `key`.
fn xadd(key: Option<&SigningKey>, stream: &str, message: &Message) -> redis::Cmd {
    let entry = protocol::seal(key, stream, message);
    let mut cmd = redis::cmd("XADD");
    cmd.arg(stream);
    if matches!(message.stream(), Stream::Control | Stream::Beats) {
        cmd.arg("MAXLEN").arg("~").arg(KEEP);
    }
    cmd.arg("*");
    for (f, v) in entry.fields() {
        cmd.arg(f).arg(v);
    }
    cmd
}

/// The id of a stream's last entry, `0-0` when it is empty or missing.
async fn last_id(con: &mut MultiplexedConnection, stream: &str) -> redis::RedisResult<String> {
    let v: Value = redis::cmd("XREVRANGE")
        .arg(stream)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(con)
        .await?;
    Ok(parse_entries(stream, &v)
        .pop()
        .map_or_else(|| "0-0".to_string(), |(_, id, _)| id))
}

/// What a reader hands to its driver.
enum Incoming {
    Entry(Read),
    /// The reader's connection came back after a failure.
    Reconnected,
}

/// Reads `streams` with blocking `XREAD` from their last entry on, forever, retrying a
/// broken connection every second.
fn spawn_reader(
    client: redis::Client,
    streams: Vec<String>,
    from_start: bool,
    tx: UnboundedSender<Incoming>,
    log: Log,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ids: Vec<String> = Vec::new();
        let mut broken = false;
        loop {
            let mut con = match connect(&client).await {
                Ok(con) => con,
                Err(e) => {
                    if !broken {
                        log(&format!("broker unreachable ({e}); retrying every second"));
                    }
                    broken = true;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if ids.is_empty() {
                for s in &streams {
                    let id = if from_start {
                        "0-0".to_string()
                    } else {
                        match last_id(&mut con, s).await {
                            Ok(id) => id,
                            Err(_) => break,
                        }
                    };
                    ids.push(id);
                }
                if ids.len() != streams.len() {
                    ids.clear();
                    continue;
                }
            }
            if std::mem::take(&mut broken) {
                log("broker reachable again");
                if tx.send(Incoming::Reconnected).is_err() {
                    return;
                }
            }
            loop {
                let mut cmd = redis::cmd("XREAD");
                cmd.arg("COUNT")
                    .arg(512)
                    .arg("BLOCK")
                    .arg(BLOCK_MS)
                    .arg("STREAMS");
                cmd.arg(&streams).arg(&ids);
                let v: Value = match cmd.query_async(&mut con).await {
                    Ok(v) => v,
                    Err(e) => {
                        log(&format!("broker read failed ({e}); reconnecting"));
                        broken = true;
                        break;
                    }
                };
                for read in parse_entries("", &v) {
                    if let Some(i) = streams.iter().position(|s| *s == read.0) {
                        // A broker restarted without persistence numbers entries anew.
                        ids[i] = read.1.clone();
                    }
                    if tx.send(Incoming::Entry(read)).is_err() {
                        return;
                    }
                }
            }
            // After a restart the stream may be empty or renumbered: read what is new.
            ids.clear();
        }
    })
}

/// Reads [`protocol::UP`] through the coordinator's consumer group: first this
/// consumer's pending entries, then new ones; recreates the group after a broker restart.
fn spawn_group_reader(
    client: redis::Client,
    consumer: String,
    tx: UnboundedSender<Incoming>,
    log: Log,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut broken = false;
        loop {
            let mut con = match connect(&client).await {
                Ok(con) => con,
                Err(_) => {
                    broken = true;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let created: redis::RedisResult<Value> = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(protocol::UP)
                .arg(protocol::GROUP)
                .arg("0")
                .arg("MKSTREAM")
                .query_async(&mut con)
                .await;
            if let Err(e) = created
                && e.code() != Some("BUSYGROUP")
            {
                broken = true;
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            if std::mem::take(&mut broken) {
                log("broker reachable again: consumer group ready");
                if tx.send(Incoming::Reconnected).is_err() {
                    return;
                }
            }
            let mut from = "0".to_string(); // pending entries first
            loop {
                let mut cmd = redis::cmd("XREADGROUP");
                cmd.arg("GROUP")
                    .arg(protocol::GROUP)
                    .arg(&consumer)
                    .arg("COUNT")
                    .arg(512)
                    .arg("BLOCK")
                    .arg(BLOCK_MS)
                    .arg("STREAMS")
                    .arg(protocol::UP)
                    .arg(&from);
                let v: Value = match cmd.query_async(&mut con).await {
                    Ok(v) => v,
                    Err(e) => {
                        log(&format!("broker read failed ({e}); reconnecting"));
                        broken = true;
                        break;
                    }
                };
                let reads = parse_entries("", &v);
                if from == "0" && reads.is_empty() {
                    from = ">".to_string();
                }
                for read in reads {
                    if from == "0" {
                        from = read.1.clone(); // page through the pending list
                    }
                    if tx.send(Incoming::Entry(read)).is_err() {
                        return;
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

/// Milliseconds since `origin`.
fn ms(origin: Instant) -> Time {
    origin.elapsed().as_millis() as Time
}

/// A writer that reconnects when a write fails (the write is then dropped: the protocol
/// recovers lost messages by its timeouts).
struct Writer {
    client: redis::Client,
    con: Option<MultiplexedConnection>,
    key: Option<SigningKey>,
    log: Log,
}

impl Writer {
    async fn send(&mut self, stream: &str, message: &Message) {
        self.send_all(&[(stream.to_string(), message.clone())], &[])
            .await;
    }

    /// Writes `messages` in order and acknowledges `acks` (entries of
    /// [`protocol::UP`]), all in one pipeline: one round trip however many there are.
    async fn send_all(&mut self, messages: &[(String, Message)], acks: &[String]) {
        if messages.is_empty() && acks.is_empty() {
            return;
        }
        if self.con.is_none() {
            self.con = connect(&self.client).await.ok();
        }
        let Some(con) = &mut self.con else { return };
        let mut pipe = redis::pipe();
        for (stream, message) in messages {
            pipe.add_command(xadd(self.key.as_ref(), stream, message))
                .ignore();
        }
        if !acks.is_empty() {
            pipe.cmd("XACK")
                .arg(protocol::UP)
                .arg(protocol::GROUP)
                .arg(acks)
                .ignore();
        }
        if let Err(e) = pipe.query_async::<()>(con).await {
            let kinds: Vec<&str> = messages.iter().map(|(_, m)| m.kind()).collect();
            (self.log)(&format!(
                "broker write of [{}] and {} acks failed: {e}",
                kinds.join(", "),
                acks.len()
            ));
            self.con = None;
        }
    }

    async fn command(&mut self, cmd: &redis::Cmd) {
        if self.con.is_none() {
            self.con = connect(&self.client).await.ok();
        }
        if let Some(con) = &mut self.con
            && cmd.query_async::<Value>(con).await.is_err()
        {
            self.con = None;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Coordinator

/// What the run's side of the coordinator asks of its driver.
enum HubCmd {
    Assign {
        worker: String,
        job: Job,
        reply: oneshot::Sender<Report>,
    },
    Cancel {
        task: u32,
        attempt: u32,
    },
    /// Context delivered to a running attempt (`Decision::Deliver`).
    Context {
        task: u32,
        attempt: u32,
        shared: Arc<crate::core::Shared>,
    },
    Alive {
        worker: String,
        reply: oneshot::Sender<bool>,
    },
    Committed {
        task: u32,
        attempt: u32,
    },
    Finish {
        reply: oneshot::Sender<()>,
    },
}

/// The coordinator's side of the broker, for a [`crate::runtime::Runner`]: workers that
/// say hello join the run through the channel given to [`Hub::start`], and each runs its
/// attempts through the broker.
#[derive(Clone)]
pub struct Hub {
    tx: UnboundedSender<HubCmd>,
    plan: Arc<Plan>,
}

/// The coordinator's settings.
pub struct HubSettings {
    /// The broker.
    pub client: redis::Client,
    /// The coordinator's signing key (`None`: an unsigned, loopback-only run).
    pub key: Option<SigningKey>,
    /// The workers it trusts, by id.
    pub trust: BTreeMap<String, VerifyingKey>,
    /// The run's `--exec` command, for tasks without a command of their own.
    pub exec: Option<CommandSpec>,
    /// Where stale and forged messages are logged.
    pub log: Log,
    /// Where stale messages (a late result, one of another instance) are recorded: the
    /// run database ([`crate::store::Store::stale_recorder`]).
    pub stale: Option<crate::store::StaleRecorder>,
}

impl Hub {
    /// Connects, creates the consumer group and starts beating; workers that join are
    /// sent on `joins`. Fails if the broker cannot be reached.
    pub async fn start(
        settings: HubSettings,
        plan: Arc<Plan>,
        config: &Config,
        joins: UnboundedSender<Joining>,
    ) -> Result<Hub, RemoteError> {
        let HubSettings {
            client,
            key,
            trust,
            exec,
            log,
            stale,
        } = settings;
        let con = first_connection(&client).await?;
        let instance = instance_id();
        let timing = Timing::for_heartbeat(config.heartbeat_timeout_ms.unwrap_or(30_000));
        let origin = Instant::now();
        let (tx, rx) = unbounded_channel();
        let (in_tx, in_rx) = unbounded_channel();
        let readers = vec![
            spawn_group_reader(client.clone(), instance.clone(), in_tx.clone(), log.clone()),
            spawn_reader(
                client.clone(),
                vec![protocol::BEATS.to_string()],
                false,
                in_tx,
                log.clone(),
            ),
        ];
        let hub = Hub {
            tx: tx.clone(),
            plan: plan.clone(),
        };
        let signed = key.is_some();
        let state = HubLoop {
            sm: Coordinator::new(0, instance, timing),
            origin,
            writer: Writer {
                client,
                con: Some(con),
                key,
                log: log.clone(),
            },
            trust,
            signed,
            exec,
            log,
            jobs: BTreeMap::new(),
            unacked: BTreeMap::new(),
            joins,
            hub: hub.clone(),
            inboxes: Vec::new(),
            acks: Vec::new(),
            stale,
        };
        tokio::spawn(state.run(rx, in_rx, readers));
        Ok(hub)
    }

    /// Tells the hub a step was committed with `event`: a result it delivered may now be
    /// acknowledged on the broker.
    pub fn committed(&self, event: &Event) {
        let (task, attempt) = match &event.kind {
            EventKind::TaskComplete { task, attempt, .. }
            | EventKind::TaskFailed { task, attempt, .. } => (task, *attempt),
            _ => return,
        };
        if let Some(t) = self.plan.task_index(task) {
            let _ = self.tx.send(HubCmd::Committed { task: t.0, attempt });
        }
    }

    /// Ends the run on the broker: `end` to the workers, and the run's keys deleted.
    pub async fn finish(&self) {
        let (reply, done) = oneshot::channel();
        if self.tx.send(HubCmd::Finish { reply }).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), done).await;
        }
    }
}

/// One remote worker as an agent of the run.
struct RemoteAgent {
    worker: String,
    hub: UnboundedSender<HubCmd>,
}

impl Agent for RemoteAgent {
    fn execute<'a>(&'a self, mut job: Job, cancel: CancellationToken) -> BoxFuture<'a, Report> {
        Box::pin(async move {
            let (task, attempt) = (job.task.0, job.attempt);
            // Context delivered while it runs goes to the worker as `context` messages.
            let mut inbox =
                std::mem::replace(&mut job.inbox, crate::runtime::Inbox(unbounded_channel().1));
            let (reply, result) = oneshot::channel();
            let sent = self.hub.send(HubCmd::Assign {
                worker: self.worker.clone(),
                job,
                reply,
            });
            if sent.is_err() {
                return Report::Failed {
                    error: "the broker connection is closed".to_string(),
                };
            }
            tokio::pin!(result);
            loop {
                tokio::select! {
                    report = &mut result => break report.unwrap_or(Report::Failed {
                        error: "the broker connection is closed".to_string(),
                    }),
                    () = cancel.cancelled() => {
                        let _ = self.hub.send(HubCmd::Cancel { task, attempt });
                        break Report::Failed { error: "cancelled".to_string() };
                    }
                    Some(shared) = inbox.recv() => {
                        let _ = self.hub.send(HubCmd::Context { task, attempt, shared });
                    }
                }
            }
        })
    }

    fn heartbeat(&self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            let (reply, alive) = oneshot::channel();
            let _ = self.hub.send(HubCmd::Alive {
                worker: self.worker.clone(),
                reply,
            });
            alive.await.unwrap_or(false)
        })
    }
}

struct HubLoop {
    sm: Coordinator,
    origin: Instant,
    writer: Writer,
    trust: BTreeMap<String, VerifyingKey>,
    signed: bool,
    exec: Option<CommandSpec>,
    log: Log,
    jobs: BTreeMap<(u32, u32), (Job, oneshot::Sender<Report>)>,
    unacked: BTreeMap<(u32, u32), String>,
    joins: UnboundedSender<Joining>,
    hub: Hub,
    inboxes: Vec<String>,
    /// Entries of [`protocol::UP`] to acknowledge with the next flush.
    acks: Vec<String>,
    stale: Option<crate::store::StaleRecorder>,
}

impl HubLoop {
    async fn run(
        mut self,
        mut rx: UnboundedReceiver<HubCmd>,
        mut incoming: UnboundedReceiver<Incoming>,
        readers: Vec<tokio::task::JoinHandle<()>>,
    ) {
        loop {
            let wake = self.origin + Duration::from_millis(self.sm.poll_timeout());
            tokio::select! {
                cmd = rx.recv() => {
                    let Some(mut cmd) = cmd else { break };
                    // What else the run has asked for (assignments, commits to acknowledge)
                    // goes out with it in one flush: one write per command had cost the
                    // broker, the coordinator and the workers a round trip each.
                    let finish = loop {
                        if let HubCmd::Finish { reply } = cmd {
                            break Some(reply);
                        }
                        self.command(cmd).await;
                        match rx.try_recv() {
                            Ok(next) => cmd = next,
                            Err(_) => break None,
                        }
                    };
                    if let Some(reply) = finish {
                        // The group reader would recreate the stream it reads.
                        for r in &readers {
                            r.abort();
                        }
                        self.finish().await;
                        let _ = reply.send(());
                        break;
                    }
                }
                read = incoming.recv() => match read {
                    Some(read) => {
                        self.incoming(read).await;
                        // What else has been read goes out with it in one flush.
                        while let Ok(read) = incoming.try_recv() {
                            self.incoming(read).await;
                        }
                    }
                    None => break,
                },
                () = tokio::time::sleep_until(wake) => {}
            }
            let now = ms(self.origin);
            if self.sm.poll_timeout() <= now {
                self.sm.handle_timeout(now);
            }
            self.flush().await;
        }
        for r in readers {
            r.abort();
        }
    }

    async fn command(&mut self, cmd: HubCmd) {
        let now = ms(self.origin);
        match cmd {
            HubCmd::Assign { worker, job, reply } => {
                let (task, attempt) = (job.task.0, job.attempt);
                let mut spec = job.spec().clone();
                if spec.command.is_none() {
                    spec.command = self.exec.clone();
                }
                let sent = self.sm.assign(
                    now,
                    &worker,
                    task,
                    attempt,
                    job.timeout_ms,
                    spec,
                    job.context.clone(),
                );
                if sent {
                    if !self.inboxes.contains(&worker) {
                        self.inboxes.push(worker);
                    }
                    self.jobs.insert((task, attempt), (job, reply));
                } else {
                    let _ = reply.send(Report::Failed {
                        error: format!("worker `{worker}` is not in the run"),
                    });
                }
            }
            HubCmd::Cancel { task, attempt } => {
                self.sm.cancel(task, attempt);
                self.jobs.remove(&(task, attempt));
                if let Some(entry) = self.unacked.remove(&(task, attempt)) {
                    self.ack(&entry);
                }
            }
            HubCmd::Context {
                task,
                attempt,
                shared,
            } => {
                self.sm.context(task, attempt, &shared);
            }
            HubCmd::Alive { worker, reply } => {
                let _ = reply.send(self.sm.is_alive(now, &worker));
            }
            HubCmd::Committed { task, attempt } => {
                if let Some(entry) = self.unacked.remove(&(task, attempt)) {
                    self.ack(&entry);
                }
            }
            HubCmd::Finish { .. } => unreachable!("handled by the loop"),
        }
    }

    /// Acknowledges an entry of [`protocol::UP`] with the next [`HubLoop::flush`].
    fn ack(&mut self, entry: &str) {
        self.acks.push(entry.to_string());
    }

    async fn incoming(&mut self, incoming: Incoming) {
        let now = ms(self.origin);
        let (stream_key, id, entry) = match incoming {
            Incoming::Reconnected => {
                self.sm.reconnected(now);
                return;
            }
            Incoming::Entry(read) => read,
        };
        let stream = if stream_key == protocol::UP {
            Stream::Up
        } else {
            Stream::Beats
        };
        let trust = if self.signed {
            Trust::List(&self.trust)
        } else {
            Trust::Nobody
        };
        let opened = match &entry {
            Some(entry) => protocol::open(stream, &stream_key, entry, &trust),
            None => Err(Rejected::Malformed("missing fields".to_string())),
        };
        match opened {
            Ok(message) if stream == Stream::Up => {
                let is_result = matches!(message, Message::Result(_));
                self.sm.handle_up(now, &id, message);
                self.deliver().await;
                // A result handed to the run is acknowledged once its step is committed
                // (see `Hub::committed`); everything else now.
                if !(is_result && self.unacked.values().any(|e| *e == id)) {
                    self.ack(&id);
                }
            }
            Ok(message) => self.sm.handle_beat(now, &id, message),
            Err(rejected) => {
                (self.log)(&format!("{rejected} on {stream_key} entry {id}; ignored"));
                if let (Rejected::Forged { reason, .. }, Some(entry)) = (&rejected, &entry)
                    && entry.kind == "hello"
                    && let Ok(Message::Hello(hello)) =
                        Message::parse(Stream::Up, &entry.kind, &entry.body)
                {
                    self.sm.refuse(&id, &hello, reason);
                }
                if stream == Stream::Up {
                    self.ack(&id);
                }
            }
        }
    }

    async fn deliver(&mut self) {
        while let Some(d) = self.sm.poll_delivery() {
            match d {
                Delivery::Joined { spec } => {
                    (self.log)(&format!(
                        "worker {} joined: {} slots, speed {}",
                        spec.id, spec.max_concurrent_tasks, spec.speed
                    ));
                    let agent = Arc::new(RemoteAgent {
                        worker: spec.id.to_string(),
                        hub: self.hub.tx.clone(),
                    });
                    let _ = self.joins.send((spec, agent));
                }
                Delivery::Started { task, attempt } => {
                    if let Some((job, _)) = self.jobs.get(&(task, attempt)) {
                        job.started();
                    }
                }
                Delivery::Share {
                    task,
                    attempt,
                    item,
                } => {
                    if let Some((job, _)) = self.jobs.get(&(task, attempt)) {
                        job.share(item);
                    }
                }
                Delivery::Finished {
                    task,
                    attempt,
                    report,
                    entry,
                } => {
                    if let Some((_, reply)) = self.jobs.remove(&(task, attempt)) {
                        let report = match report {
                            Ok(result) => Report::Succeeded { result },
                            Err(error) => Report::Failed { error },
                        };
                        if reply.send(report).is_ok() {
                            self.unacked.insert((task, attempt), entry);
                            continue;
                        }
                    }
                    self.ack(&entry);
                }
            }
        }
    }

    async fn flush(&mut self) {
        self.deliver().await;
        while let Some(line) = self.sm.poll_log() {
            (self.log)(&line);
        }
        // Recorded before the entries are acknowledged below.
        while let Some(m) = self.sm.poll_stale() {
            if let Some(recorder) = &self.stale
                && let Err(e) = recorder.record(&m)
            {
                (self.log)(&format!(
                    "recording stale {} entry {}: {e}",
                    m.kind, m.entry
                ));
            }
        }
        let messages: Vec<(String, Message)> =
            std::iter::from_fn(|| self.sm.poll_transmit()).collect();
        let acks = std::mem::take(&mut self.acks);
        self.writer.send_all(&messages, &acks).await;
    }

    async fn finish(&mut self) {
        self.sm.finish();
        self.flush().await;
        let mut del = redis::cmd("DEL");
        del.arg(protocol::UP).arg(protocol::BEATS);
        for w in &self.inboxes {
            del.arg(protocol::inbox(w));
        }
        self.writer.command(&del).await;
    }
}

// ---------------------------------------------------------------------------------------
// Worker

/// A worker's settings.
pub struct WorkerSettings {
    /// The broker.
    pub client: redis::Client,
    /// The worker id.
    pub id: String,
    /// Task types it runs (`None`: every type).
    pub capabilities: Option<Vec<TaskType>>,
    /// Attempts at once.
    pub slots: u32,
    /// Relative speed.
    pub speed: f64,
    /// Where commands run; attempt files go under `.taskdist-worker/` in it.
    pub workdir: PathBuf,
    /// The worker's signing key (`None`: unsigned, loopback only).
    pub key: Option<SigningKey>,
    /// The coordinator's public key; messages that do not verify are never acted on.
    pub coordinator: Option<VerifyingKey>,
    /// Where it logs.
    pub log: Log,
}

/// What a running attempt's task sends back to the worker loop, with the serial number
/// of its run (an attempt killed and asked for again runs again under the same numbers).
struct AttemptNote {
    task: u32,
    attempt: u32,
    serial: u64,
    what: NoteKind,
}

/// What an [`AttemptNote`] says.
enum NoteKind {
    Started,
    Share(crate::core::ContextItem),
    Done(Report),
}

/// Runs a worker until `stop` fires or the coordinator rejects it.
pub async fn run_worker(
    settings: WorkerSettings,
    stop: CancellationToken,
) -> Result<(), RemoteError> {
    let WorkerSettings {
        client,
        id,
        capabilities,
        slots,
        speed,
        workdir,
        key,
        coordinator,
        log,
    } = settings;
    let con = first_connection(&client).await?;
    let instance = instance_id();
    log(&format!(
        "worker {id} instance {instance}: waiting for a coordinator"
    ));
    let origin = Instant::now();
    let mut sm = Worker::new(0, id.clone(), instance.clone(), capabilities, slots, speed);
    let inbox_key = protocol::inbox(&id);
    let (in_tx, mut incoming) = unbounded_channel();
    let readers = [spawn_reader(
        client.clone(),
        vec![protocol::CONTROL.to_string(), inbox_key.clone()],
        false,
        in_tx,
        log.clone(),
    )];
    let mut writer = Writer {
        client,
        con: Some(con),
        key,
        log: log.clone(),
    };
    let agent = Arc::new(CommandAgent::new(CommandSettings::new(workdir.clone())));
    let (note_tx, mut notes) = unbounded_channel::<AttemptNote>();
    let mut running: BTreeMap<(u32, u32), RunningAttempt> = BTreeMap::new();
    let mut serials = 0u64;
    let mut forged = 0u32;
    // Coordinator messages on the control stream that did not verify, while none has.
    let mut unverified_control = 0u32;
    let result = loop {
        let wake = origin + Duration::from_millis(sm.poll_timeout());
        tokio::select! {
            () = stop.cancelled() => break Ok(()),
            read = incoming.recv() => {
                let now = ms(origin);
                // Time first: a worker that was paused past its lease fences before the
                // beats that queued up meanwhile can renew it.
                if sm.poll_timeout() <= now {
                    sm.handle_timeout(now);
                }
                match read {
                    Some(Incoming::Reconnected) => sm.reconnected(now),
                    Some(Incoming::Entry((stream_key, entry_id, entry))) => {
                        let stream = if stream_key == protocol::CONTROL { Stream::Control } else { Stream::Inbox };
                        let trust = match &coordinator {
                            Some(k) => Trust::Key(k),
                            None => Trust::Nobody,
                        };
                        let opened = match &entry {
                            Some(entry) => protocol::open(stream, &stream_key, entry, &trust),
                            None => Err(Rejected::Malformed("missing fields".to_string())),
                        };
                        match opened {
                            Ok(m) if stream == Stream::Control => {
                                unverified_control = u32::MAX;
                                sm.handle_control(now, &entry_id, m);
                            }
                            Ok(m) => sm.handle_inbox(now, &entry_id, m),
                            Err(rejected) => {
                                if stream == Stream::Control
                                    && matches!(rejected, Rejected::Forged { .. })
                                    && unverified_control < u32::MAX
                                {
                                    unverified_control += 1;
                                }
                                if unverified_control == WRONG_KEY_AFTER {
                                    log(&format!("{rejected} on {stream_key} entry {entry_id}; not acted on"));
                                    break Err(RemoteError::CoordinatorKey {
                                        seen: WRONG_KEY_AFTER,
                                    });
                                }
                                forged += 1;
                                let hint = if forged == 3 && coordinator.is_some() {
                                    " (repeatedly: is --coordinator-key the public key of the coordinator's --key?)"
                                } else {
                                    ""
                                };
                                log(&format!("{rejected} on {stream_key} entry {entry_id}; not acted on{hint}"));
                            }
                        }
                    }
                    None => break Err(RemoteError::Broker { reason: "the reader stopped".to_string() }),
                }
            }
            note = notes.recv() => {
                let now = ms(origin);
                if sm.poll_timeout() <= now {
                    sm.handle_timeout(now);
                }
                // Every note already waiting is taken now, so that what they send goes out
                // in one pipeline: under load several attempts start or end at once.
                let mut note = note.expect("the loop holds a sender");
                loop {
                    take_note(&mut sm, &mut running, note);
                    match notes.try_recv() {
                        Ok(next) => note = next,
                        Err(_) => break,
                    }
                }
            }
            () = tokio::time::sleep_until(wake) => {}
        }
        let now = ms(origin);
        if sm.poll_timeout() <= now {
            sm.handle_timeout(now);
        }
        while let Some(line) = sm.poll_log() {
            log(&line);
        }
        let mut exit = None;
        while let Some(action) = sm.poll_action() {
            match action {
                Action::Run(assign) => {
                    let token = CancellationToken::new();
                    serials += 1;
                    // One level per attempt run: its parent is there after the first.
                    let dir = workdir
                        .join(".taskdist-worker")
                        .join(&instance)
                        .join(format!("{}-{}-{serials}", assign.task, assign.attempt));
                    let (inbox, inbox_rx) = unbounded_channel();
                    if let Some(old) = running.insert(
                        (assign.task, assign.attempt),
                        RunningAttempt {
                            cancel: token.clone(),
                            inbox,
                            serial: serials,
                        },
                    ) {
                        old.cancel.cancel();
                    }
                    let attempt = Attempt {
                        assign: *assign,
                        dir,
                        cancel: token,
                        serial: serials,
                        inbox: inbox_rx,
                    };
                    spawn_attempt(&agent, &id, attempt, note_tx.clone());
                }
                Action::Kill { task, attempt } => {
                    if let Some(r) = running.get(&(task, attempt)) {
                        r.cancel.cancel();
                    }
                }
                Action::Inbox {
                    task,
                    attempt,
                    shared,
                } => {
                    // The command agent appends it to the attempt's inbox file.
                    if let Some(r) = running.get(&(task, attempt)) {
                        let _ = r.inbox.send(Arc::new(shared));
                    }
                }
                Action::Exit { reason } => exit = Some(reason),
            }
        }
        let messages: Vec<(String, Message)> = std::iter::from_fn(|| sm.poll_transmit())
            .map(|message| {
                let stream = match message.stream() {
                    Stream::Beats => protocol::BEATS,
                    _ => protocol::UP,
                };
                (stream.to_string(), message)
            })
            .collect();
        writer.send_all(&messages, &[]).await;
        if let Some(reason) = exit {
            break Err(RemoteError::Rejected { reason });
        }
    };
    for r in running.values() {
        r.cancel.cancel();
    }
    if matches!(result, Ok(()) | Err(RemoteError::CoordinatorKey { .. })) {
        writer
            .send(
                protocol::UP,
                &Message::Bye(protocol::WorkerRef {
                    worker: id,
                    instance,
                }),
            )
            .await;
    }
    for r in readers {
        r.abort();
    }
    result
}

/// Hands one note of a running attempt to the worker's state machine; notes of an
/// earlier, killed run of the attempt are not its own and are dropped.
fn take_note(
    sm: &mut Worker,
    running: &mut BTreeMap<(u32, u32), RunningAttempt>,
    note: AttemptNote,
) {
    let AttemptNote {
        task,
        attempt,
        serial,
        what,
    } = note;
    if running
        .get(&(task, attempt))
        .is_none_or(|r| r.serial != serial)
    {
        return;
    }
    match what {
        NoteKind::Started => sm.attempt_started(task, attempt),
        NoteKind::Share(item) => sm.attempt_shared(task, attempt, item),
        NoteKind::Done(report) => {
            running.remove(&(task, attempt));
            let report = match report {
                Report::Succeeded { result } => Ok(result),
                Report::Failed { error } => Err(error),
            };
            sm.attempt_finished(task, attempt, report);
        }
    }
}

/// A plan holding just the assigned task (its dependencies are the coordinator's
/// business), so the local command agent can run it unchanged.
fn one_task_plan(mut spec: TaskSpec) -> Arc<Plan> {
    spec.depends_on.clear();
    spec.blocked_by.clear();
    let scenario = Scenario {
        time_unit: Default::default(),
        config: Config::default(),
        agents: vec![AgentSpec::new("worker")],
        tasks: vec![spec],
        source: Default::default(),
        file: Default::default(),
    };
    Arc::new(Plan::build(&scenario).expect("one task without dependencies is a valid plan"))
}

/// An attempt the worker runs: its cancel token, where its live context goes, and the
/// serial number of this run of it.
struct RunningAttempt {
    cancel: CancellationToken,
    inbox: UnboundedSender<Arc<crate::core::Shared>>,
    serial: u64,
}

/// What [`spawn_attempt`] runs.
struct Attempt {
    assign: protocol::Assign,
    dir: PathBuf,
    cancel: CancellationToken,
    serial: u64,
    inbox: UnboundedReceiver<Arc<crate::core::Shared>>,
}

/// Runs one attempt with the local command agent, forwarding its notes.
fn spawn_attempt(
    agent: &Arc<CommandAgent>,
    worker: &str,
    attempt: Attempt,
    tx: UnboundedSender<AttemptNote>,
) {
    let Attempt {
        assign,
        dir,
        cancel,
        serial,
        inbox: inbox_rx,
    } = attempt;
    let (task, attempt) = (assign.task, assign.attempt);
    let (notes_tx, mut notes_rx) = unbounded_channel();
    let job = Job {
        plan: one_task_plan(assign.spec),
        task: TaskIdx(0),
        agent: AgentIdx(0),
        agent_id: Arc::from(worker),
        attempt,
        timeout_ms: assign.timeout_ms,
        context: assign.context,
        dir: Some(dir),
        inbox: crate::runtime::Inbox(inbox_rx),
        notes: notes_tx,
    };
    let agent = agent.clone();
    tokio::spawn(async move {
        let run = agent.execute(job, cancel);
        tokio::pin!(run);
        let report = loop {
            tokio::select! {
                report = &mut run => break report,
                Some(note) = notes_rx.recv() => forward(&tx, task, attempt, serial, note),
            }
        };
        while let Ok(note) = notes_rx.try_recv() {
            forward(&tx, task, attempt, serial, note);
        }
        let _ = tx.send(AttemptNote {
            task,
            attempt,
            serial,
            what: NoteKind::Done(report),
        });
    });
}

/// Passes the command agent's note on with the protocol's task index and attempt.
fn forward(tx: &UnboundedSender<AttemptNote>, task: u32, attempt: u32, serial: u64, note: Note) {
    let what = match note {
        Note::Started { .. } => NoteKind::Started,
        Note::Share { item, .. } => NoteKind::Share(item),
        _ => return,
    };
    let _ = tx.send(AttemptNote {
        task,
        attempt,
        serial,
        what,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_of_an_earlier_run_of_the_attempt_is_dropped() {
        let mut sm = Worker::new(0, "w".into(), "i".into(), None, 1, 1.0);
        let (inbox, _inbox_rx) = unbounded_channel();
        let mut running = BTreeMap::from([(
            (3, 1),
            RunningAttempt {
                cancel: CancellationToken::new(),
                inbox,
                serial: 2,
            },
        )]);
        let done = |serial| AttemptNote {
            task: 3,
            attempt: 1,
            serial,
            what: NoteKind::Done(Report::Succeeded { result: None }),
        };
        take_note(&mut sm, &mut running, done(1));
        assert!(
            running.contains_key(&(3, 1)),
            "run 1 was killed: its end is not run 2's"
        );
        take_note(&mut sm, &mut running, done(2));
        assert!(running.is_empty());
    }

    #[test]
    fn redact_hides_the_password_and_keeps_the_rest() {
        let hidden = redact("rediss://:s3cret@broker.example:6380/2");
        assert_eq!(hidden, "rediss://:***@broker.example:6380/2");
        assert!(has_hidden_password(&hidden));
        assert_eq!(
            redact("redis://ops:s3cret@10.0.0.1"),
            "redis://ops:***@10.0.0.1"
        );
        for plain in ["redis://127.0.0.1:6379", "redis://ops@10.0.0.1/1"] {
            assert_eq!(redact(plain), plain);
            assert!(!has_hidden_password(plain));
        }
    }

    #[test]
    fn a_ca_file_is_for_tls_brokers_and_must_exist() {
        use std::path::Path;
        let plain = open_broker("redis://127.0.0.1:1", false, Some(Path::new("ca.pem")));
        assert!(
            matches!(plain, Err(RemoteError::BadUrl { reason, .. }) if reason.contains("rediss://"))
        );
        let missing = open_broker(
            "rediss://:pw@127.0.0.1:1",
            false,
            Some(Path::new("/nonexistent/ca.pem")),
        );
        match missing {
            Err(RemoteError::BadUrl { url, reason }) => {
                assert!(reason.contains("/nonexistent/ca.pem"), "{reason}");
                assert!(!url.contains("pw"), "{url}");
            }
            other => panic!("{other:?}"),
        }
    }
}
