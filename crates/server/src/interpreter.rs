//! The code interpreter (port 49999): `POST /execute` streams an execution
//! as newline-delimited JSON, in persistent contexts (`/contexts`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, Path, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use e2b_native_core::{CancellationToken, WORK_DIR};
use e2b_native_kernels::{encode_request, Event, ExecutionError, Language};
use e2b_native_local::session::kernel::{died, Executed};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::http::{ApiError, Failure};
use crate::kernel::Context;
pub(crate) use crate::kernel::Contexts;
use crate::state::{App, Sandbox};
use crate::stream;

/// A `keepalive` line after this much silence: it is also how a client
/// that went away is noticed (the write fails).
const KEEPALIVE: Duration = Duration::from_secs(1);

pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/health", get(|| async { Json("OK") }))
        .route("/execute", post(execute))
        .route("/contexts", post(create_context).get(list_contexts))
        .route("/contexts/{id}", delete(delete_context))
        .route("/contexts/{id}/restart", post(restart_context))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            crate::http::limit_body,
        ))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            crate::auth::authorize,
        ))
        .layer(DefaultBodyLimit::disable()) // bounded by maxBodyBytes, in `limit_body`
        .with_state(app)
}

/// A new sandbox's code interpreter: its default contexts exist from the
/// start (their kernels start on first use); Python's is warmed up now,
/// except for the `base` template, which has no code interpreter in E2B.
pub(crate) fn open(app: &Arc<App>, sandbox: &Arc<Sandbox>) {
    if app.runtimes.kernels.python.is_some() {
        let python = sandbox
            .contexts
            .create(Language::Python, WORK_DIR.into(), true);
        if sandbox.template_id != "base" {
            tokio::spawn(warm(app.clone(), sandbox.clone(), python));
        }
    }
    if app.runtimes.kernels.node.is_some() {
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

fn error(name: &str, value: &str) -> Event {
    Event::Error(ExecutionError {
        name: name.into(),
        value: value.into(),
        traceback: format!("{name}: {value}"),
    })
}

/// How an execution's stream ends.
enum Ending {
    /// With `end_of_execution`.
    End,
    /// Cut off: the sandbox died under it.
    Abort,
}

/// One execution, from waiting for the context to `end_of_execution`: its
/// events go to the client as NDJSON lines, with keepalives; a client
/// that goes away interrupts it.
async fn run(
    app: Arc<App>,
    sandbox: Arc<Sandbox>,
    context: Arc<Context>,
    request: Vec<u8>,
    tx: mpsc::Sender<Bytes>,
) {
    let (events, received) = mpsc::channel(32);
    let execute = async move {
        let ending = execute_in(&app, &sandbox, &context, &request, &events).await;
        if let Ending::End = ending {
            let _ = events.send(Event::EndOfExecution).await;
        }
        ending
    };
    let (ending, ()) = tokio::join!(execute, forward(received, tx.clone()));
    if let Ending::Abort = ending {
        let _ = tx.send(stream::ABORT).await;
    }
}

/// Sends the events as lines, and a keepalive after each second of silence;
/// returns when they end or the client has gone (which drops `events`).
async fn forward(mut events: mpsc::Receiver<Event>, tx: mpsc::Sender<Bytes>) {
    loop {
        let event = tokio::select! {
            event = events.recv() => match event {
                Some(event) => event,
                None => return,
            },
            _ = tokio::time::sleep(KEEPALIVE) => Event::Keepalive,
            _ = tx.closed() => return,
        };
        if tx.send(line(event)).await.is_err() {
            return;
        }
    }
}

async fn execute_in(
    app: &App,
    sandbox: &Arc<Sandbox>,
    context: &Context,
    request: &[u8],
    events: &mpsc::Sender<Event>,
) -> Ending {
    // Executions in one context run one after the other; a client that
    // leaves while waiting gives up its turn.
    let mut slot = tokio::select! {
        slot = context.kernel.lock() => slot,
        _ = events.closed() => return Ending::End,
    };
    if slot.is_none() {
        match crate::kernel::start(app, sandbox, context).await {
            Ok(kernel) => *slot = Some(kernel),
            Err(message) => {
                let _ = events.send(error("ContextStartError", &message)).await;
                return Ending::End;
            }
        }
    }
    let kernel = slot.as_mut().expect("started above");
    // No interrupt endpoint: a client that leaves interrupts.
    let never = CancellationToken::new();
    let Executed::Died(why) = kernel
        .execute(&sandbox.session, request, events, &never)
        .await
    else {
        return Ending::End;
    };
    kernel.kill(&sandbox.session).await;
    *slot = None;
    context.pid.store(0, std::sync::atomic::Ordering::Relaxed);
    // A kernel dies first when its whole sandbox is being killed: the
    // server forgets a sandbox before killing it; one that died by itself
    // is gone a moment later.
    let forgotten = app
        .get(&sandbox.id)
        .is_none_or(|s| !Arc::ptr_eq(&s, sandbox));
    let gone = tokio::time::timeout(Duration::from_millis(300), sandbox.session.gone());
    if forgotten || gone.await.is_ok() {
        return Ending::Abort;
    }
    let _ = events
        .send(Event::Error(died(context.language, &why)))
        .await;
    Ending::End
}

/// Starts a context's kernel ahead of its first execution.
async fn warm(app: Arc<App>, sandbox: Arc<Sandbox>, context: Arc<Context>) {
    let mut slot = context.kernel.lock().await;
    if slot.is_none() {
        if let Ok(kernel) = crate::kernel::start(&app, &sandbox, &context).await {
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
    match crate::kernel::start(&app, &sandbox, &context).await {
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
        crate::kernel::start(&app, &sandbox, &context)
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
