use std::collections::BTreeMap;
use std::time::Duration;

use std::sync::Arc;

use crate::backend::BoxFuture;
use crate::{Error, FileIn, Language};

/// Receives output as it is produced, as text that never splits a character.
/// The next chunk of the same stream waits until the returned future resolves.
#[derive(Clone)]
pub struct Sink(pub Arc<dyn Fn(String) -> BoxFuture<'static, ()> + Send + Sync>);

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sink")
    }
}

/// The per-call timeout when none is given: it bounds the whole call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long installing a call's packages may take, apart from the timeout.
pub(crate) const DEFAULT_INSTALL_TIMEOUT: Duration = Duration::from_secs(300);

/// Resource limits of one execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Bytes kept per output stream; past it the sandbox is stopped
    /// (`truncated`, `OutputLimitError`). Default 10 MiB.
    pub output_bytes: usize,
    /// Size of the writable work dir and of /tmp. Default 256 MiB.
    pub disk_bytes: u64,
    /// Memory of the whole sandbox. Default 512 MiB.
    pub memory_bytes: u64,
    /// Processes and threads of the whole sandbox. Default 64.
    pub processes: u64,
    /// CPU seconds per process (`RLIMIT_CPU`, `limit: "cpu"` when hit).
    /// Default: none, so that only the call's timeout stops a busy program.
    pub cpu_seconds: Option<u64>,
    /// Open file descriptors per process. Default 1024.
    pub open_files: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            output_bytes: 10 << 20,
            disk_bytes: 256 << 20,
            memory_bytes: 512 << 20,
            processes: 64,
            cpu_seconds: None,
            open_files: 1024,
        }
    }
}

/// One execution: what to run, and within which bounds.
#[derive(Debug, Clone)]
pub struct Request {
    pub language: Language,
    pub code: String,
    pub timeout: Duration,
    /// Extra environment variables for the code, already validated.
    pub env: BTreeMap<String, String>,
    pub limits: Limits,
    /// Packages to install before the code runs, already validated.
    pub packages: Vec<String>,
    /// Bounds the install step, apart from `timeout`.
    pub install_timeout: Duration,
    /// Written into the work dir before the code runs.
    pub files: Vec<FileIn>,
    /// Work-dir paths (normalised) whose contents come back in the outcome.
    pub read_files: Vec<String>,
    pub on_stdout: Option<Sink>,
    pub on_stderr: Option<Sink>,
}

impl Request {
    pub fn new(language: Language, code: impl Into<String>) -> Self {
        Request {
            language,
            code: code.into(),
            timeout: DEFAULT_TIMEOUT,
            env: BTreeMap::new(),
            limits: Limits::default(),
            packages: Vec::new(),
            install_timeout: DEFAULT_INSTALL_TIMEOUT,
            files: Vec::new(),
            read_files: Vec::new(),
            on_stdout: None,
            on_stderr: None,
        }
    }
}

/// Checks environment variables given for the code: POSIX names, no NUL bytes.
pub fn validate_env(env: &BTreeMap<String, String>) -> Result<(), Error> {
    e2b_native_kernels::validate_env(env).map_err(|e| Error::invalid_arg(e.to_string()))
}

/// What an execution did, as the result table of the README describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: i32,
    /// The uncaught exception's class name, or the limit's error name.
    pub error: Option<String>,
    pub timed_out: bool,
    pub truncated: bool,
    /// The limit the code hit, if it hit one.
    pub limit: Option<Limit>,
    pub duration: Duration,
    pub backend: &'static str,
    /// Which isolation ran it: `namespaces` or `landlock` (local tiers),
    /// `microvm` (E2B's cloud).
    pub isolation: &'static str,
    /// The `read_files` that existed, with their contents.
    pub files: Vec<(String, Vec<u8>)>,
    /// Python's rich results (E2B's `Result`): figures shown with
    /// `plt.show()` where matplotlib is there; empty otherwise.
    pub results: Vec<e2b_native_kernels::ExecutionResult>,
}

/// A limit an execution can hit, each with its own `error` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// The call's wall-clock timeout.
    Time,
    /// RLIMIT_CPU of a process.
    Cpu,
    Output,
    Memory,
    Processes,
    Disk,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Time => "time",
            Limit::Cpu => "cpu",
            Limit::Output => "output",
            Limit::Memory => "memory",
            Limit::Processes => "processes",
            Limit::Disk => "disk",
        }
    }

    /// The result's `error` when this limit was hit.
    pub fn error_name(self) -> &'static str {
        match self {
            Limit::Time | Limit::Cpu => "TimeoutError",
            Limit::Output => "OutputLimitError",
            Limit::Memory => "MemoryLimitError",
            Limit::Processes => "ProcessLimitError",
            Limit::Disk => "DiskLimitError",
        }
    }
}

/// Exit code of an execution that ran past its timeout, as coreutils' `timeout`.
pub const TIMEOUT_EXIT_CODE: i32 = 124;
/// Exit code of an execution stopped by a limit the host enforces (the output
/// cap): killed, as a shell reports SIGKILL.
pub const KILLED_EXIT_CODE: i32 = 128 + 9;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_and_values_are_checked() {
        let ok: BTreeMap<_, _> = [("A_1".to_string(), "x y=z".to_string())].into();
        assert!(validate_env(&ok).is_ok());
        for (k, v) in [
            ("1A", "x"),
            ("A-B", "x"),
            ("", "x"),
            ("A", "a\0b"),
            ("A=B", "x"),
        ] {
            let env: BTreeMap<_, _> = [(k.to_string(), v.to_string())].into();
            assert_eq!(validate_env(&env).unwrap_err().code(), "ERR_INVALID_ARG");
        }
    }
}
