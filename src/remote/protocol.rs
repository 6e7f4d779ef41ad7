//! The wire protocol of `docs/protocol.md`, version 1: stream names, message bodies, the
//! entry envelope (`v`, `kind`, `body`, `sig`), Ed25519 signing and verification, and the
//! key files. Pure: no IO but reading and writing key files.

use crate::core::{Context, ContextItem};
use crate::model::{TaskSpec, TaskType, Time};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The protocol version every entry carries in its `v` field.
pub const VERSION: &str = "1";
/// Coordinator beats and the end of a run, read by every worker.
pub const CONTROL: &str = "taskdist:control";
/// Workers' hello, started, share, result and bye, read by the coordinator's group.
pub const UP: &str = "taskdist:up";
/// Workers' beats.
pub const BEATS: &str = "taskdist:beats";
/// The coordinator's consumer group on [`UP`].
pub const GROUP: &str = "coordinator";

/// One worker's inbox stream.
pub fn inbox(worker: &str) -> String {
    format!("taskdist:inbox:{worker}")
}

/// Whether `id` is a usable worker id: 1 to 64 of `A-Z a-z 0-9 - _ .`.
pub fn valid_worker_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Coordinator → everyone: the coordinator is alive; workers' lease.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoordinatorBeat {
    /// The coordinator's instance id.
    pub coordinator: String,
    /// How long a worker may go without a beat before it self-fences.
    pub lease_ms: Time,
}

/// A worker's join request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// The worker id.
    pub worker: String,
    /// This process's instance id.
    pub instance: String,
    /// Task types it runs; `None` runs every type.
    pub capabilities: Option<Vec<TaskType>>,
    /// Attempts it runs at once.
    pub slots: u32,
    /// Its relative speed.
    pub speed: f64,
}

/// Names one attempt from one worker instance to one coordinator (`started`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRef {
    /// The worker id.
    pub worker: String,
    /// The worker's instance id.
    pub instance: String,
    /// The coordinator that assigned the attempt.
    pub coordinator: String,
    /// The task's index in the plan.
    pub task: u32,
    /// The attempt number.
    pub attempt: u32,
}

/// A context item shared by a running attempt (worker → coordinator) or for it
/// (coordinator → worker, live context).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShareMsg {
    /// The attempt.
    #[serde(flatten)]
    pub at: AttemptRef,
    /// The item.
    pub item: ContextItem,
}

/// How an attempt ended on a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Exit status 0.
    Succeeded,
    /// Anything else.
    Failed,
}

/// An attempt's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultMsg {
    /// The attempt.
    #[serde(flatten)]
    pub at: AttemptRef,
    /// How it ended.
    pub outcome: Outcome,
    /// The result file's summary, on success.
    pub result: Option<String>,
    /// What went wrong, on failure.
    pub error: Option<String>,
}

/// Names a worker instance (`bye`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerRef {
    /// The worker id.
    pub worker: String,
    /// The instance id.
    pub instance: String,
}

/// A worker's beat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerBeat {
    /// The worker id.
    pub worker: String,
    /// The instance id.
    pub instance: String,
    /// The coordinator that welcomed it, if any yet.
    pub coordinator: Option<String>,
}

/// Addresses an inbox message to one worker instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct To {
    /// The coordinator sending it.
    pub coordinator: String,
    /// The worker id.
    pub worker: String,
    /// The instance it is for.
    pub instance: String,
}

/// A refused hello.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reject {
    /// Who it is for.
    #[serde(flatten)]
    pub to: To,
    /// Why.
    pub reason: String,
}

/// One attempt to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assign {
    /// Who it is for.
    #[serde(flatten)]
    pub to: To,
    /// The task's index in the plan.
    pub task: u32,
    /// The attempt number.
    pub attempt: u32,
    /// How long the attempt may run.
    pub timeout_ms: Time,
    /// The task.
    pub spec: TaskSpec,
    /// The shared context selected for it.
    pub context: Context,
}

/// Stop one attempt, or deliver live context to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptOrder {
    /// Who it is for.
    #[serde(flatten)]
    pub to: To,
    /// The task's index.
    pub task: u32,
    /// The attempt number.
    pub attempt: u32,
}

/// Live context for a running attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextMsg {
    /// The attempt.
    #[serde(flatten)]
    pub at: AttemptOrder,
    /// The item.
    pub item: ContextItem,
    /// When it was shared (run time, ms).
    #[serde(default)]
    pub time: crate::model::Time,
    /// The agent that shared it.
    #[serde(default)]
    pub agent: String,
}

/// Every message of the protocol.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// `beat` on [`CONTROL`].
    CoordinatorBeat(CoordinatorBeat),
    /// `end` on [`CONTROL`].
    End {
        /// The coordinator whose run ended.
        coordinator: String,
    },
    /// `hello` on [`UP`].
    Hello(Hello),
    /// `started` on [`UP`].
    Started(AttemptRef),
    /// `share` on [`UP`].
    Share(ShareMsg),
    /// `result` on [`UP`].
    Result(ResultMsg),
    /// `bye` on [`UP`].
    Bye(WorkerRef),
    /// `beat` on [`BEATS`].
    WorkerBeat(WorkerBeat),
    /// `welcome` in an inbox.
    Welcome(To),
    /// `reject` in an inbox.
    Reject(Reject),
    /// `assign` in an inbox.
    Assign(Box<Assign>),
    /// `cancel` in an inbox.
    Cancel(AttemptOrder),
    /// `context` in an inbox.
    Context(ContextMsg),
}

/// The kinds of stream, which tell how to read an entry's `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// [`CONTROL`].
    Control,
    /// [`UP`].
    Up,
    /// [`BEATS`].
    Beats,
    /// A worker's inbox.
    Inbox,
}

#[derive(Serialize, Deserialize)]
struct CoordinatorOnly {
    coordinator: String,
}

impl Message {
    /// The entry's `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::CoordinatorBeat(_) | Message::WorkerBeat(_) => "beat",
            Message::End { .. } => "end",
            Message::Hello(_) => "hello",
            Message::Started(_) => "started",
            Message::Share(_) => "share",
            Message::Result(_) => "result",
            Message::Bye(_) => "bye",
            Message::Welcome(_) => "welcome",
            Message::Reject(_) => "reject",
            Message::Assign(_) => "assign",
            Message::Cancel(_) => "cancel",
            Message::Context(_) => "context",
        }
    }

    /// The stream kind it travels on.
    pub fn stream(&self) -> Stream {
        match self {
            Message::CoordinatorBeat(_) | Message::End { .. } => Stream::Control,
            Message::Hello(_)
            | Message::Started(_)
            | Message::Share(_)
            | Message::Result(_)
            | Message::Bye(_) => Stream::Up,
            Message::WorkerBeat(_) => Stream::Beats,
            Message::Welcome(_)
            | Message::Reject(_)
            | Message::Assign(_)
            | Message::Cancel(_)
            | Message::Context(_) => Stream::Inbox,
        }
    }

    /// The worker a worker's message claims to come from (whose key must sign it).
    pub fn sender_worker(&self) -> Option<&str> {
        match self {
            Message::Hello(h) => Some(&h.worker),
            Message::Started(a) => Some(&a.worker),
            Message::Share(s) => Some(&s.at.worker),
            Message::Result(r) => Some(&r.at.worker),
            Message::Bye(b) => Some(&b.worker),
            Message::WorkerBeat(b) => Some(&b.worker),
            _ => None,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        let json = match self {
            Message::CoordinatorBeat(m) => serde_json::to_string(m),
            Message::End { coordinator } => serde_json::to_string(&CoordinatorOnly {
                coordinator: coordinator.clone(),
            }),
            Message::Hello(m) => serde_json::to_string(m),
            Message::Started(m) => serde_json::to_string(m),
            Message::Share(m) => serde_json::to_string(m),
            Message::Result(m) => serde_json::to_string(m),
            Message::Bye(m) => serde_json::to_string(m),
            Message::WorkerBeat(m) => serde_json::to_string(m),
            Message::Welcome(m) => serde_json::to_string(m),
            Message::Reject(m) => serde_json::to_string(m),
            Message::Assign(m) => serde_json::to_string(m),
            Message::Cancel(m) => serde_json::to_string(m),
            Message::Context(m) => serde_json::to_string(m),
        };
        json.expect("protocol messages serialize")
    }

    /// Reads a body of `kind` found on a stream of kind `stream`.
    pub fn parse(stream: Stream, kind: &str, body: &str) -> Result<Message, String> {
        fn de<T: for<'de> Deserialize<'de>>(body: &str) -> Result<T, String> {
            serde_json::from_str(body).map_err(|e| format!("bad body: {e}"))
        }
        Ok(match (stream, kind) {
            (Stream::Control, "beat") => Message::CoordinatorBeat(de(body)?),
            (Stream::Control, "end") => Message::End {
                coordinator: de::<CoordinatorOnly>(body)?.coordinator,
            },
            (Stream::Up, "hello") => Message::Hello(de(body)?),
            (Stream::Up, "started") => Message::Started(de(body)?),
            (Stream::Up, "share") => Message::Share(de(body)?),
            (Stream::Up, "result") => Message::Result(de(body)?),
            (Stream::Up, "bye") => Message::Bye(de(body)?),
            (Stream::Beats, "beat") => Message::WorkerBeat(de(body)?),
            (Stream::Inbox, "welcome") => Message::Welcome(de(body)?),
            (Stream::Inbox, "reject") => Message::Reject(de(body)?),
            (Stream::Inbox, "assign") => Message::Assign(Box::new(de(body)?)),
            (Stream::Inbox, "cancel") => Message::Cancel(de(body)?),
            (Stream::Inbox, "context") => Message::Context(de(body)?),
            _ => return Err(format!("unknown kind `{kind}`")),
        })
    }
}

/// A stream entry's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `v`.
    pub v: String,
    /// `kind`.
    pub kind: String,
    /// `body`.
    pub body: String,
    /// `sig`: base64, or empty when unsigned.
    pub sig: String,
}

impl Entry {
    /// The fields in the order they are written.
    pub fn fields(&self) -> [(&'static str, &str); 4] {
        [
            ("v", &self.v),
            ("kind", &self.kind),
            ("body", &self.body),
            ("sig", &self.sig),
        ]
    }

    /// An entry from the field/value pairs Redis returned; `None` if one is missing.
    pub fn from_fields<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> Option<Entry> {
        let mut map: BTreeMap<&str, String> = pairs.into_iter().collect();
        Some(Entry {
            v: map.remove("v")?,
            kind: map.remove("kind")?,
            body: map.remove("body")?,
            sig: map.remove("sig")?,
        })
    }
}

/// Why an entry was not acted on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// Not an entry of this protocol version, or not readable.
    #[error("malformed entry: {0}")]
    Malformed(String),
    /// Its signature is missing or does not verify.
    #[error("forged {kind}: {reason}")]
    Forged {
        /// The kind it claimed.
        kind: String,
        /// What failed.
        reason: String,
    },
}

/// The bytes a signature covers: the version, the stream key, the kind and the body.
fn signed_bytes(stream_key: &str, kind: &str, body: &str) -> Vec<u8> {
    format!("taskdist/{VERSION}\n{stream_key}\n{kind}\n{body}").into_bytes()
}

/// Makes the entry for `message` on `stream_key`, signed with `key` if there is one.
pub fn seal(key: Option<&SigningKey>, stream_key: &str, message: &Message) -> Entry {
    let kind = message.kind();
    let body = message.body();
    let sig = key.map_or_else(String::new, |key| {
        B64.encode(key.sign(&signed_bytes(stream_key, kind, &body)).to_bytes())
    });
    Entry {
        v: VERSION.to_string(),
        kind: kind.to_string(),
        body,
        sig,
    }
}

/// Who may have signed what a reader accepts.
pub enum Trust<'a> {
    /// An unsigned run: nothing is verified.
    Nobody,
    /// Only this key (a worker checking its coordinator).
    Key(&'a VerifyingKey),
    /// The key listed for the worker the message names (a coordinator checking workers).
    List(&'a BTreeMap<String, VerifyingKey>),
}

/// Reads and verifies an entry found on `stream_key`.
pub fn open(
    stream: Stream,
    stream_key: &str,
    entry: &Entry,
    trust: &Trust<'_>,
) -> Result<Message, Rejected> {
    if entry.v != VERSION {
        return Err(Rejected::Malformed(format!(
            "version `{}`, this reads {VERSION}",
            entry.v
        )));
    }
    let message = Message::parse(stream, &entry.kind, &entry.body).map_err(Rejected::Malformed)?;
    let forged = |reason: String| Rejected::Forged {
        kind: entry.kind.clone(),
        reason,
    };
    let key = match trust {
        Trust::Nobody => return Ok(message),
        Trust::Key(key) => *key,
        Trust::List(list) => {
            let worker = message
                .sender_worker()
                .ok_or_else(|| forged("not a worker's message".to_string()))?;
            list.get(worker)
                .ok_or_else(|| forged(format!("worker `{worker}` is not in the trust list")))?
        }
    };
    if entry.sig.is_empty() {
        return Err(forged("unsigned".to_string()));
    }
    let bytes: [u8; 64] = B64
        .decode(&entry.sig)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| forged("the signature is not 64 bytes of base64".to_string()))?;
    key.verify_strict(
        &signed_bytes(stream_key, &entry.kind, &entry.body),
        &Signature::from_bytes(&bytes),
    )
    .map_err(|_| forged("the signature does not verify".to_string()))?;
    Ok(message)
}

/// A key file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// It cannot be read or written.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Its contents are not a key of this kind.
    #[error("{}:{line}: {reason}", .path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// `keygen` would overwrite a key.
    #[error("{} exists; keygen never overwrites a key", .path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
}

const SECRET_TAG: &str = "taskdist-ed25519-secret";
const PUBLIC_TAG: &str = "taskdist-ed25519";

fn read(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn decode32(text: &str) -> Option<[u8; 32]> {
    B64.decode(text).ok()?.try_into().ok()
}

/// Reads a secret key file written by [`keygen`].
pub fn read_secret(path: &Path) -> Result<SigningKey, KeyError> {
    let text = read(path)?;
    let invalid = |reason: &str| KeyError::Invalid {
        path: path.to_path_buf(),
        line: 1,
        reason: reason.to_string(),
    };
    let mut words = text.split_whitespace();
    if words.next() != Some(SECRET_TAG) {
        return Err(invalid(&format!("not a secret key (no `{SECRET_TAG}`)")));
    }
    let seed = words
        .next()
        .and_then(decode32)
        .ok_or_else(|| invalid("the key is not 32 bytes of base64"))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Reads a public key file or trust list: worker id → key, one `.pub` line each.
pub fn read_public(path: &Path) -> Result<BTreeMap<String, VerifyingKey>, KeyError> {
    let text = read(path)?;
    let mut keys = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let invalid = |reason: String| KeyError::Invalid {
            path: path.to_path_buf(),
            line: n + 1,
            reason,
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        let [tag, key, name] = words[..] else {
            return Err(invalid(format!(
                "expected `{PUBLIC_TAG} <base64 key> <name>`"
            )));
        };
        if tag != PUBLIC_TAG {
            return Err(invalid(format!("not a public key (no `{PUBLIC_TAG}`)")));
        }
        let key = decode32(key)
            .and_then(|b| VerifyingKey::from_bytes(&b).ok())
            .ok_or_else(|| invalid("the key is not a 32-byte Ed25519 public key".to_string()))?;
        if keys.insert(name.to_string(), key).is_some() {
            return Err(invalid(format!("`{name}` is listed twice")));
        }
    }
    Ok(keys)
}

/// The single key of a public key file (the coordinator's, for workers).
pub fn read_one_public(path: &Path) -> Result<VerifyingKey, KeyError> {
    let keys = read_public(path)?;
    let mut values = keys.into_values();
    match (values.next(), values.next()) {
        (Some(key), None) => Ok(key),
        _ => Err(KeyError::Invalid {
            path: path.to_path_buf(),
            line: 1,
            reason: "expected exactly one public key".to_string(),
        }),
    }
}

/// Writes `dir/NAME.key` (mode 0600) and `dir/NAME.pub` from `seed`; returns their paths.
pub fn keygen(dir: &Path, name: &str, seed: [u8; 32]) -> Result<(PathBuf, PathBuf), KeyError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let secret = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    for path in [&secret, &public] {
        if path.exists() {
            return Err(KeyError::Exists { path: path.clone() });
        }
    }
    let key = SigningKey::from_bytes(&seed);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| KeyError::Io { path, source }
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&secret)
        .map_err(io(&secret))?;
    writeln!(file, "{SECRET_TAG} {}", B64.encode(seed)).map_err(io(&secret))?;
    let line = format!(
        "{PUBLIC_TAG} {} {name}\n",
        B64.encode(key.verifying_key().to_bytes())
    );
    std::fs::write(&public, line).map_err(io(&public))?;
    Ok((secret, public))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn started() -> Message {
        Message::Started(AttemptRef {
            worker: "w1".into(),
            instance: "i".into(),
            coordinator: "c".into(),
            task: 3,
            attempt: 2,
        })
    }

    #[test]
    fn entries_round_trip_and_verify() {
        let k = key(1);
        let list = BTreeMap::from([("w1".to_string(), k.verifying_key())]);
        let entry = seal(Some(&k), UP, &started());
        assert_eq!(entry.kind, "started");
        let back = open(Stream::Up, UP, &entry, &Trust::List(&list)).unwrap();
        assert_eq!(back, started());
        let unsigned = seal(None, UP, &started());
        assert_eq!(
            open(Stream::Up, UP, &unsigned, &Trust::Nobody).unwrap(),
            started()
        );
    }

    #[test]
    fn forged_tampered_and_moved_entries_are_refused() {
        let (k, other) = (key(1), key(2));
        let list = BTreeMap::from([("w1".to_string(), k.verifying_key())]);
        let trust = Trust::List(&list);
        let by_other = seal(Some(&other), UP, &started());
        assert!(matches!(
            open(Stream::Up, UP, &by_other, &trust),
            Err(Rejected::Forged { .. })
        ));
        let mut tampered = seal(Some(&k), UP, &started());
        tampered.body = tampered.body.replace("\"attempt\":2", "\"attempt\":9");
        assert!(matches!(
            open(Stream::Up, UP, &tampered, &trust),
            Err(Rejected::Forged { .. })
        ));
        let unsigned = seal(None, UP, &started());
        assert!(matches!(
            open(Stream::Up, UP, &unsigned, &trust),
            Err(Rejected::Forged { reason, .. }) if reason == "unsigned"
        ));
        // An assignment signed for w1's inbox does not verify in w2's.
        let c = key(3);
        let cancel = Message::Cancel(AttemptOrder {
            to: To {
                coordinator: "c".into(),
                worker: "w1".into(),
                instance: "i".into(),
            },
            task: 0,
            attempt: 1,
        });
        let entry = seal(Some(&c), &inbox("w1"), &cancel);
        let vk = c.verifying_key();
        assert!(open(Stream::Inbox, &inbox("w1"), &entry, &Trust::Key(&vk)).is_ok());
        assert!(open(Stream::Inbox, &inbox("w2"), &entry, &Trust::Key(&vk)).is_err());
        // A worker not on the list is refused whatever it signs.
        let hello = Message::Hello(Hello {
            worker: "intruder".into(),
            instance: "i".into(),
            capabilities: None,
            slots: 1,
            speed: 1.0,
        });
        let entry = seal(Some(&k), UP, &hello);
        assert!(matches!(
            open(Stream::Up, UP, &entry, &trust),
            Err(Rejected::Forged { reason, .. }) if reason.contains("not in the trust list")
        ));
    }

    #[test]
    fn malformed_entries_are_refused() {
        let mut entry = seal(None, UP, &started());
        entry.v = "2".into();
        assert!(matches!(
            open(Stream::Up, UP, &entry, &Trust::Nobody),
            Err(Rejected::Malformed(_))
        ));
        let mut entry = seal(None, UP, &started());
        entry.kind = "launch".into();
        assert!(matches!(
            open(Stream::Up, UP, &entry, &Trust::Nobody),
            Err(Rejected::Malformed(m)) if m.contains("unknown kind")
        ));
        assert!(Entry::from_fields([("v", "1".to_string())]).is_none());
    }

    #[test]
    fn key_files_round_trip_and_are_checked() {
        let dir = crate::scratch::scratch("keys");
        let (secret, public) = keygen(&dir, "w1", [7; 32]).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let sk = read_secret(&secret).unwrap();
        let list = read_public(&public).unwrap();
        assert_eq!(list["w1"], sk.verifying_key());
        assert_eq!(read_one_public(&public).unwrap(), sk.verifying_key());
        assert!(matches!(
            keygen(&dir, "w1", [8; 32]),
            Err(KeyError::Exists { .. })
        ));
        assert!(matches!(
            read_secret(&public),
            Err(KeyError::Invalid { line: 1, .. })
        ));
        std::fs::write(dir.join("bad.pub"), "# c\n\ntaskdist-ed25519 AAAA w\n").unwrap();
        assert!(matches!(
            read_public(&dir.join("bad.pub")),
            Err(KeyError::Invalid { line: 3, .. })
        ));
    }

    #[test]
    fn worker_ids() {
        assert!(valid_worker_id("gpu-1.a_b"));
        assert!(!valid_worker_id(""));
        assert!(!valid_worker_id("a:b"));
        assert!(!valid_worker_id(&"x".repeat(65)));
    }
}
