use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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

/// One call as the public API makes it.
#[derive(Debug, Clone)]
pub struct Call {
    pub language: String,
    pub code: String,
    pub packages: Vec<String>,
    pub timeout_ms: Option<f64>,
    pub install_timeout_ms: Option<f64>,
    pub env: BTreeMap<String, String>,
    /// Per-call limits by their JavaScript names (`memoryBytes`, ...).
    pub limits: Vec<(String, f64)>,
    /// Files to write into the work dir: (path as given, content).
    pub files: Vec<(String, Vec<u8>)>,
    /// Work-dir paths to read back after the run.
    pub read_files: Vec<String>,
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
}

impl Service {
    pub fn new(backend: Arc<dyn Backend>, defaults: Defaults) -> Self {
        Service {
            backend,
            defaults,
            closing: CancellationToken::new(),
            running: TaskTracker::new(),
        }
    }

    /// A token that cancels one call; `close()` cancels them all.
    pub fn call_token(&self) -> CancellationToken {
        self.closing.child_token()
    }

    pub fn request(&self, call: Call) -> Result<Request, Error> {
        let language: Language = call.language.parse()?;
        crate::validate_packages(language, &call.packages)?;
        validate_env(&call.env)?;
        let install_timeout = match call.install_timeout_ms {
            Some(ms) => Request::duration_from_ms("installTimeoutMs", ms)?,
            None => self.defaults.install_timeout,
        };
        let timeout = match call.timeout_ms {
            Some(ms) => Request::timeout_from_ms(ms)?,
            None => self.defaults.timeout,
        };
        let mut limits = self.defaults.limits.clone();
        for (name, value) in &call.limits {
            limits.set(crate::LimitSetting {
                name,
                value: *value,
            })?;
        }
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
        let total: usize = files.iter().map(|f| f.content.len()).sum();
        if total as u64 > limits.disk_bytes {
            return Err(Error::invalid_arg(format!(
                "files hold {total} bytes, more than the work dir's {} (limits.diskBytes)",
                limits.disk_bytes
            )));
        }
        let read_files = call
            .read_files
            .iter()
            .map(|p| crate::work_dir_path(p))
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Request {
            language,
            code: call.code,
            timeout,
            env: call.env,
            limits,
            packages: call.packages,
            install_timeout,
            files,
            read_files,
            on_stdout: call.on_stdout,
            on_stderr: call.on_stderr,
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

    pub async fn reap_orphans(&self) -> Result<usize, Error> {
        self.backend.reap_orphans().await
    }

    /// Kills every running call and resolves when all of them are gone.
    pub async fn close(&self) {
        self.closing.cancel();
        self.running.close();
        self.running.wait().await;
        self.backend.close().await;
    }
}
