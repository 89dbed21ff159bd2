//! The code interpreter (port 49999): `POST /execute` streams an execution
//! as newline-delimited JSON, in persistent contexts (`/contexts`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, Path, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use e2b_native_core::Utf8Decoder;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::http::{ApiError, Failure};
pub(crate) use crate::kernel::Contexts;
use crate::kernel::{self, Context, Kernel, KernelKind};
use crate::state::{App, Sandbox};
use crate::stream;

/// A `keepalive` line after this much silence: it is also how a client
/// that went away is noticed (the write fails).
const KEEPALIVE: Duration = Duration::from_secs(1);
/// After an interrupt (the client went away), how long the kernel has to
/// finish before it is killed (and restarted on the next execution).
const INTERRUPT_GRACE: Duration = Duration::from_secs(5);
const CHUNK: usize = 64 << 10;
/// The largest `/execute` body (the code and its env).
const MAX_CODE: usize = 16 << 20;

pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/health", get(|| async { Json("OK") }))
        .route("/execute", post(execute))
        .route("/contexts", post(create_context).get(list_contexts))
        .route("/contexts/{id}", delete(delete_context))
        .route("/contexts/{id}/restart", post(restart_context))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            crate::auth::authorize,
        ))
        .layer(DefaultBodyLimit::max(MAX_CODE))
        .with_state(app)
}

/// A new sandbox's code interpreter: its default contexts exist from the
/// start (their kernels start on first use); Python's is warmed up now,
/// except for the `base` template, which has no code interpreter in E2B.
pub(crate) fn open(app: &Arc<App>, sandbox: &Arc<Sandbox>) {
    let home = e2b_native_core::WORK_DIR.to_string();
    if app.runtimes.python.is_some() {
        let python = sandbox
            .contexts
            .create(KernelKind::Python, "python", home.clone(), true);
        if sandbox.template_id != "base" {
            tokio::spawn(warm(app.clone(), sandbox.clone(), python));
        }
    }
    if app.runtimes.node.is_some() {
        sandbox
            .contexts
            .create(KernelKind::JavaScript, "javascript", home, true);
    }
}

#[derive(Debug, Default, Deserialize)]
struct ExecuteRequest {
    code: Option<String>,
    context_id: Option<String>,
    language: Option<String>,
    env_vars: Option<BTreeMap<String, String>>,
}

async fn execute(
    State(app): State<Arc<App>>,
    Extension(sandbox): Extension<Arc<Sandbox>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: ExecuteRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(Failure::Unprocessable, format!("invalid request body: {e}")))?;
    let code = request
        .code
        .ok_or_else(|| ApiError::new(Failure::Unprocessable, "code is required"))?;
    let env = request.env_vars.unwrap_or_default();
    e2b_native_core::validate_env(&env).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let context = match (request.context_id, request.language) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "only one of context_id and language may be given",
            ))
        }
        (Some(id), None) => sandbox
            .contexts
            .get(&id)
            .ok_or_else(|| ApiError::not_found(format!("context {id} not found")))?,
        (None, language) => {
            let (kind, _) = kernel::language(language.as_deref()).map_err(ApiError::internal)?;
            let reported = match kind {
                kernel::KernelKind::Python => "python",
                kernel::KernelKind::JavaScript => "javascript",
            };
            sandbox
                .contexts
                .create(kind, reported, e2b_native_core::WORK_DIR.into(), true)
        }
    };
    let (tx, rx) = mpsc::channel(32);
    tokio::spawn(run(app, sandbox, context, code, env, tx));
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/x-ndjson")
        .body(stream::body(rx))
        .expect("a valid response"))
}

fn line(value: Value) -> Bytes {
    let mut bytes = serde_json::to_vec(&value).expect("JSON serializes");
    bytes.push(b'\n');
    bytes.into()
}

fn output(kind: &str, text: String) -> Bytes {
    line(
        json!({ "type": kind, "text": text, "timestamp": crate::util::rfc3339(SystemTime::now()) }),
    )
}

fn error(name: &str, value: &str) -> Bytes {
    line(
        json!({ "type": "error", "name": name, "value": value, "traceback": format!("{name}: {value}") }),
    )
}

enum Outcome {
    Done,
    /// The kernel died or broke its protocol; it is restarted next time.
    Died(String),
}

/// One execution, from waiting for the context to `end_of_execution`.
async fn run(
    app: Arc<App>,
    sandbox: Arc<Sandbox>,
    context: Arc<Context>,
    code: String,
    env: BTreeMap<String, String>,
    tx: mpsc::Sender<Bytes>,
) {
    // Executions in one context run one after the other; a client that
    // leaves while waiting gives up its turn.
    let mut slot = tokio::select! {
        slot = context.kernel.lock() => slot,
        _ = tx.closed() => return,
    };
    if slot.is_none() {
        match Kernel::start(&app, &sandbox, &context).await {
            Ok(kernel) => *slot = Some(kernel),
            Err(message) => {
                let _ = tx.send(error("ContextStartError", &message)).await;
                let _ = tx.send(line(json!({ "type": "end_of_execution" }))).await;
                return;
            }
        }
    }
    let kernel = slot.as_mut().expect("started above");
    let outcome = match kernel.request(&code, &env).await {
        Err(e) => Outcome::Died(format!("the kernel did not take the code: {e}")),
        Ok(()) => follow(&sandbox, kernel, &tx).await,
    };
    // Output written before the kernel said it was done (or died).
    let (mut out, mut err) = (Utf8Decoder::default(), Utf8Decoder::default());
    for (kind, pipe, decoder) in [
        ("stdout", &kernel.stdout, &mut out),
        ("stderr", &kernel.stderr, &mut err),
    ] {
        let text = decoder.push(&stream::drain(pipe, 1 << 20)) + &decoder.finish();
        if !text.is_empty() {
            let _ = tx.send(output(kind, text)).await;
        }
    }
    if let Outcome::Died(why) = outcome {
        let _ = sandbox
            .session
            .signal(kernel.pid, libc::SIGKILL, true)
            .await;
        *slot = None;
        // A kernel dies first when its whole sandbox is being killed: the
        // server forgets a sandbox before killing it; one that died by
        // itself is gone a moment later.
        let forgotten = app
            .get(&sandbox.id)
            .is_none_or(|s| !Arc::ptr_eq(&s, &sandbox));
        let gone = tokio::time::timeout(Duration::from_millis(300), sandbox.session.gone());
        if forgotten || gone.await.is_ok() {
            let _ = tx.send(stream::ABORT).await;
            return;
        }
        let _ = tx.send(error("ContextRestarting", &why)).await;
    }
    let _ = tx.send(line(json!({ "type": "end_of_execution" }))).await;
}

async fn follow(sandbox: &Sandbox, kernel: &mut Kernel, tx: &mpsc::Sender<Bytes>) -> Outcome {
    let (mut out, mut err) = (Utf8Decoder::default(), Utf8Decoder::default());
    let (mut out_buf, mut err_buf) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    let mut attached = true;
    let mut give_up: Option<Instant> = None;
    let quiet = tokio::time::sleep(KEEPALIVE);
    tokio::pin!(quiet);
    loop {
        let frame = tokio::select! {
            reply = kernel::reply(&mut kernel.replies, &mut kernel.partial) => match reply {
                None => return Outcome::Died("the kernel exited or broke its protocol".into()),
                Some(reply) => {
                    // What the code wrote before a result, an error or the
                    // end comes before it (the code runs after `started`).
                    let started = reply.get("type").and_then(Value::as_str) == Some("started");
                    for (kind, pipe, decoder) in [("stdout", &kernel.stdout, &mut out), ("stderr", &kernel.stderr, &mut err)] {
                        if started {
                            break;
                        }
                        let text = decoder.push(&stream::drain(pipe, 1 << 20));
                        if !text.is_empty() && attached {
                            // A client that left is noticed below (tx.closed()).
                            let _ = tx.send(output(kind, text)).await;
                        }
                    }
                    match reply.get("type").and_then(Value::as_str) {
                    Some("done") => return Outcome::Done,
                    Some("started") => line(json!({
                        "type": "number_of_executions",
                        "execution_count": reply.get("count").cloned().unwrap_or(json!(0)),
                    })),
                    Some("result") => line(reply),
                    Some("error") => line(json!({
                        "type": "error",
                        "name": reply.get("name").and_then(Value::as_str).unwrap_or("Error"),
                        "value": reply.get("value").and_then(Value::as_str).unwrap_or(""),
                        "traceback": reply.get("traceback").and_then(Value::as_str).unwrap_or(""),
                    })),
                    _ => continue,
                    }
                }
            },
            n = kernel.stdout.read(&mut out_buf) => match n {
                Ok(n) if n > 0 => match out.push(&out_buf[..n]) {
                    text if text.is_empty() => continue,
                    text => output("stdout", text),
                },
                _ => return Outcome::Died("the kernel closed its stdout".into()),
            },
            n = kernel.stderr.read(&mut err_buf) => match n {
                Ok(n) if n > 0 => match err.push(&err_buf[..n]) {
                    text if text.is_empty() => continue,
                    text => output("stderr", text),
                },
                _ => return Outcome::Died("the kernel closed its stderr".into()),
            },
            status = &mut kernel.ended => return Outcome::Died(format!("the kernel ended ({status:?})")),
            _ = &mut quiet => line(json!({ "type": "keepalive" })),
            _ = tx.closed(), if attached => {
                // No interrupt endpoint: a client that leaves interrupts.
                attached = false;
                let _ = sandbox.session.signal(kernel.pid, libc::SIGINT, false).await;
                give_up = Some(Instant::now() + INTERRUPT_GRACE);
                continue;
            }
            _ = sleep_until(give_up) => {
                return Outcome::Died("the execution did not stop when interrupted".into());
            }
        };
        quiet.as_mut().reset(Instant::now() + KEEPALIVE);
        if attached && tx.send(frame).await.is_err() {
            attached = false;
            let _ = sandbox
                .session
                .signal(kernel.pid, libc::SIGINT, false)
                .await;
            give_up = Some(Instant::now() + INTERRUPT_GRACE);
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Starts a context's kernel ahead of its first execution.
pub(crate) async fn warm(app: Arc<App>, sandbox: Arc<Sandbox>, context: Arc<Context>) {
    let mut slot = context.kernel.lock().await;
    if slot.is_none() {
        if let Ok(kernel) = Kernel::start(&app, &sandbox, &context).await {
            *slot = Some(kernel);
        }
    }
}

// ---- /contexts ---------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct NewContext {
    language: Option<String>,
    cwd: Option<String>,
}

fn context_json(context: &Context) -> Value {
    json!({ "id": context.id, "language": context.language, "cwd": context.cwd })
}

async fn create_context(
    State(app): State<Arc<App>>,
    Extension(sandbox): Extension<Arc<Sandbox>>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request: NewContext = if body.iter().all(u8::is_ascii_whitespace) {
        NewContext::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(Failure::Unprocessable, format!("invalid request body: {e}"))
        })?
    };
    let (kind, language) =
        kernel::language(request.language.as_deref()).map_err(ApiError::internal)?;
    let cwd = request
        .cwd
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| e2b_native_core::WORK_DIR.into());
    let context = sandbox.contexts.create(kind, language, cwd, false);
    // Start it now, so that a bad cwd fails here rather than at first use.
    let mut slot = context.kernel.lock().await;
    match Kernel::start(&app, &sandbox, &context).await {
        Ok(kernel) => *slot = Some(kernel),
        Err(message) => {
            drop(slot);
            sandbox.contexts.remove(&context.id);
            return Err(ApiError::internal(message));
        }
    }
    Ok(Json(context_json(&context)))
}

async fn list_contexts(
    Extension(sandbox): Extension<Arc<Sandbox>>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(Value::Array(
        sandbox
            .contexts
            .all()
            .iter()
            .map(|c| context_json(c))
            .collect(),
    )))
}

async fn delete_context(
    Extension(sandbox): Extension<Arc<Sandbox>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let context = sandbox
        .contexts
        .remove(&id)
        .ok_or_else(|| ApiError::not_found(format!("context {id} not found")))?;
    stop(&sandbox, &context).await;
    Ok(Json(Value::Null).into_response())
}

async fn restart_context(
    State(app): State<Arc<App>>,
    Extension(sandbox): Extension<Arc<Sandbox>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let context = sandbox
        .contexts
        .get(&id)
        .ok_or_else(|| ApiError::not_found(format!("context {id} not found")))?;
    stop(&sandbox, &context).await;
    let mut slot = context.kernel.lock().await;
    *slot = Some(
        Kernel::start(&app, &sandbox, &context)
            .await
            .map_err(ApiError::internal)?,
    );
    Ok(Json(Value::Null).into_response())
}

/// Kills the context's kernel; an execution in progress ends with an error.
async fn stop(sandbox: &Sandbox, context: &Context) {
    let pid = context.pid.swap(0, std::sync::atomic::Ordering::Relaxed);
    if pid > 0 {
        let _ = sandbox.session.signal(pid, libc::SIGKILL, true).await;
    }
    context.kernel.lock().await.take();
}
