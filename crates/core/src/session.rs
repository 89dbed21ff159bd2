//! Sessions: a long-lived sandbox whose kernels, one per language, keep
//! their state from one run to the next (`createSession()`, `runCode()`).
//! A backend builds the sandbox and runs code in it ([`CodeSession`]);
//! this module reads the options, bounds the session's life (idle and
//! total), times runs out and aborts them, and ends the session on every
//! path, so that both backends behave alike.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{Notify, OnceCell};
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

pub use e2b_native_kernels::{
    Event, Execution, ExecutionError, ExecutionResult, Language as CodeLanguage,
};

use crate::options::{Options, MAX_TIMEOUT};
use crate::{validate_env, BoxFuture, Error, Limits};

/// How long a session lives at most when `timeoutMs` is not given.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// How long a session waits for a call when `idleTimeoutMs` is not given.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(300);

/// What a session is asked to be, every option checked.
#[derive(Debug, Clone)]
pub struct SessionSpec {
    /// The language of runs that name none.
    pub language: CodeLanguage,
    /// Variables of every kernel of the session.
    pub env: BTreeMap<String, String>,
    /// Bounds of the whole sandbox.
    pub limits: Limits,
    /// The session ends this long after it started.
    pub lifetime: Duration,
    /// The session ends after this long without a call.
    pub idle: Duration,
    /// A run's timeout when it sets none (the service's `timeoutMs`).
    pub run_timeout: Duration,
}

/// Receives a run's events as they come; the next waits for the future.
#[derive(Clone)]
pub struct EventSink(pub Arc<dyn Fn(Event) -> BoxFuture<'static, ()> + Send + Sync>);

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventSink")
    }
}

/// One run, as a backend gets it.
#[derive(Debug, Clone)]
pub struct Run {
    pub language: CodeLanguage,
    pub code: String,
    /// Its timeout (enforced by [`Session::run`]; a remote sandbox must
    /// live that long).
    pub timeout: Duration,
    /// Variables for this run only.
    pub env: BTreeMap<String, String>,
    pub on_event: Option<EventSink>,
}

/// What a backend's run did: the execution, and whether it was interrupted.
#[derive(Debug, Clone, Default)]
pub struct Ran {
    pub execution: Execution,
    pub interrupted: Option<Interrupted>,
}

/// How an interrupted run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupted {
    /// The kernel stopped the code and kept its state.
    Stopped,
    /// The kernel did not stop in time and was killed: its state is lost;
    /// the next run starts a new one.
    KernelRestarted,
}

/// A path of a session's sandbox, as `files.list()` and `files.write()` report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    /// Absolute (`/home/user/...`).
    pub path: String,
    /// `file`, `dir`, `symlink` or `other`.
    pub kind: &'static str,
    pub size: u64,
}

/// A backend's session: a sandbox kept alive with its kernels. Paths are
/// relative to the work dir, normalised (`""` is the work dir itself).
pub trait CodeSession: Send + Sync {
    fn id(&self) -> &str;
    /// `namespaces` or `landlock` (local tiers), `microvm` (E2B).
    fn isolation(&self) -> &'static str;
    /// Runs code in its language's kernel, started on first use. When
    /// `stop` fires, the code is interrupted (and its kernel killed if it
    /// does not stop within a grace period); the future then resolves with
    /// what was produced.
    fn run<'a>(
        &'a self,
        run: Run,
        stop: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Ran, Error>>;
    fn write_file<'a>(
        &'a self,
        path: &'a str,
        content: Vec<u8>,
    ) -> BoxFuture<'a, Result<Entry, Error>>;
    /// At most `cap` bytes, or an error that says so.
    fn read_file<'a>(&'a self, path: &'a str, cap: u64) -> BoxFuture<'a, Result<Vec<u8>, Error>>;
    fn list<'a>(&'a self, dir: &'a str) -> BoxFuture<'a, Result<Vec<Entry>, Error>>;
    /// Kills every kernel; the next run of each language starts a new one.
    fn restart(&self) -> BoxFuture<'_, Result<(), Error>>;
    /// Kills the sandbox and resolves once it is gone.
    fn close(&self) -> BoxFuture<'_, ()>;
    /// Resolves if the sandbox ends by itself.
    fn gone(&self) -> BoxFuture<'_, ()>;
}

/// Why a closed session's calls are refused.
const CLOSED: &str = "the session was closed: create a new one with service.createSession()";
/// Why the sessions of a closed service are.
pub(crate) const SERVICE_CLOSED: &str =
    "the service was closed, and its sessions with it: create a new E2BService to run more code";

struct State {
    /// Why it ended, once it has.
    ended: Option<String>,
    /// Calls in progress: the idle clock stands still while there are any.
    busy: usize,
    last_call: Instant,
}

/// A session as the public API holds it.
pub struct Session {
    inner: Box<dyn CodeSession>,
    spec: SessionSpec,
    backend: &'static str,
    state: Mutex<State>,
    /// Fires when the session ends, for whatever reason.
    ending: CancellationToken,
    /// Wakes the watch when a call starts or ends.
    activity: Notify,
    closed: OnceCell<()>,
}

impl Session {
    /// Wraps a backend's session and starts the watch that ends it when
    /// idle, past its lifetime, when its sandbox dies, or when `service`
    /// (the service's closing token) fires.
    pub(crate) fn start(
        inner: Box<dyn CodeSession>,
        spec: SessionSpec,
        backend: &'static str,
        service: CancellationToken,
    ) -> Arc<Session> {
        let session = Arc::new(Session {
            inner,
            spec,
            backend,
            state: Mutex::new(State {
                ended: None,
                busy: 0,
                last_call: Instant::now(),
            }),
            ending: CancellationToken::new(),
            activity: Notify::new(),
            closed: OnceCell::new(),
        });
        tokio::spawn(watch(session.clone(), service));
        session
    }

    pub fn id(&self) -> &str {
        self.inner.id()
    }

    pub fn isolation(&self) -> &'static str {
        self.inner.isolation()
    }

    /// `local` or `e2b`.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Runs `code` with the call's `options` (`language`, `timeoutMs`,
    /// `env`). Past its timeout the code is interrupted and the execution
    /// resolves with a `TimeoutError`; `cancel` interrupts it and rejects
    /// with [`Error::Aborted`]; the session stays usable either way.
    pub async fn run(
        &self,
        code: String,
        options: &Value,
        on_event: Option<EventSink>,
        cancel: &CancellationToken,
    ) -> Result<Execution, Error> {
        let options = Options::new(options, "runCode")?;
        options.only(&["language", "timeoutMs", "env"])?;
        let language = match options.string("language")? {
            Some(name) => CodeLanguage::parse(Some(&name)).map_err(|e| {
                Error::invalid_arg(format!("runCode: {e} (or their aliases js, ts)"))
            })?,
            None => self.spec.language,
        };
        let timeout = options.timeout()?.unwrap_or(self.spec.run_timeout);
        let env = options.string_map("env")?.unwrap_or_default();
        validate_env(&env)?;
        let run = Run {
            language,
            code,
            timeout,
            env,
            on_event,
        };
        let _call = self.call()?;
        let stop = CancellationToken::new();
        let running = self.inner.run(run, &stop);
        tokio::pin!(running);
        let why = tokio::select! {
            ran = &mut running => return Ok(ran?.execution),
            _ = tokio::time::sleep(timeout) => Stop::Timeout,
            _ = cancel.cancelled() => Stop::Aborted,
            _ = self.ending.cancelled() => Stop::Ended,
        };
        stop.cancel();
        let ran = running.await;
        match why {
            Stop::Ended => Err(self.ended_error()),
            Stop::Aborted => Err(Error::Aborted),
            Stop::Timeout => Ok(timed_out(ran?, language, timeout)),
        }
    }

    /// Writes `content` to `path` (parents created, content replaced).
    pub async fn write_file(&self, path: &str, content: Vec<u8>) -> Result<Entry, Error> {
        let path = crate::work_dir_path(path)?;
        if content.len() as u64 > self.spec.limits.disk_bytes {
            return Err(Error::invalid_arg(format!(
                "the file holds {} bytes, more than the session's disk of {} (limits.diskBytes)",
                content.len(),
                self.spec.limits.disk_bytes
            )));
        }
        let _call = self.call()?;
        self.or_ended(self.inner.write_file(&path, content)).await
    }

    /// The content of `path`, at most `limits.diskBytes` (no file is larger).
    pub async fn read_file(&self, path: &str) -> Result<Vec<u8>, Error> {
        let path = crate::work_dir_path(path)?;
        let _call = self.call()?;
        let cap = self.spec.limits.disk_bytes;
        self.or_ended(self.inner.read_file(&path, cap)).await
    }

    /// The entries of directory `dir` (the work dir for `""`, `.` or `/home/user`).
    pub async fn list(&self, dir: &str) -> Result<Vec<Entry>, Error> {
        let dir = match dir.trim_end_matches('/') {
            "" | "." | crate::WORK_DIR => String::new(),
            other => crate::work_dir_path(other)?,
        };
        let _call = self.call()?;
        self.or_ended(self.inner.list(&dir)).await
    }

    /// New kernels for every language, in the same sandbox with the same files.
    pub async fn restart(&self) -> Result<(), Error> {
        let _call = self.call()?;
        self.or_ended(self.inner.restart()).await
    }

    /// Ends the session: its sandbox is gone when this resolves.
    pub async fn close(&self) {
        self.end(CLOSED.into()).await;
    }

    /// Ends the session with `why` (the first reason stays) and waits until
    /// its sandbox is gone.
    pub(crate) async fn end(&self, why: String) {
        {
            let mut state = lock(&self.state);
            state.ended.get_or_insert(why);
        }
        self.ending.cancel();
        self.closed.get_or_init(|| self.inner.close()).await;
    }

    fn ended_error(&self) -> Error {
        let why = lock(&self.state).ended.clone();
        Error::SessionEnded(why.unwrap_or_else(|| CLOSED.into()))
    }

    /// A call starts: refused once the session has ended; the idle clock
    /// stands still until the returned guard is dropped.
    fn call(&self) -> Result<Call<'_>, Error> {
        let mut state = lock(&self.state);
        if state.ended.is_some() {
            drop(state);
            return Err(self.ended_error());
        }
        state.busy += 1;
        drop(state);
        self.activity.notify_one();
        Ok(Call(self))
    }

    /// `operation`, unless the session ends first.
    async fn or_ended<T>(&self, operation: BoxFuture<'_, Result<T, Error>>) -> Result<T, Error> {
        tokio::select! {
            done = operation => done,
            _ = self.ending.cancelled() => Err(self.ended_error()),
        }
    }
}

/// Why a run was stopped.
enum Stop {
    Timeout,
    Aborted,
    Ended,
}

/// A call in progress (see [`Session::call`]).
struct Call<'a>(&'a Session);

impl Drop for Call<'_> {
    fn drop(&mut self) {
        let mut state = lock(&self.0.state);
        state.busy -= 1;
        state.last_call = Instant::now();
        drop(state);
        self.0.activity.notify_one();
    }
}

/// A run stopped at its timeout: what it produced, and a `TimeoutError`
/// in place of the interrupt's own error. A run that finished as the
/// timeout fired is left as it is.
fn timed_out(ran: Ran, language: CodeLanguage, timeout: Duration) -> Execution {
    let mut execution = ran.execution;
    let ms = timeout.as_millis();
    let value = match ran.interrupted {
        None => return execution,
        Some(Interrupted::Stopped) => format!(
            "the execution ran past its timeout of {ms} ms (timeoutMs) and was interrupted; \
             the session and its {language} state are kept"
        ),
        Some(Interrupted::KernelRestarted) => format!(
            "the execution ran past its timeout of {ms} ms (timeoutMs) and did not stop when \
             interrupted, so its {language} kernel was killed: its state is lost, and the next \
             run starts a new one"
        ),
    };
    execution.error = Some(ExecutionError {
        name: "TimeoutError".into(),
        traceback: format!("TimeoutError: {value}"),
        value,
    });
    execution
}

/// Ends `session` when it has been idle too long, has lived too long, its
/// sandbox has died, or its service closes.
async fn watch(session: Arc<Session>, service: CancellationToken) {
    let spec = &session.spec;
    let end_of_life = Instant::now() + spec.lifetime;
    let why = loop {
        let idle_until = {
            let state = lock(&session.state);
            (state.busy == 0).then_some(state.last_call + spec.idle)
        };
        tokio::select! {
            _ = session.ending.cancelled() => return,
            _ = service.cancelled() => break SERVICE_CLOSED.to_string(),
            _ = sleep_until(end_of_life) => break format!(
                "the session reached its lifetime of {} ms (timeoutMs of createSession()) and \
                 was closed: create a new one, or give it a longer timeoutMs",
                spec.lifetime.as_millis()
            ),
            _ = sleep_until_some(idle_until) => {
                // A call may have started as the clock ran out.
                if lock(&session.state).busy == 0 {
                    break format!(
                        "the session was closed after {} ms without a call (idleTimeoutMs of \
                         createSession()): create a new one, or give it a longer idleTimeoutMs",
                        spec.idle.as_millis()
                    );
                }
            }
            _ = session.activity.notified() => {}
            _ = session.inner.gone() => break "the session's sandbox ended by itself (killed \
                from outside, or its init died): create a new session".to_string(),
        }
    };
    session.end(why).await;
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Reads `createSession()`'s options over the service's `defaults`
/// (its per-call timeout and limits).
pub(crate) fn read_spec(
    value: &Value,
    run_timeout: Duration,
    limits: &Limits,
) -> Result<SessionSpec, Error> {
    let options = Options::new(value, "createSession")?;
    options.only(&["language", "timeoutMs", "idleTimeoutMs", "env", "limits"])?;
    let language = match options.string("language")? {
        Some(name) => CodeLanguage::parse(Some(&name)).map_err(|e| {
            Error::invalid_arg(format!("createSession: {e} (or their aliases js, ts)"))
        })?,
        None => CodeLanguage::Python,
    };
    let env = options.string_map("env")?.unwrap_or_default();
    validate_env(&env)?;
    Ok(SessionSpec {
        language,
        env,
        limits: options.limits(limits)?,
        lifetime: options.timeout()?.unwrap_or(DEFAULT_LIFETIME),
        idle: options
            .millis("idleTimeoutMs", MAX_TIMEOUT)?
            .unwrap_or(DEFAULT_IDLE),
        run_timeout,
    })
}

/// The sessions of a service, so that closing it ends them all.
#[derive(Default)]
pub(crate) struct Sessions {
    live: Mutex<HashMap<usize, Arc<Session>>>,
}

impl Sessions {
    /// Keeps `session` (and forgets those that have ended).
    pub(crate) fn add(&self, session: &Arc<Session>) {
        let mut live = lock(&self.live);
        live.retain(|_, s| !s.ending.is_cancelled());
        live.insert(Arc::as_ptr(session) as usize, session.clone());
    }

    /// Ends every session (with `why`) and waits until they are gone.
    pub(crate) async fn end_all(&self, why: &str) {
        let all: Vec<Arc<Session>> = lock(&self.live).drain().map(|(_, s)| s).collect();
        let mut ending = tokio::task::JoinSet::new();
        for session in all {
            let why = why.to_string();
            ending.spawn(async move { session.end(why).await });
        }
        while ending.join_next().await.is_some() {}
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests;
