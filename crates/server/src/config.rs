//! What `e2b-native serve` is started with.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use e2b_native_core::{Language, Limits};

use crate::log::LogLevel;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on. Default 127.0.0.1: the sandboxes' API is for
    /// this machine.
    pub host: IpAddr,
    /// Port; 0 picks a free one. Default 3000 (where the SDKs look in debug mode).
    pub port: u16,
    /// API keys accepted in `X-API-Key`; when empty, one is generated (see
    /// [`crate::Server::api_keys`]). The JS SDK wants `e2b_` and hex.
    pub api_keys: Vec<String>,
    /// Sandboxes running at once; past it `POST /sandboxes` answers 429.
    /// Default 20.
    pub max_sandboxes: usize,
    /// The longest sandbox timeout accepted. Default 1 hour.
    pub max_timeout: Duration,
    /// Limits of each sandbox (memory, processes and disk for the whole
    /// sandbox; open files and CPU time per process).
    pub limits: Limits,
    /// The `e2b-sandbox` helper executable.
    pub helper: PathBuf,
    /// Interpreter binaries; by default found on PATH (shims skipped).
    pub interpreters: HashMap<Language, PathBuf>,
    /// Serve E2B's debug-mode sandbox ID (`debug_sandbox_id`, no API call,
    /// no access token): the SDKs with `E2B_DEBUG=true`. Default: on when
    /// listening on a loopback address only.
    pub debug_sandbox: Option<bool>,
    pub log_level: LogLevel,
}

impl ServerConfig {
    pub fn new(helper: PathBuf) -> Self {
        ServerConfig {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 3000,
            api_keys: Vec::new(),
            max_sandboxes: 20,
            max_timeout: Duration::from_secs(3600),
            limits: Limits::default(),
            helper,
            interpreters: HashMap::new(),
            debug_sandbox: None,
            log_level: LogLevel::Info,
        }
    }

    /// Checks the settings; the message says which and why.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_sandboxes == 0 {
            return Err("maxSandboxes must be at least 1".into());
        }
        if self.max_timeout < Duration::from_secs(1) {
            return Err("maxTimeout must be at least one second".into());
        }
        for key in &self.api_keys {
            let hex = key.strip_prefix("e2b_").unwrap_or("");
            if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "API key {:?}… must be `e2b_` followed by hex digits, as the E2B SDKs require",
                    key.chars().take(8).collect::<String>()
                ));
            }
        }
        Ok(())
    }
}
