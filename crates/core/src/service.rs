use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::options::{describe, Options, MAX_TIMEOUT};
use crate::session::{self, Session, Sessions};
use crate::{validate_env, Backend, Error, Language, Limits, Outcome, Request, DEFAULT_TIMEOUT};

/// The constructor's settings that apply to every call unless it overrides them.
#[derive(Debug, Clone)]
pub struct Defaults {
    pub timeout: Duration,
    pub install_timeout: Duration,
    pub limits: Limits,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            timeout: DEFAULT_TIMEOUT,
            install_timeout: crate::request::DEFAULT_INSTALL_TIMEOUT,
            limits: Limits::default(),
        }
    }
}

impl Defaults {
    /// `timeoutMs`, `installTimeoutMs`, `maxOutputBytes` and `limits` of the
    /// constructor's options.
    pub fn read(options: &Options<'_>) -> Result<Defaults, Error> {
        let mut defaults = Defaults::default();
        if let Some(timeout) = options.timeout()? {
            defaults.timeout = timeout;
        }
        if let Some(timeout) = options.millis("installTimeoutMs", MAX_TIMEOUT)? {
            defaults.install_timeout = timeout;
        }
        if let Some(bytes) = options.whole("maxOutputBytes", 1, 1 << 40)? {
            defaults.limits.output_bytes = bytes as usize;
        }
        defaults.limits = options.limits(&defaults.limits)?;
        Ok(defaults)
    }
}

/// Which method of the public API a call came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `executeCode`, `executePython`, `executeNode`.
    Execute,
    /// `executeWithPackages`: Python and Node only.
    WithPackages,
}

/// One call as the public API makes it: the code, and the rest as
/// JavaScript passed it (`{ language, packages, options }`).
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    pub code: String,
    pub arguments: Value,
    /// Files to write into the work dir: (path as given, content).
    pub files: Vec<(String, Vec<u8>)>,
    pub on_stdout: Option<crate::Sink>,
    pub on_stderr: Option<crate::Sink>,
}

/// What `E2BService` is, minus JavaScript: a backend, per-call defaults, and
/// the bookkeeping that lets `close()` kill every call and wait for it.
pub struct Service {
    backend: Arc<dyn Backend>,
    defaults: Defaults,
    closing: CancellationToken,
    running: TaskTracker,
    sessions: Sessions,
}

impl Service {
    pub fn new(backend: Arc<dyn Backend>, defaults: Defaults) -> Self {
        Service {
            backend,
            defaults,
            closing: CancellationToken::new(),
            running: TaskTracker::new(),
            sessions: Sessions::default(),
        }
    }

    /// A token that cancels one call; `close()` cancels them all.
    pub fn call_token(&self) -> CancellationToken {
        self.closing.child_token()
    }

    /// The request `call` makes, every argument checked.
    pub fn request(&self, call: Call) -> Result<Request, Error> {
        let arguments = Options::new(&call.arguments, "execute")?;
        let language = self.language(call.method, &arguments)?;
        let packages = arguments.strings("packages")?.unwrap_or_default();
        crate::validate_packages(language, &packages)?;
        let options = arguments.object("options", "")?;
        let env = options.string_map("env")?.unwrap_or_default();
        validate_env(&env)?;
        let limits = options.limits(&self.defaults.limits)?;
        let files = call
            .files
            .into_iter()
            .map(|(path, content)| {
                Ok(crate::FileIn {
                    path: crate::work_dir_path(&path)?,
                    content,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        crate::check_files(&files)?;
        let total: usize = files.iter().map(|f| f.content.len()).sum();
        if total as u64 > limits.disk_bytes {
            return Err(Error::invalid_arg(format!(
                "files hold {total} bytes, more than the work dir's {} (limits.diskBytes)",
                limits.disk_bytes
            )));
        }
        let read_files = options
            .strings("readFiles")?
            .unwrap_or_default()
            .iter()
            .map(|p| crate::work_dir_path(p))
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Request {
            language,
            code: call.code,
            timeout: options.timeout()?.unwrap_or(self.defaults.timeout),
            env,
            limits,
            packages,
            install_timeout: options
                .millis("installTimeoutMs", MAX_TIMEOUT)?
                .unwrap_or(self.defaults.install_timeout),
            files,
            read_files,
            on_stdout: call.on_stdout,
            on_stderr: call.on_stderr,
        })
    }

    fn language(&self, method: Method, arguments: &Options<'_>) -> Result<Language, Error> {
        let languages: &[Language] = match method {
            Method::Execute => &Language::ALL,
            Method::WithPackages => &[Language::Python, Language::Node],
        };
        let value = arguments.get("language");
        let language = value
            .and_then(Value::as_str)
            .and_then(|name| name.parse::<Language>().ok())
            .filter(|l| languages.contains(l));
        language.ok_or_else(|| {
            let names: Vec<String> = languages.iter().map(|l| format!("\"{l}\"")).collect();
            Error::invalid_arg(format!(
                "unknown language {}: use one of {}",
                value.map_or("undefined".into(), describe),
                names.join(", ")
            ))
        })
    }

    pub async fn execute(&self, call: Call, cancel: CancellationToken) -> Result<Outcome, Error> {
        if self.closing.is_cancelled() {
            return Err(Error::Closed);
        }
        let request = self.request(call)?;
        let result = self
            .running
            .track_future(self.backend.execute(&request, &cancel))
            .await;
        match result {
            Err(Error::Aborted) if self.closing.is_cancelled() => Err(Error::Closed),
            other => other,
        }
    }

    /// A new session (`createSession()`), its options read over the
    /// service's timeout and limits.
    pub async fn create_session(&self, options: &Value) -> Result<Arc<Session>, Error> {
        if self.closing.is_cancelled() {
            return Err(Error::Closed);
        }
        let spec = session::read_spec(options, self.defaults.timeout, &self.defaults.limits)?;
        let create = async {
            let inner = tokio::select! {
                created = self.backend.create_session(&spec) => created?,
                _ = self.closing.cancelled() => return Err(Error::Closed),
            };
            let session = Session::start(inner, spec, self.backend.name(), self.closing.clone());
            self.sessions.add(&session);
            // Made as the service closed: `close()` waits for this to end it.
            if self.closing.is_cancelled() {
                session.end(session::SERVICE_CLOSED.into()).await;
                return Err(Error::Closed);
            }
            Ok(session)
        };
        self.running.track_future(create).await
    }

    pub async fn reap_orphans(&self) -> Result<usize, Error> {
        self.backend.reap_orphans().await
    }

    /// Kills every running call and session, and resolves when all of them
    /// are gone.
    pub async fn close(&self) {
        self.closing.cancel();
        self.running.close();
        self.sessions.end_all(session::SERVICE_CLOSED).await;
        self.running.wait().await;
        self.backend.close().await;
    }
}
