use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;

use tokio_util::sync::CancellationToken;

use crate::session::{CodeSession, SessionSpec};
use crate::{Error, Outcome, Request};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Somewhere code can run: a fresh sandbox per [`Request`], destroyed before
/// the future resolves. `cancel` stops it early with [`Error::Aborted`].
pub trait Backend: Send + Sync {
    fn execute<'a>(
        &'a self,
        request: &'a Request,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Outcome, Error>>;

    /// Deletes sandboxes this library left behind in a process that died;
    /// returns how many. Only remote backends leave any.
    fn reap_orphans(&self) -> BoxFuture<'_, Result<usize, Error>> {
        Box::pin(async { Ok(0) })
    }

    /// Builds a session's sandbox (its kernels start on first use).
    fn create_session<'a>(
        &'a self,
        spec: &'a SessionSpec,
    ) -> BoxFuture<'a, Result<Box<dyn CodeSession>, Error>>;

    /// `local` or `e2b`.
    fn name(&self) -> &'static str;

    /// Releases what the backend keeps between calls (the local warm pool);
    /// called once by `Service::close`, after the calls are gone.
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// A backend that cannot run anything, and says why on every call: a
/// misconfiguration must not fail the constructor, only the calls.
pub struct Unavailable(pub Error);

impl Backend for Unavailable {
    fn execute<'a>(
        &'a self,
        _: &'a Request,
        _: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Outcome, Error>> {
        let error = self.0.clone();
        Box::pin(async move { Err(error) })
    }

    fn create_session<'a>(
        &'a self,
        _: &'a SessionSpec,
    ) -> BoxFuture<'a, Result<Box<dyn CodeSession>, Error>> {
        let error = self.0.clone();
        Box::pin(async move { Err(error) })
    }

    fn name(&self) -> &'static str {
        "none"
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Local,
    E2b,
}

impl FromStr for BackendKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "local" => Ok(BackendKind::Local),
            "e2b" => Ok(BackendKind::E2b),
            _ => Err(Error::invalid_arg(format!(
                "unknown backend {s:?}: use \"local\" (a sandbox on this host) or \"e2b\" (E2B's cloud)"
            ))),
        }
    }
}

/// What backend selection reads from the environment.
#[derive(Debug, Clone, Default)]
pub struct SelectionEnv {
    pub e2b_backend: Option<String>,
    pub e2b_api_key: Option<String>,
    pub node_env: Option<String>,
}

/// The option, else `E2B_BACKEND`, else "e2b" when an API key is set, else
/// "local" — except in production, where running strangers' code on the web
/// server must be chosen explicitly.
pub fn select_backend(
    option: Option<BackendKind>,
    api_key_option: Option<&str>,
    env: &SelectionEnv,
) -> Result<BackendKind, Error> {
    if let Some(kind) = option {
        return Ok(kind);
    }
    if let Some(name) = env.e2b_backend.as_deref().filter(|s| !s.is_empty()) {
        return name.parse().map_err(|_| {
            Error::NotConfigured(format!(
                "E2B_BACKEND={name:?} is not a backend: set it to \"local\" or \"e2b\""
            ))
        });
    }
    let has_key = api_key_option
        .or(env.e2b_api_key.as_deref())
        .is_some_and(|k| !k.is_empty());
    if has_key {
        return Ok(BackendKind::E2b);
    }
    if env.node_env.as_deref() == Some("production") {
        return Err(Error::NotConfigured(
            "no E2B API key is set and NODE_ENV=production: set E2B_API_KEY to run code in E2B's cloud, \
             or choose the local sandbox explicitly with E2B_BACKEND=local or new E2BService({ backend: \"local\" })"
                .into(),
        ));
    }
    Ok(BackendKind::Local)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(backend: Option<&str>, key: Option<&str>, node_env: Option<&str>) -> SelectionEnv {
        SelectionEnv {
            e2b_backend: backend.map(String::from),
            e2b_api_key: key.map(String::from),
            node_env: node_env.map(String::from),
        }
    }

    #[test]
    fn the_option_wins() {
        let e = env(Some("e2b"), Some("k"), Some("production"));
        assert_eq!(
            select_backend(Some(BackendKind::Local), None, &e),
            Ok(BackendKind::Local)
        );
    }

    #[test]
    fn then_the_variable_then_the_key() {
        assert_eq!(
            select_backend(None, None, &env(Some("local"), Some("k"), None)),
            Ok(BackendKind::Local)
        );
        assert_eq!(
            select_backend(None, None, &env(None, Some("e2b_1"), None)),
            Ok(BackendKind::E2b)
        );
        assert_eq!(
            select_backend(None, Some("e2b_1"), &env(None, None, None)),
            Ok(BackendKind::E2b)
        );
        assert_eq!(
            select_backend(None, None, &env(None, Some(""), None)),
            Ok(BackendKind::Local)
        );
        assert_eq!(
            select_backend(None, None, &env(None, None, None)),
            Ok(BackendKind::Local)
        );
    }

    #[test]
    fn production_without_a_key_is_not_configured() {
        let err = select_backend(None, None, &env(None, None, Some("production"))).unwrap_err();
        assert_eq!(err.code(), "ERR_NOT_CONFIGURED");
        assert!(err.to_string().contains("E2B_BACKEND=local"));
        let e = env(Some("local"), None, Some("production"));
        assert_eq!(select_backend(None, None, &e), Ok(BackendKind::Local));
    }

    #[test]
    fn a_bad_variable_is_not_configured() {
        let err = select_backend(None, None, &env(Some("docker"), None, None)).unwrap_err();
        assert_eq!(err.code(), "ERR_NOT_CONFIGURED");
        assert_eq!(
            "docker".parse::<BackendKind>().unwrap_err().code(),
            "ERR_INVALID_ARG"
        );
    }
}
