//! The binding of `startServer` (`e2b-native serve`): options in, a running
//! server out. Everything else lives in `crates/server`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use e2b_native_core::{Language, LimitSetting};
use e2b_native_server::{LogLevel, Server, ServerConfig};
use napi::bindgen_prelude::*;
use napi_derive::napi;

/// Options of `startServer`, already type-checked by `index.js`.
#[napi(object)]
pub struct NativeServerOptions {
    pub host: Option<String>,
    pub port: Option<u32>,
    pub api_keys: Option<Vec<String>>,
    pub max_sandboxes: Option<u32>,
    pub max_timeout_ms: Option<f64>,
    /// Limits by name (`memoryBytes`, `processes`, ...), as for E2BService.
    pub limits: Option<HashMap<String, f64>>,
    /// Interpreter paths by language name.
    pub interpreters: Option<HashMap<String, String>>,
    pub debug_sandbox: Option<bool>,
    pub log_level: Option<String>,
    /// `E2B_NATIVE_SANDBOX_HELPER` as the caller's `process.env` has it.
    pub helper: Option<String>,
}

/// A running server; `close()` kills its sandboxes and stops it.
#[napi]
pub struct NativeServer {
    url: String,
    api_keys: Vec<String>,
    server: Mutex<Option<Server>>,
}

#[napi]
impl NativeServer {
    #[napi(getter)]
    pub fn url(&self) -> String {
        self.url.clone()
    }

    #[napi(getter)]
    pub fn api_keys(&self) -> Vec<String> {
        self.api_keys.clone()
    }

    /// Kills every sandbox of the server and stops listening; resolves once
    /// they are gone. Closing twice is harmless.
    #[napi]
    pub async fn close(&self) {
        let server = self.server.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(server) = server {
            server.close().await;
        }
    }
}

/// Starts `e2b-native serve` on napi's tokio runtime. Failures reject with
/// `"<code>\0<message>"` for `index.js` to turn into a coded Error.
#[napi]
pub async fn start_server(options: NativeServerOptions) -> Result<NativeServer> {
    let config = to_config(options).map_err(|m| coded("ERR_INVALID_ARG", &m))?;
    let server = e2b_native_server::start(config)
        .await
        .map_err(|e| coded(e.code(), &e.to_string()))?;
    Ok(NativeServer {
        url: server.url(),
        api_keys: server.api_keys().to_vec(),
        server: Mutex::new(Some(server)),
    })
}

fn coded(code: &str, message: &str) -> napi::Error {
    napi::Error::new(Status::GenericFailure, format!("{code}\u{0}{message}"))
}

fn to_config(options: NativeServerOptions) -> std::result::Result<ServerConfig, String> {
    let helper = options
        .helper
        .map(PathBuf::from)
        .unwrap_or_else(super::default_helper);
    let mut config = ServerConfig::new(helper);
    if let Some(host) = options.host {
        config.host = host
            .parse()
            .map_err(|_| format!("host must be an IP address, got {host:?}"))?;
    }
    if let Some(port) = options.port {
        config.port =
            u16::try_from(port).map_err(|_| format!("port must be 0 to 65535, got {port}"))?;
    }
    config.api_keys = options.api_keys.unwrap_or_default();
    if let Some(n) = options.max_sandboxes {
        config.max_sandboxes = n as usize;
    }
    if let Some(ms) = options.max_timeout_ms {
        if !(ms.is_finite() && ms >= 1000.0) {
            return Err(format!("maxTimeoutMs must be at least 1000, got {ms}"));
        }
        config.max_timeout = Duration::from_millis(ms as u64);
    }
    for (name, value) in options.limits.unwrap_or_default() {
        config
            .limits
            .set(LimitSetting { name: &name, value })
            .map_err(|e| e.to_string())?;
    }
    for (name, path) in options.interpreters.unwrap_or_default() {
        let language = name.parse::<Language>().map_err(|e| e.to_string())?;
        config.interpreters.insert(language, PathBuf::from(path));
    }
    config.debug_sandbox = options.debug_sandbox;
    if let Some(level) = options.log_level {
        config.log_level = level.parse::<LogLevel>()?;
    }
    Ok(config)
}
