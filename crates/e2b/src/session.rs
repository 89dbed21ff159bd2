//! A session on E2B: one sandbox of the code-interpreter template, holding
//! one of the backend's concurrency slots, with one code context per
//! language (created on first use) and files through envd. Its TTL is kept
//! just ahead of what the session needs (the idle timeout, or a longer
//! run), so that a sandbox whose process died goes soon; it is tagged as
//! one-shot sandboxes are, for `reapOrphans()`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use e2b_native_core::session::{
    CodeLanguage, CodeSession, Entry, Interrupted, Ran, Run, SessionSpec,
};
use e2b_native_core::{BoxFuture, CancellationToken, Error, WORK_DIR};
use e2b_native_kernels::Execution;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{sleep_until, Instant};

use crate::api::Api;
use crate::backend::{E2bBackend, Remote, TAG_CALL, TTL_MARGIN};
use crate::envd::{self, Target};
use crate::interpreter::{self, Kernel};
use crate::retry::{with_retries, Failure};

struct E2bSession {
    id: String,
    api: Api,
    remote: Mutex<Option<Remote>>,
    envd: Target,
    interpreter: Target,
    /// The context of each language used so far.
    contexts: tokio::sync::Mutex<HashMap<CodeLanguage, String>>,
    /// When E2B kills the sandbox unless told otherwise (held while it is
    /// extended, so that concurrent calls extend it once).
    ttl: tokio::sync::Mutex<Instant>,
    idle: Duration,
    end_of_life: Instant,
    _slot: OwnedSemaphorePermit,
}

/// Creates the session's sandbox within the service's per-call timeout.
pub(crate) async fn create(
    backend: &E2bBackend,
    spec: &SessionSpec,
) -> Result<Box<dyn CodeSession>, Error> {
    let started = Instant::now();
    let deadline = started + spec.run_timeout;
    let slot = tokio::select! {
        slot = backend.slots.clone().acquire_owned() => slot.map_err(|_| Error::Closed)?,
        _ = sleep_until(deadline) => return Err(Error::E2bUnavailable(format!(
            "no free sandbox slot within {} ms (maxConcurrency): close a session, or raise maxConcurrency",
            spec.run_timeout.as_millis()
        ))),
    };
    let call = format!("{:016x}", fastrand::u64(..));
    let mut tags = backend.tags.clone();
    tags.insert(TAG_CALL.into(), call.clone());
    let ttl = (spec.idle + TTL_MARGIN).min(spec.lifetime);
    let created = with_retries(deadline, |_| backend.api.create(ttl, &tags, &spec.env));
    let created = tokio::select! {
        created = created => created,
        _ = sleep_until(deadline) => Err(Failure::Unavailable(format!(
            "no sandbox within {} ms (the service's timeoutMs)", spec.run_timeout.as_millis()
        ))),
    };
    let created = created.inspect_err(|_| backend.sweep_call(&call));
    let created = created.map_err(|f| f.into_error("create a session's sandbox"))?;
    Ok(Box::new(E2bSession {
        id: created.sandbox_id.clone(),
        api: backend.api.clone(),
        remote: Mutex::new(Some(Remote::new(&backend.api, &created.sandbox_id))),
        envd: backend.target(&created, envd::PORT, &backend.http),
        interpreter: backend.target(&created, interpreter::PORT, &backend.http1),
        contexts: tokio::sync::Mutex::default(),
        ttl: tokio::sync::Mutex::new(started + ttl),
        idle: spec.idle,
        end_of_life: started + spec.lifetime,
        _slot: slot,
    }))
}

impl E2bSession {
    /// Moves the sandbox's TTL to cover the idle timeout after a call that
    /// may last `busy_for`, unless it already nearly does.
    async fn keep_alive(&self, busy_for: Duration) -> Result<(), Error> {
        let now = Instant::now();
        let wanted = (now + self.idle.max(busy_for) + TTL_MARGIN).min(self.end_of_life);
        let mut ttl = self.ttl.lock().await;
        if *ttl + TTL_MARGIN / 2 >= wanted {
            return Ok(());
        }
        let deadline = now + TTL_MARGIN;
        with_retries(deadline, |_| self.api.set_timeout(&self.id, wanted - now))
            .await
            .map_err(|f| f.into_error("extend the session sandbox's timeout"))?;
        *ttl = wanted;
        Ok(())
    }

    /// The context of `language`, created on first use.
    async fn context(&self, language: CodeLanguage) -> Result<String, Error> {
        let mut contexts = self.contexts.lock().await;
        if let Some(id) = contexts.get(&language) {
            return Ok(id.clone());
        }
        let id = interpreter::create_context(&self.interpreter, language, WORK_DIR)
            .await
            .map_err(|f| f.into_error(&format!("create a {language} context")))?;
        contexts.insert(language, id.clone());
        Ok(id)
    }

    async fn execute(&self, run: Run, stop: &CancellationToken) -> Result<Ran, Error> {
        self.keep_alive(run.timeout).await?;
        let context = self.context(run.language).await?;
        let failed = |f: Failure| f.into_error("run code");
        let mut ran = Ran::default();
        let started = interpreter::execute(
            &self.interpreter,
            Kernel::Context(&context),
            &run.code,
            &run.env,
        );
        let mut lines = tokio::select! {
            lines = started => lines.map_err(failed)?,
            _ = stop.cancelled() => return Ok(interrupted(ran.execution)),
        };
        loop {
            // Dropping the stream interrupts the code: the interpreter
            // notices the closed connection (HTTP/1.1) and stops its kernel.
            let event = tokio::select! {
                event = lines.next_event() => event.map_err(failed)?,
                _ = stop.cancelled() => return Ok(interrupted(ran.execution)),
            };
            let Some(event) = event else {
                return Ok(ran);
            };
            if let Some(sink) = &run.on_event {
                (sink.0)(event.clone()).await;
            }
            ran.execution.take(event);
        }
    }

    async fn list_dir(&self, dir: &str) -> Result<Vec<Entry>, Error> {
        self.keep_alive(Duration::ZERO).await?;
        let path = absolute(dir);
        let entries = envd::list_dir(&self.envd, &path)
            .await
            .map_err(|f| file_failure(dir, f))?;
        Ok(entries
            .into_iter()
            .map(|(name, kind, size)| Entry {
                path: format!("{path}/{name}"),
                name,
                kind,
                size,
            })
            .collect())
    }
}

fn interrupted(execution: Execution) -> Ran {
    Ran {
        execution,
        interrupted: Some(Interrupted::Stopped),
    }
}

/// `path` (relative to the work dir, `""` for it) as the sandbox names it.
fn absolute(path: &str) -> String {
    match path {
        "" => WORK_DIR.to_string(),
        path => format!("{WORK_DIR}/{path}"),
    }
}

fn file_failure(path: &str, failure: Failure) -> Error {
    match failure {
        Failure::Rejected(404, _) => Error::NotFound(format!(
            "{path} does not exist in the session's work dir ({WORK_DIR})"
        )),
        Failure::Rejected(_, message) => Error::invalid_arg(format!("{path}: {message}")),
        other => other.into_error(&format!("reach {path} in the session's sandbox")),
    }
}

impl CodeSession for E2bSession {
    fn id(&self) -> &str {
        &self.id
    }

    fn isolation(&self) -> &'static str {
        "microvm"
    }

    fn run<'a>(
        &'a self,
        run: Run,
        stop: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Ran, Error>> {
        Box::pin(self.execute(run, stop))
    }

    fn write_file<'a>(
        &'a self,
        path: &'a str,
        content: Vec<u8>,
    ) -> BoxFuture<'a, Result<Entry, Error>> {
        Box::pin(async move {
            self.keep_alive(Duration::ZERO).await?;
            let size = content.len() as u64;
            envd::write_file(&self.envd, &absolute(path), content)
                .await
                .map_err(|f| file_failure(path, f))?;
            Ok(Entry {
                name: path.rsplit('/').next().unwrap_or(path).to_string(),
                path: absolute(path),
                kind: "file",
                size,
            })
        })
    }

    fn read_file<'a>(&'a self, path: &'a str, cap: u64) -> BoxFuture<'a, Result<Vec<u8>, Error>> {
        Box::pin(async move {
            self.keep_alive(Duration::ZERO).await?;
            let content = envd::read_file(&self.envd, &absolute(path), cap)
                .await
                .map_err(|f| file_failure(path, f))?;
            content.ok_or_else(|| file_failure(path, Failure::Rejected(404, String::new())))
        })
    }

    fn list<'a>(&'a self, dir: &'a str) -> BoxFuture<'a, Result<Vec<Entry>, Error>> {
        Box::pin(self.list_dir(dir))
    }

    fn restart(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            self.keep_alive(Duration::ZERO).await?;
            let contexts: BTreeMap<String, CodeLanguage> = self
                .contexts
                .lock()
                .await
                .iter()
                .map(|(language, id)| (id.clone(), *language))
                .collect();
            for (id, language) in contexts {
                interpreter::restart_context(&self.interpreter, &id)
                    .await
                    .map_err(|f| f.into_error(&format!("restart the {language} context")))?;
            }
            Ok(())
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        let remote = self.remote.lock().unwrap_or_else(|p| p.into_inner()).take();
        Box::pin(async move {
            if let Some(remote) = remote {
                remote.kill().await;
            }
        })
    }

    fn gone(&self) -> BoxFuture<'_, ()> {
        // A remote sandbox that ends early shows as failing calls.
        Box::pin(std::future::pending())
    }
}
