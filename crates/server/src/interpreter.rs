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
use e2b_native_core::{Utf8Decoder, WORK_DIR};
use e2b_native_kernels::{encode_request, Event, ExecutionError, Language, Reply};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::http::{ApiError, Failure};
pub(crate) use crate::kernel::Contexts;
use crate::kernel::{self, Context, Kernel};
use crate::state::{App, Sandbox};
use crate::stream;

/// A `keepalive` line after this much silence: it is also how a client
/// that went away is noticed (the write fails).
const KEEPALIVE: Duration = Duration::from_secs(1);
/// After an interrupt (the client went away), how long the kernel has to
/// finish before it is killed (and restarted on the next execution).
const INTERRUPT_GRACE: Duration = Duration::from_secs(5);
/// SIGINT again this often until then: one that lands between two of
/// bash's commands, or as Node leaves a script, goes unanswered.
const INTERRUPT_AGAIN: Duration = Duration::from_secs(1);
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
    if app.runtimes.python.is_some() {
        let python = sandbox
            .contexts
            .create(Language::Python, WORK_DIR.into(), true);
        if sandbox.template_id != "base" {
            tokio::spawn(warm(app.clone(), sandbox.clone(), python));
        }
    }
    if app.runtimes.node.is_some() {
        sandbox
            .contexts
            .create(Language::JavaScript, WORK_DIR.into(), true);
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
            let language = Language::parse(language.as_deref())
                .map_err(|e| ApiError::internal(e.to_string()))?;
            sandbox.contexts.create(language, WORK_DIR.into(), true)
        }
    };
    // JavaScript and TypeScript cells are transformed here; bash refuses NUL.
    let request = encode_request(context.language, &code, &env)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let (tx, rx) = mpsc::channel(32);
    tokio::spawn(run(app, sandbox, context, request, tx));
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/x-ndjson")
        .body(stream::body(rx))
        .expect("a valid response"))
}

fn line(event: Event) -> Bytes {
    event.to_line().into()
}

fn output(stdout: bool, text: String) -> Bytes {
    let timestamp = crate::util::rfc3339(SystemTime::now());
    line(match stdout {
        true => Event::Stdout { text, timestamp },
        false => Event::Stderr { text, timestamp },
    })
}

fn error(name: &str, value: &str) -> Bytes {
    line(Event::Error(ExecutionError {
        name: name.into(),
        value: value.into(),
        traceback: format!("{name}: {value}"),
    }))
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
    request: Vec<u8>,
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
                let _ = tx.send(line(Event::EndOfExecution)).await;
                return;
            }
        }
    }
    let kernel = slot.as_mut().expect("started above");
    let outcome = match kernel.request(&request).await {
        Err(e) => Outcome::Died(format!("the kernel did not take the code: {e}")),
        Ok(()) => follow(&sandbox, kernel, &tx).await,
    };
    // Output written before the kernel said it was done (or died).
    let (mut out, mut err) = (Utf8Decoder::default(), Utf8Decoder::default());
    for (stdout, pipe, decoder) in [
        (true, &kernel.stdout, &mut out),
        (false, &kernel.stderr, &mut err),
    ] {
        let text = decoder.push(&stream::drain(pipe, 1 << 20)) + &decoder.finish();
        if !text.is_empty() {
            let _ = tx.send(output(stdout, text)).await;
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
        let why = format!(
            "the {} kernel exited ({why}): its state is lost; the next execution starts a new one",
            context.language
        );
        let _ = tx.send(error("ContextRestarting", &why)).await;
    }
    let _ = tx.send(line(Event::EndOfExecution)).await;
}

async fn follow(sandbox: &Sandbox, kernel: &mut Kernel, tx: &mpsc::Sender<Bytes>) -> Outcome {
    let (mut out, mut err) = (Utf8Decoder::default(), Utf8Decoder::default());
    let (mut out_buf, mut err_buf) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    let mut attached = true;
    let mut interrupt: Option<Interrupt> = None;
    let quiet = tokio::time::sleep(KEEPALIVE);
    tokio::pin!(quiet);
    loop {
        let frame = tokio::select! {
            reply = kernel::reply(&mut kernel.replies, &mut kernel.partial) => match reply {
                None => return Outcome::Died("the kernel exited or broke its protocol".into()),
                Some(Reply::Done) => {
                    send_output(kernel, [&mut out, &mut err], attached, tx).await;
                    return Outcome::Done;
                }
                Some(reply) => {
                    // What the code wrote before a result or an error comes
                    // before it (the code runs after `started`).
                    if !matches!(reply, Reply::Started { .. }) {
                        send_output(kernel, [&mut out, &mut err], attached, tx).await;
                    }
                    match reply.into_event() {
                        Some(event) => line(event),
                        None => continue,
                    }
                }
            },
            n = kernel.stdout.read(&mut out_buf) => match n {
                Ok(n) if n > 0 => match out.push(&out_buf[..n]) {
                    text if text.is_empty() => continue,
                    text => output(true, text),
                },
                _ => return Outcome::Died("the kernel closed its stdout".into()),
            },
            n = kernel.stderr.read(&mut err_buf) => match n {
                Ok(n) if n > 0 => match err.push(&err_buf[..n]) {
                    text if text.is_empty() => continue,
                    text => output(false, text),
                },
                _ => return Outcome::Died("the kernel closed its stderr".into()),
            },
            status = &mut kernel.ended => return Outcome::Died(format!("the kernel ended ({status:?})")),
            _ = &mut quiet => line(Event::Keepalive),
            _ = tx.closed(), if attached => {
                // No interrupt endpoint: a client that leaves interrupts.
                attached = false;
                interrupt = Some(Interrupt::start(sandbox, kernel.pid).await);
                continue;
            }
            _ = sleep_until(interrupt.as_ref().map(|i| i.again)) => {
                let pending = interrupt.as_mut().expect("armed");
                if !pending.again(sandbox, kernel.pid).await {
                    return Outcome::Died("the execution did not stop when interrupted".into());
                }
                continue;
            }
        };
        quiet.as_mut().reset(Instant::now() + KEEPALIVE);
        if attached && tx.send(frame).await.is_err() {
            attached = false;
            interrupt = Some(Interrupt::start(sandbox, kernel.pid).await);
        }
    }
}

/// Sends what the kernel's stdout and stderr hold now.
async fn send_output(
    kernel: &Kernel,
    decoders: [&mut Utf8Decoder; 2],
    attached: bool,
    tx: &mpsc::Sender<Bytes>,
) {
    let [out, err] = decoders;
    for (stdout, pipe, decoder) in [(true, &kernel.stdout, out), (false, &kernel.stderr, err)] {
        let text = decoder.push(&stream::drain(pipe, 1 << 20));
        if !text.is_empty() && attached {
            // A client that left is noticed by the caller (tx.closed()).
            let _ = tx.send(output(stdout, text)).await;
        }
    }
}

/// SIGINT to the kernel's process group (its running command too), again
/// every `INTERRUPT_AGAIN` until `INTERRUPT_GRACE` has passed.
struct Interrupt {
    again: Instant,
    give_up: Instant,
}

impl Interrupt {
    async fn start(sandbox: &Sandbox, pid: i32) -> Interrupt {
        let _ = sandbox.session.signal(pid, libc::SIGINT, true).await;
        let now = Instant::now();
        Interrupt {
            again: now + INTERRUPT_AGAIN,
            give_up: now + INTERRUPT_GRACE,
        }
    }

    /// False once the grace period is over.
    async fn again(&mut self, sandbox: &Sandbox, pid: i32) -> bool {
        if Instant::now() >= self.give_up {
            return false;
        }
        let _ = sandbox.session.signal(pid, libc::SIGINT, true).await;
        self.again += INTERRUPT_AGAIN;
        true
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Starts a context's kernel ahead of its first execution.
async fn warm(app: Arc<App>, sandbox: Arc<Sandbox>, context: Arc<Context>) {
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
    json!({ "id": context.id, "language": context.language.name(), "cwd": context.cwd })
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
    let language = Language::parse(request.language.as_deref())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let cwd = request
        .cwd
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| WORK_DIR.into());
    let context = sandbox.contexts.create(language, cwd, false);
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
