//! Who may use a sandbox: the one authorization layer of both sandbox
//! surfaces, envd (49983) and the code interpreter (49999). It finds the
//! sandbox a request names (502 when it is gone, as E2B's proxy answers;
//! the debug sandbox is made on first use) and, when the sandbox is secure,
//! wants its token: `X-Access-Token` (which the SDKs send to envd and with
//! `runCode`) or `E2B-Traffic-Access-Token` (which they send with every
//! interpreter call, contexts included). Without one, 401. `/health` is
//! open; envd's `/files` may carry a signature instead, checked by its
//! handler. The debug sandbox has no token: it answers only to requests
//! whose `Host` is a loopback name, an IP address or an allowed name.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::http::{header, ApiError};
use crate::state::{App, NewSandbox, Sandbox, DEBUG_SANDBOX_ID};

pub(crate) async fn authorize(
    State(app): State<Arc<App>>,
    mut request: Request,
    next: Next,
) -> Response {
    let id = header(request.headers(), "e2b-sandbox-id").map(str::to_string);
    let host = header(request.headers(), "host");
    let sandbox = match sandbox(&app, id.as_deref(), host).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let path = request.uri().path();
    let open = path == "/health"
        || (path == "/files" && header(request.headers(), "x-access-token").is_none());
    if !open && !token_ok(&sandbox, request.headers()) {
        return ApiError::unauthorized(
            "unauthorized access, please retry with a valid access token",
        )
        .into_response();
    }
    request.extensions_mut().insert(sandbox);
    next.run(request).await
}

/// Whether the request carries the sandbox's token (any, if it has none).
pub(crate) fn token_ok(sandbox: &Sandbox, headers: &axum::http::HeaderMap) -> bool {
    let Some(token) = &sandbox.access_token else {
        return true;
    };
    ["x-access-token", "e2b-traffic-access-token"]
        .iter()
        .filter_map(|name| header(headers, name))
        .any(|given| crate::util::same_secret(token, given))
}

/// The sandbox a data-plane request is for; the debug sandbox is made on
/// first use.
async fn sandbox(
    app: &Arc<App>,
    id: Option<&str>,
    host: Option<&str>,
) -> Result<Arc<Sandbox>, ApiError> {
    let Some(id) = id else {
        return Err(ApiError::new(
            crate::http::Failure::SandboxGone,
            "missing E2b-Sandbox-Id header: point E2B_SANDBOX_URL at this server",
        ));
    };
    match app.get(id) {
        // The debug sandbox needs no token: its Host is checked each time.
        Some(sandbox) if id != DEBUG_SANDBOX_ID => return Ok(sandbox),
        _ => {}
    }
    if id != DEBUG_SANDBOX_ID || !app.debug_sandbox {
        return Err(ApiError::sandbox_gone(id));
    }
    if let Some(host) = host.filter(|h| !host_allowed(app, h)) {
        return Err(ApiError::new(
            crate::http::Failure::Forbidden,
            format!(
                "the debug sandbox answers to localhost and IP addresses only, not to Host {host:?} \
                 (a DNS-rebinding page would come this way): add the name to allowedHosts \
                 (--allowed-host) if it is yours"
            ),
        ));
    }
    if let Some(sandbox) = app.get(id) {
        return Ok(sandbox);
    }
    let _one_at_a_time = app.debug_creation.lock().await;
    if let Some(sandbox) = app.get(id) {
        return Ok(sandbox);
    }
    let new = NewSandbox {
        template_id: "debug".into(),
        timeout_secs: 0,
        metadata: BTreeMap::new(),
        env_vars: BTreeMap::new(),
        secure: false,
        owner: None,
    };
    let sandbox = app.create(new, Some(id.to_string())).await?;
    crate::interpreter::open(app, &sandbox);
    Ok(sandbox)
}

/// Whether `host` (a `Host` header) may reach the debug sandbox: a loopback
/// name, an IP address (a DNS-rebinding page has a name of its own), or
/// one of `allowedHosts`.
fn host_allowed(app: &App, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    // `[::1]:3000`, `127.0.0.1:3000`, `name:3000`, `name`.
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host.as_str(), |(n, _)| n),
    };
    let name = name.trim_end_matches('.');
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<std::net::IpAddr>().is_ok()
        || app.config.allowed_hosts.iter().any(|h| h == name)
}
