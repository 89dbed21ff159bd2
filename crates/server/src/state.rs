//! The server's sandboxes: creation under the concurrency limit, lookup for
//! the three surfaces, TTLs, and killing (DELETE, expiry, shutdown).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use e2b_native_core::{Error, Language};
use e2b_native_local::session::kernel::Runtimes as KernelRuntimes;
use e2b_native_local::session::{Session, SessionConfig};
use e2b_native_local::{DataScience, Interpreter, LocalBackend, LocalConfig};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::ServerConfig;
use crate::http::{ApiError, Failure};
use crate::interpreter::Contexts;
use crate::log::Logger;

/// The ID the SDKs use in debug mode, where they create nothing.
pub const DEBUG_SANDBOX_ID: &str = "debug_sandbox_id";
/// The envd version the sandboxes report: it gates SDK features.
pub const ENVD_VERSION: &str = "0.6.13";
/// E2B's constant (deprecated) client ID.
pub(crate) const CLIENT_ID: &str = "6532622b";
/// How long a killed sandbox may take to be gone.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// The interpreters the sandboxes run, found once.
#[derive(Debug, Clone)]
pub(crate) struct Runtimes {
    pub kernels: KernelRuntimes,
    /// PATH, HOME, USER, LOGNAME, SHELL, LANG for every process.
    pub base_env: Vec<(String, String)>,
}

pub(crate) struct App {
    pub config: ServerConfig,
    pub log: Logger,
    pub session: SessionConfig,
    pub runtimes: Runtimes,
    pub debug_sandbox: bool,
    registry: Mutex<Registry>,
    /// Held while the debug sandbox is made, so that it is made once.
    pub debug_creation: tokio::sync::Mutex<()>,
    pub closing: CancellationToken,
}

#[derive(Default)]
struct Registry {
    live: HashMap<String, Arc<Sandbox>>,
    /// Slots taken by creations in progress.
    reserved: usize,
}

/// When a sandbox is killed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    pub at: Instant,
    pub wall: SystemTime,
}

impl Deadline {
    pub(crate) fn after(d: Duration) -> Self {
        Deadline {
            at: Instant::now() + d,
            wall: SystemTime::now() + d,
        }
    }

    fn min(self, other: Deadline) -> Deadline {
        if other.at < self.at {
            other
        } else {
            self
        }
    }
}

/// A process started through envd's `process.Process/Start`.
#[derive(Debug, Clone)]
pub(crate) struct ProcessInfo {
    pub cmd: String,
    pub args: Vec<String>,
    pub envs: BTreeMap<String, String>,
    pub cwd: Option<String>,
    pub tag: Option<String>,
}

pub(crate) struct Sandbox {
    pub id: String,
    pub template_id: String,
    pub alias: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub env_vars: BTreeMap<String, String>,
    pub access_token: Option<String>,
    /// The index of the API key that created it: no other key sees it.
    /// `None`: the debug sandbox, which no key sees.
    pub owner: Option<usize>,
    pub started_at: SystemTime,
    /// The latest its deadline may be (`maxLifetimeMs` after its start).
    last: Deadline,
    /// `None`: no timeout (the debug sandbox).
    deadline: watch::Sender<Option<Deadline>>,
    pub session: Session,
    pub processes: Mutex<HashMap<i32, ProcessInfo>>,
    pub contexts: Contexts,
}

/// What `POST /sandboxes` asked for, checked.
pub(crate) struct NewSandbox {
    pub template_id: String,
    pub timeout_secs: u64,
    pub metadata: BTreeMap<String, String>,
    pub env_vars: BTreeMap<String, String>,
    pub secure: bool,
    /// The API key's index; `None` for the debug sandbox.
    pub owner: Option<usize>,
}

impl Sandbox {
    pub(crate) fn deadline(&self) -> Option<Deadline> {
        *self.deadline.borrow()
    }

    /// Now + `seconds`, but no later than its lifetime allows.
    fn deadline_after(&self, seconds: u64) -> Deadline {
        Deadline::after(Duration::from_secs(seconds)).min(self.last)
    }

    /// Sets the deadline to now + `seconds` (it may shorten it).
    pub(crate) fn set_timeout(&self, seconds: u64) {
        self.deadline
            .send_replace(Some(self.deadline_after(seconds)));
    }

    /// Moves the deadline to now + `seconds` unless it is already later.
    pub(crate) fn extend(&self, seconds: u64) {
        let new = self.deadline_after(seconds);
        self.deadline.send_if_modified(|d| match d {
            Some(old) if old.at >= new.at => false,
            None => false,
            other => {
                *other = Some(new);
                true
            }
        });
    }

    /// The environment of every process: the base, then the sandbox's own.
    pub(crate) fn env(&self, runtimes: &Runtimes) -> BTreeMap<String, String> {
        let mut env: BTreeMap<String, String> = runtimes.base_env.iter().cloned().collect();
        env.extend(self.env_vars.clone());
        env
    }
}

/// The sandboxes' Python, with the data-science environment (E2B's
/// default template has it) unless `dataScience` is off; installed on
/// first start, once for this host. Where it cannot be installed, Python
/// runs without it, and the log says why.
async fn python(backend: &LocalBackend, config: &ServerConfig) -> Option<Interpreter> {
    let mut python = backend.interpreter(Language::Python).ok()?;
    if config.data_science == DataScience::Never {
        return Some(python);
    }
    let log = Logger {
        level: config.log_level,
    };
    let install = config.data_science == DataScience::Always;
    let cancel = CancellationToken::new();
    if install
        && matches!(
            backend.data_science(&python, false, &cancel).await,
            Ok(None)
        )
    {
        log.info(format_args!(
            "installing the data-science environment (once for this host, ~330 MB)"
        ));
    }
    match backend.data_science(&python, install, &cancel).await {
        Ok(dir) => python.python_path = dir,
        Err(e) => log.warn(format_args!(
            "Python runs without the data-science environment: {e}"
        )),
    }
    Some(python)
}

impl App {
    /// The server's state: its sandboxes' tier (required or the strongest
    /// this host allows) and interpreters, found now.
    pub(crate) async fn new(config: ServerConfig) -> Result<App, Error> {
        // Refused before anything is installed or started.
        let debug_sandbox = config.debug_sandbox()?;
        let backend = LocalBackend::new(LocalConfig {
            helper: config.helper.clone(),
            interpreters: config.interpreters.clone(),
            pool: e2b_native_local::PoolConfig::off(),
            isolation: config.isolation,
            ..Default::default()
        })?;
        let isolation = backend.isolation().await?;
        let python = python(&backend, &config).await;
        let interpreters = e2b_native_local::session::interpreters(&backend, python)?;
        let path_of = |language| {
            let found = interpreters.iter().find(|(l, _)| *l == language);
            found.map(|(_, i)| i.path.clone())
        };
        let (python, node) = (path_of(Language::Python), path_of(Language::Node));
        let base_env = e2b_native_local::sandbox_env(interpreters.iter().map(|(_, i)| i))
            .into_iter()
            .collect();
        let limits = config.limits.clone();
        Ok(App {
            log: Logger {
                level: config.log_level,
            },
            session: SessionConfig {
                helper: config.helper.clone(),
                limits,
                interpreters,
                isolation,
            },
            runtimes: Runtimes {
                kernels: KernelRuntimes {
                    python,
                    node,
                    memory_bytes: config.limits.memory_bytes,
                },
                base_env,
            },
            debug_sandbox,
            registry: Mutex::new(Registry::default()),
            debug_creation: tokio::sync::Mutex::new(()),
            closing: CancellationToken::new(),
            config,
        })
    }

    /// Builds a sandbox and starts its clock.
    pub(crate) async fn create(
        self: &Arc<Self>,
        new: NewSandbox,
        id: Option<String>,
    ) -> Result<Arc<Sandbox>, ApiError> {
        {
            let mut registry = lock(&self.registry);
            if self.closing.is_cancelled() {
                return Err(ApiError::new(
                    Failure::Unavailable,
                    "the server is shutting down",
                ));
            }
            // The debug sandbox is the server's own: it takes no slot.
            let counted =
                registry.live.len() - usize::from(registry.live.contains_key(DEBUG_SANDBOX_ID));
            if id.is_none() && counted + registry.reserved >= self.config.max_sandboxes {
                return Err(ApiError::new(
                    Failure::TooMany,
                    format!(
                        "You have reached the maximum number of concurrent sandboxes ({}) of this \
                         server; kill one, or start the server with a larger --max-sandboxes",
                        self.config.max_sandboxes
                    ),
                ));
            }
            registry.reserved += usize::from(id.is_none());
        }
        let started = Session::start(self.session.clone()).await;
        let mut registry = lock(&self.registry);
        registry.reserved -= usize::from(id.is_none());
        let session = started
            .map_err(|e| ApiError::internal(format!("the sandbox could not be created: {e}")))?;
        if self.closing.is_cancelled() {
            return Err(ApiError::new(
                Failure::Unavailable,
                "the server is shutting down",
            ));
        }
        let debug = id.is_some();
        let id = id.unwrap_or_else(crate::util::sandbox_id);
        let last = Deadline::after(self.config.max_lifetime);
        let deadline =
            (!debug).then(|| Deadline::after(Duration::from_secs(new.timeout_secs)).min(last));
        let sandbox = Arc::new(Sandbox {
            id: id.clone(),
            alias: Some(new.template_id.clone()),
            template_id: new.template_id,
            metadata: new.metadata,
            env_vars: new.env_vars,
            access_token: new.secure.then(|| crate::util::hex_token(24)),
            owner: new.owner,
            started_at: SystemTime::now(),
            last,
            deadline: watch::Sender::new(deadline),
            session,
            processes: Mutex::new(HashMap::new()),
            contexts: Contexts::default(),
        });
        registry.live.insert(id.clone(), sandbox.clone());
        drop(registry);
        self.log.info(format_args!(
            "sandbox {id} created (template {}, timeout {})",
            sandbox.template_id,
            if debug {
                "none".to_string()
            } else {
                format!("{} s", new.timeout_secs)
            }
        ));
        tokio::spawn(watch_sandbox(self.clone(), sandbox.clone()));
        Ok(sandbox)
    }

    pub(crate) fn get(&self, id: &str) -> Option<Arc<Sandbox>> {
        lock(&self.registry).live.get(id).cloned()
    }

    /// Every sandbox, the debug one included.
    pub(crate) fn list(&self) -> Vec<Arc<Sandbox>> {
        lock(&self.registry).live.values().cloned().collect()
    }

    /// The sandboxes of API key `owner`.
    pub(crate) fn owned(&self, owner: usize) -> Vec<Arc<Sandbox>> {
        let registry = lock(&self.registry);
        let mine = registry.live.values().filter(|s| s.owner == Some(owner));
        mine.cloned().collect()
    }

    /// Removes the sandbox and kills it; true if it was there. Returns once
    /// every process of it is gone.
    pub(crate) async fn kill(&self, id: &str, why: &str) -> bool {
        let Some(sandbox) = lock(&self.registry).live.remove(id) else {
            return false;
        };
        self.log.info(format_args!("sandbox {id} killed ({why})"));
        sandbox.session.kill();
        let _ = tokio::time::timeout(KILL_WAIT, sandbox.session.gone()).await;
        true
    }

    /// Kills every sandbox and refuses new ones.
    pub(crate) async fn shutdown(&self) {
        self.closing.cancel();
        let all: Vec<String> = lock(&self.registry).live.keys().cloned().collect();
        futures_util::future::join_all(all.iter().map(|id| self.kill(id, "server shutdown"))).await;
    }
}

/// Kills the sandbox when its time is up; forgets it if it died by itself.
async fn watch_sandbox(app: Arc<App>, sandbox: Arc<Sandbox>) {
    let mut deadline = sandbox.deadline.subscribe();
    loop {
        let current = *deadline.borrow_and_update();
        let expired = async {
            match current {
                Some(d) => tokio::time::sleep_until(d.at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = expired => {
                app.kill(&sandbox.id, "its timeout passed").await;
                return;
            }
            changed = deadline.changed() => if changed.is_err() { return },
            _ = sandbox.session.gone() => {
                let mut registry = lock(&app.registry);
                if registry.live.get(&sandbox.id).is_some_and(|s| Arc::ptr_eq(s, &sandbox)) {
                    registry.live.remove(&sandbox.id);
                    drop(registry);
                    app.log.warn(format_args!("sandbox {} ended by itself", sandbox.id));
                }
                return;
            }
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
