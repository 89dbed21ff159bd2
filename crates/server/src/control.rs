//! E2B's control plane (`api.e2b.app`): create, inspect, list, extend and
//! kill sandboxes, behind `X-API-Key`; each key sees only the sandboxes it
//! created.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::{header, ApiError, Failure};
use crate::state::{App, NewSandbox, Sandbox, CLIENT_ID, ENVD_VERSION};
use crate::util;

pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/sandboxes", post(create_v1).get(list_v1))
        .route("/v2/sandboxes", post(create_v2).get(list_v2))
        .route("/sandboxes/{id}", get(detail).delete(kill))
        .route("/sandboxes/{id}/timeout", post(set_timeout))
        .route("/sandboxes/{id}/refreshes", post(refresh))
        .route("/sandboxes/{id}/connect", post(connect))
        .route("/v2/sandboxes/{id}/connect", post(connect))
        .route("/sandboxes/{id}/resume", post(connect))
        .route("/sandboxes/{id}/pause", post(pause))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            app.clone(),
            crate::http::limit_body,
        ))
        .layer(middleware::from_fn_with_state(app.clone(), require_api_key))
        .layer(DefaultBodyLimit::disable()) // bounded by maxBodyBytes, in `limit_body`
        .with_state(app)
}

/// The API key a request came with, by index: the sandboxes it created are
/// the only ones it sees (to it the others do not exist, as in E2B).
#[derive(Debug, Clone, Copy)]
struct Owner(usize);

async fn require_api_key(
    State(app): State<Arc<App>>,
    mut request: Request,
    next: Next,
) -> Response {
    if request.uri().path() == "/health" {
        return next.run(request).await;
    }
    let given = header(request.headers(), "x-api-key").unwrap_or("");
    // Every key is compared, so the time taken says nothing of which matched.
    let known = app
        .config
        .api_keys
        .iter()
        .enumerate()
        .fold(None, |found, (i, key)| {
            found.or(util::same_secret(key, given).then_some(i))
        });
    let Some(owner) = known else {
        let message = if given.is_empty() {
            "Missing X-API-Key header: pass the key this server printed at start"
        } else {
            "Invalid API key: this server accepts only the keys it was started with"
        };
        return ApiError::unauthorized(message).into_response();
    };
    request.extensions_mut().insert(Owner(owner));
    next.run(request).await
}

async fn health() -> &'static str {
    "OK"
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint on e2b-native serve")
}

fn parse<T: DeserializeOwned + Default>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewSandboxBody {
    #[serde(rename = "templateID")]
    template_id: Option<String>,
    timeout: Option<i64>,
    metadata: Option<BTreeMap<String, String>>,
    env_vars: Option<BTreeMap<String, String>>,
    secure: Option<bool>,
    auto_pause: Option<bool>,
}

async fn create_v1(
    State(app): State<Arc<App>>,
    Extension(owner): Extension<Owner>,
    body: Bytes,
) -> Result<Response, ApiError> {
    create(app, owner, body, 15, None).await
}

async fn create_v2(
    State(app): State<Arc<App>>,
    Extension(owner): Extension<Owner>,
    body: Bytes,
) -> Result<Response, ApiError> {
    create(app, owner, body, 300, Some(true)).await
}

async fn create(
    app: Arc<App>,
    owner: Owner,
    body: Bytes,
    default_timeout: i64,
    secure: Option<bool>,
) -> Result<Response, ApiError> {
    let body: NewSandboxBody = parse(&body)?;
    let template_id = body
        .template_id
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("templateID is required"))?;
    if body.auto_pause == Some(true) {
        return Err(ApiError::bad_request(
            "autoPause is not supported by e2b-native serve: sandboxes are killed when their timeout passes",
        ));
    }
    let timeout_secs = check_timeout(&app, body.timeout.unwrap_or(default_timeout))?;
    let env_vars = body.env_vars.unwrap_or_default();
    e2b_native_core::validate_env(&env_vars).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let new = NewSandbox {
        template_id,
        timeout_secs,
        metadata: body.metadata.unwrap_or_default(),
        env_vars,
        secure: secure.or(body.secure).unwrap_or(false),
        owner: Some(owner.0),
    };
    let sandbox = app.create(new, None).await?;
    crate::interpreter::open(&app, &sandbox);
    Ok((StatusCode::CREATED, Json(sandbox_json(&sandbox))).into_response())
}

fn check_timeout(app: &App, seconds: i64) -> Result<u64, ApiError> {
    if seconds <= 0 {
        return Err(ApiError::bad_request(
            "timeout must be a positive number of seconds",
        ));
    }
    let max = app.config.max_timeout.as_secs();
    if seconds as u64 > max {
        return Err(ApiError::bad_request(format!(
            "Timeout cannot be greater than {} (this server's --max-timeout)",
            describe_seconds(max)
        )));
    }
    Ok(seconds as u64)
}

fn describe_seconds(seconds: u64) -> String {
    if seconds % 3600 == 0 {
        format!("{} hours", seconds / 3600)
    } else {
        format!("{seconds} seconds")
    }
}

/// `Sandbox`: what create and connect return.
fn sandbox_json(sandbox: &Sandbox) -> Value {
    let mut value = json!({
        "sandboxID": sandbox.id,
        "templateID": sandbox.template_id,
        "alias": sandbox.alias,
        "clientID": CLIENT_ID,
        "envdVersion": ENVD_VERSION,
        // Secure sandboxes' interpreter calls carry it (the SDKs send no
        // X-Access-Token to /contexts): see `auth`.
        "trafficAccessToken": sandbox.access_token,
        "domain": null,
    });
    if let Some(token) = &sandbox.access_token {
        value["envdAccessToken"] = json!(token);
    }
    value
}

fn end_at(sandbox: &Sandbox) -> SystemTime {
    sandbox
        .deadline()
        .map(|d| d.wall)
        .unwrap_or(sandbox.started_at + Duration::from_secs(100 * 365 * 86_400))
}

/// `ListedSandbox`, and with `detail` the fields of `SandboxDetail`.
fn listed_json(app: &App, sandbox: &Sandbox, detail: bool) -> Value {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let limits = &app.session.limits;
    let mut value = json!({
        "sandboxID": sandbox.id,
        "templateID": sandbox.template_id,
        "alias": sandbox.alias,
        "clientID": CLIENT_ID,
        "startedAt": util::rfc3339(sandbox.started_at),
        "endAt": util::rfc3339(end_at(sandbox)),
        "envdVersion": ENVD_VERSION,
        "cpuCount": cpus,
        "memoryMB": limits.memory_bytes >> 20,
        "diskSizeMB": limits.disk_bytes >> 20,
        "metadata": sandbox.metadata,
        "state": "running",
        "volumeMounts": [],
    });
    if detail {
        value["domain"] = Value::Null;
        // The sandboxes have a loopback interface only.
        value["allowInternetAccess"] = json!(false);
        value["lifecycle"] = json!({ "autoResume": false, "onTimeout": "kill" });
        if let Some(token) = &sandbox.access_token {
            value["envdAccessToken"] = json!(token);
        }
    }
    value
}

/// `owner`'s sandbox `id`; another's is not found, as in E2B.
fn find(app: &App, owner: Owner, id: &str) -> Result<Arc<Sandbox>, ApiError> {
    let found = app.get(id).filter(|s| s.owner == Some(owner.0));
    found.ok_or_else(|| {
        ApiError::not_found(format!(
            "sandbox \"{id}\" doesn't exist or you don't have access to it"
        ))
    })
}

async fn detail(
    State(app): State<Arc<App>>,
    Extension(owner): Extension<Owner>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let sandbox = find(&app, owner, &id)?;
    Ok(Json(listed_json(&app, &sandbox, true)))
}

async fn kill(
    State(app): State<Arc<App>>,
    Extension(owner): Extension<Owner>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    find(&app, owner, &id)?;
    if app.kill(&id, "DELETE").await {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(find(&app, owner, &id)
            .err()
            .unwrap_or_else(|| ApiError::not_found("not found")))
    }
}

#[derive(Debug, Default, Deserialize)]
struct TimeoutBody {
    timeout: Option<i64>,
    duration: Option<i64>,
}

async fn set_timeout(
    State(app): State<Arc<App>>,
    Extension(owner): Extension<Owner>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let body: TimeoutBody = parse(&body)?;
    let sandbox = find(&app, owner, &id)?;
    let seconds = body
        .timeout
        .ok_or_else(|| ApiError::bad_request("timeout is required"))?;
    sandbox.set_timeout(check_timeout(&app, seconds)?);
    Ok(StatusCode::NO_CONTENT)
}

async fn refresh(
    State(app): State<Arc<App>>,
    Extension(owner): Extension<Owner>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let body: TimeoutBody = parse(&body)?;
    let sandbox = find(&app, owner, &id)?;
    sandbox.extend(check_timeout(&app, body.duration.unwrap_or(15))?);
    Ok(StatusCode::NO_CONTENT)
}

async fn connect(
    State(app): State<Arc<App>>,
    Extension(owner): Extension<Owner>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: TimeoutBody = parse(&body)?;
    let sandbox = find(&app, owner, &id)?;
    sandbox.extend(check_timeout(&app, body.timeout.unwrap_or(300))?);
    Ok(Json(sandbox_json(&sandbox)))
}

async fn pause(
    State(app): State<Arc<App>>,
    Extension(owner): Extension<Owner>,
    Path(id): Path<String>,
) -> ApiError {
    match find(&app, owner, &id) {
        Err(e) => e,
        Ok(_) => ApiError::new(
            Failure::NotImplemented,
            "pausing is not supported by e2b-native serve: a sandbox runs until it is killed or its timeout passes",
        ),
    }
}

/// `GET /sandboxes` (deprecated): every running sandbox, by metadata.
async fn list_v1(
    State(app): State<Arc<App>>,
    Extension(owner): Extension<Owner>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let metadata = query.metadata();
    let mut sandboxes = app.owned(owner.0);
    sandboxes.retain(|s| metadata.iter().all(|(k, v)| s.metadata.get(k) == Some(v)));
    sandboxes.sort_by(|a, b| b.started_at.cmp(&a.started_at).then(a.id.cmp(&b.id)));
    Ok(Json(Value::Array(
        sandboxes
            .iter()
            .map(|s| listed_json(&app, s, false))
            .collect(),
    )))
}

/// `GET /v2/sandboxes`: filtered by metadata, state, template and start
/// time, ordered by start time, paginated with `X-Next-Token`.
async fn list_v2(
    State(app): State<Arc<App>>,
    Extension(owner): Extension<Owner>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let metadata = query.metadata();
    let states: HashSet<String> = query
        .all("state")
        .flat_map(|s| s.split(',').map(|s| s.trim().to_string()))
        .filter(|s| !s.is_empty())
        .collect();
    for state in &states {
        if state != "running" && state != "paused" {
            return Err(ApiError::bad_request(format!(
                "unknown state {state:?}: use running or paused"
            )));
        }
    }
    let template = query.first("template");
    let started_after = match query.first("startedAfter") {
        Some(t) => Some(util::parse_rfc3339(t).ok_or_else(|| {
            ApiError::bad_request(format!("startedAfter must be an RFC 3339 time, got {t:?}"))
        })?),
        None => None,
    };
    let ascending = match query.first("order") {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "order must be asc or desc, got {other:?}"
            )))
        }
    };
    let limit = match query.first("limit") {
        None => 100,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=100).contains(l))
            .ok_or_else(|| {
                ApiError::bad_request(format!("limit must be from 1 to 100, got {l:?}"))
            })?,
    };
    let all = app.owned(owner.0);
    let total = all.len();
    let mut sandboxes: Vec<_> = all
        .into_iter()
        .filter(|_| states.is_empty() || states.contains("running"))
        .filter(|s| metadata.iter().all(|(k, v)| s.metadata.get(k) == Some(v)))
        .filter(|s| template.is_none_or(|t| s.template_id == t || s.alias.as_deref() == Some(t)))
        .filter(|s| started_after.is_none_or(|after| s.started_at >= after))
        .collect();
    let key = |s: &Sandbox| {
        (
            s.started_at
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
            s.id.clone(),
        )
    };
    sandboxes.sort_by_key(|s| key(s));
    if !ascending {
        sandboxes.reverse();
    }
    if let Some(token) = query.first("nextToken") {
        let cursor = parse_cursor(token)?;
        sandboxes.retain(|s| {
            if ascending {
                key(s) > cursor
            } else {
                key(s) < cursor
            }
        });
    }
    let more = sandboxes.len() > limit;
    sandboxes.truncate(limit);
    let body = Value::Array(
        sandboxes
            .iter()
            .map(|s| listed_json(&app, s, false))
            .collect(),
    );
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    if let (true, Some(last)) = (more, sandboxes.last()) {
        let (nanos, id) = key(last);
        if let Ok(v) = HeaderValue::from_str(&format!("{nanos}_{id}")) {
            headers.insert("x-next-token", v);
        }
    }
    headers.insert("x-total-running", HeaderValue::from(total));
    Ok(response)
}

fn parse_cursor(token: &str) -> Result<(u128, String), ApiError> {
    token
        .split_once('_')
        .and_then(|(nanos, id)| Some((nanos.parse().ok()?, id.to_string())))
        .ok_or_else(|| ApiError::bad_request("invalid nextToken"))
}

/// Query parameters, repeated ones kept (`state=running&state=paused`).
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: &str) -> Self {
        Query(
            raw.split('&')
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (util::percent_decode(k, true), util::percent_decode(v, true))
                })
                .collect(),
        )
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn first<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.all(name).next()
    }

    fn metadata(&self) -> Vec<(String, String)> {
        self.first("metadata")
            .map(util::parse_metadata_filter)
            .unwrap_or_default()
    }
}
