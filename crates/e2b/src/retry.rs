//! How failures of the cloud are told apart, and retried within the deadline.

use std::future::Future;
use std::time::Duration;

use e2b_native_core::Error;
use tokio::time::Instant;

/// A failed request to E2B, by what can be done about it.
#[derive(Debug, Clone)]
pub(crate) enum Failure {
    /// 401/403: the key is wrong. Never retried.
    Auth(String),
    /// 429: retried with backoff.
    RateLimited(String),
    /// 5xx, connection failures, timeouts: retried with backoff.
    Unavailable(String),
    /// Other answers (400, 404, …): the request itself is wrong. Never retried.
    Rejected(u16, String),
}

impl Failure {
    pub(crate) fn from_status(status: u16, body: &str) -> Failure {
        // E2B's error body is {"code": status, "message": "..."}.
        let message = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(String::from))
            .unwrap_or_else(|| body.chars().take(300).collect());
        let text = format!("{status}: {message}");
        match status {
            401 | 403 => Failure::Auth(text),
            429 => Failure::RateLimited(text),
            500..=599 => Failure::Unavailable(text),
            _ => Failure::Rejected(status, text),
        }
    }

    pub(crate) fn from_reqwest(error: &reqwest::Error) -> Failure {
        Failure::Unavailable(format!("cannot reach E2B: {error}"))
    }

    fn retryable(&self) -> bool {
        matches!(self, Failure::RateLimited(_) | Failure::Unavailable(_))
    }

    /// The rejection the caller sees, with what to do.
    pub(crate) fn into_error(self, what: &str) -> Error {
        match self {
            Failure::Auth(m) => Error::E2bAuth(format!(
                "E2B refused the API key while trying to {what} ({m}): check E2B_API_KEY or the apiKey option"
            )),
            Failure::RateLimited(m) => Error::E2bRateLimit(format!(
                "E2B kept answering 429 Too Many Requests while trying to {what} ({m}): lower maxConcurrency, \
                 or raise your E2B plan's limits"
            )),
            Failure::Unavailable(m) => Error::E2bUnavailable(format!(
                "E2B is unavailable; could not {what} ({m}). Retry later, or check E2B_API_URL / E2B_DOMAIN"
            )),
            Failure::Rejected(_, m) => Error::E2bUnavailable(format!("E2B rejected the request to {what}: {m}")),
        }
    }
}

/// Sends a request; any answer but 2xx becomes the [`Failure`] its status means.
pub(crate) async fn send(builder: reqwest::RequestBuilder) -> Result<reqwest::Response, Failure> {
    let response = builder
        .send()
        .await
        .map_err(|e| Failure::from_reqwest(&e))?;
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    Err(Failure::from_status(status, &body))
}

const ATTEMPTS: u32 = 6;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(4);

/// Runs `op` until it succeeds, fails for good, runs out of attempts, or the
/// next wait would pass `deadline`. Backoff doubles, with full jitter.
pub(crate) async fn with_retries<T, F, Fut>(deadline: Instant, mut op: F) -> Result<T, Failure>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let mut attempt = 0;
    loop {
        match op(attempt).await {
            Ok(v) => return Ok(v),
            Err(f) if !f.retryable() || attempt + 1 >= ATTEMPTS => return Err(f),
            Err(f) => {
                let ceiling = FIRST_BACKOFF.saturating_mul(1 << attempt).min(MAX_BACKOFF);
                let wait = ceiling.mul_f64(fastrand::f64().max(0.1));
                if Instant::now() + wait >= deadline {
                    return Err(f);
                }
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_the_documented_codes() {
        assert_eq!(
            Failure::from_status(401, r#"{"code":401,"message":"bad key"}"#)
                .into_error("x")
                .code(),
            "ERR_E2B_AUTH"
        );
        assert_eq!(
            Failure::from_status(429, "").into_error("x").code(),
            "ERR_E2B_RATE_LIMIT"
        );
        assert_eq!(
            Failure::from_status(502, "").into_error("x").code(),
            "ERR_E2B_UNAVAILABLE"
        );
        assert!(
            Failure::from_status(401, r#"{"code":401,"message":"bad key"}"#)
                .into_error("x")
                .to_string()
                .contains("bad key")
        );
    }

    #[tokio::test]
    async fn retries_what_can_be_retried_and_stops_at_what_cannot() {
        let far = Instant::now() + Duration::from_secs(60);
        let mut calls = 0;
        let r = with_retries(far, |n| {
            calls += 1;
            async move {
                if n < 2 {
                    Err(Failure::Unavailable("x".into()))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!((r.unwrap(), calls), (2, 3));
        let mut calls = 0;
        let r: Result<(), _> = with_retries(far, |_| {
            calls += 1;
            async { Err(Failure::Auth("no".into())) }
        })
        .await;
        assert!(matches!(r, Err(Failure::Auth(_))));
        assert_eq!(calls, 1);
    }

    #[tokio::test]
    async fn never_waits_past_the_deadline() {
        let soon = Instant::now() + Duration::from_millis(50);
        let r: Result<(), _> =
            with_retries(soon, |_| async { Err(Failure::RateLimited("x".into())) }).await;
        assert!(matches!(r, Err(Failure::RateLimited(_))));
        assert!(Instant::now() < soon + Duration::from_millis(500));
    }
}
