//! What the host and the sandbox helper (`e2b-sandbox`) say to each other over
//! the socket that is the helper's stdin: one [`Spec`] in, JSON-line [`Event`]s out.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How to build one sandbox and what to run in it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spec {
    /// The interpreter's real path.
    pub program: PathBuf,
    /// Its argv: its usual name (`python3`, so `$0` and `sys.argv` look as
    /// usual), its arguments, the code.
    pub argv: Vec<String>,
    /// The complete environment of the code (nothing is inherited).
    pub env: Vec<(String, String)>,
    /// Host directories bound read-only at the same path, beyond the system ones.
    pub extra_binds: Vec<PathBuf>,
    /// Size of the writable /home/user and of /tmp.
    pub disk_bytes: u64,
    /// Memory of the whole sandbox (a cgroup where one is writable).
    pub memory_bytes: u64,
    /// RLIMIT_AS of the program when no memory cgroup can be had.
    pub address_space_fallback: Option<u64>,
    /// Interpreter flags put after `argv[0]` when no memory cgroup can be had
    /// (Node's heap cap, which in a cgroup Node derives from the limit).
    #[serde(default)]
    pub flags_fallback: Vec<String>,
    /// Processes of the whole sandbox.
    pub processes: u64,
    /// RLIMIT_CPU, seconds.
    pub cpu_seconds: u64,
    /// RLIMIT_NOFILE.
    pub open_files: u64,
    /// Written into the work dir before the program starts.
    pub files: Vec<SpecFile>,
    /// Work-dir paths read back after the program ends.
    pub read_files: Vec<String>,
    /// The largest file read back.
    pub read_file_cap: u64,
    /// The unprivileged host uid/gid a root caller's sandboxes run as.
    pub host_id_when_root: u32,
    /// A long-lived sandbox (`e2b-native serve`): instead of running
    /// `program`, init serves requests on fd 3 (see `session_protocol`).
    #[serde(default)]
    pub session: bool,
    /// A pooled sandbox (`pool`): the spec comes as one line and the socket
    /// stays open; init starts `program` with its stdin on a socket, then waits
    /// for a [`crate::pool::Go`] to feed it the code.
    #[serde(default)]
    pub warm: bool,
    /// Host directories bound at a path of the sandbox's choosing.
    #[serde(default)]
    pub mounts: Vec<Mount>,
    /// An install step's way out: init listens on 127.0.0.1 at this port and
    /// hands the listening socket to the host through [`EGRESS_FD`], whose
    /// proxy lets through only the package registries. The program may then
    /// open TCP sockets (to that port only); nothing else is reachable.
    #[serde(default)]
    pub egress_port: Option<u16>,
}

/// A host directory bound into the sandbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Mount {
    pub source: PathBuf,
    pub target: PathBuf,
    /// Only an install step's output and download cache are ever writable.
    pub writable: bool,
}

/// The helper's descriptor on which init sends an install step's listening
/// socket (`SCM_RIGHTS`) when the spec has an `egress_port`.
pub const EGRESS_FD: i32 = 3;

/// A file for the work dir: a path relative to it, base64 content.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpecFile {
    pub path: String,
    pub content: String,
}

/// Reports from the helper, one JSON object per line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The sandbox runs in these cgroups: the host reads and removes them.
    Cgroups { dirs: Vec<PathBuf> },
    /// The program filled its writable disk.
    DiskFull,
    /// A file read back from the work dir (base64).
    File { path: String, content: String },
    /// A file that could not be read back, and why.
    FileRefused { path: String, reason: String },
    /// The sandbox's init exists; this host pid is the root of its pid namespace,
    /// and killing it kills every process of the sandbox.
    Init { pid: i32 },
    /// The code's process exited with this status.
    Exited { code: i32 },
    /// The code's process was killed by this signal.
    Signaled { signal: i32 },
    /// A pooled sandbox is built and its interpreter started: it waits for its go.
    Ready,
    /// The sandbox could not be built; `layer` names the isolation layer.
    Failed { layer: String, message: String },
}

/// The user inside every sandbox, as in E2B's sandboxes.
pub const SANDBOX_UID: u32 = 1000;
pub const SANDBOX_HOME: &str = "/home/user";
