//! `e2b-native serve`: enough of E2B's three HTTP surfaces — the control
//! plane, envd (port 49983) and the code interpreter (port 49999) — that the
//! official SDKs work unchanged against local sandboxes, on one port.
//!
//! Requests carrying `E2b-Sandbox-Port` go to the sandbox surface it names
//! (the SDKs send it on every envd and interpreter call, so
//! `E2B_SANDBOX_URL` can point at this same port); the others are control
//! plane. Each E2B sandbox is one long-lived local sandbox
//! ([`e2b_native_local::session`]): its own namespaces, root, writable
//! /home/user and limits; killed on DELETE, when its timeout passes, and
//! when the server closes.

mod auth;
pub mod cli;
mod config;
mod connect;
mod control;
mod envd;
mod http;
mod interpreter;
mod kernel;
mod listen;
mod log;
mod state;
mod stream;
mod util;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use e2b_native_core::{Error, ENVD_PORT, INTERPRETER_PORT};
use tower::ServiceExt;

pub use config::ServerConfig;
pub use log::LogLevel;
pub use state::{DEBUG_SANDBOX_ID, ENVD_VERSION};

use crate::http::{header, ApiError};
use crate::state::App;

/// How long `close()` waits for open connections after the sandboxes are gone.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// A running server.
pub struct Server {
    addr: SocketAddr,
    app: Arc<App>,
    stop: tokio_util::sync::CancellationToken,
    /// Drops the connections still open after [`CLOSE_GRACE`].
    kill: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// Starts a server on the current tokio runtime: checks that a sandbox can
/// be built on this host, binds, and serves until [`Server::close`].
pub async fn start(mut config: ServerConfig) -> Result<Server, Error> {
    if config.api_keys.is_empty() {
        config.api_keys.push(util::api_key());
    }
    let app = Arc::new(App::new(config).await?);
    // Fail now, not at the first request, if this host cannot build one.
    let probe = e2b_native_local::session::Session::start(app.session.clone())
        .await
        .map_err(|e| {
            Error::IsolationUnavailable(format!("cannot build a sandbox on this host: {e}"))
        })?;
    probe.kill();
    probe.gone().await;

    let addr = SocketAddr::new(app.config.host, app.config.port);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        Error::Listen(format!(
            "cannot listen on {addr}: {e}{}",
            if e.kind() == std::io::ErrorKind::AddrInUse {
                " (choose another port, or 0 for any free one)"
            } else {
                ""
            }
        ))
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Listen(e.to_string()))?;
    let router = router(app.clone());
    let stop = tokio_util::sync::CancellationToken::new();
    let kill = tokio_util::sync::CancellationToken::new();
    let limits = listen::Limits {
        max_connections: app.config.max_connections,
        header_timeout: app.config.header_timeout,
    };
    let task = tokio::spawn(listen::serve(
        listener,
        router,
        limits,
        app.log,
        stop.clone(),
        kill.clone(),
    ));
    app.log.info(format_args!(
        "listening on http://{addr} (max {} sandboxes, debug sandbox {})",
        app.config.max_sandboxes,
        if app.debug_sandbox { "on" } else { "off" }
    ));
    if app.debug_sandbox && !app.config.host.is_loopback() {
        app.log.warn(format_args!(
            "the debug sandbox is exposed on {}: anyone who can reach this port can run code \
             in it without a key (exposeDebugSandbox)",
            app.config.host
        ));
    }
    Ok(Server {
        addr,
        app,
        stop,
        kill,
        task,
    })
}

impl Server {
    /// `http://host:port`, for `E2B_API_URL` and `E2B_SANDBOX_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The keys `X-API-Key` must carry (a generated one when none was given).
    pub fn api_keys(&self) -> &[String] {
        &self.app.config.api_keys
    }

    /// How many sandboxes run now.
    pub fn sandboxes(&self) -> usize {
        self.app.list().len()
    }

    /// Kills every sandbox, stops listening, and returns once they are gone.
    pub async fn close(self) {
        self.app.shutdown().await;
        self.stop.cancel();
        let mut task = self.task;
        if tokio::time::timeout(CLOSE_GRACE, &mut task).await.is_err() {
            // Idle keep-alive connections: drop them.
            self.kill.cancel();
            let _ = task.await;
        }
        self.app.log.info(format_args!("closed"));
    }
}

fn router(app: Arc<App>) -> Router {
    let control = control::router(app.clone());
    let envd = envd::router(app.clone());
    let interpreter = interpreter::router(app.clone());
    Router::new()
        .fallback(move |request: Request| async move {
            let port = header(request.headers(), "e2b-sandbox-port");
            let surface = match port.map(|p| p.parse::<u16>()) {
                None => control,
                Some(Ok(ENVD_PORT)) => envd,
                Some(Ok(INTERPRETER_PORT)) => interpreter,
                Some(_) => {
                    return ApiError::new(
                        crate::http::Failure::SandboxGone,
                        format!(
                            "port {} of the sandbox is not served by e2b-native serve (only envd, \
                             {ENVD_PORT}, and the code interpreter, {INTERPRETER_PORT})",
                            port.unwrap_or_default()
                        ),
                    )
                    .into_response()
                }
            };
            match surface.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        })
        .layer(middleware::from_fn_with_state(app, log_request))
}

/// One line per request at debug level.
async fn log_request(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    if !app.log.enabled(LogLevel::Debug) {
        return next.run(request).await;
    }
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let port = header(request.headers(), "e2b-sandbox-port").map(str::to_string);
    let sandbox = header(request.headers(), "e2b-sandbox-id").map(str::to_string);
    let response = next.run(request).await;
    let surface = match port.as_deref().map(str::parse::<u16>) {
        Some(Ok(ENVD_PORT)) => "envd",
        Some(Ok(INTERPRETER_PORT)) => "interpreter",
        Some(_) => "sandbox",
        None => "api",
    };
    app.log.debug(format_args!(
        "{surface} {method} {path}{} -> {} in {:.1} ms",
        sandbox.map(|s| format!(" [{s}]")).unwrap_or_default(),
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    ));
    response
}
