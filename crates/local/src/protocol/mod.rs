//! What the host and the sandbox helper (`e2b-sandbox`) say to each other.
//! The helper's stdin is a socket: one [`Spec`] comes in, JSON-line
//! [`Event`]s go out. A spec is the sandbox's [`Shape`] (what it is) and,
//! unless it is a long-lived session, its [`Job`] (what runs in it).
//! A pooled sandbox then gets its code as a [`Go`]; a session takes
//! [`session`] requests on a second socket.

pub mod session;
mod warm;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use warm::{parse_payload, payload, Go};

/// The user inside every sandbox, as in E2B's sandboxes.
pub const SANDBOX_UID: u32 = 1000;

/// How a sandbox lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Builds, runs its job, reports how it ended, and is gone.
    OneShot,
    /// Builds and starts its job's interpreter on a bootstrap, then waits
    /// for one [`Go`] with the code (the warm pool).
    Warm,
    /// Stays up and starts programs on request (`session`).
    Session,
}

/// How a sandbox is isolated from the host: its tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    /// The full tier: user, pid, mount, network, ipc, uts and cgroup
    /// namespaces and a fresh root, under capabilities dropped, Landlock and
    /// seccomp.
    Namespaces,
    /// Where namespaces are refused (default containers): a dedicated host
    /// uid when the host is root, a private work dir, Landlock (read only
    /// system paths, write only the work dir, no TCP, signals and abstract
    /// sockets scoped), seccomp, rlimits. What it cannot promise is in
    /// SECURITY.md and `diagnose()`.
    Landlock,
}

impl Isolation {
    /// The name results, `diagnose()` and the options use.
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::Namespaces => "namespaces",
            Isolation::Landlock => "landlock",
        }
    }
}

/// A namespace-free sandbox's place on the host, made by the host for each
/// sandbox and removed once it is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    /// The sandbox's own host uid and gid, when the host is root; else it
    /// runs as the host's user.
    pub uid: Option<u32>,
    /// Its work dir (`HOME`, the working directory).
    pub home: PathBuf,
    /// Its `TMPDIR`.
    pub tmp: PathBuf,
}

/// What a sandbox is: its mode, its isolation, what it shows of the host
/// and its bounds. Two sandboxes of the same shape can serve the same calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    pub mode: Mode,
    pub isolation: Isolation,
    /// Host directories shown read-only at the same path, beyond the system ones.
    pub binds: Vec<PathBuf>,
    /// Host directories shown at a path of the sandbox's choosing.
    pub mounts: Vec<Mount>,
    pub limits: SandboxLimits,
    /// The unprivileged host uid/gid a root caller's sandboxes run as.
    pub host_id_when_root: u32,
    /// An install step's way out: init listens on 127.0.0.1 at this port and
    /// hands the listening socket to the host through [`EGRESS_FD`], whose
    /// proxy lets through only the package registries. The program may then
    /// open TCP sockets (to that port only); nothing else is reachable.
    pub egress_port: Option<u16>,
}

impl Shape {
    /// Shows host directory `source` in the sandbox: at `target` where the
    /// sandbox has a root of its own, else at its own path. Returns where
    /// the sandbox sees it.
    pub fn mount(&mut self, source: PathBuf, target: &str, writable: bool) -> PathBuf {
        let at = match self.isolation {
            Isolation::Namespaces => PathBuf::from(target),
            Isolation::Landlock => source.clone(),
        };
        self.mounts.push(Mount {
            source,
            target: at.clone(),
            writable,
        });
        at
    }
}

/// The bounds of a whole sandbox (CPU time is a program's: see [`Job`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxLimits {
    /// Size of the writable /home/user, /tmp and /dev/shm.
    pub disk_bytes: u64,
    /// Memory of the whole sandbox (a cgroup where one is writable).
    pub memory_bytes: u64,
    /// RLIMIT_AS of each program when no memory cgroup can be had.
    pub address_space_fallback: u64,
    /// Processes of the whole sandbox.
    pub processes: u64,
    /// RLIMIT_NOFILE of each program.
    pub open_files: u64,
}

/// A host directory bound into the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    pub source: PathBuf,
    pub target: PathBuf,
    /// Only an install step's output and download cache are ever writable.
    pub writable: bool,
}

/// A program to exec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Program {
    /// The real path of the binary.
    pub path: PathBuf,
    /// Its argv: its usual name (`python3`, so `$0` and `sys.argv` look as
    /// usual), its arguments, the code.
    pub argv: Vec<String>,
    /// Flags put after `argv[0]` when no memory cgroup can be had (Node's
    /// heap cap, which in a cgroup Node derives from the limit).
    pub flags_fallback: Vec<String>,
    /// The complete environment (nothing is inherited).
    pub env: Vec<(String, String)>,
    /// Warm only: the program's process waits, confined, for the go's env
    /// and code on its stdin, and execs only then, the code as its last
    /// argument and the env added to `env` (bash: no interpreter worth
    /// starting ahead, so the exec is exactly a cold one's).
    #[serde(default)]
    pub exec_on_go: bool,
}

/// What one-shot and warm sandboxes run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub program: Program,
    /// RLIMIT_CPU of the program; none when the caller set no CPU limit (the
    /// call's timeout bounds it). A warm sandbox's comes with its [`Go`].
    pub cpu_seconds: Option<u64>,
    pub work: Work,
}

/// Files in and out of the work dir.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Work {
    /// Written into the work dir before the program starts.
    pub files: Vec<WorkFile>,
    /// Work-dir paths read back after the program ends.
    pub read_files: Vec<String>,
    /// The largest file read back.
    pub read_file_cap: u64,
}

/// A file for the work dir: a path relative to it, base64 content.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkFile {
    pub path: String,
    pub content: String,
}

/// How to build one sandbox, and what to run in it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spec {
    pub shape: Shape,
    /// None for a session, which runs what it is asked later.
    pub job: Option<Job>,
    /// Its place on the host, for the namespace-free tier.
    #[serde(default)]
    pub room: Option<Room>,
}

/// The helper's descriptor on which init sends an install step's listening
/// socket (`SCM_RIGHTS`) when the shape has an `egress_port`.
pub const EGRESS_FD: i32 = 3;

/// Reports from the helper, one JSON object per line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The sandbox runs in these cgroups: the host reads and removes them.
    Cgroups { dirs: Vec<PathBuf> },
    /// The program filled its writable disk.
    DiskFull,
    /// The sandbox ran more processes than its limit (counted by the helper
    /// where no pids cgroup or uid of its own counts them).
    TooManyProcesses,
    /// A file read back from the work dir (base64).
    File { path: String, content: String },
    /// A file that could not be read back, and why.
    FileRefused { path: String, reason: String },
    /// The sandbox's init exists; this host pid is the root of its pid namespace,
    /// and killing it kills every process of the sandbox.
    Init { pid: i32 },
    /// What the program and the descendants reaped with it used
    /// (`getrusage(RUSAGE_CHILDREN)`), sent just before `Exited` or
    /// `Signaled`: the kernel's word on the CPU and memory limits, which the
    /// program's output cannot forge.
    Usage { cpu_ms: u64, max_rss_kib: u64 },
    /// The code's process exited with this status.
    Exited { code: i32 },
    /// The code's process was killed by this signal.
    Signaled { signal: i32 },
    /// A pooled sandbox is built and its interpreter started: it waits for its go.
    Ready,
    /// The sandbox could not be built; `layer` names the isolation layer,
    /// `errno` the error the kernel gave, when one did.
    Failed {
        layer: String,
        message: String,
        #[serde(default)]
        errno: Option<i32>,
    },
}
