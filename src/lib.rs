//! The napi binding: JavaScript values in, engine calls, JavaScript values
//! out. Options arrive as JSON and are read, checked and turned into
//! settings by the crates (`e2b_native_core::options`). Every failure leaves
//! as an Error whose message is `CODE\0message`; `index.js` turns it into an
//! Error of the caller's realm with that `code`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use e2b_native_core::options::Options;
use e2b_native_core::{
    select_backend, Backend, BackendKind, Call, CancellationToken, Defaults, Error, Method,
    Outcome, SelectionEnv, Service, Sink, Unavailable,
};
use e2b_native_e2b::{E2bBackend, E2bConfig};
use e2b_native_local::{LocalBackend, LocalConfig, PoolConfig};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;

// The local sandbox and `serve` need Linux; elsewhere a stand-in with the same
// names rejects every local call and says why. Its items are `pub` as the
// crate's they stand in for.
#[cfg(not(target_os = "linux"))]
#[allow(unreachable_pub)]
mod no_local;
#[cfg(not(target_os = "linux"))]
use no_local::{self as e2b_native_local, default_helper};
#[cfg(target_os = "linux")]
pub mod serve;
pub mod session;

#[napi(object)]
pub struct NativeFile {
    pub path: String,
    pub content: Buffer,
}

/// A JavaScript callback receiving output text; `index.js` makes it never throw.
type OutputCallback = ThreadsafeFunction<String, (), String, Status, false, true>;

#[napi(object)]
pub struct NativeOutcome {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: i32,
    pub error: Option<String>,
    pub timed_out: bool,
    pub truncated: bool,
    pub limit: Option<String>,
    pub duration_ms: f64,
    pub backend: String,
    /// `namespaces` or `landlock` (local tiers), `microvm` (E2B).
    pub isolation: String,
    /// The files read back that exist, keyed by the paths as the caller wrote them.
    pub files: Vec<NativeFile>,
    /// Python's rich results as E2B's wire JSON (an array); absent when none.
    pub results: Option<String>,
}

/// One language's warm pool.
#[napi(object)]
pub struct NativeLaneStats {
    pub language: String,
    pub ready: u32,
    pub starting: u32,
    pub served: f64,
    pub fork_server: bool,
    pub fork_server_error: Option<String>,
}

#[napi(object)]
pub struct NativePoolStats {
    /// Sandboxes kept ready per language; 0 when the pool is off.
    pub size: u32,
    pub idle_ms: f64,
    pub lanes: Vec<NativeLaneStats>,
}

#[napi]
pub struct NativeService {
    service: Arc<Service>,
    calls: Arc<Mutex<HashMap<u32, CancellationToken>>>,
    /// The local backend, when it is the one (for `poolStats`).
    local: Option<Arc<LocalBackend>>,
}

#[napi]
impl NativeService {
    /// `options`: the constructor's options as JSON; `process_env`: the
    /// `E2B_*`, `NODE_ENV` and `E2B_NATIVE_*` variables as the caller's
    /// `process.env` has them (Jest's differs from the real one).
    #[napi(constructor)]
    pub fn new(env: Env, options: String, process_env: HashMap<String, String>) -> Result<Self> {
        register_cleanup_hook(&env);
        let (service, local) = to_service(&options, &process_env).map_err(coded)?;
        Ok(NativeService {
            service: Arc::new(service),
            calls: Arc::default(),
            local,
        })
    }

    /// How the local backend's warm pool stands (size 0 and no lanes for
    /// the e2b backend or a pool turned off).
    #[napi]
    pub fn pool_stats(&self) -> NativePoolStats {
        let Some(local) = &self.local else {
            return NativePoolStats {
                size: 0,
                idle_ms: 0.0,
                lanes: Vec::new(),
            };
        };
        let config = local.pool_config();
        NativePoolStats {
            size: config.size as u32,
            idle_ms: config.idle.as_millis() as f64,
            lanes: local
                .pool_stats()
                .into_iter()
                .map(|l| NativeLaneStats {
                    language: l.language.as_str().into(),
                    ready: l.ready as u32,
                    starting: l.starting as u32,
                    served: l.served as f64,
                    fork_server: l.forked,
                    fork_server_error: l.fork_server_error,
                })
                .collect(),
        }
    }

    /// Registers call `id`, synchronously, so that `cancel(id)` works from the
    /// moment `execute` is called, before its future first runs.
    #[napi]
    pub fn begin(&self, id: u32) {
        lock(&self.calls).insert(id, self.service.call_token());
    }

    /// Runs call `id` (registered by `begin`). `call`: `{ method, language,
    /// packages, options }` as JSON. The callbacks receive output as it is
    /// produced.
    #[napi]
    pub async fn execute(
        &self,
        code: String,
        call: String,
        files: Option<Vec<NativeFile>>,
        id: u32,
        on_stdout: Option<OutputCallback>,
        on_stderr: Option<OutputCallback>,
    ) -> Result<NativeOutcome> {
        let token = lock(&self.calls)
            .entry(id)
            .or_insert_with(|| self.service.call_token())
            .clone();
        let result = self
            .run(code, &call, files, token, [on_stdout, on_stderr])
            .await;
        lock(&self.calls).remove(&id);
        result.map_err(coded)
    }

    /// Kills the sandbox of call `id`; its promise then rejects with ABORT_ERR.
    #[napi]
    pub fn cancel(&self, id: u32) {
        if let Some(token) = lock(&self.calls).get(&id) {
            token.cancel();
        }
    }

    /// Deletes remote sandboxes left by dead processes of this host; resolves
    /// to how many.
    #[napi]
    pub async fn reap_orphans(&self) -> Result<u32> {
        let reaped = self.service.reap_orphans().await.map_err(coded)?;
        Ok(reaped as u32)
    }

    /// A new session; `options` as JSON.
    #[napi]
    pub async fn create_session(&self, options: String) -> Result<session::NativeSession> {
        let created = async {
            let options = Options::parse(&options)?;
            self.service.create_session(&options).await
        };
        Ok(session::NativeSession::new(created.await.map_err(coded)?))
    }

    /// Kills every call and session of this service and resolves when they
    /// are gone.
    #[napi]
    pub async fn close(&self) {
        self.service.close().await;
    }
}

impl NativeService {
    async fn run(
        &self,
        code: String,
        call: &str,
        files: Option<Vec<NativeFile>>,
        token: CancellationToken,
        [on_stdout, on_stderr]: [Option<OutputCallback>; 2],
    ) -> std::result::Result<NativeOutcome, Error> {
        let arguments = Options::parse(call)?;
        let method = match arguments.get("method").and_then(|m| m.as_str()) {
            Some("executeWithPackages") => Method::WithPackages,
            _ => Method::Execute,
        };
        let read_files = Options::new(&arguments, "execute")?
            .object("options", "")?
            .strings("readFiles")?
            .unwrap_or_default();
        let call = Call {
            method,
            code,
            arguments,
            files: files
                .unwrap_or_default()
                .into_iter()
                .map(|f| (f.path, f.content.to_vec()))
                .collect(),
            on_stdout: on_stdout.map(to_sink),
            on_stderr: on_stderr.map(to_sink),
        };
        let outcome = self.service.execute(call, token).await?;
        Ok(to_js_outcome(outcome, &read_files))
    }
}

#[napi(object)]
pub struct NativeCheck {
    pub layer: String,
    /// "active", "fallback" or "missing".
    pub status: String,
    pub detail: String,
    pub fix: Option<String>,
}

/// Checks each isolation layer and limit of the local backend on this host.
#[napi]
pub async fn diagnose(helper: Option<String>) -> Result<Vec<NativeCheck>> {
    let backend = LocalBackend::new(LocalConfig {
        helper: helper.map(PathBuf::from).unwrap_or_else(default_helper),
        pool: PoolConfig::off(),
        ..Default::default()
    })
    .map_err(coded)?;
    Ok(e2b_native_local::diagnose::diagnose(&backend)
        .await
        .into_iter()
        .map(|c| NativeCheck {
            layer: c.layer.into(),
            status: c.status.as_str().into(),
            detail: c.detail,
            fix: c.fix,
        })
        .collect())
}

/// Installs the data-science environment (once for this host; it is kept in
/// the package cache) with the service options given; resolves to the
/// directory Python sandboxes see on `PYTHONPATH`.
#[cfg(target_os = "linux")]
#[napi]
pub async fn prepare_environment(
    options: String,
    process_env: HashMap<String, String>,
) -> Result<String> {
    let prepared = async {
        let value = Options::parse(&options)?;
        let options = Options::new(&value, "prepare")?;
        let defaults = Defaults::read(&options)?;
        let config = LocalConfig::read(&options, &process_env, &defaults.limits, default_helper())?;
        let backend = LocalBackend::new(LocalConfig {
            pool: PoolConfig::off(),
            ..config
        })?;
        let python = backend.interpreter(e2b_native_core::Language::Python)?;
        let dir = backend
            .data_science(&python, true, &CancellationToken::new())
            .await?;
        dir.ok_or_else(|| Error::Internal("an installed environment has no directory".into()))
    };
    let dir = prepared.await.map_err(coded)?;
    Ok(dir.display().to_string())
}

/// Kills every sandbox of this process, synchronously, as it exits (for
/// `process.on('exit')`): local ones at once, their rooms with them (and
/// none made after); remote ones best effort within a second (their TTL
/// covers the rest).
#[napi]
pub fn kill_all() -> u32 {
    let local = e2b_native_local::shut_down();
    let remote = e2b_native_e2b::kill_all_blocking(std::time::Duration::from_secs(1));
    (local + remote) as u32
}

/// How many sandboxes this process has running calls in right now (the warm
/// pools' waiting sandboxes are not counted).
#[napi]
pub fn live_sandboxes() -> u32 {
    e2b_native_local::live_count() as u32
}

/// Host pids of the helpers of the sandboxes waiting in a warm pool (or being
/// prepared for one); each such sandbox's processes descend from its helper.
#[napi]
pub fn pooled_sandbox_pids() -> Vec<u32> {
    e2b_native_local::pooled_pids()
        .into_iter()
        .map(|p| p as u32)
        .collect()
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The one way a failure crosses to JavaScript.
pub(crate) fn coded(e: Error) -> napi::Error {
    napi::Error::new(Status::GenericFailure, format!("{}\u{0}{}", e.code(), e))
}

fn to_service(
    options: &str,
    process_env: &HashMap<String, String>,
) -> std::result::Result<(Service, Option<Arc<LocalBackend>>), Error> {
    let value = Options::parse(options)?;
    let options = Options::new(&value, "new E2BService()")?;
    let defaults = Defaults::read(&options)?;
    let backend = options
        .string("backend")?
        .map(|name| name.parse::<BackendKind>())
        .transpose()?;
    let api_key = options.string("apiKey")?;
    let env = |name: &str| process_env.get(name).cloned();
    let selection = SelectionEnv {
        e2b_backend: env("E2B_BACKEND"),
        e2b_api_key: env("E2B_API_KEY"),
        node_env: env("NODE_ENV"),
    };
    let selected = select_backend(backend, api_key.as_deref(), &selection);
    // Every option is read whatever the backend, so that a bad one fails
    // here; the e2b backend's variables only when it is the one.
    let local_config =
        LocalConfig::read(&options, process_env, &defaults.limits, default_helper())?;
    let no_env = HashMap::new();
    let e2b_env = match selected {
        Ok(BackendKind::E2b) => process_env,
        _ => &no_env,
    };
    let e2b_config = E2bConfig::read(&options, e2b_env);
    if let Err(e @ Error::InvalidArg(_)) = &e2b_config {
        return Err(e.clone());
    }
    let mut local = None;
    let backend: Arc<dyn Backend> = match selected {
        Ok(BackendKind::Local) => {
            let backend = Arc::new(LocalBackend::new(local_config)?);
            local = Some(backend.clone());
            backend
        }
        Ok(BackendKind::E2b) => match e2b_config.and_then(E2bBackend::new) {
            Ok(backend) => Arc::new(backend),
            Err(e) => Arc::new(Unavailable(e)),
        },
        Err(e) => Arc::new(Unavailable(e)),
    };
    Ok((Service::new(backend, defaults), local))
}

fn to_sink(callback: OutputCallback) -> Sink {
    let callback = Arc::new(callback);
    Sink(Arc::new(move |text| {
        let callback = callback.clone();
        Box::pin(async move {
            // Resolves once JavaScript has run the callback: backpressure.
            let _ = callback.call_async(text).await;
        })
    }))
}

/// `asked`: the readFiles paths as the caller wrote them, which key the files.
fn to_js_outcome(o: Outcome, asked: &[String]) -> NativeOutcome {
    let results = (!o.results.is_empty())
        .then(|| serde_json::to_string(&o.results).expect("results serialize"));
    NativeOutcome {
        results,
        stdout: o.stdout,
        stderr: o.stderr,
        exit_code: o.exit_code,
        error: o.error,
        timed_out: o.timed_out,
        truncated: o.truncated,
        limit: o.limit.map(|l| l.as_str().to_string()),
        duration_ms: o.duration.as_secs_f64() * 1000.0,
        backend: o.backend.into(),
        isolation: o.isolation.into(),
        files: asked
            .iter()
            .filter_map(|path| {
                let normal = e2b_native_core::work_dir_path(path).ok()?;
                let (_, content) = o.files.iter().find(|(p, _)| *p == normal)?;
                Some(NativeFile {
                    path: path.clone(),
                    content: content.clone().into(),
                })
            })
            .collect(),
    }
}

/// The helper executable ships beside this addon's `.node` file (or its copy
/// that `e2b-native apparmor` installed).
#[cfg(target_os = "linux")]
fn default_helper() -> PathBuf {
    // Found once: the installed copy is compared byte for byte.
    static HELPER: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    HELPER.get_or_init(find_default_helper).clone()
}

#[cfg(target_os = "linux")]
fn find_default_helper() -> PathBuf {
    // SAFETY: Dl_info is plain data (pointers and integers): all zeros is valid.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only reads the address of a function of this library and
    // fills `info`, whose strings live as long as the library stays loaded.
    let found = unsafe { libc::dladdr(find_default_helper as *const libc::c_void, &mut info) } != 0;
    let addon = (found && !info.dli_fname.is_null())
        // SAFETY: dli_fname is a NUL-terminated path owned by the loader.
        .then(|| unsafe { std::ffi::CStr::from_ptr(info.dli_fname) })
        .map(|p| PathBuf::from(p.to_string_lossy().into_owned()));
    let beside = addon
        .and_then(|p| p.parent().map(|d| d.join("e2b-sandbox")))
        .unwrap_or_else(|| PathBuf::from("e2b-sandbox"));
    e2b_native_local::apparmor::preferred_helper(beside)
}

/// `e2b-native apparmor`: installs the helper at a root-owned path with an
/// AppArmor profile that allows user namespaces; resolves to what it did.
#[cfg(target_os = "linux")]
#[napi]
pub fn install_apparmor_profile() -> Result<String> {
    let bundled =
        std::env::var_os("E2B_NATIVE_SANDBOX_HELPER").map_or_else(default_helper, PathBuf::from);
    let done = e2b_native_local::apparmor::install(&bundled)
        .map_err(|reason| coded(Error::IsolationUnavailable(reason)))?;
    let loaded = match done.loaded {
        Some(true) => "loaded",
        Some(false) | None => {
            "written; AppArmor is not active on this kernel, so nothing needs it here"
        }
    };
    Ok(format!(
        "helper: {}\nprofile: {} ({loaded})",
        done.helper.display(),
        done.profile.display()
    ))
}

/// Kills every sandbox when this Node environment is torn down (natural exit,
/// worker termination). `process.exit()` is covered by `index.js`.
fn register_cleanup_hook(env: &Env) {
    thread_local! {
        static REGISTERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    if !REGISTERED.with(|r| r.replace(true)) {
        let _ = env.add_env_cleanup_hook((), |_| {
            e2b_native_local::kill_all();
        });
    }
}
