//! One execution on E2B: a slot, a tagged sandbox with a TTL, the code, the
//! files, and a DELETE on every path — all under the call's deadline.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use e2b_native_core::{
    uncaught_error_name, Backend, BoxFuture, CancellationToken, Capture, Error, Language, Limit,
    Outcome, Request, KILLED_EXIT_CODE, TIMEOUT_EXIT_CODE, WORK_DIR,
};
use tokio::sync::Semaphore;
use tokio::time::{sleep_until, Instant};

use e2b_native_core::session::{CodeSession, SessionSpec};

use crate::api::{Api, Created};
use crate::envd::{self, Piece, Target};
use crate::interpreter;
use crate::live;
use crate::retry::{with_retries, Failure};
use crate::E2bConfig;

/// E2B kills a sandbox this long after the call's own deadline, if we could not.
pub(crate) const TTL_MARGIN: Duration = Duration::from_secs(60);
/// How long to keep looking for a sandbox whose create we gave up on.
const SWEEP_BOUND: Duration = Duration::from_secs(45);
/// How long a DELETE may keep being retried after the call.
const KILL_BOUND: Duration = Duration::from_secs(10);

/// Metadata keys that tag every sandbox this library creates.
pub(crate) const TAG_LIBRARY: &str = "e2b-native";
const TAG_HOST: &str = "e2b-native-host";
const TAG_PID: &str = "e2b-native-pid";
const TAG_SERVICE: &str = "e2b-native-service";
pub(crate) const TAG_CALL: &str = "e2b-native-call";

pub struct E2bBackend {
    pub(crate) api: Api,
    config: E2bConfig,
    /// envd and the API may use HTTP/2 on TLS.
    pub(crate) http: reqwest::Client,
    /// /execute stays on HTTP/1.1: an abandoned HTTP/2 stream may not stop the kernel.
    pub(crate) http1: reqwest::Client,
    pub(crate) slots: Arc<Semaphore>,
    pub(crate) tags: BTreeMap<String, String>,
}

impl E2bBackend {
    pub fn new(config: E2bConfig) -> Result<Self, Error> {
        let agent = concat!("e2b-native/", env!("CARGO_PKG_VERSION"));
        let build = |http1: bool| {
            let builder = reqwest::Client::builder()
                .user_agent(agent)
                .pool_idle_timeout(Duration::from_secs(90));
            let builder = if http1 { builder.http1_only() } else { builder };
            builder
                .build()
                .map_err(|e| Error::Internal(format!("building the HTTP client: {e}")))
        };
        let http = build(false)?;
        let host = crate::host::hostname();
        let tags = [
            (TAG_LIBRARY, "1".to_string()),
            (TAG_HOST, host),
            (TAG_PID, std::process::id().to_string()),
            (TAG_SERVICE, format!("{:016x}", fastrand::u64(..))),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Ok(E2bBackend {
            api: Api::new(http.clone(), config.clone()),
            http1: build(true)?,
            http,
            slots: Arc::new(Semaphore::new(config.max_concurrency)),
            config,
            tags,
        })
    }

    pub async fn execute(
        &self,
        request: &Request,
        cancel: &CancellationToken,
    ) -> Result<Outcome, Error> {
        let started = Instant::now();
        // Installing packages has its own budget; the code's own timeout is
        // enforced again inside `run` once the install is done.
        let budget = request.timeout
            + if request.packages.is_empty() {
                Duration::ZERO
            } else {
                request.install_timeout
            };
        let deadline = started + budget;
        let mut collected = Collected::new(request);
        let _slot = tokio::select! {
            slot = self.slots.acquire() => slot.map_err(|_| Error::Closed)?,
            _ = sleep_until(deadline) => return Ok(collected.outcome(request, Some(Limit::Time), started)),
            _ = cancel.cancelled() => return Err(Error::Aborted),
        };

        let call = format!("{:016x}", fastrand::u64(..));
        let mut tags = self.tags.clone();
        tags.insert(TAG_CALL.into(), call.clone());
        let no_env = BTreeMap::new();
        let create = with_retries(deadline, |_| {
            self.api
                .create(request.timeout + TTL_MARGIN, &tags, &no_env)
        });
        let created = tokio::select! {
            created = create => created,
            _ = sleep_until(deadline) => Err(Failure::Unavailable("deadline".into())),
            _ = cancel.cancelled() => Err(Failure::Unavailable("cancelled".into())),
        };
        let created = match created {
            Ok(created) => created,
            Err(failure) => {
                // A create we gave up on may still have made a sandbox: find it by its tag.
                self.sweep_call(&call);
                return if cancel.is_cancelled() {
                    Err(Error::Aborted)
                } else if Instant::now() >= deadline {
                    Ok(collected.outcome(request, Some(Limit::Time), started))
                } else {
                    Err(failure.into_error("create a sandbox"))
                };
            }
        };
        let guard = Remote::new(&self.api, &created.sandbox_id);

        let stop = {
            // Boxed so that dropping it closes its HTTP stream before the DELETE.
            let mut run = Box::pin(self.run(&created, request, deadline, &mut collected));
            tokio::select! {
                ran = &mut run => match ran {
                    Ok(stop) => stop,
                    Err(failure) => {
                        drop(run);
                        guard.kill().await;
                        return Err(failure.into_error("run the code"));
                    }
                },
                _ = sleep_until(deadline) => Some(Limit::Time),
                _ = cancel.cancelled() => {
                    drop(run);
                    guard.kill().await;
                    return Err(Error::Aborted);
                }
            }
        };
        guard.kill().await;
        collected.flush().await;
        Ok(collected.outcome(request, stop, started))
    }

    /// Runs the code in the sandbox; returns the limit that stopped it early, if any.
    async fn run(
        &self,
        created: &Created,
        request: &Request,
        deadline: Instant,
        collected: &mut Collected,
    ) -> Result<Option<Limit>, Failure> {
        let envd = self.target(created, envd::PORT, &self.http);
        for file in &request.files {
            envd::write_file(
                &envd,
                &format!("{WORK_DIR}/{}", file.path),
                file.content.clone(),
            )
            .await?;
        }
        if !request.packages.is_empty() && !self.install(&envd, request, collected).await? {
            return Ok(None);
        }
        let code_deadline = (Instant::now() + request.timeout).min(deadline);
        let run = self.run_code(created, &envd, request, code_deadline, collected);
        match tokio::time::timeout_at(code_deadline, run).await {
            Ok(stopped) => stopped,
            Err(_) => Ok(Some(Limit::Time)),
        }
    }

    /// Installs the call's packages with pip or npm, arguments as argv (no
    /// shell). Returns false, with the installer's output and status recorded,
    /// when the install failed or ran past `installTimeoutMs`.
    async fn install(
        &self,
        envd: &Target,
        request: &Request,
        collected: &mut Collected,
    ) -> Result<bool, Failure> {
        let (cmd, fixed) = match request.language {
            Language::Python => ("python3", e2b_native_core::PIP_INSTALL),
            _ => ("npm", e2b_native_core::NPM_INSTALL),
        };
        let args: Vec<String> = fixed
            .iter()
            .chain(&["--"])
            .map(|s| s.to_string())
            .chain(request.packages.iter().cloned())
            .collect();
        let mut output = e2b_native_core::OutputBuffer::new(request.limits.output_bytes);
        let mut status = None;
        let install = async {
            let lifetime = request.install_timeout + Duration::from_secs(1);
            let mut process = envd::start(envd, cmd, &args, &BTreeMap::new(), lifetime).await?;
            while let Some(piece) = process.next().await? {
                match piece {
                    Piece::Stdout(bytes) | Piece::Stderr(bytes) => {
                        output.push(&bytes);
                    }
                    Piece::Exit(code) => status = Some(code),
                    Piece::Crash { .. } | Piece::Result(_) => {}
                }
            }
            Ok::<(), Failure>(())
        };
        let timed_out = match tokio::time::timeout(request.install_timeout, install).await {
            Ok(result) => {
                result?;
                false
            }
            Err(_) => true,
        };
        if !timed_out && status == Some(0) {
            return Ok(true);
        }
        let mut text = output.into_string();
        if timed_out {
            text.push_str(&format!(
                "\ninstalling {} timed out after {} ms (installTimeoutMs)\n",
                request.packages.join(" "),
                request.install_timeout.as_millis()
            ));
        }
        collected.install_failed(
            if timed_out {
                TIMEOUT_EXIT_CODE
            } else {
                status.unwrap_or(1)
            },
            text,
        );
        Ok(false)
    }

    /// Runs the code itself; returns the limit that stopped it early, if any.
    async fn run_code(
        &self,
        created: &Created,
        envd: &Target,
        request: &Request,
        deadline: Instant,
        collected: &mut Collected,
    ) -> Result<Option<Limit>, Failure> {
        let mut output = match request.language {
            Language::Python => {
                let target = self.target(created, interpreter::PORT, &self.http1);
                let python = interpreter::Kernel::Language(e2b_native_kernels::Language::Python);
                let lines = interpreter::execute(&target, python, &request.code, &request.env);
                Output::Lines(lines.await?)
            }
            Language::Node | Language::Bash => {
                let (cmd, flag) = match request.language {
                    Language::Node => ("node", "-e"),
                    _ => ("/bin/bash", "-c"),
                };
                let args = [flag.to_string(), request.code.clone()];
                // envd kills the process at its deadline too, a second after ours.
                let lifetime =
                    deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(1);
                Output::Process(envd::start(envd, cmd, &args, &request.env, lifetime).await?)
            }
        };
        let stopped = loop {
            match output.next().await? {
                Some(piece) => {
                    if !collected.take(piece).await {
                        break Some(Limit::Output);
                    }
                }
                None => break None,
            }
        };
        if stopped.is_none() {
            let cap = request.limits.output_bytes as u64;
            for path in &request.read_files {
                if let Some(content) =
                    envd::read_file(envd, &format!("{WORK_DIR}/{path}"), cap).await?
                {
                    collected.files.push((path.clone(), content));
                }
            }
        }
        Ok(stopped)
    }

    pub(crate) fn target(&self, created: &Created, port: u16, http: &reqwest::Client) -> Target {
        Target {
            http: http.clone(),
            base: self
                .config
                .sandbox_base(&created.sandbox_id, created.domain.as_deref(), port),
            sandbox_id: created.sandbox_id.clone(),
            port,
            access_token: created.envd_access_token.clone(),
        }
    }

    /// Kills, in the background, any sandbox a failed create left behind. A
    /// create we gave up on may still complete on E2B's side, so look again for
    /// a while (its TTL ends it if this process is gone first).
    pub(crate) fn sweep_call(&self, call: &str) {
        let api = self.api.clone();
        let filter: BTreeMap<String, String> = [(TAG_CALL.to_string(), call.to_string())].into();
        tokio::spawn(async move {
            let mut wait = Duration::from_millis(250);
            let until = Instant::now() + SWEEP_BOUND;
            while Instant::now() < until {
                if let Ok(found) = api.list(&filter).await {
                    for sandbox in found {
                        let _ = with_retries(until, |_| api.kill(&sandbox.sandbox_id)).await;
                    }
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(8));
            }
        });
    }

    /// Kills the sandboxes of this library whose owning process, on this host,
    /// is gone (killed before it could delete them). Returns how many.
    pub async fn reap_orphans(&self) -> Result<usize, Error> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let filter: BTreeMap<String, String> = [TAG_LIBRARY, TAG_HOST]
            .iter()
            .map(|k| (k.to_string(), self.tags[*k].clone()))
            .collect();
        let found = with_retries(deadline, |_| self.api.list(&filter))
            .await
            .map_err(|f| f.into_error("list sandboxes"))?;
        let mut reaped = 0;
        for sandbox in found {
            let owner = sandbox
                .metadata
                .get(TAG_PID)
                .and_then(|p| p.parse::<i32>().ok());
            let alive = owner.is_some_and(|pid| {
                pid as u32 == std::process::id() || crate::host::process_alive(pid)
            });
            if !alive {
                with_retries(deadline, |_| self.api.kill(&sandbox.sandbox_id))
                    .await
                    .map_err(|f| f.into_error("delete an orphaned sandbox"))?;
                reaped += 1;
            }
        }
        Ok(reaped)
    }
}

impl Backend for E2bBackend {
    fn execute<'a>(
        &'a self,
        request: &'a Request,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Outcome, Error>> {
        Box::pin(E2bBackend::execute(self, request, cancel))
    }

    fn reap_orphans(&self) -> BoxFuture<'_, Result<usize, Error>> {
        Box::pin(E2bBackend::reap_orphans(self))
    }

    fn create_session<'a>(
        &'a self,
        spec: &'a SessionSpec,
    ) -> BoxFuture<'a, Result<Box<dyn CodeSession>, Error>> {
        Box::pin(crate::session::create(self, spec))
    }

    fn name(&self) -> &'static str {
        "e2b"
    }
}

/// Where a program's output comes from: the interpreter's lines or envd's stream.
enum Output {
    Lines(interpreter::Lines),
    Process(envd::ProcessStream),
}

impl Output {
    async fn next(&mut self) -> Result<Option<Piece>, Failure> {
        match self {
            Output::Lines(lines) => lines.next().await,
            Output::Process(process) => process.next().await,
        }
    }
}

/// A remote sandbox that must be deleted: awaited on normal paths, in the
/// background if the call's future is dropped (a panic, a cancelled caller).
pub(crate) struct Remote {
    api: Api,
    id: String,
    done: bool,
}

impl Remote {
    pub(crate) fn new(api: &Api, id: &str) -> Self {
        live::add(id, api);
        Remote {
            api: api.clone(),
            id: id.to_string(),
            done: false,
        }
    }

    pub(crate) async fn kill(mut self) {
        self.done = true;
        let deadline = Instant::now() + KILL_BOUND;
        let _ = with_retries(deadline, |_| self.api.kill(&self.id)).await;
        live::remove(&self.id);
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let (api, id) = (self.api.clone(), self.id.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = with_retries(Instant::now() + KILL_BOUND, |_| api.kill(&id)).await;
                live::remove(&id);
            });
        }
    }
}

/// What the code produced so far: kept even when a deadline cuts the run short.
struct Collected {
    out: Capture,
    err: Capture,
    exit: Option<i32>,
    crash: Option<String>,
    files: Vec<(String, Vec<u8>)>,
    results: Vec<e2b_native_kernels::ExecutionResult>,
    /// The installer's status and output, when the packages failed to install.
    install_failure: Option<(i32, String)>,
}

impl Collected {
    fn new(request: &Request) -> Self {
        let cap = request.limits.output_bytes;
        Collected {
            out: Capture::new(cap, request.on_stdout.clone()),
            err: Capture::new(cap, request.on_stderr.clone()),
            exit: None,
            crash: None,
            files: Vec::new(),
            results: Vec::new(),
            install_failure: None,
        }
    }

    fn install_failed(&mut self, status: i32, output: String) {
        self.install_failure = Some((status, output));
    }

    /// Takes one piece; false once the output limit stops the run.
    async fn take(&mut self, piece: Piece) -> bool {
        let (within, delivery) = match piece {
            Piece::Stdout(bytes) => self.out.push(&bytes),
            Piece::Stderr(bytes) => self.err.push(&bytes),
            Piece::Exit(code) => {
                self.exit = Some(code);
                (true, None)
            }
            Piece::Crash {
                name,
                value,
                traceback,
            } => return self.crashed(name, value, traceback).await,
            Piece::Result(result) => {
                self.results.push(*result);
                (true, None)
            }
        };
        if let Some(delivery) = delivery {
            delivery.await;
        }
        within
    }

    /// The interpreter reports exceptions as data: make them look as they do
    /// when a real `python3` dies of them — traceback on stderr, status 1, and
    /// `SystemExit(N)` as exit status N.
    async fn crashed(&mut self, name: String, value: String, traceback: String) -> bool {
        if name == "SystemExit" {
            self.exit = Some(match value.trim() {
                "" | "None" => 0,
                v => v.parse().unwrap_or_else(|_| {
                    self.err.kept.push(format!("{v}\n").as_bytes());
                    1
                }),
            });
            return true;
        }
        self.exit = Some(1);
        let mut text = strip_ansi(&traceback);
        if !text.ends_with('\n') {
            text.push('\n');
        }
        let (within, delivery) = self.err.push(text.as_bytes());
        if let Some(delivery) = delivery {
            delivery.await;
        }
        self.crash = Some(name);
        within
    }

    async fn flush(&mut self) {
        for capture in [&mut self.out, &mut self.err] {
            if let Some(delivery) = capture.finish() {
                delivery.await;
            }
        }
    }

    fn outcome(self, request: &Request, limit: Option<Limit>, started: Instant) -> Outcome {
        if let (None, Some((status, output))) = (limit, &self.install_failure) {
            return Outcome {
                stdout: String::new(),
                stderr: output.clone(),
                exit_code: if *status == 0 { 1 } else { *status },
                error: Some("PackageInstallError".into()),
                timed_out: false,
                truncated: false,
                limit: None,
                duration: started.elapsed(),
                backend: "e2b",
                isolation: "microvm",
                files: Vec::new(),
                results: Vec::new(),
            };
        }
        let truncated = self.out.kept.truncated() || self.err.kept.truncated();
        let stderr = self.err.kept.into_string();
        let exit_code = match limit {
            Some(Limit::Time) => TIMEOUT_EXIT_CODE,
            Some(_) => KILLED_EXIT_CODE,
            None => self.exit.unwrap_or(0),
        };
        let error = match limit {
            Some(limit) => Some(limit.error_name().to_string()),
            None => self
                .crash
                .or_else(|| uncaught_error_name(request.language, exit_code, &stderr)),
        };
        Outcome {
            stdout: self.out.kept.into_string(),
            stderr,
            exit_code,
            error,
            timed_out: limit == Some(Limit::Time),
            truncated,
            limit,
            duration: started.elapsed(),
            backend: "e2b",
            isolation: "microvm",
            files: self.files,
            results: self.results,
        }
    }
}

/// Jupyter colours its tracebacks; a terminal's escape codes are noise in a result.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn ansi_colours_are_stripped() {
        assert_eq!(
            super::strip_ansi("\u{1b}[0;31mZeroDivisionError\u{1b}[0m: x"),
            "ZeroDivisionError: x"
        );
    }
}
