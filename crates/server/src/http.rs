//! The server's failures, and how each surface says them: E2B's REST body
//! `{"code": <status>, "message"}` (the control plane, envd's `/files`, the
//! code interpreter; the SDKs read the body's code) or a Connect error
//! `{"code": "<name>", "message"}` (envd's RPCs). Which HTTP status and
//! which Connect code each failure gets is decided here, once.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use e2b_native_core::ENVD_PORT;
use e2b_native_local::protocol::session::FileErrorKind;
use e2b_native_local::session::{FileError, SessionError};
use futures_util::StreamExt;
use serde_json::json;

use crate::state::App;

/// What went wrong, in the server's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The request asks for something malformed or impossible.
    Invalid,
    /// The body is not the endpoint's JSON (FastAPI's answer, 422).
    Unprocessable,
    /// No valid API key or access token.
    Unauthorized,
    Forbidden,
    NotFound,
    AlreadyExists,
    /// A request body past the server's bound.
    TooLarge,
    /// More sandboxes (or processes) than allowed.
    TooMany,
    NoSpace,
    Timeout,
    /// The sandbox is not running (any more): E2B's proxy answers 502, which
    /// the SDKs read as "the sandbox was probably killed".
    SandboxGone,
    /// The server is shutting down.
    Unavailable,
    NotImplemented,
    Internal,
}

impl Failure {
    pub(crate) fn status(self) -> StatusCode {
        match self {
            Failure::Invalid => StatusCode::BAD_REQUEST,
            Failure::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            Failure::Unauthorized => StatusCode::UNAUTHORIZED,
            Failure::Forbidden => StatusCode::FORBIDDEN,
            Failure::NotFound => StatusCode::NOT_FOUND,
            Failure::AlreadyExists => StatusCode::CONFLICT,
            Failure::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Failure::TooMany => StatusCode::TOO_MANY_REQUESTS,
            Failure::NoSpace => StatusCode::INSUFFICIENT_STORAGE,
            Failure::Timeout => StatusCode::REQUEST_TIMEOUT,
            Failure::SandboxGone => StatusCode::BAD_GATEWAY,
            Failure::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Failure::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            Failure::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The Connect code (connect-es maps it back to a status of its own).
    pub(crate) fn connect_code(self) -> &'static str {
        match self {
            Failure::Invalid | Failure::Unprocessable => "invalid_argument",
            Failure::Unauthorized => "unauthenticated",
            Failure::Forbidden => "permission_denied",
            Failure::NotFound => "not_found",
            Failure::AlreadyExists => "already_exists",
            Failure::TooMany | Failure::NoSpace | Failure::TooLarge => "resource_exhausted",
            Failure::Timeout => "deadline_exceeded",
            Failure::SandboxGone | Failure::Unavailable => "unavailable",
            Failure::NotImplemented => "unimplemented",
            Failure::Internal => "internal",
        }
    }
}

/// How long the rest of a refused body is read and dropped.
const DRAIN_WITHIN: Duration = Duration::from_secs(2);

/// A failure and its message; a response in E2B's REST shape.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub failure: Failure,
    pub message: String,
}

impl ApiError {
    pub(crate) fn new(failure: Failure, message: impl Into<String>) -> Self {
        ApiError {
            failure,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(Failure::Invalid, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(Failure::NotFound, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(Failure::Internal, message)
    }

    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(Failure::Unauthorized, message)
    }

    pub(crate) fn sandbox_gone(id: &str) -> Self {
        Self::new(
            Failure::SandboxGone,
            format!("The sandbox {id} was not found: it timed out, was killed, or never existed"),
        )
    }

    /// Said as a Connect error.
    pub(crate) fn connect(self) -> Connect {
        Connect(self)
    }

    /// The body of a Connect error.
    pub(crate) fn connect_json(&self) -> serde_json::Value {
        json!({ "code": self.failure.connect_code(), "message": self.message })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.failure.status();
        let body = json!({ "code": status.as_u16(), "message": self.message });
        (status, Json(body)).into_response()
    }
}

/// A failure said as a Connect error.
#[derive(Debug)]
pub(crate) struct Connect(pub ApiError);

impl From<ApiError> for Connect {
    fn from(e: ApiError) -> Self {
        Connect(e)
    }
}

impl IntoResponse for Connect {
    fn into_response(self) -> Response {
        (self.0.failure.status(), Json(self.0.connect_json())).into_response()
    }
}

impl From<FileError> for ApiError {
    fn from(e: FileError) -> Self {
        let failure = match e.kind {
            FileErrorKind::NotFound => Failure::NotFound,
            FileErrorKind::AlreadyExists => Failure::AlreadyExists,
            FileErrorKind::IsDirectory
            | FileErrorKind::NotDirectory
            | FileErrorKind::InvalidPath => Failure::Invalid,
            FileErrorKind::PermissionDenied => Failure::Forbidden,
            FileErrorKind::NoSpace => Failure::NoSpace,
            FileErrorKind::Other => Failure::Internal,
        };
        ApiError::new(failure, e.message)
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Gone => ApiError::new(Failure::SandboxGone, "the sandbox is gone"),
            SessionError::Invalid(m) => ApiError::bad_request(m),
            SessionError::Refused(m)
                if m.contains("fork") || m.contains("Resource temporarily") =>
            {
                ApiError::new(Failure::TooMany, m)
            }
            SessionError::Refused(m) => ApiError::bad_request(m),
        }
    }
}

impl From<e2b_native_core::Error> for ApiError {
    fn from(e: e2b_native_core::Error) -> Self {
        use e2b_native_core::Error;
        let failure = match &e {
            Error::InvalidArg(_) => Failure::Invalid,
            Error::Closed => Failure::Unavailable,
            _ => Failure::Internal,
        };
        ApiError::new(failure, e.to_string())
    }
}

/// A body past the server's bound: `upload`s' (`maxUploadBytes`) or the
/// others' (`maxBodyBytes`).
pub(crate) fn too_large(upload: bool, limit: u64) -> ApiError {
    let (option, flag) = if upload {
        ("maxUploadBytes", "--max-upload-mb")
    } else {
        ("maxBodyBytes", "--max-body-mb")
    };
    ApiError::new(
        Failure::TooLarge,
        format!("the request body is larger than {limit} bytes, this server's {option} ({flag})"),
    )
}

/// Whether a body failed because it passed [`too_large`]'s bound.
pub(crate) fn past_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Bounds every request body, inside each surface's authorization (so that
/// no body is read for a request without a key or token): `maxUploadBytes`
/// for envd's uploads (which stream to the sandbox), `maxBodyBytes` for the
/// others (read here, at most that much). Past it the answer is 413, after the rest of the body
/// is read and dropped for a moment (as nginx's lingering close does), so
/// that a client still sending gets the answer rather than a reset.
pub(crate) async fn limit_body(
    State(app): State<Arc<App>>,
    request: Request,
    next: Next,
) -> Response {
    let upload = request.method() == Method::POST
        && request.uri().path() == "/files"
        && header(request.headers(), "e2b-sandbox-port").and_then(|p| p.parse::<u16>().ok())
            == Some(ENVD_PORT);
    let limit = if upload {
        app.config.max_upload_bytes
    } else {
        app.config.max_body_bytes
    };
    let declared = header(request.headers(), "content-length").and_then(|n| n.parse::<u64>().ok());
    let (parts, body) = request.into_parts();
    let mut chunks = body.into_data_stream();
    if declared.is_some_and(|n| n > limit) {
        drain(chunks).await;
        return too_large(upload, limit).into_response();
    }
    if upload {
        let limited = http_body_util::Limited::new(
            Body::from_stream(chunks),
            usize::try_from(limit).unwrap_or(usize::MAX),
        );
        return next
            .run(Request::from_parts(parts, Body::new(limited)))
            .await;
    }
    let mut whole = bytes::BytesMut::new();
    while let Some(chunk) = chunks.next().await {
        let Ok(chunk) = chunk else {
            return ApiError::bad_request("the request body was cut off").into_response();
        };
        if (whole.len() + chunk.len()) as u64 > limit {
            drain(chunks).await;
            return too_large(false, limit).into_response();
        }
        whole.extend_from_slice(&chunk);
    }
    next.run(Request::from_parts(parts, Body::from(whole.freeze())))
        .await
}

/// Reads and drops what is left of a refused body, for [`DRAIN_WITHIN`] at most.
async fn drain(mut chunks: axum::body::BodyDataStream) {
    let rest = async { while let Some(Ok(_)) = chunks.next().await {} };
    let _ = tokio::time::timeout(DRAIN_WITHIN, rest).await;
}

/// A header as text, if present and valid.
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
