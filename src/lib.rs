//! The napi binding: JavaScript values in, engine calls, JavaScript values out.
//! Every decision lives in the crates; `index.js` turns failures into errors of
//! the caller's realm.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use e2b_native_core::{
    select_backend, Backend, BackendKind, Call, CancellationToken, Defaults, Error, Language,
    Outcome, SelectionEnv, Service, Sink, Unavailable,
};
use e2b_native_e2b::{E2bBackend, E2bConfig};
use e2b_native_local::{LocalBackend, LocalConfig, PackageConfig, PoolConfig};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;

// The local sandbox and `serve` need Linux; elsewhere a stand-in with the same
// names rejects every local call and says why.
#[cfg(not(target_os = "linux"))]
mod no_local;
#[cfg(not(target_os = "linux"))]
use no_local::{self as e2b_native_local, default_helper};
#[cfg(target_os = "linux")]
pub mod serve;

/// Constructor settings, already type-checked by `index.js`.
#[napi(object)]
pub struct NativeConfig {
    pub backend: Option<String>,
    pub api_key: Option<String>,
    pub timeout_ms: Option<f64>,
    pub install_timeout_ms: Option<f64>,
    pub max_output_bytes: Option<f64>,
    /// Interpreter paths by language name.
    pub interpreters: Option<HashMap<String, String>>,
    /// Limits by name (`memoryBytes`, `processes`, ...).
    pub limits: Option<HashMap<String, f64>>,
    /// e2b backend settings by name: `template`, `domain`, `apiUrl`, `sandboxUrl`, `maxConcurrency`.
    #[napi(js_name = "e2b")]
    pub e2b: Option<HashMap<String, String>>,
    /// Warm pool: sandboxes kept ready per language (0: off). Default 2, or
    /// `E2B_NATIVE_POOL_SIZE`.
    pub pool_size: Option<f64>,
    /// Warm pool: a language's sandboxes are dropped after this long without
    /// a call. Default 30000.
    pub pool_idle_ms: Option<f64>,
    /// Package sources and cache of the local backend.
    pub packages: Option<NativePackages>,
    /// `E2B_*`, `NODE_ENV` and `E2B_NATIVE_SANDBOX_HELPER` as the caller's
    /// `process.env` has them (Jest's differs from the real one).
    pub env: HashMap<String, String>,
}

/// The `packages` constructor option, already type-checked by `index.js`.
#[napi(object)]
pub struct NativePackages {
    pub cache_dir: Option<String>,
    pub max_cache_bytes: Option<f64>,
    pub python_index_url: Option<String>,
    pub python_wheel_dir: Option<String>,
    pub npm_registry: Option<String>,
    pub allow_hosts: Option<Vec<String>>,
}

#[napi(object)]
pub struct NativeCall {
    pub language: String,
    pub code: String,
    pub packages: Vec<String>,
    pub timeout_ms: Option<f64>,
    pub install_timeout_ms: Option<f64>,
    pub env: Option<HashMap<String, String>>,
    pub limits: Option<HashMap<String, f64>>,
    pub files: Option<Vec<NativeFile>>,
    pub read_files: Option<Vec<String>>,
}

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
    pub files: Vec<NativeFile>,
}

/// A call's answer as data: an outcome, or a failure with its stable code.
#[napi(object)]
pub struct NativeReply {
    pub outcome: Option<NativeOutcome>,
    pub code: Option<String>,
    pub message: Option<String>,
}

/// One language's warm pool.
#[napi(object)]
pub struct NativeLaneStats {
    pub language: String,
    pub ready: u32,
    pub starting: u32,
    pub served: f64,
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
    #[napi(constructor)]
    pub fn new(env: Env, config: NativeConfig) -> Result<Self> {
        register_cleanup_hook(&env);
        let (service, local) = to_service(config).map_err(to_js_error)?;
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

    /// Runs call `id` (registered by `begin`). The callbacks receive output as
    /// it is produced.
    #[napi]
    pub async fn execute(
        &self,
        call: NativeCall,
        id: u32,
        on_stdout: Option<OutputCallback>,
        on_stderr: Option<OutputCallback>,
    ) -> NativeReply {
        let token = lock(&self.calls)
            .entry(id)
            .or_insert_with(|| self.service.call_token())
            .clone();
        let mut call = to_call(call);
        call.on_stdout = on_stdout.map(to_sink);
        call.on_stderr = on_stderr.map(to_sink);
        let asked = call.read_files.clone();
        let result = self.service.execute(call, token).await;
        lock(&self.calls).remove(&id);
        match result {
            Ok(outcome) => NativeReply {
                outcome: Some(to_js_outcome(outcome, &asked)),
                code: None,
                message: None,
            },
            Err(e) => NativeReply {
                outcome: None,
                code: Some(e.code().into()),
                message: Some(e.to_string()),
            },
        }
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
    pub async fn reap_orphans(&self) -> NativeReply {
        match self.service.reap_orphans().await {
            Ok(n) => NativeReply {
                outcome: None,
                code: None,
                message: Some(n.to_string()),
            },
            Err(e) => NativeReply {
                outcome: None,
                code: Some(e.code().into()),
                message: Some(e.to_string()),
            },
        }
    }

    /// Kills every call of this service and resolves when they are gone.
    #[napi]
    pub async fn close(&self) {
        self.service.close().await;
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
pub async fn diagnose(helper: Option<String>) -> Vec<NativeCheck> {
    let backend = LocalBackend::new(LocalConfig {
        helper: helper.map(PathBuf::from).unwrap_or_else(default_helper),
        pool: PoolConfig::off(),
        ..Default::default()
    })
    .expect("default package settings are valid");
    e2b_native_local::diagnose::diagnose(&backend)
        .await
        .into_iter()
        .map(|c| NativeCheck {
            layer: c.layer.into(),
            status: c.status.as_str().into(),
            detail: c.detail,
            fix: c.fix,
        })
        .collect()
}

/// Kills every sandbox of this process, synchronously (for `process.on('exit')`):
/// local ones at once, remote ones best effort within a second (their TTL
/// covers the rest).
#[napi]
pub fn kill_all() -> u32 {
    let local = e2b_native_local::kill_all();
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn to_js_error(e: Error) -> napi::Error {
    napi::Error::new(Status::InvalidArg, format!("{}\u{0}{}", e.code(), e))
}

/// The warm pool's settings from the options, else `E2B_NATIVE_POOL_SIZE`.
fn to_pool(
    config: &NativeConfig,
    limits: &e2b_native_core::Limits,
) -> std::result::Result<PoolConfig, Error> {
    let mut pool = PoolConfig {
        limits: limits.clone(),
        ..PoolConfig::default()
    };
    let from_env = config.env.get("E2B_NATIVE_POOL_SIZE");
    let size = match (config.pool_size, from_env) {
        (Some(size), _) => Some((size, "pool.size")),
        (None, Some(text)) => Some((
            text.trim().parse::<f64>().unwrap_or(f64::NAN),
            "E2B_NATIVE_POOL_SIZE",
        )),
        (None, None) => None,
    };
    if let Some((size, name)) = size {
        if !(size.is_finite()
            && size >= 0.0
            && size.fract() == 0.0
            && size <= PoolConfig::MAX_SIZE as f64)
        {
            return Err(Error::invalid_arg(format!(
                "{name} must be a whole number from 0 (no pool) to {}, got {}",
                PoolConfig::MAX_SIZE,
                match (config.pool_size, from_env) {
                    (None, Some(text)) => format!("{text:?}"),
                    _ => size.to_string(),
                }
            )));
        }
        pool.size = size as usize;
    }
    if let Some(ms) = config.pool_idle_ms {
        pool.idle = e2b_native_core::Request::duration_from_ms("pool.idleMs", ms)?;
    }
    Ok(pool)
}

fn package_config(packages: Option<NativePackages>) -> std::result::Result<PackageConfig, Error> {
    let Some(p) = packages else {
        return Ok(PackageConfig::default());
    };
    let max_cache_bytes = match p.max_cache_bytes {
        Some(b)
            if b.is_finite() && b.fract() == 0.0 && (1.0..=(1u64 << 50) as f64).contains(&b) =>
        {
            Some(b as u64)
        }
        Some(b) => {
            return Err(Error::invalid_arg(format!(
                "packages.maxCacheBytes must be a whole number of bytes from 1 to 2^50, got {b}"
            )))
        }
        None => None,
    };
    Ok(PackageConfig {
        cache_dir: p.cache_dir.map(PathBuf::from),
        max_cache_bytes,
        python_index_url: p.python_index_url,
        python_wheel_dir: p.python_wheel_dir.map(PathBuf::from),
        npm_registry: p.npm_registry,
        allow_hosts: p.allow_hosts.unwrap_or_default(),
    })
}

fn to_service(
    config: NativeConfig,
) -> std::result::Result<(Service, Option<Arc<LocalBackend>>), Error> {
    let mut defaults = Defaults::default();
    if let Some(ms) = config.timeout_ms {
        defaults.timeout = e2b_native_core::Request::timeout_from_ms(ms)?;
    }
    if let Some(ms) = config.install_timeout_ms {
        defaults.install_timeout =
            e2b_native_core::Request::duration_from_ms("installTimeoutMs", ms)?;
    }
    if let Some(bytes) = config.max_output_bytes {
        if !(bytes.is_finite()
            && bytes >= 1.0
            && bytes.fract() == 0.0
            && bytes <= (1u64 << 40) as f64)
        {
            return Err(Error::invalid_arg(format!(
                "maxOutputBytes must be a whole number of bytes from 1 to 2^40, got {bytes}"
            )));
        }
        defaults.limits.output_bytes = bytes as usize;
    }
    let option = config
        .backend
        .as_deref()
        .map(str::parse::<BackendKind>)
        .transpose()?;
    let pool = to_pool(&config, &defaults.limits)?;
    let env = |name: &str| config.env.get(name).cloned();
    let selection = SelectionEnv {
        e2b_backend: env("E2B_BACKEND"),
        e2b_api_key: env("E2B_API_KEY"),
        node_env: env("NODE_ENV"),
    };
    let mut interpreters = HashMap::new();
    for (name, path) in config.interpreters.unwrap_or_default() {
        interpreters.insert(name.parse::<Language>()?, PathBuf::from(path));
    }
    let mut local = None;
    let backend: Arc<dyn Backend> =
        match select_backend(option, config.api_key.as_deref(), &selection) {
            Ok(BackendKind::Local) => {
                let backend = Arc::new(LocalBackend::new(LocalConfig {
                    helper: env("E2B_NATIVE_SANDBOX_HELPER")
                        .map(PathBuf::from)
                        .unwrap_or_else(default_helper),
                    interpreters,
                    pool,
                    packages: package_config(config.packages)?,
                })?);
                local = Some(backend.clone());
                backend
            }
            Ok(BackendKind::E2b) => {
                let mut options = config.e2b.clone().unwrap_or_default();
                if let Some(key) = &config.api_key {
                    options.insert("apiKey".into(), key.clone());
                }
                match E2bConfig::new(&options, &config.env).and_then(E2bBackend::new) {
                    Ok(backend) => Arc::new(backend),
                    Err(e @ Error::InvalidArg(_)) => return Err(e),
                    Err(e) => Arc::new(Unavailable(e)),
                }
            }
            Err(e) => Arc::new(Unavailable(e)),
        };
    Ok((Service::new(backend, defaults), local))
}

fn to_call(call: NativeCall) -> Call {
    Call {
        language: call.language,
        code: call.code,
        packages: call.packages,
        timeout_ms: call.timeout_ms,
        install_timeout_ms: call.install_timeout_ms,
        env: call
            .env
            .unwrap_or_default()
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        limits: call.limits.unwrap_or_default().into_iter().collect(),
        files: call
            .files
            .unwrap_or_default()
            .into_iter()
            .map(|f| (f.path, f.content.to_vec()))
            .collect(),
        read_files: call.read_files.unwrap_or_default(),
        on_stdout: None,
        on_stderr: None,
    }
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
    NativeOutcome {
        stdout: o.stdout,
        stderr: o.stderr,
        exit_code: o.exit_code,
        error: o.error,
        timed_out: o.timed_out,
        truncated: o.truncated,
        limit: o.limit.map(|l| l.as_str().to_string()),
        duration_ms: o.duration.as_secs_f64() * 1000.0,
        backend: o.backend.into(),
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

/// The helper executable ships beside this addon's `.node` file.
#[cfg(target_os = "linux")]
fn default_helper() -> PathBuf {
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only reads the address of a function of this library and
    // fills `info`, whose strings live as long as the library stays loaded.
    let found = unsafe { libc::dladdr(default_helper as *const libc::c_void, &mut info) } != 0;
    let addon = (found && !info.dli_fname.is_null())
        // SAFETY: dli_fname is a NUL-terminated path owned by the loader.
        .then(|| unsafe { std::ffi::CStr::from_ptr(info.dli_fname) })
        .map(|p| PathBuf::from(p.to_string_lossy().into_owned()));
    addon
        .and_then(|p| p.parent().map(|d| d.join("e2b-sandbox")))
        .unwrap_or_else(|| PathBuf::from("e2b-sandbox"))
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
