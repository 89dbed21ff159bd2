//! What stands in for `e2b-native-local` and `serve` where Linux is not: the
//! same names `lib.rs` uses, so the binding compiles unchanged on macOS and
//! Windows. The e2b backend works there as anywhere; the local backend is
//! built from Linux namespaces, so each of its calls rejects with
//! `ERR_ISOLATION_UNAVAILABLE` and says what to do, and `diagnose()` says the
//! same. Nothing here runs code.

// The stand-ins keep the fields `lib.rs` fills in, which nothing here reads.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use e2b_native_core::session::{CodeSession, SessionSpec};
use e2b_native_core::{
    Backend, BoxFuture, CancellationToken, Error, Language, Limits, Outcome, Request,
};
use napi_derive::napi;

/// Why there is no local sandbox here, and what to do instead.
pub fn reason() -> String {
    let os = match std::env::consts::OS {
        "macos" => "macOS",
        "windows" => "Windows",
        other => other,
    };
    format!(
        "the local backend builds its sandboxes from Linux namespaces, and this is {os}: \
         use the e2b backend (set E2B_API_KEY, or new E2BService({{ backend: \"e2b\" }})), \
         or run this server on Linux (a container, a VM, or WSL2 on Windows)"
    )
}

#[derive(Debug, Clone, Default)]
pub struct LocalConfig {
    pub helper: PathBuf,
    pub interpreters: HashMap<Language, PathBuf>,
    pub pool: PoolConfig,
    pub packages: PackageConfig,
}

impl LocalConfig {
    /// The local backend's own options are not read where it cannot run:
    /// it rejects every call anyway, and says why.
    pub fn read(
        _: &e2b_native_core::options::Options<'_>,
        _: &HashMap<String, String>,
        _: &Limits,
        helper: PathBuf,
    ) -> Result<Self, Error> {
        Ok(LocalConfig {
            helper,
            ..LocalConfig::default()
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct PackageConfig {
    pub cache_dir: Option<PathBuf>,
    pub max_cache_bytes: Option<u64>,
    pub python_index_url: Option<String>,
    pub python_wheel_dir: Option<PathBuf>,
    pub npm_registry: Option<String>,
    pub allow_hosts: Vec<String>,
}

/// The options are still checked as on Linux, so that code moving between
/// hosts fails the same way on bad options.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub size: usize,
    pub idle: Duration,
    pub limits: Limits,
}

impl PoolConfig {
    pub const MAX_SIZE: usize = 64;

    pub fn off() -> Self {
        PoolConfig {
            size: 0,
            ..PoolConfig::default()
        }
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            size: 0,
            idle: Duration::from_secs(30),
            limits: Limits::default(),
        }
    }
}

pub struct LaneStats {
    pub language: Language,
    pub ready: usize,
    pub starting: usize,
    pub served: u64,
    pub forked: bool,
    pub fork_server_error: Option<String>,
}

/// A local backend that runs nothing: every call rejects with [`reason`].
pub struct LocalBackend {
    config: LocalConfig,
}

impl LocalBackend {
    pub fn new(config: LocalConfig) -> Result<Self, Error> {
        Ok(LocalBackend {
            config: LocalConfig {
                pool: PoolConfig {
                    size: 0,
                    ..config.pool
                },
                ..config
            },
        })
    }

    pub fn pool_config(&self) -> &PoolConfig {
        &self.config.pool
    }

    pub fn pool_stats(&self) -> Vec<LaneStats> {
        Vec::new()
    }
}

impl Backend for LocalBackend {
    fn execute<'a>(
        &'a self,
        _: &'a Request,
        _: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Outcome, Error>> {
        Box::pin(async { Err(Error::IsolationUnavailable(reason())) })
    }

    /// Sessions are local sandboxes kept alive: not here either.
    fn create_session<'a>(
        &'a self,
        _: &'a SessionSpec,
    ) -> BoxFuture<'a, Result<Box<dyn CodeSession>, Error>> {
        Box::pin(async { Err(Error::IsolationUnavailable(reason())) })
    }

    fn name(&self) -> &'static str {
        "local"
    }
}

pub mod diagnose {
    pub enum Status {
        Missing,
    }

    impl Status {
        pub fn as_str(&self) -> &'static str {
            "missing"
        }
    }

    pub struct Check {
        pub layer: &'static str,
        pub status: Status,
        pub detail: String,
        pub fix: Option<String>,
    }

    pub async fn diagnose(_: &super::LocalBackend) -> Vec<Check> {
        vec![Check {
            layer: "platform",
            status: Status::Missing,
            detail: format!(
                "no local sandbox on {} {}",
                std::env::consts::OS,
                std::env::consts::ARCH
            ),
            fix: Some(super::reason()),
        }]
    }
}

pub fn kill_all() -> usize {
    0
}

pub fn shut_down() -> usize {
    0
}

pub fn live_count() -> usize {
    0
}

pub fn pooled_pids() -> Vec<i32> {
    Vec::new()
}

/// No helper exists here; the stand-in backend never starts one.
pub fn default_helper() -> PathBuf {
    PathBuf::new()
}

/// Why `e2b-native serve` cannot run here, as the one error convention.
fn no_serve() -> napi::Error {
    crate::coded(Error::IsolationUnavailable(format!(
        "e2b-native serve runs local sandboxes: {}",
        reason()
    )))
}

/// `e2b-native serve` runs local sandboxes: not here.
#[napi]
pub async fn start_server(_: String, _: Option<String>) -> napi::Result<()> {
    Err(no_serve())
}

#[napi]
pub fn parse_serve_args(_: Vec<String>, _: Option<String>) -> napi::Result<Option<String>> {
    Err(no_serve())
}

/// The data-science environment is for the local backend's Python: not here.
#[napi]
pub async fn prepare_environment(_: String, _: HashMap<String, String>) -> napi::Result<String> {
    Err(crate::coded(Error::IsolationUnavailable(reason())))
}

/// AppArmor profiles are for Linux hosts.
#[napi]
pub fn install_apparmor_profile() -> napi::Result<String> {
    Err(crate::coded(Error::IsolationUnavailable(reason())))
}

#[napi]
pub fn serve_usage() -> String {
    format!("e2b-native serve is not available here: {}\n", reason())
}
