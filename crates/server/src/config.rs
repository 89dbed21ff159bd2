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

/// The range of numeric option `name` (`port`, `limits.memoryBytes`).
pub(crate) fn option_range(name: &str) -> Option<(u64, u64)> {
    match name {
        "port" => Some(PORT),
        "maxSandboxes" => Some(MAX_SANDBOXES),
        "maxTimeoutMs" => Some(MAX_TIMEOUT_MS),
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
}
