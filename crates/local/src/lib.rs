//! The local backend of e2b-native: each execution in a fresh sandbox on this
//! host, built from Linux namespaces by a small helper executable.
//!
//! Host side: [`LocalBackend`] (this process), which decides each sandbox's
//! [`shape`], starts the helper ([`launch`]) and follows it (`run`, `pool`,
//! [`session`]). Helper side: [`sandbox`] (the `e2b-sandbox` executable).
//! They talk through [`protocol`].

mod advice;
pub mod apparmor;
mod cgroup;
pub mod diagnose;
mod figures;
mod fork_server;
mod interpreters;
mod launch;
mod packages;
mod pool;
pub mod protocol;
mod registry;
mod room;
mod run;
pub mod sandbox;
pub mod session;
mod shape;
mod tier;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use e2b_native_core::options::Options;
use e2b_native_core::session::{CodeSession, SessionSpec};
pub use e2b_native_core::CancellationToken;
use e2b_native_core::{Backend, BoxFuture, Error, Language, Limits, Outcome, Request};
pub use interpreters::{sandbox_env, Interpreter};
pub use packages::{DataScience, PackageConfig};
use packages::{Packages, Prepared};
pub use pool::{LaneStats, PoolConfig};
pub use protocol::Isolation;
pub use registry::{kill_all, live_count, pooled_pids, shut_down};
pub use shape::DEFAULT_HOST_ID_WHEN_ROOT;

#[derive(Debug, Clone, Default)]
pub struct LocalConfig {
    /// The `e2b-sandbox` executable.
    pub helper: PathBuf,
    /// Interpreter binaries chosen by the caller; the others are searched for.
    pub interpreters: HashMap<Language, PathBuf>,
    /// The warm pool ([`PoolConfig::off`] for none).
    pub pool: PoolConfig,
    /// Package sources and cache for `executeWithPackages`.
    pub packages: PackageConfig,
    /// The tier sandboxes must have; `None`: the strongest this host allows.
    pub isolation: Option<Isolation>,
    /// When Python sandboxes get the data-science environment.
    pub data_science: DataScience,
}

impl LocalConfig {
    /// The constructor's options the local backend reads (`interpreters`,
    /// `pool`, `packages`); `helper`: the helper beside the addon, unless
    /// `E2B_NATIVE_SANDBOX_HELPER` names another.
    pub fn read(
        options: &Options<'_>,
        env: &HashMap<String, String>,
        limits: &Limits,
        helper: PathBuf,
    ) -> Result<Self, Error> {
        Ok(LocalConfig {
            helper: env
                .get("E2B_NATIVE_SANDBOX_HELPER")
                .map_or(helper, PathBuf::from),
            interpreters: options.interpreters()?.into_iter().collect(),
            pool: PoolConfig::read(options, env, limits)?,
            packages: PackageConfig::read(options)?,
            isolation: read_isolation(options, env)?,
            data_science: read_data_science(options, env)?,
        })
    }
}

/// The `dataScience` option (`"auto"`: once installed; `true`: installed by
/// the first call that needs it; `false`), else `E2B_NATIVE_DATA_SCIENCE`.
pub fn read_data_science(
    options: &Options<'_>,
    env: &HashMap<String, String>,
) -> Result<DataScience, Error> {
    const EXPECTED: &str = "true (install the data-science environment on first use), \
                            false, or \"auto\" (use it once installed)";
    match options.get("dataScience") {
        Some(serde_json::Value::Bool(true)) => Ok(DataScience::Always),
        Some(serde_json::Value::Bool(false)) => Ok(DataScience::Never),
        Some(serde_json::Value::String(s)) if s == "auto" => Ok(DataScience::WhenPrepared),
        Some(other) => Err(Error::invalid_arg(format!(
            "dataScience must be {EXPECTED}, got {}",
            e2b_native_core::options::describe(other)
        ))),
        None => match env.get("E2B_NATIVE_DATA_SCIENCE").map(String::as_str) {
            None | Some("" | "auto") => Ok(DataScience::WhenPrepared),
            Some("true" | "1") => Ok(DataScience::Always),
            Some("false" | "0") => Ok(DataScience::Never),
            Some(other) => Err(Error::invalid_arg(format!(
                "E2B_NATIVE_DATA_SCIENCE must be {EXPECTED}, got {other:?}"
            ))),
        },
    }
}

/// The `isolation` option (`auto`, `namespaces`, `landlock`), else
/// `E2B_NATIVE_ISOLATION`; `None` for auto.
pub fn read_isolation(
    options: &Options<'_>,
    env: &HashMap<String, String>,
) -> Result<Option<Isolation>, Error> {
    let (name, value) = match options.string("isolation")? {
        Some(value) => ("isolation", value),
        None => match env.get("E2B_NATIVE_ISOLATION") {
            Some(value) if !value.is_empty() => ("E2B_NATIVE_ISOLATION", value.clone()),
            _ => return Ok(None),
        },
    };
    match value.as_str() {
        "auto" => Ok(None),
        "namespaces" => Ok(Some(Isolation::Namespaces)),
        "landlock" => Ok(Some(Isolation::Landlock)),
        other => Err(Error::invalid_arg(format!(
            "{name} must be \"auto\" (the strongest tier this host allows), \"namespaces\" \
             (require the full tier) or \"landlock\" (the namespace-free tier), got {other:?}"
        ))),
    }
}

pub struct LocalBackend {
    config: LocalConfig,
    found: Mutex<HashMap<Language, Interpreter>>,
    pool: Arc<pool::Pool>,
    packages: Packages,
}

impl LocalBackend {
    /// Fails only on invalid package settings.
    pub fn new(config: LocalConfig) -> Result<Self, Error> {
        static SWEEP: std::sync::Once = std::sync::Once::new();
        SWEEP.call_once(cgroup::sweep_stale);
        // SAFETY: geteuid cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        let packages = Packages::new(&config.packages, root.then_some(DEFAULT_HOST_ID_WHEN_ROOT))?;
        let pool = pool::Pool::new(config.pool.clone(), config.helper.clone());
        Ok(LocalBackend {
            config,
            found: Mutex::new(HashMap::new()),
            packages,
            pool,
        })
    }

    pub fn pool_config(&self) -> &PoolConfig {
        &self.config.pool
    }

    /// How the warm pool stands, per language.
    pub fn pool_stats(&self) -> Vec<LaneStats> {
        self.pool.stats()
    }

    /// Empties the warm pool and waits until its sandboxes are gone; it
    /// prepares none afterwards.
    pub async fn close_pool(&self) {
        self.pool.close().await;
    }

    /// Runs `request` in a fresh sandbox that is gone when this returns: one
    /// from the warm pool when it has the same shape, else one built now.
    /// `cancel` kills it early and yields [`Error::Aborted`].
    pub async fn execute(
        &self,
        request: &Request,
        cancel: &CancellationToken,
    ) -> Result<Outcome, Error> {
        let started = std::time::Instant::now();
        let language = request.language;
        let isolation = self.isolation().await?;
        let interpreter = self.runtime(language, cancel).await?;
        let mut shape = shape::shape(
            protocol::Mode::OneShot,
            &request.limits,
            &[(language, &interpreter)],
            isolation,
        );
        let with_figures = figures::enable(&interpreter, request);
        let request = with_figures.as_ref().unwrap_or(request);
        let mut job = shape::job(&interpreter, request)?;
        // Held (shared lock) until the code is done, so eviction leaves it.
        let mut _set = None;
        if !request.packages.is_empty() {
            let helper = &self.config.helper;
            match self
                .packages
                .prepare(helper, isolation, &interpreter, request, cancel)
                .await?
            {
                Prepared::Ready(lease) => {
                    packages::use_set(&mut shape, &mut job.program, &lease, language);
                    _set = Some(lease);
                }
                Prepared::Failed(mut outcome) => {
                    outcome.duration = started.elapsed();
                    return Ok(*outcome);
                }
            }
        }
        let (mut warm, _refill) = self.pool.take(&interpreter, &shape, request);
        if warm.is_none() && _refill.is_some() {
            warm = self.pool.fork_now(language, cancel).await;
        }
        let mut outcome = match warm {
            Some(helper) => pool::Pool::run(helper, job, request, cancel, isolation).await?,
            None => {
                let spec = protocol::Spec {
                    shape,
                    job: Some(job),
                    room: None,
                };
                run::run(&self.config.helper, spec, request, cancel, None).await?
            }
        };
        outcome.duration = started.elapsed();
        if with_figures.is_some() {
            figures::take(&mut outcome);
        }
        Ok(outcome)
    }

    /// The tier of this backend's sandboxes: the one its options require,
    /// else the strongest this host allows (probed once per process).
    pub async fn isolation(&self) -> Result<Isolation, Error> {
        tier::decide(&self.config.helper, self.config.isolation).await
    }

    /// The interpreter for `language` as sandboxes run it: Python with the
    /// data-science environment when the `dataScience` setting gives it.
    pub async fn runtime(
        &self,
        language: Language,
        cancel: &CancellationToken,
    ) -> Result<Interpreter, Error> {
        let mut interpreter = self.interpreter(language)?;
        if language == Language::Python && self.config.data_science != DataScience::Never {
            let install = self.config.data_science == DataScience::Always;
            interpreter.python_path = self.data_science(&interpreter, install, cancel).await?;
        }
        Ok(interpreter)
    }

    /// The data-science environment's `PYTHONPATH` directory: from the
    /// cache, or (`install`) installed now.
    pub async fn data_science(
        &self,
        python: &Interpreter,
        install: bool,
        cancel: &CancellationToken,
    ) -> Result<Option<PathBuf>, Error> {
        let isolation = self.isolation().await?;
        self.packages
            .data_science(&self.config.helper, isolation, python, install, cancel)
            .await
    }

    /// The interpreter for `language`, found once and remembered.
    pub fn interpreter(&self, language: Language) -> Result<Interpreter, Error> {
        let mut found = self.found.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(interpreter) = found.get(&language) {
            return Ok(interpreter.clone());
        }
        let explicit = self
            .config
            .interpreters
            .get(&language)
            .map(PathBuf::as_path);
        let interpreter = interpreters::find(language, explicit)?;
        found.insert(language, interpreter.clone());
        Ok(interpreter)
    }
}

impl Backend for LocalBackend {
    fn execute<'a>(
        &'a self,
        request: &'a Request,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Outcome, Error>> {
        Box::pin(LocalBackend::execute(self, request, cancel))
    }

    fn create_session<'a>(
        &'a self,
        spec: &'a SessionSpec,
    ) -> BoxFuture<'a, Result<Box<dyn CodeSession>, Error>> {
        Box::pin(session::create(self, spec))
    }

    fn name(&self) -> &'static str {
        "local"
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.close_pool())
    }
}
