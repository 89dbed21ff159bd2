//! A session of the local backend (`createSession()`): one long-lived
//! sandbox ([`Session`]) and, in it, one kernel per language, started on
//! first use and kept until the session ends or restarts.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI32, Ordering};

use e2b_native_core::session::{
    CodeLanguage, CodeSession, Entry, Interrupted, Ran, Run, SessionSpec,
};
use e2b_native_core::{BoxFuture, CancellationToken, Error, Language, WORK_DIR};
use e2b_native_kernels::{encode_request, Event, Execution, ExecutionError};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use super::kernel::{self, Executed, Kernel, Runtimes};
use super::{FileError, Session, SessionConfig};
use crate::protocol::session::{EntryInfo, EntryKind, FileErrorKind, FileOp};
use crate::protocol::Isolation;
use crate::LocalBackend;

/// One language's kernel: its pid (0: none), readable while a run holds
/// the kernel, so that a restart can kill it under the run.
#[derive(Default)]
struct Slot {
    pid: AtomicI32,
    kernel: tokio::sync::Mutex<Option<Kernel>>,
}

struct LocalSession {
    id: String,
    session: Session,
    isolation: Isolation,
    runtimes: Runtimes,
    /// Every kernel's environment: the sandbox's, then the session's `env`.
    env: BTreeMap<String, String>,
    slots: HashMap<CodeLanguage, Slot>,
}

/// Builds a session's sandbox: the backend's tier and interpreters, the
/// session's limits for the whole sandbox.
pub(crate) async fn create(
    backend: &LocalBackend,
    spec: &SessionSpec,
) -> Result<Box<dyn CodeSession>, Error> {
    let isolation = backend.isolation().await?;
    // Python with the data-science environment when `dataScience` gives it.
    let python = match backend.interpreter(Language::Python) {
        Ok(_) => Some(
            backend
                .runtime(Language::Python, &CancellationToken::new())
                .await?,
        ),
        Err(_) => None,
    };
    let interpreters = interpreters(backend, python)?;
    let find = |language| interpreters.iter().find(|(l, _)| *l == language);
    let python = find(Language::Python).map(|(_, i)| i.clone());
    let node = find(Language::Node).map(|(_, i)| i.clone());
    let mut env = crate::sandbox_env(interpreters.iter().map(|(_, i)| i));
    env.extend(spec.env.clone());
    let session = Session::start(SessionConfig {
        helper: backend.config.helper.clone(),
        limits: spec.limits.clone(),
        interpreters,
        isolation,
    })
    .await?;
    Ok(Box::new(LocalSession {
        id: session_id(),
        session,
        isolation,
        runtimes: Runtimes {
            python: python.map(|i| i.path),
            node: node.map(|i| i.path),
            memory_bytes: spec.limits.memory_bytes,
        },
        env,
        slots: CodeLanguage::ALL
            .into_iter()
            .map(|l| (l, Slot::default()))
            .collect(),
    }))
}

/// The interpreters of a long-lived sandbox's kernels (sessions, `serve`):
/// `python` as the caller has it (with or without the data-science
/// environment), Node where found, and bash, which every sandbox needs.
pub fn interpreters(
    backend: &LocalBackend,
    python: Option<crate::Interpreter>,
) -> Result<Vec<(Language, crate::Interpreter)>, Error> {
    let Ok(bash) = backend.interpreter(Language::Bash) else {
        return Err(Error::InterpreterUnavailable(
            "no bash found: commands run through /bin/bash, as in E2B's sandboxes".into(),
        ));
    };
    let node = backend.interpreter(Language::Node).ok();
    Ok([
        (Language::Python, python),
        (Language::Node, node),
        (Language::Bash, Some(bash)),
    ]
    .into_iter()
    .filter_map(|(language, found)| Some((language, found?)))
    .collect())
}

/// 16 hex digits, different for every session of this process.
fn session_id() -> String {
    use std::hash::BuildHasher;
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    format!("{:016x}", std::hash::RandomState::new().hash_one(n))
}

impl LocalSession {
    /// Runs `run` in its language's kernel, sending events to `events`.
    async fn execute(
        &self,
        run: &Run,
        events: &mpsc::Sender<Event>,
        stop: &CancellationToken,
    ) -> Result<Option<Interrupted>, Error> {
        let request = encode_request(run.language, &run.code, &run.env)
            .map_err(|e| Error::invalid_arg(e.to_string()))?;
        let slot = &self.slots[&run.language];
        // Runs of one language take turns; one stopped while waiting never ran.
        let mut kernel = tokio::select! {
            kernel = slot.kernel.lock() => kernel,
            _ = stop.cancelled() => return Ok(Some(Interrupted::Stopped)),
        };
        if kernel.is_none() {
            let started = tokio::select! {
                started = self.start(run.language) => started,
                _ = stop.cancelled() => return Ok(Some(Interrupted::Stopped)),
            };
            match started {
                Ok(started) => {
                    slot.pid.store(started.pid, Ordering::Relaxed);
                    *kernel = Some(started);
                }
                Err(why) => {
                    let error = ExecutionError {
                        name: "KernelStartError".into(),
                        traceback: format!("KernelStartError: {why}"),
                        value: why,
                    };
                    let _ = events.send(Event::Error(error)).await;
                    return Ok(None);
                }
            }
        }
        let running = kernel.as_mut().expect("started above");
        match running.execute(&self.session, &request, events, stop).await {
            Executed::Done { interrupted } => Ok(interrupted.then_some(Interrupted::Stopped)),
            Executed::Died(why) => {
                running.kill(&self.session).await;
                *kernel = None;
                slot.pid.store(0, Ordering::Relaxed);
                let error = kernel::died(run.language, &why);
                let _ = events.send(Event::Error(error)).await;
                Ok(stop.is_cancelled().then_some(Interrupted::KernelRestarted))
            }
        }
    }

    async fn start(&self, language: CodeLanguage) -> Result<Kernel, String> {
        let launch = self.runtimes.launch(language.kernel())?;
        let (kernel, _ready) =
            Kernel::start(&self.session, language, launch, self.env.clone(), WORK_DIR).await?;
        Ok(kernel)
    }

    async fn read(&self, path: &str, cap: u64) -> Result<Vec<u8>, Error> {
        let (_, data) = self
            .session
            .read_file(path)
            .await
            .map_err(|e| file_error(path, e))?;
        let mut content = Vec::new();
        data.take(cap + 1)
            .read_to_end(&mut content)
            .await
            .map_err(|e| Error::Internal(format!("reading {path}: {e}")))?;
        if content.len() as u64 > cap {
            return Err(Error::invalid_arg(format!(
                "{path} is larger than the session's disk ({cap} bytes, limits.diskBytes)"
            )));
        }
        Ok(content)
    }

    async fn write(&self, path: &str, content: &[u8]) -> Result<Entry, Error> {
        let mut upload = self
            .session
            .write_file(path)
            .await
            .map_err(|e| file_error(path, e))?;
        // A failed write says why at `finish`.
        let _ = upload.write(content).await;
        let entry = upload.finish().await.map_err(|e| file_error(path, e))?;
        Ok(to_entry(&entry, path))
    }
}

impl CodeSession for LocalSession {
    fn id(&self) -> &str {
        &self.id
    }

    fn isolation(&self) -> &'static str {
        self.isolation.as_str()
    }

    fn run<'a>(
        &'a self,
        run: Run,
        stop: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Ran, Error>> {
        Box::pin(async move {
            let (events, mut received) = mpsc::channel::<Event>(32);
            let sink = run.on_event.clone();
            let collect = async move {
                let mut execution = Execution::default();
                while let Some(event) = received.recv().await {
                    if let Some(sink) = &sink {
                        (sink.0)(event.clone()).await;
                    }
                    execution.take(event);
                }
                execution
            };
            let execute = async move {
                let interrupted = self.execute(&run, &events, stop).await;
                drop(events);
                interrupted
            };
            let (interrupted, execution) = tokio::join!(execute, collect);
            Ok(Ran {
                execution,
                interrupted: interrupted?,
            })
        })
    }

    fn write_file<'a>(
        &'a self,
        path: &'a str,
        content: Vec<u8>,
    ) -> BoxFuture<'a, Result<Entry, Error>> {
        Box::pin(async move { self.write(path, &content).await })
    }

    fn read_file<'a>(&'a self, path: &'a str, cap: u64) -> BoxFuture<'a, Result<Vec<u8>, Error>> {
        Box::pin(self.read(path, cap))
    }

    fn list<'a>(&'a self, dir: &'a str) -> BoxFuture<'a, Result<Vec<Entry>, Error>> {
        Box::pin(async move {
            let path = if dir.is_empty() { "." } else { dir };
            let op = FileOp::ListDir {
                path: path.into(),
                depth: 1,
            };
            let entries = self
                .session
                .file_op(op)
                .await
                .map_err(|e| file_error(path, e))?;
            let prefix = if dir.is_empty() {
                String::new()
            } else {
                format!("{dir}/")
            };
            Ok(entries
                .iter()
                .map(|e| to_entry(e, &format!("{prefix}{}", e.name)))
                .collect())
        })
    }

    fn restart(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            for slot in self.slots.values() {
                // Killed first, so that a run holding the kernel ends now.
                let pid = slot.pid.swap(0, Ordering::Relaxed);
                if pid > 0 {
                    let _ = self.session.signal(pid, libc::SIGKILL, true).await;
                }
                slot.kernel.lock().await.take();
            }
            Ok(())
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        self.session.kill();
        Box::pin(self.session.gone())
    }

    fn gone(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.session.gone())
    }
}

/// An entry as the public API reports it, at `path` (relative to the work dir).
fn to_entry(entry: &EntryInfo, path: &str) -> Entry {
    Entry {
        name: entry.name.clone(),
        path: format!("{WORK_DIR}/{path}"),
        kind: match entry.kind {
            EntryKind::File => "file",
            EntryKind::Directory => "dir",
            EntryKind::Symlink => "symlink",
            EntryKind::Other => "other",
        },
        size: entry.size,
    }
}

/// A failed file operation on `path` as the caller's error.
fn file_error(path: &str, e: FileError) -> Error {
    let message = format!("{path}: {}", e.message);
    match e.kind {
        FileErrorKind::NotFound => Error::NotFound(format!(
            "{path} does not exist in the session's work dir ({WORK_DIR})"
        )),
        FileErrorKind::NoSpace => Error::invalid_arg(format!(
            "{message}: the session's disk is full (limits.diskBytes)"
        )),
        FileErrorKind::Other => Error::Internal(message),
        _ => Error::invalid_arg(message),
    }
}
