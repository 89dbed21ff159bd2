//! What `e2b-native serve` is started with.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use e2b_native_core::options::{Options, LIMITS};
use e2b_native_core::{Error, Language, Limits};

use e2b_native_local::{DataScience, Isolation};

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
    /// The longest a sandbox lives from its start, whatever timeouts it is
    /// given later (they are cut to it, as E2B does). Default 24 hours.
    pub max_lifetime: Duration,
    /// The largest request body, except uploads. Default 16 MiB.
    pub max_body_bytes: u64,
    /// The largest upload to envd's `/files`. Default 1 GiB.
    pub max_upload_bytes: u64,
    /// The longest line a code context's kernel may send (one result,
    /// error or display); a longer one is dropped. Default 16 MiB.
    pub max_result_bytes: u64,
    /// How long a connection may take to send a request's head. Default 15 s.
    pub header_timeout: Duration,
    /// Connections open at once; past it a connection is answered 503.
    /// Default 512.
    pub max_connections: usize,
    /// Host names besides loopback ones and IP addresses that requests for
    /// the debug sandbox may carry in `Host` (DNS rebinding).
    pub allowed_hosts: Vec<String>,
    /// With `debug_sandbox` on, serve it on a non-loopback address all the same.
    pub expose_debug_sandbox: bool,
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
    /// The tier the sandboxes must have; `None`: the strongest this host allows.
    pub isolation: Option<Isolation>,
    /// Whether the sandboxes' Python has the data-science environment
    /// (installed on first start by default, as E2B's template has it).
    pub data_science: DataScience,
}

/// The ranges of the server's numeric options, for their readers and the
/// command line's flags alike.
pub(crate) const PORT: (u64, u64) = (0, 65535);
pub(crate) const MAX_SANDBOXES: (u64, u64) = (1, 100_000);
pub(crate) const MAX_TIMEOUT_MS: (u64, u64) = (1000, 30 * 86400 * 1000);
pub(crate) const MAX_LIFETIME_MS: (u64, u64) = (1000, 365 * 86400 * 1000);
pub(crate) const MAX_BODY_BYTES: (u64, u64) = (64 << 10, 1 << 30);
pub(crate) const MAX_UPLOAD_BYTES: (u64, u64) = (1 << 20, 1 << 40);
pub(crate) const MAX_RESULT_BYTES: (u64, u64) = (64 << 10, 256 << 20);
pub(crate) const HEADER_TIMEOUT_MS: (u64, u64) = (100, 600_000);
pub(crate) const MAX_CONNECTIONS: (u64, u64) = (1, 65_536);

/// The range of numeric option `name` (`port`, `limits.memoryBytes`).
pub(crate) fn option_range(name: &str) -> Option<(u64, u64)> {
    match name {
        "port" => Some(PORT),
        "maxSandboxes" => Some(MAX_SANDBOXES),
        "maxTimeoutMs" => Some(MAX_TIMEOUT_MS),
        "maxLifetimeMs" => Some(MAX_LIFETIME_MS),
        "maxBodyBytes" => Some(MAX_BODY_BYTES),
        "maxUploadBytes" => Some(MAX_UPLOAD_BYTES),
        "maxResultBytes" => Some(MAX_RESULT_BYTES),
        "headerTimeoutMs" => Some(HEADER_TIMEOUT_MS),
        "maxConnections" => Some(MAX_CONNECTIONS),
        _ => {
            let limit = name.strip_prefix("limits.")?;
            LIMITS
                .iter()
                .find(|l| l.name == limit)
                .map(|l| (l.min, l.max))
        }
    }
}

impl ServerConfig {
    pub fn new(helper: PathBuf) -> Self {
        ServerConfig {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 3000,
            api_keys: Vec::new(),
            max_sandboxes: 20,
            max_timeout: Duration::from_secs(3600),
            max_lifetime: Duration::from_secs(24 * 3600),
            max_body_bytes: 16 << 20,
            max_upload_bytes: 1 << 30,
            max_result_bytes: 16 << 20,
            header_timeout: Duration::from_secs(15),
            max_connections: 512,
            allowed_hosts: Vec::new(),
            expose_debug_sandbox: false,
            limits: Limits::default(),
            helper,
            interpreters: HashMap::new(),
            debug_sandbox: None,
            log_level: LogLevel::Warn,
            isolation: None,
            data_science: DataScience::Always,
        }
    }

    /// The options of `startServer` (and of the command line, see `cli`),
    /// each checked; `helper`: the sandbox helper to use.
    pub fn read(options: &Options<'_>, helper: PathBuf) -> Result<Self, Error> {
        let mut config = ServerConfig::new(helper);
        if let Some(host) = options.string("host")? {
            config.host = host.parse().map_err(|_| {
                Error::invalid_arg(format!("host must be an IP address, got {host:?}"))
            })?;
        }
        let whole = |name: &str, (min, max): (u64, u64)| options.whole(name, min, max);
        if let Some(port) = whole("port", PORT)? {
            config.port = port as u16;
        }
        config.api_keys = options.string("apiKey")?.into_iter().collect();
        config
            .api_keys
            .extend(options.strings("apiKeys")?.unwrap_or_default());
        for key in &config.api_keys {
            let hex = key.strip_prefix("e2b_").unwrap_or("");
            if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::invalid_arg(format!(
                    "API key {:?}… must be `e2b_` followed by hex digits, as the E2B SDKs require",
                    key.chars().take(8).collect::<String>()
                )));
            }
        }
        if let Some(n) = whole("maxSandboxes", MAX_SANDBOXES)? {
            config.max_sandboxes = n as usize;
        }
        if let Some(ms) = whole("maxTimeoutMs", MAX_TIMEOUT_MS)? {
            config.max_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = whole("maxLifetimeMs", MAX_LIFETIME_MS)? {
            config.max_lifetime = Duration::from_millis(ms);
        }
        if let Some(n) = whole("maxBodyBytes", MAX_BODY_BYTES)? {
            config.max_body_bytes = n;
        }
        if let Some(n) = whole("maxUploadBytes", MAX_UPLOAD_BYTES)? {
            config.max_upload_bytes = n;
        }
        if let Some(n) = whole("maxResultBytes", MAX_RESULT_BYTES)? {
            config.max_result_bytes = n;
        }
        if let Some(ms) = whole("headerTimeoutMs", HEADER_TIMEOUT_MS)? {
            config.header_timeout = Duration::from_millis(ms);
        }
        if let Some(n) = whole("maxConnections", MAX_CONNECTIONS)? {
            config.max_connections = n as usize;
        }
        config.allowed_hosts = options.strings("allowedHosts")?.unwrap_or_default();
        for host in &mut config.allowed_hosts {
            *host = host.to_ascii_lowercase();
            if host.is_empty() || host.contains([':', '/', ' ']) {
                return Err(Error::invalid_arg(format!(
                    "allowedHosts takes host names without a port or scheme, got {host:?}"
                )));
            }
        }
        config.expose_debug_sandbox = options.boolean("exposeDebugSandbox")?.unwrap_or(false);
        config.limits = options.limits(&config.limits)?;
        config.interpreters = options.interpreters()?.into_iter().collect();
        config.debug_sandbox = options.boolean("debugSandbox")?;
        if let Some(level) = options.string("logLevel")? {
            config.log_level = level.parse::<LogLevel>().map_err(Error::invalid_arg)?;
        }
        config.isolation = e2b_native_local::read_isolation(options, &Default::default())?;
        if options.get("dataScience").is_some() {
            config.data_science =
                e2b_native_local::read_data_science(options, &Default::default())?;
        }
        Ok(config)
    }

    /// Whether the debug sandbox is served: by default on loopback only;
    /// asked for elsewhere, only with `exposeDebugSandbox`, since it runs
    /// code for anyone who reaches the port.
    pub(crate) fn debug_sandbox(&self) -> Result<bool, Error> {
        let loopback = self.host.is_loopback();
        match self.debug_sandbox {
            None => Ok(loopback),
            Some(true) if !loopback && !self.expose_debug_sandbox => {
                Err(Error::invalid_arg(format!(
                "debugSandbox serves code execution without any API key or token, and {} is not \
                 a loopback address: anyone who can reach it could run code. Listen on 127.0.0.1, \
                 or pass exposeDebugSandbox: true (--expose-debug-sandbox) to do it anyway",
                self.host
            )))
            }
            Some(on) => Ok(on),
        }
    }
}
