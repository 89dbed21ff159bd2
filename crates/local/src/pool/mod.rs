//! The warm pool: sandboxes prepared ahead of time, per language, so that a
//! call finds its namespaces, root, cgroups, limits and interpreter ready and
//! only has to hand over its code.
//!
//! A pooled sandbox has the shape of a one-shot sandbox in [`Mode::Warm`]:
//! the helper builds it exactly as for a cold call (same isolation, same
//! limits), but init starts the interpreter on a bootstrap ([`bootstrap`])
//! that waits on its stdin (bash: the confined process waits, and execs bash
//! on the go), and the helper's socket stays open. A call whose
//! sandbox would have the same shape takes one, sends it a [`Go`] (code, env,
//! files, CPU limit), and reads its output as a cold call does
//! (`run::finish`). Each sandbox serves exactly one call and is gone when the
//! call returns; nothing can pass from one call to the next.
//!
//! Taking one starts a replacement in the background; a lane unused for
//! `idle` is emptied; `close()` empties them all and waits. Pooled sandboxes
//! are in the registry (marked pooled), so `kill_all` takes them at exit, and
//! no timer or task here keeps Node alive.

mod bootstrap;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use e2b_native_core::options::{describe, Options, MAX_TIMEOUT};
use e2b_native_core::{Error, Language, Limits, Outcome, Request};
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

use crate::fork_server::ForkServer;
use crate::interpreters::Interpreter;
use crate::launch::{self, Helper, Origin};
use crate::protocol::{Event, Go, Isolation, Job, Mode, Shape, Spec};
use crate::CancellationToken;
use crate::{run, shape};

/// The pool's settings; `size` 0 turns it off.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Sandboxes kept ready per language (python, node, bash).
    pub size: usize,
    /// A language's sandboxes are dropped after this long without a call.
    pub idle: Duration,
    /// The limits pooled sandboxes are built with: calls with other limits
    /// run cold.
    pub limits: Limits,
    /// Python's sandboxes are forked from a fork server (see `fork_server`)
    /// rather than each starting an interpreter.
    pub fork_server: bool,
}

impl PoolConfig {
    pub const DEFAULT_SIZE: usize = 2;
    pub const DEFAULT_IDLE: Duration = Duration::from_secs(30);
    /// The most sandboxes a pool keeps per language.
    pub const MAX_SIZE: usize = 64;

    /// No pool: every call builds its sandbox.
    pub fn off() -> Self {
        PoolConfig {
            size: 0,
            ..PoolConfig::default()
        }
    }

    /// The constructor's `pool` option (`false`, or `{ size, idleMs }`),
    /// else `E2B_NATIVE_POOL_SIZE`; pooled sandboxes get `limits`.
    pub fn read(
        options: &Options<'_>,
        env: &HashMap<String, String>,
        limits: &Limits,
    ) -> Result<Self, Error> {
        let mut pool = PoolConfig {
            limits: limits.clone(),
            ..PoolConfig::default()
        };
        match options.get("pool") {
            Some(Value::Bool(false)) => {
                pool.size = 0;
                return Ok(pool);
            }
            Some(other) if !other.is_object() => {
                return Err(Error::invalid_arg(format!(
                    "pool must be false or an object {{ size, idleMs }}, got {}",
                    describe(other)
                )))
            }
            _ => {}
        }
        let given = options.object("pool", "pool.")?;
        given.only(&["size", "idleMs", "forkServer"])?;
        if let Some(fork_server) = given.boolean("forkServer")? {
            pool.fork_server = fork_server;
        }
        let max = Self::MAX_SIZE as u64;
        match given.whole("size", 0, max)? {
            Some(size) => pool.size = size as usize,
            None => {
                if let Some(text) = env.get("E2B_NATIVE_POOL_SIZE") {
                    let size = text.trim().parse::<u64>().ok().filter(|n| *n <= max);
                    pool.size = size.ok_or_else(|| {
                        Error::invalid_arg(format!(
                            "E2B_NATIVE_POOL_SIZE must be a whole number from 0 (no pool) to {max}, got {text:?}"
                        ))
                    })? as usize;
                }
            }
        }
        if let Some(idle) = given.millis("idleMs", MAX_TIMEOUT)? {
            pool.idle = idle;
        }
        Ok(pool)
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            size: Self::DEFAULT_SIZE,
            idle: Self::DEFAULT_IDLE,
            limits: Limits::default(),
            fork_server: true,
        }
    }
}

/// How a language's lane stands, for `poolStats()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneStats {
    pub language: Language,
    /// Ready and waiting for a call.
    pub ready: usize,
    /// Being prepared.
    pub starting: usize,
    /// Calls this lane has served.
    pub served: u64,
    /// Its sandboxes are forked from the fork server (Python).
    pub forked: bool,
    /// Why the fork server could not start, when it could not (Python).
    pub fork_server_error: Option<String>,
}

/// How long a sandbox may take to get ready before it is given up.
const PREPARE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a drained sandbox may take to end before it is killed.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

struct Lane {
    /// The spec every sandbox of this lane is built from: a warm shape and
    /// the bootstrap, with no CPU limit until a go brings the call's.
    template: Spec,
    ready: VecDeque<Helper>,
    starting: usize,
    last_used: Instant,
    served: u64,
    /// The last preparation failed (no isolation on this host, say): refill
    /// one at a time until one succeeds, rather than `size` at every call.
    failing: bool,
}

struct State {
    lanes: HashMap<Language, Lane>,
    closed: bool,
    /// Whether the idle watcher runs.
    watching: bool,
}

pub(crate) struct Pool {
    config: PoolConfig,
    helper: PathBuf,
    state: Mutex<State>,
    /// Signalled whenever a preparation ends (for `close`).
    prepared: Notify,
    /// Python's fork server, once started.
    fork_server: Mutex<Option<Arc<ForkServer>>>,
    /// How the last start of a fork server went, for `poolStats()` (read
    /// without waiting for a start under way): `Err` with why, and when, if
    /// it could not start (then Python's sandboxes start an interpreter
    /// each, as other languages' do, and a start is tried again later).
    fork_server_state: Mutex<Option<Result<(), (String, Instant)>>>,
}

/// How long after a fork server failed to start another start is tried.
const FORK_SERVER_RETRY: Duration = Duration::from_secs(60);

impl Pool {
    pub(crate) fn new(config: PoolConfig, helper: PathBuf) -> Arc<Self> {
        Arc::new(Pool {
            config,
            helper,
            state: Mutex::new(State {
                lanes: HashMap::new(),
                closed: false,
                watching: false,
            }),
            prepared: Notify::new(),
            fork_server: Mutex::new(None),
            fork_server_state: Mutex::new(None),
        })
    }

    /// The fork server for Python's lane (`template`), started on first use
    /// and replaced once retired or gone; `None` where it is off or could
    /// not start. Blocking: starting one starts an interpreter.
    fn fork_server(&self, template: &Spec) -> Option<Arc<ForkServer>> {
        if !self.config.fork_server {
            return None;
        }
        let mut server = self.fork_server.lock().unwrap_or_else(|p| p.into_inner());
        if server.as_ref().is_some_and(|s| s.retired() || !s.alive()) {
            *server = None;
        }
        if server.is_none() {
            let failed_lately = matches!(
                self.fork_server_state(),
                Some(Err((_, when))) if when.elapsed() < FORK_SERVER_RETRY
            );
            if failed_lately {
                return None;
            }
            let program = &template
                .job
                .as_ref()
                .expect("a pool's spec has a job")
                .program;
            let started = ForkServer::start(program, bootstrap::PYTHON, &self.helper);
            *self
                .fork_server_state
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(
                started
                    .as_ref()
                    .map(drop)
                    .map_err(|e| (e.clone(), Instant::now())),
            );
            *server = started.ok().map(Arc::new);
        }
        server.clone()
    }

    fn fork_server_state(&self) -> Option<Result<(), (String, Instant)>> {
        self.fork_server_state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a ready sandbox for `request`, whose cold sandbox would have
    /// `shape` (one-shot), if the pool can serve it exactly. When it could,
    /// the returned [`Refill`] refills the lane once the call is over (the
    /// call runs first: preparing sandboxes meanwhile would slow it), warm or
    /// cold.
    pub(crate) fn take(
        self: &Arc<Self>,
        interpreter: &Interpreter,
        shape: &Shape,
        request: &Request,
    ) -> (Option<Helper>, Option<Refill>) {
        if self.config.size == 0 {
            return (None, None);
        }
        let mut state = self.state();
        if state.closed {
            return (None, None);
        }
        let lane = state.lanes.entry(request.language).or_insert_with(|| Lane {
            template: self.template(request.language, interpreter, shape.isolation),
            ready: VecDeque::new(),
            starting: 0,
            last_used: Instant::now(),
            served: 0,
            failing: false,
        });
        if !serves(&lane.template.shape, shape, request) {
            return (None, None);
        }
        lane.last_used = Instant::now();
        let mut taken = None;
        while let Some(mut helper) = lane.ready.pop_front() {
            // One that ended while it waited (killed from outside) is dropped.
            if helper.child.running() {
                taken = Some(helper);
                break;
            }
        }
        if taken.is_some() {
            lane.served += 1;
        }
        let refill = Refill {
            pool: Arc::downgrade(self),
            language: request.language,
        };
        (taken, Some(refill))
    }

    /// For a call the lane could serve but found empty: a sandbox forked
    /// for it now, where the lane's sandboxes come from the fork server
    /// (a few milliseconds, a fraction of a cold sandbox's cost); `None`
    /// elsewhere, or if the call is cancelled meanwhile, and it runs cold.
    pub(crate) async fn fork_now(
        self: &Arc<Self>,
        language: Language,
        cancel: &CancellationToken,
    ) -> Option<Helper> {
        if language != Language::Python || !matches!(self.fork_server_state(), Some(Ok(()))) {
            return None;
        }
        let template = self.state().lanes.get(&language)?.template.clone();
        let pool = Arc::downgrade(self);
        let forked = tokio::select! {
            _ = cancel.cancelled() => return None,
            forked = tokio::time::timeout(
                PREPARE_TIMEOUT,
                prepare(&pool, language, &self.helper, &template),
            ) => forked.ok()?.ok()?,
        };
        let mut state = self.state();
        let lane = state.lanes.get_mut(&language)?;
        lane.served += 1;
        Some(forked)
    }

    /// Runs `request`, whose cold job is `job`, in `helper`, a sandbox
    /// [`Pool::take`] or [`Pool::fork_now`] gave, of tier `isolation`.
    pub(crate) async fn run(
        helper: Helper,
        job: Job,
        request: &Request,
        cancel: &CancellationToken,
        isolation: Isolation,
    ) -> Result<Outcome, Error> {
        let started = tokio::time::Instant::now();
        helper.guard.serving();
        let go = Go {
            code: request.code.clone(),
            env: request
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            cpu_seconds: job.cpu_seconds,
            work: job.work,
        };
        let go = serde_json::to_vec(&go).map_err(|e| Error::Internal(e.to_string()))?;
        run::finish(helper, go, started, request, cancel, isolation).await
    }

    /// The spec of `language`'s pooled sandboxes: the shape of a one-shot
    /// sandbox with the pool's limits, in warm mode, running the bootstrap.
    fn template(
        &self,
        language: Language,
        interpreter: &Interpreter,
        isolation: Isolation,
    ) -> Spec {
        let code = match language {
            Language::Python => bootstrap::PYTHON,
            Language::Node => bootstrap::NODE,
            // Nothing worth starting ahead: the confined process execs
            // `bash -c CODE` on its go, with the go's code and env.
            Language::Bash => "",
        };
        let mut request = Request::new(language, code);
        request.limits = self.config.limits.clone();
        let mut program =
            shape::program(interpreter, &request).expect("the bootstrap is a program");
        program.exec_on_go = language == Language::Bash;
        Spec {
            shape: shape::shape(
                Mode::Warm,
                &request.limits,
                &[(language, interpreter)],
                isolation,
            ),
            job: Some(Job {
                program,
                cpu_seconds: None,
                work: Default::default(),
            }),
            room: None,
        }
    }

    /// Starts preparations until `language`'s lane will hold `size`.
    fn refill(self: &Arc<Self>, language: Language) {
        let mut state = self.state();
        if state.closed {
            return;
        }
        let Some(lane) = state.lanes.get_mut(&language) else {
            return;
        };
        let wanted = if lane.failing { 1 } else { self.config.size };
        while lane.ready.len() + lane.starting < wanted {
            lane.starting += 1;
            let template = lane.template.clone();
            let pool = Arc::downgrade(self);
            let helper = self.helper.clone();
            tokio::spawn(async move {
                let prepared = tokio::time::timeout(
                    PREPARE_TIMEOUT,
                    prepare(&pool, language, &helper, &template),
                )
                .await
                .unwrap_or_else(|_| Err("timed out".into()));
                Pool::prepared(pool, language, prepared).await;
            });
        }
        if !state.watching {
            state.watching = true;
            tokio::spawn(watch_idle(Arc::downgrade(self)));
        }
    }

    /// A preparation ended: its sandbox joins the lane, unless the pool is
    /// gone, closed, or the lane went idle meanwhile.
    async fn prepared(pool: Weak<Pool>, language: Language, prepared: Result<Helper, String>) {
        let Some(pool) = pool.upgrade() else {
            return; // dropping the helper kills it
        };
        let unwanted = {
            let mut state = pool.state();
            let closed = state.closed;
            let lane = state
                .lanes
                .get_mut(&language)
                .expect("lanes are never removed");
            lane.starting -= 1;
            lane.failing = prepared.is_err();
            match prepared {
                Ok(helper) if !closed && lane.last_used.elapsed() < pool.config.idle => {
                    lane.ready.push_back(helper);
                    None
                }
                Ok(helper) => Some(helper),
                // The next call runs cold, says what is wrong, and tries one again.
                Err(_) => None,
            }
        };
        if let Some(helper) = unwanted {
            drain(helper).await;
        }
        pool.prepared.notify_waiters();
    }

    /// Empties every lane and waits for the sandboxes being prepared, and
    /// for the fork server to end; no sandbox is prepared after this.
    pub(crate) async fn close(&self) {
        loop {
            let notified = self.prepared.notified();
            let (helpers, starting) = {
                let mut state = self.state();
                state.closed = true;
                let helpers: Vec<Helper> = state
                    .lanes
                    .values_mut()
                    .flat_map(|lane| lane.ready.drain(..))
                    .collect();
                let starting: usize = state.lanes.values().map(|l| l.starting).sum();
                (helpers, starting)
            };
            for helper in helpers {
                drain(helper).await;
            }
            if starting == 0 {
                break;
            }
            notified.await;
        }
        let server = self
            .fork_server
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(server) = server {
            if let Ok(server) = Arc::try_unwrap(server) {
                let _ = tokio::task::spawn_blocking(move || server.retire()).await;
            }
        }
    }

    pub(crate) fn stats(&self) -> Vec<LaneStats> {
        let state = self.state();
        [Language::Python, Language::Node, Language::Bash]
            .into_iter()
            .map(|language| {
                let lane = state.lanes.get(&language);
                LaneStats {
                    language,
                    ready: lane.map_or(0, |l| l.ready.len()),
                    starting: lane.map_or(0, |l| l.starting),
                    served: lane.map_or(0, |l| l.served),
                    forked: language == Language::Python
                        && matches!(self.fork_server_state(), Some(Ok(()))),
                    fork_server_error: match (language, self.fork_server_state()) {
                        (Language::Python, Some(Err((why, _)))) => Some(why),
                        _ => None,
                    },
                }
            })
            .collect()
    }
}

/// Refills a lane when dropped, at the end of a call it could have served.
pub(crate) struct Refill {
    pool: Weak<Pool>,
    language: Language,
}

impl Drop for Refill {
    fn drop(&mut self) {
        // Only on a runtime: a call dropped as the runtime shuts down refills nothing.
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        if let Some(pool) = self.pool.upgrade() {
            pool.refill(self.language);
        }
    }
}

/// Whether a pooled sandbox of shape `warm`, its interpreter already
/// started, runs `request` exactly as the cold one-shot sandbox of `shape`
/// would: the same shape but for the mode, nothing in the env that the
/// interpreter reads at start-up (bash starts on its go, with the env), and
/// (Node) nothing that makes `-e` run the code as an ES module, which Node
/// decides when it compiles it.
fn serves(warm: &Shape, shape: &Shape, request: &Request) -> bool {
    let same = Shape {
        mode: Mode::Warm,
        ..shape.clone()
    };
    *warm == same
        && request.packages.is_empty()
        && (request.language == Language::Bash
            || request.env.keys().all(|name| !read_at_startup(name)))
        && (request.language != Language::Node
            || !["import", "export", "await"]
                .iter()
                .any(|word| request.code.contains(word)))
}

/// Variables an interpreter (or the C library under it) reads when it
/// starts, or that change the sandbox's base env: a call that sets one runs
/// cold, so that it takes effect as it would there.
fn read_at_startup(name: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "PYTHON", "NODE", "UV_", "LC_", "LD_", "MALLOC", "GLIBC", "SSL_",
    ];
    const NAMES: &[&str] = &[
        "LANG",
        "LANGUAGE",
        "TZ",
        "HOME",
        "PATH",
        "TMPDIR",
        "USER",
        "LOGNAME",
        "SHELL",
        "OPENSSL_CONF",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p)) || NAMES.contains(&name)
}

/// Starts a pooled sandbox and waits until it reports ready: forked from
/// the fork server for Python where it runs, else from the helper's binary.
async fn prepare(
    pool: &Weak<Pool>,
    language: Language,
    helper: &std::path::Path,
    template: &Spec,
) -> Result<Helper, String> {
    let started = match language {
        Language::Python => {
            let (pool, template) = (pool.clone(), template.clone());
            tokio::task::spawn_blocking(move || {
                let server = pool.upgrade()?.fork_server(&template)?;
                Some(launch::start(
                    Origin::Forked(&server),
                    &template.shape,
                    true,
                ))
            })
            .await
            .map_err(|e| e.to_string())?
        }
        _ => None,
    };
    let binary = || Origin::Binary {
        path: helper,
        inherit: None,
    };
    let mut helper = match started {
        Some(forked) => forked,
        None => launch::start(binary(), &template.shape, true),
    }
    .map_err(|e| e.to_string())?;
    helper
        .send_spec(template.clone(), true)
        .await
        .map_err(|e| e.to_string())?;
    loop {
        match helper.events.next(&helper.guard).await {
            None => return Err("the helper ended before its sandbox was ready".into()),
            Some(Event::Ready) => return Ok(helper),
            Some(Event::Failed { layer, message, .. }) => {
                return Err(format!("{layer}: {message}"))
            }
            Some(_) => {}
        }
    }
}

/// Ends a pooled sandbox that never got its go: closing its socket makes init
/// exit, which takes the interpreter with it; killed if it does not end.
async fn drain(mut helper: Helper) {
    let _ = helper.to_helper.shutdown().await;
    if tokio::time::timeout(DRAIN_GRACE, helper.child.wait())
        .await
        .is_err()
    {
        helper.guard.kill();
        let _ = helper.child.wait().await;
    }
    // Dropping the guard removes it from the registry; the cgroups go too.
}

/// Empties the lanes that saw no call for `idle`; ends when all are empty.
async fn watch_idle(pool: Weak<Pool>) {
    loop {
        let (expired, next) = {
            let Some(pool) = pool.upgrade() else { return };
            let idle = pool.config.idle;
            let mut state = pool.state();
            let mut expired = Vec::new();
            let mut next: Option<Duration> = None;
            for lane in state.lanes.values_mut() {
                let quiet = lane.last_used.elapsed();
                if quiet >= idle {
                    expired.extend(lane.ready.drain(..));
                } else if !lane.ready.is_empty() || lane.starting > 0 {
                    let left = idle - quiet;
                    next = Some(next.map_or(left, |n| n.min(left)));
                }
            }
            if next.is_none() {
                state.watching = false;
            }
            (expired, next)
        };
        for helper in expired {
            drain(helper).await;
        }
        match next {
            Some(wait) => tokio::time::sleep(wait + Duration::from_millis(5)).await,
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn python() -> Interpreter {
        Interpreter {
            path: "/usr/bin/python3".into(),
            extra_bind: None,
            python_path: None,
        }
    }

    fn template(language: Language) -> Spec {
        Pool::new(PoolConfig::default(), "e2b-sandbox".into()).template(
            language,
            &python(),
            Isolation::Namespaces,
        )
    }

    fn shape_of(request: &Request) -> Shape {
        shape::shape(
            Mode::OneShot,
            &request.limits,
            &[(request.language, &python())],
            Isolation::Namespaces,
        )
    }

    fn serves_cold(request: &Request) -> bool {
        serves(
            &template(request.language).shape,
            &shape_of(request),
            request,
        )
    }

    #[test]
    fn the_template_runs_the_bootstrap_with_the_cold_flags() {
        let warm = template(Language::Python);
        assert_eq!(warm.shape.mode, Mode::Warm);
        let program = warm.job.unwrap().program;
        assert_eq!(program.argv[..3], ["python3", "-u", "-c"]);
        assert_eq!(program.argv[3], bootstrap::PYTHON);
        let node = template(Language::Node).job.unwrap().program;
        assert_eq!(node.argv[0], "node");
        assert_eq!(node.argv[1], "-e");
        assert!(node.flags_fallback[0].starts_with("--max-old-space-size="));
        assert_eq!(node.argv.last().unwrap(), bootstrap::NODE);
        let bash = template(Language::Bash).job.unwrap().program;
        assert_eq!(bash.argv, ["bash", "-c", ""]);
        assert!(bash.exec_on_go);
        assert!(!node.exec_on_go);
    }

    #[test]
    fn calls_of_the_same_shape_are_served() {
        let mut request = Request::new(Language::Python, "print(1)");
        request.env.insert("GREETING".into(), "hi".into());
        request.timeout = Duration::from_secs(5);
        request.limits.cpu_seconds = Some(3);
        request.limits.output_bytes = 100;
        assert!(serves_cold(&request));
    }

    #[test]
    fn other_shapes_startup_env_and_node_modules_are_not() {
        let mut request = Request::new(Language::Python, "print(1)");
        request.limits.memory_bytes *= 2;
        assert!(!serves_cold(&request));
        let mut request = Request::new(Language::Python, "print(1)");
        request.limits.open_files = 10;
        assert!(!serves_cold(&request));
        for name in [
            "PYTHONPATH",
            "LANG",
            "LC_ALL",
            "HOME",
            "PATH",
            "TZ",
            "LD_PRELOAD",
        ] {
            let mut request = Request::new(Language::Python, "print(1)");
            request.env.insert(name.into(), "x".into());
            assert!(!serves_cold(&request), "{name}");
        }
        for code in [
            "import('fs')",
            "export {}",
            "await 1",
            "import fs from 'fs'",
        ] {
            assert!(!serves_cold(&Request::new(Language::Node, code)), "{code}");
        }
        assert!(serves_cold(&Request::new(Language::Node, "console.log(1)")));
        for name in ["GREETING", "SHLVL", "BASH_ENV", "PATH", "LD_PRELOAD"] {
            let mut request = Request::new(Language::Bash, "echo $RANDOM");
            request.env.insert(name.into(), "x".into());
            assert!(serves_cold(&request), "{name}");
        }
    }

    #[test]
    fn a_pool_of_size_zero_takes_nothing() {
        let pool = Pool::new(PoolConfig::off(), "e2b-sandbox".into());
        let request = Request::new(Language::Python, "print(1)");
        let (helper, refill) = pool.take(&python(), &shape_of(&request), &request);
        assert!(helper.is_none() && refill.is_none());
    }
}
