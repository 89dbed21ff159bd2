//! envd, the in-sandbox daemon (port 49983): processes over Connect RPC
//! (`process.Process/Start`, `SendSignal`, `List`), the filesystem RPCs,
//! file upload and download (`/files`), `/health` and `/envs`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::multipart::MultipartError;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use e2b_native_local::protocol::session::{EntryInfo, EntryKind, FileOp};
use e2b_native_local::session::{Command, ExitStatus};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::connect;
use crate::http::{header, ApiError, Connect, Failure};
use crate::state::{lock, App, ProcessInfo, Sandbox};
use crate::stream;

/// envd's output chunks are at most 32 KiB.
const CHUNK: usize = 32 << 10;
/// Keepalives when the client asks for none (envd's default).
const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(90);
/// The longest keepalive interval honoured (a larger one is this).
const MAX_KEEPALIVE_SECS: u64 = 86_400;

pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/health", get(|| async { StatusCode::NO_CONTENT }))
        .route("/envs", get(envs))
        .route("/files", get(download).post(upload))
        .route("/process.Process/Start", post(start))
        .route("/process.Process/SendSignal", post(send_signal))
        .route("/process.Process/List", post(list))
        .route("/filesystem.Filesystem/{method}", post(filesystem))
        .route("/{service}/{method}", post(unimplemented))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            crate::http::limit_body,
        ))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            crate::auth::authorize,
        ))
        .layer(DefaultBodyLimit::disable()) // bounded in `limit_body`
        .with_state(app)
}

async fn envs(Extension(sandbox): Extension<Arc<Sandbox>>) -> Json<BTreeMap<String, String>> {
    Json(sandbox.env_vars.clone())
}

async fn unimplemented(Path((service, method)): Path<(String, String)>) -> Connect {
    ApiError::new(
        Failure::NotImplemented,
        format!("{service}/{method} is not implemented by e2b-native serve"),
    )
    .connect()
}

// ---- process.Process ------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct StartRequest {
    process: Option<ProcessConfig>,
    pty: Option<Value>,
    tag: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ProcessConfig {
    #[serde(default)]
    cmd: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    envs: BTreeMap<String, String>,
    cwd: Option<String>,
}

/// A server stream: 200, then envelopes from the task.
fn connect_stream(rx: mpsc::Receiver<Bytes>) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/connect+json")
        .body(stream::body(rx))
        .expect("a valid response")
}

/// A stream that fails before its first message.
fn failed_stream(error: ApiError) -> Response {
    let (tx, rx) = mpsc::channel(1);
    let _ = tx.try_send(connect::end_stream(Some(&error)));
    connect_stream(rx)
}

async fn start(
    State(app): State<Arc<App>>,
    Extension(sandbox): Extension<Arc<Sandbox>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: StartRequest = match connect::parse_stream_request(&body) {
        Ok(r) => r,
        Err(e) => return failed_stream(e),
    };
    if request.pty.is_some() {
        return failed_stream(ApiError::new(
            Failure::NotImplemented,
            "PTY sessions are not supported by e2b-native serve",
        ));
    }
    let config = request.process.unwrap_or_default();
    if config.cmd.is_empty() {
        return failed_stream(ApiError::new(Failure::Invalid, "process.cmd is required"));
    }
    let lifetime = match connect_timeout(&headers) {
        Ok(l) => l,
        Err(e) => return failed_stream(e),
    };
    let keepalive = header(&headers, "keepalive-ping-interval")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map(|s| Duration::from_secs(s.min(MAX_KEEPALIVE_SECS)))
        .unwrap_or(DEFAULT_KEEPALIVE);
    let mut env = sandbox.env(&app.runtimes);
    env.extend(config.envs.clone());
    let mut argv = vec![config.cmd.clone()];
    argv.extend(config.args.iter().cloned());
    let command = Command {
        argv,
        env: env.into_iter().collect(),
        cwd: config.cwd.clone().unwrap_or_default(),
        pipes: Vec::new(),
    };
    let process = match sandbox.session.spawn(command).await {
        Ok(p) => p,
        Err(e) => return failed_stream(e.into()),
    };
    let info = ProcessInfo {
        cmd: config.cmd,
        args: config.args,
        envs: config.envs,
        cwd: config.cwd,
        tag: request.tag,
    };
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(follow(sandbox, process, info, tx, lifetime, keepalive));
    connect_stream(rx)
}

/// Connect-Timeout-Ms, which bounds the process's life; 0 or absent: no
/// bound. The Connect protocol allows at most 10 digits.
fn connect_timeout(headers: &HeaderMap) -> Result<Option<Duration>, ApiError> {
    let Some(text) = header(headers, "connect-timeout-ms") else {
        return Ok(None);
    };
    let ms = Some(text)
        .filter(|t| (1..=10).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse::<u64>().ok())
        .ok_or_else(|| {
            ApiError::new(
                Failure::Invalid,
                format!("Connect-Timeout-Ms must be 1 to 10 digits (milliseconds), got {text:?}"),
            )
        })?;
    Ok((ms > 0).then(|| Duration::from_millis(ms)))
}

/// Kills a followed process whose task ends early (a panic): no process
/// outlives the stream that reports it.
struct Reaper {
    sandbox: Arc<Sandbox>,
    pid: i32,
    armed: bool,
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        lock(&self.sandbox.processes).remove(&self.pid);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (sandbox, pid) = (self.sandbox.clone(), self.pid);
            runtime.spawn(async move {
                let _ = sandbox.session.signal(pid, libc::SIGKILL, true).await;
            });
        }
    }
}

fn event(event: Value) -> Bytes {
    connect::message(&json!({ "event": event }))
}

/// Streams one process: start, output, keepalives, end. The process is
/// killed when its lifetime passes; a client that goes away does not kill
/// it (as with envd), its output is then dropped.
async fn follow(
    sandbox: Arc<Sandbox>,
    mut process: e2b_native_local::session::Process,
    info: ProcessInfo,
    tx: mpsc::Sender<Bytes>,
    lifetime: Option<Duration>,
    keepalive: Duration,
) {
    let pid = process.pid;
    lock(&sandbox.processes).insert(pid, info);
    let mut reaper = Reaper {
        sandbox: sandbox.clone(),
        pid,
        armed: true,
    };
    let mut attached = true;
    send(
        &tx,
        &mut attached,
        event(json!({ "start": { "pid": pid } })),
    )
    .await;
    // Past the clock's range: no bound.
    let deadline = lifetime.and_then(|l| Instant::now().checked_add(l));
    let mut timed_out = false;
    let (mut out_open, mut err_open) = (true, true);
    let (mut out_buf, mut err_buf) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    let quiet = tokio::time::sleep(keepalive);
    tokio::pin!(quiet);
    let status = loop {
        tokio::select! {
            n = process.stdout.read(&mut out_buf), if out_open => match n {
                Ok(n) if n > 0 => {
                    send(&tx, &mut attached, data("stdout", &out_buf[..n])).await;
                    quiet.as_mut().reset(Instant::now() + keepalive);
                }
                _ => out_open = false,
            },
            n = process.stderr.read(&mut err_buf), if err_open => match n {
                Ok(n) if n > 0 => {
                    send(&tx, &mut attached, data("stderr", &err_buf[..n])).await;
                    quiet.as_mut().reset(Instant::now() + keepalive);
                }
                _ => err_open = false,
            },
            status = &mut process.ended => break status,
            _ = sleep_until_opt(deadline), if !timed_out => {
                timed_out = true;
                let _ = sandbox.session.signal(pid, libc::SIGKILL, true).await;
            }
            _ = &mut quiet => {
                send(&tx, &mut attached, event(json!({ "keepalive": {} }))).await;
                quiet.as_mut().reset(Instant::now() + keepalive);
            }
            _ = tx.closed(), if attached => attached = false,
        }
    };
    // What it wrote before it exited; not what its children write later.
    for (name, pipe, open) in [
        ("stdout", &process.stdout, out_open),
        ("stderr", &process.stderr, err_open),
    ] {
        if open {
            for chunk in e2b_native_local::session::drain(pipe, 1 << 20).chunks(CHUNK) {
                send(&tx, &mut attached, data(name, chunk)).await;
            }
        }
    }
    lock(&sandbox.processes).remove(&pid);
    reaper.armed = false;
    let end = match status {
        ExitStatus::Code(code) => {
            let status = format!("exit status {code}");
            let mut end = json!({ "exitCode": code, "exited": true, "status": status });
            if code != 0 {
                end["error"] = json!(status);
            }
            Some(end)
        }
        ExitStatus::Signal(signal) => {
            let status = format!("signal: {}", signal_name(signal));
            Some(json!({ "exitCode": -1, "exited": false, "status": status, "error": status }))
        }
        ExitStatus::SandboxGone => None,
    };
    if let Some(end) = &end {
        send(&tx, &mut attached, event(json!({ "end": end }))).await;
    }
    let error = if timed_out {
        Some(ApiError::new(
            Failure::Timeout,
            "the process ran past its timeout (Connect-Timeout-Ms) and was killed",
        ))
    } else if end.is_none() {
        Some(ApiError::new(
            Failure::SandboxGone,
            "the sandbox was killed while the process ran",
        ))
    } else {
        None
    };
    send(&tx, &mut attached, connect::end_stream(error.as_ref())).await;
}

async fn send(tx: &mpsc::Sender<Bytes>, attached: &mut bool, frame: Bytes) {
    if *attached && tx.send(frame).await.is_err() {
        *attached = false;
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn data(stream: &str, bytes: &[u8]) -> Bytes {
    event(json!({ "data": { stream: STANDARD.encode(bytes) } }))
}

/// How Go's os.ProcessState names a signal (envd's `status`).
fn signal_name(signal: i32) -> String {
    match signal {
        libc::SIGHUP => "hangup".into(),
        libc::SIGINT => "interrupt".into(),
        libc::SIGQUIT => "quit".into(),
        libc::SIGILL => "illegal instruction".into(),
        libc::SIGABRT => "aborted".into(),
        libc::SIGBUS => "bus error".into(),
        libc::SIGFPE => "floating point exception".into(),
        libc::SIGKILL => "killed".into(),
        libc::SIGSEGV => "segmentation fault".into(),
        libc::SIGPIPE => "broken pipe".into(),
        libc::SIGALRM => "alarm clock".into(),
        libc::SIGTERM => "terminated".into(),
        libc::SIGXCPU => "CPU time limit exceeded".into(),
        libc::SIGXFSZ => "file size limit exceeded".into(),
        other => format!("signal {other}"),
    }
}

#[derive(Debug, Default, Deserialize)]
struct Selector {
    pid: Option<i64>,
    tag: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct SignalRequest {
    #[serde(default)]
    process: Selector,
    signal: Option<Value>,
}

/// Finds a process started through Start, by pid or tag.
fn select(sandbox: &Sandbox, selector: &Selector) -> Result<i32, ApiError> {
    let processes = lock(&sandbox.processes);
    let found = match (selector.pid, &selector.tag) {
        (Some(pid), _) => processes.contains_key(&(pid as i32)).then_some(pid as i32),
        (None, Some(tag)) => processes
            .iter()
            .find(|(_, info)| info.tag.as_ref() == Some(tag))
            .map(|(pid, _)| *pid),
        (None, None) => {
            return Err(ApiError::new(
                Failure::Invalid,
                "process.pid or process.tag is required",
            ))
        }
    };
    found.ok_or_else(|| {
        ApiError::new(
            Failure::NotFound,
            format!(
                "process {} not found",
                selector
                    .pid
                    .map(|p| p.to_string())
                    .or(selector.tag.clone())
                    .unwrap_or_default()
            ),
        )
    })
}

async fn send_signal(
    Extension(sandbox): Extension<Arc<Sandbox>>,
    body: Bytes,
) -> Result<Json<Value>, Connect> {
    let request: SignalRequest = connect::parse_unary(&body).map_err(ApiError::connect)?;
    let signal = match request.signal.as_ref() {
        Some(Value::String(s)) => match s.as_str() {
            "SIGNAL_SIGKILL" => libc::SIGKILL,
            "SIGNAL_SIGTERM" => libc::SIGTERM,
            "SIGNAL_SIGINT" => libc::SIGINT,
            "SIGNAL_SIGHUP" => libc::SIGHUP,
            other => {
                return Err(ApiError::new(
                    Failure::NotImplemented,
                    format!("signal {other} is not supported"),
                )
                .connect())
            }
        },
        Some(Value::Number(n)) if matches!(n.as_i64(), Some(1 | 2 | 9 | 15)) => {
            n.as_i64().unwrap_or(9) as i32
        }
        _ => {
            return Err(ApiError::new(
                Failure::Invalid,
                "signal must be SIGNAL_SIGKILL or SIGNAL_SIGTERM",
            )
            .connect())
        }
    };
    let pid = select(&sandbox, &request.process).map_err(ApiError::connect)?;
    sandbox
        .session
        .signal(pid, signal, true)
        .await
        .map_err(|e| ApiError::from(e).connect())?;
    Ok(Json(json!({})))
}

async fn list(Extension(sandbox): Extension<Arc<Sandbox>>) -> Json<Value> {
    let processes: Vec<Value> = lock(&sandbox.processes)
        .iter()
        .map(|(pid, info)| {
            let mut config = json!({ "cmd": info.cmd, "args": info.args, "envs": info.envs });
            if let Some(cwd) = &info.cwd {
                config["cwd"] = json!(cwd);
            }
            let mut process = json!({ "config": config, "pid": pid });
            if let Some(tag) = &info.tag {
                process["tag"] = json!(tag);
            }
            process
        })
        .collect();
    Json(json!({ "processes": processes }))
}

// ---- filesystem.Filesystem ---------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct FsRequest {
    path: Option<String>,
    depth: Option<u32>,
    source: Option<String>,
    destination: Option<String>,
}

async fn filesystem(
    Extension(sandbox): Extension<Arc<Sandbox>>,
    Path(method): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, Connect> {
    let request: FsRequest = connect::parse_unary(&body).map_err(ApiError::connect)?;
    let path = || {
        request
            .path
            .clone()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| ApiError::bad_request("path is required").connect())
    };
    let op = match method.as_str() {
        "Stat" => FileOp::Stat { path: path()? },
        "ListDir" => FileOp::ListDir {
            path: path()?,
            depth: request.depth.unwrap_or(1),
        },
        "MakeDir" => FileOp::MakeDir { path: path()? },
        "Remove" => FileOp::Remove { path: path()? },
        "Move" => FileOp::Rename {
            from: request.source.clone().unwrap_or_default(),
            to: request.destination.clone().unwrap_or_default(),
        },
        other => {
            return Err(ApiError::new(
                Failure::NotImplemented,
                format!("filesystem.Filesystem/{other} is not implemented by e2b-native serve"),
            )
            .connect())
        }
    };
    let entries = sandbox
        .session
        .file_op(op)
        .await
        .map_err(|e| ApiError::from(e).connect())?;
    Ok(Json(match method.as_str() {
        "ListDir" => json!({ "entries": entries.iter().map(entry_json).collect::<Vec<_>>() }),
        "Remove" => json!({}),
        _ => json!({ "entry": entries.first().map(entry_json) }),
    }))
}

fn entry_json(entry: &EntryInfo) -> Value {
    let kind = match entry.kind {
        EntryKind::File => "FILE_TYPE_FILE",
        EntryKind::Directory => "FILE_TYPE_DIRECTORY",
        EntryKind::Symlink => "FILE_TYPE_SYMLINK",
        EntryKind::Other => "FILE_TYPE_UNSPECIFIED",
    };
    let (secs, nanos) = entry.modified;
    let modified = UNIX_EPOCH
        + Duration::from_secs(secs.max(0) as u64)
        + Duration::from_nanos(u64::from(nanos));
    let mut value = json!({
        "name": entry.name,
        "type": kind,
        "path": entry.path,
        "size": entry.size.to_string(),
        "mode": entry.mode,
        "permissions": entry.permissions,
        "owner": entry.owner,
        "group": entry.group,
        "modifiedTime": crate::util::rfc3339(modified),
        "metadata": {},
    });
    if let Some(target) = &entry.symlink_target {
        value["symlinkTarget"] = json!(target);
    }
    value
}

// ---- /files ---------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct FilesQuery {
    path: Option<String>,
    username: Option<String>,
    signature: Option<String>,
    signature_expiration: Option<i64>,
}

/// Without the access token header, a secure sandbox's /files wants E2B's
/// signature: `v1_` + unpadded base64 of SHA-256("path:operation:user:token[:exp]").
fn check_files_access(
    sandbox: &Sandbox,
    headers: &HeaderMap,
    query: &FilesQuery,
    operation: &str,
) -> Result<(), ApiError> {
    let user = query.username.as_deref().unwrap_or("");
    if !matches!(user, "" | "user" | "root") {
        return Err(ApiError::unauthorized(format!(
            "invalid user {user:?}: the sandboxes have one user, `user`"
        )));
    }
    let Some(token) = &sandbox.access_token else {
        return Ok(());
    };
    if crate::auth::token_ok(sandbox, headers) {
        return Ok(());
    }
    let denied = |why: &str| ApiError::unauthorized(why);
    let signature = query.signature.as_deref().ok_or_else(|| {
        denied("unauthorized access, please retry with a valid access token or signature")
    })?;
    let path = query.path.as_deref().unwrap_or("");
    let mut raw = format!("{path}:{operation}:{user}:{token}");
    if let Some(expiration) = query.signature_expiration {
        let now = std::time::SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs() as i64;
        if expiration < now {
            return Err(denied("the signature has expired"));
        }
        raw.push_str(&format!(":{expiration}"));
    }
    let expected = format!(
        "v1_{}",
        STANDARD_NO_PAD.encode(Sha256::digest(raw.as_bytes()))
    );
    if crate::util::same_secret(&expected, signature) {
        Ok(())
    } else {
        Err(denied("invalid signature"))
    }
}

async fn download(
    Extension(sandbox): Extension<Arc<Sandbox>>,
    Query(query): Query<FilesQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_files_access(&sandbox, &headers, &query, "read")?;
    let path = query
        .path
        .as_deref()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::bad_request("path is required"))?;
    let (entry, data) = sandbox
        .session
        .read_file(path)
        .await
        .map_err(ApiError::from)?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(data));
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/octet-stream")
        .header(
            "content-disposition",
            format!(
                "inline; filename=\"{}\"",
                entry.name.replace(['"', '\\', '\n', '\r'], "_")
            ),
        )
        .body(body)
        .expect("a valid response"))
}

async fn upload(
    State(app): State<Arc<App>>,
    Extension(sandbox): Extension<Arc<Sandbox>>,
    Query(query): Query<FilesQuery>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    check_files_access(&sandbox, request.headers(), &query, "write")?;
    if header(request.headers(), "content-encoding")
        .is_some_and(|e| !e.eq_ignore_ascii_case("identity"))
    {
        return Err(ApiError::bad_request(
            "compressed uploads are not supported by e2b-native serve: send the file uncompressed",
        ));
    }
    let content_type = header(request.headers(), "content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    let target = query.path.clone().filter(|p| !p.is_empty());
    let mut written = Vec::new();
    if content_type.starts_with("multipart/form-data") {
        let multipart = |e: MultipartError| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                crate::http::too_large(true, app.config.max_upload_bytes)
            } else {
                ApiError::bad_request(format!("invalid multipart body: {e}"))
            }
        };
        let mut form = Multipart::from_request(request, &app)
            .await
            .map_err(|e| ApiError::bad_request(format!("invalid multipart body: {e}")))?;
        loop {
            let field = form.next_field().await.map_err(multipart)?;
            let Some(mut field) = field else { break };
            if field.name() != Some("file") {
                continue;
            }
            let path = target
                .clone()
                .or_else(|| {
                    field
                        .file_name()
                        .map(str::to_string)
                        .filter(|p| !p.is_empty())
                })
                .ok_or_else(|| ApiError::bad_request("no path: give ?path= or a file name"))?;
            let mut upload = sandbox
                .session
                .write_file(&path)
                .await
                .map_err(ApiError::from)?;
            while let Some(chunk) = field.chunk().await.map_err(multipart)? {
                if upload.write(&chunk).await.is_err() {
                    break; // the operation failed: finish() says why
                }
            }
            written.push(upload.finish().await.map_err(ApiError::from)?);
        }
    } else {
        let path = target.ok_or_else(|| ApiError::bad_request("path is required"))?;
        let mut upload = sandbox
            .session
            .write_file(&path)
            .await
            .map_err(ApiError::from)?;
        let mut body = request.into_body().into_data_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                if crate::http::past_limit(&e) {
                    crate::http::too_large(true, app.config.max_upload_bytes)
                } else {
                    ApiError::bad_request(format!("reading the upload: {e}"))
                }
            })?;
            if upload.write(&chunk).await.is_err() {
                break;
            }
        }
        written.push(upload.finish().await.map_err(ApiError::from)?);
    }
    if written.is_empty() {
        return Err(ApiError::bad_request(
            "no file in the request (a multipart part named `file`)",
        ));
    }
    Ok(Json(Value::Array(
        written
            .iter()
            .map(|e| json!({ "path": e.path, "name": e.name, "type": "file" }))
            .collect(),
    )))
}
