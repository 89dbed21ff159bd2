//! Who may use a sandbox: the one authorization layer of both sandbox
//! surfaces, envd (49983) and the code interpreter (49999). It finds the
//! sandbox a request names (502 when it is gone, as E2B's proxy answers;
//! the debug sandbox is made on first use) and, when the sandbox is secure,
//! wants its token: `X-Access-Token` (which the SDKs send to envd and with
//! `runCode`) or `E2B-Traffic-Access-Token` (which they send with every
//! interpreter call, contexts included). Without one, 401. `/health` is
//! open; envd's `/files` may carry a signature instead, checked by its
//! handler.

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
    let sandbox = match sandbox(&app, id.as_deref()).await {
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
async fn sandbox(app: &Arc<App>, id: Option<&str>) -> Result<Arc<Sandbox>, ApiError> {
    let Some(id) = id else {
        return Err(ApiError::new(
            crate::http::Failure::SandboxGone,
            "missing E2b-Sandbox-Id header: point E2B_SANDBOX_URL at this server",
        ));
    };
    if let Some(sandbox) = app.get(id) {
        return Ok(sandbox);
    }
    if id != DEBUG_SANDBOX_ID || !app.debug_sandbox {
        return Err(ApiError::sandbox_gone(id));
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
    };
    let sandbox = app.create(new, Some(id.to_string())).await?;
    crate::interpreter::open(app, &sandbox);
    Ok(sandbox)
}
