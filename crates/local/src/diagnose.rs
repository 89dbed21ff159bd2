//! What this host gives the local sandbox: each isolation layer and limit
//! mechanism, whether it is active, and for each one that is not, the fix. The
//! namespace, capability and seccomp rows come from a real probe sandbox, so the
//! report is what a call would get, not what the kernel version suggests.

use e2b_native_core::{CancellationToken, Language, Request};

use crate::{cgroup, LocalBackend};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The layer protects every sandbox.
    Active,
    /// A weaker mechanism stands in; `detail` says which.
    Fallback,
    /// Not available; `fix` says what to change.
    Missing,
    /// Could not be probed (no sandbox could be built to look from).
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Fallback => "fallback",
            Status::Missing => "missing",
            Status::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Check {
    pub layer: &'static str,
    pub status: Status,
    pub detail: String,
    pub fix: Option<String>,
}

fn check(
    layer: &'static str,
    status: Status,
    detail: impl Into<String>,
    fix: Option<&str>,
) -> Check {
    Check {
        layer,
        status,
        detail: detail.into(),
        fix: fix.map(String::from),
    }
}

const PROBE: &str =
    "grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; cat /proc/self/uid_map";

pub async fn diagnose(backend: &LocalBackend) -> Vec<Check> {
    let probe = backend
        .execute(
            &Request::new(Language::Bash, PROBE),
            &CancellationToken::new(),
        )
        .await;
    let mut checks = vec![match &probe {
        Ok(_) => check(
            "namespaces",
            Status::Active,
            "user, pid, mount, network, ipc, uts and cgroup namespaces; a fresh read-only root",
            None,
        ),
        Err(e) => check(
            "namespaces",
            Status::Missing,
            e.to_string(),
            Some("the local backend cannot run here: follow the message above, or use the e2b backend"),
        ),
    }];
    checks.extend(process_rows(probe.ok().map(|o| o.stdout).as_deref()));
    checks.push(host_user());
    checks.push(landlock());
    checks.extend(limit_rows());
    checks.extend(Language::ALL.map(|language| interpreter(backend, language)));
    checks
}

/// What the probe program saw of its own process: capabilities,
/// no_new_privs, seccomp. `None`: no probe ran, so nothing is known.
fn process_rows(status: Option<&str>) -> Vec<Check> {
    let Some(status) = status else {
        return ["capabilities", "no_new_privs", "seccomp"]
            .map(|layer| {
                check(
                    layer,
                    Status::Unknown,
                    "not probed: no sandbox could be built (see namespaces)",
                    None,
                )
            })
            .to_vec();
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
    };
    let zero = |name: &str| field(name).is_some_and(|v| v.trim_start_matches('0').is_empty());
    let row = |layer, ok: bool, active: &str, missing: &str| match ok {
        true => check(layer, Status::Active, active, None),
        false => check(layer, Status::Missing, missing, None),
    };
    vec![
        row(
            "capabilities",
            zero("CapEff:") && zero("CapBnd:"),
            "none: effective and bounding sets empty",
            "the probe still held capabilities",
        ),
        row(
            "no_new_privs",
            field("NoNewPrivs:").as_deref() == Some("1"),
            "setuid bits and file capabilities grant nothing",
            "the probe ran without no_new_privs",
        ),
        row(
            "seccomp",
            field("Seccomp:").as_deref() == Some("2"),
            "filter denies mount, namespaces, ptrace, bpf, io_uring, keyctl, non-unix sockets, …",
            "the probe ran without a seccomp filter",
        ),
    ]
}

fn host_user() -> Check {
    let uid = nix::unistd::geteuid();
    let detail = match uid.is_root() {
        true => "Node runs as root: sandboxes run as host uid/gid 65534 (nobody), never as root"
            .to_string(),
        false => format!("sandboxes run as your uid {uid} (mapped to uid 1000 inside)"),
    };
    check("host user", Status::Active, detail, None)
}

fn limit_rows() -> Vec<Check> {
    let (memory, processes) = match cgroup::available() {
        Ok(()) => (
            check(
                "memory limit",
                Status::Active,
                "cgroup v1 memory controller, whole sandbox",
                None,
            ),
            check(
                "process limit",
                Status::Active,
                "cgroup v1 pids controller, whole sandbox",
                None,
            ),
        ),
        Err(why) => {
            let fix = "run Node as root on a cgroup v1 host, or (cgroup v2) start it in a delegated cgroup";
            (
                check(
                    "memory limit",
                    Status::Fallback,
                    format!("RLIMIT_AS per process (Python, Bash) and V8's heap cap (Node): {why}"),
                    Some(fix),
                ),
                check(
                    "process limit",
                    Status::Fallback,
                    format!("RLIMIT_NPROC, counted in the sandbox's user namespace: {why}"),
                    Some(fix),
                ),
            )
        }
    };
    vec![
        memory,
        processes,
        check(
            "disk limit",
            Status::Active,
            "size-limited tmpfs for /home/user, /tmp and /dev/shm",
            None,
        ),
        check(
            "cpu time, open files",
            Status::Active,
            "RLIMIT_CPU (when set) and RLIMIT_NOFILE per process",
            None,
        ),
        check(
            "output limit",
            Status::Active,
            "each stream capped by the host; memory bounded by the cap",
            None,
        ),
    ]
}

fn interpreter(backend: &LocalBackend, language: Language) -> Check {
    match backend.interpreter(language) {
        Ok(i) => check(
            interpreter_layer(language),
            Status::Active,
            i.path.display().to_string(),
            None,
        ),
        Err(e) => check(
            interpreter_layer(language),
            Status::Missing,
            e.to_string(),
            Some("install it, or set interpreters in the options"),
        ),
    }
}

fn interpreter_layer(language: Language) -> &'static str {
    match language {
        Language::Python => "interpreter: python",
        Language::Node => "interpreter: node",
        Language::Bash => "interpreter: bash",
    }
}

/// The Landlock ABI this kernel offers, if any.
pub(crate) fn landlock_abi() -> Option<i64> {
    // SAFETY: landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)
    // only returns the ABI version (or an error) and touches no memory.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    (abi >= 1).then_some(abi)
}

fn landlock() -> Check {
    const WANTED: i64 = 6;
    let abi = landlock_abi().unwrap_or(-1);
    let fix = "use Linux 6.7 or newer with Landlock enabled (CONFIG_SECURITY_LANDLOCK, `landlock` in the lsm= boot parameter)";
    match abi {
        n if n >= WANTED => check("landlock", Status::Active, format!("ABI {n}: filesystem, TCP, signal and abstract-socket rules"), None),
        n if n >= 1 => check(
            "landlock",
            Status::Fallback,
            format!("ABI {n} (< {WANTED}): only part of the rules are enforced; the other layers still hold"),
            Some(fix),
        ),
        _ => check("landlock", Status::Missing, format!("not available: {}", nix::errno::Errno::last()), Some(fix)),
    }
}
