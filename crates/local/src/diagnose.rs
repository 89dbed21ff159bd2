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
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Fallback => "fallback",
            Status::Missing => "missing",
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
    use Status::*;
    let mut checks = Vec::new();
    let probe = backend
        .execute(
            &Request::new(Language::Bash, PROBE),
            &CancellationToken::new(),
        )
        .await;
    match &probe {
        Ok(_) => checks.push(check(
            "namespaces",
            Active,
            "user, pid, mount, network, ipc, uts and cgroup namespaces; a fresh read-only root",
            None,
        )),
        Err(e) => checks.push(check(
            "namespaces",
            Missing,
            e.to_string(),
            Some("the local backend cannot run here: follow the message above, or use the e2b backend"),
        )),
    }
    let status = probe.map(|o| o.stdout).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
    };
    let zero_caps = field("CapEff:").is_some_and(|v| v.trim_start_matches('0').is_empty())
        && field("CapBnd:").is_some_and(|v| v.trim_start_matches('0').is_empty());
    checks.push(if zero_caps {
        check(
            "capabilities",
            Active,
            "none: effective and bounding sets empty",
            None,
        )
    } else {
        check(
            "capabilities",
            Missing,
            "could not verify that capabilities are dropped",
            None,
        )
    });
    checks.push(match field("NoNewPrivs:").as_deref() {
        Some("1") => check(
            "no_new_privs",
            Active,
            "setuid bits and file capabilities grant nothing",
            None,
        ),
        _ => check(
            "no_new_privs",
            Missing,
            "could not verify no_new_privs",
            None,
        ),
    });
    checks.push(match field("Seccomp:").as_deref() {
        Some("2") => check(
            "seccomp",
            Active,
            "filter denies mount, namespaces, ptrace, bpf, io_uring, keyctl, non-unix sockets, …",
            None,
        ),
        _ => check(
            "seccomp",
            Missing,
            "the probe ran without a seccomp filter",
            Some("use a kernel built with CONFIG_SECCOMP_FILTER"),
        ),
    });
    let root = nix::unistd::geteuid().is_root();
    checks.push(check(
        "host user",
        Active,
        if root {
            "Node runs as root: sandboxes run as host uid/gid 65534 (nobody), never as root"
                .to_string()
        } else {
            format!(
                "sandboxes run as your uid {} (mapped to uid 1000 inside)",
                nix::unistd::geteuid()
            )
        },
        None,
    ));
    checks.push(landlock());
    match cgroup::available() {
        Ok(()) => {
            checks.push(check(
                "memory limit",
                Active,
                "cgroup v1 memory controller, whole sandbox",
                None,
            ));
            checks.push(check(
                "process limit",
                Active,
                "cgroup v1 pids controller, whole sandbox",
                None,
            ));
        }
        Err(why) => {
            let fix = "run Node as root on a cgroup v1 host, or (cgroup v2) start it in a delegated cgroup";
            checks.push(check(
                "memory limit",
                Fallback,
                format!("RLIMIT_AS per process (Python, Bash) and V8's heap cap (Node): {why}"),
                Some(fix),
            ));
            checks.push(check(
                "process limit",
                Fallback,
                format!("RLIMIT_NPROC, counted in the sandbox's user namespace: {why}"),
                Some(fix),
            ));
        }
    }
    checks.push(check(
        "disk limit",
        Active,
        "size-limited tmpfs for /home/user, /tmp and /dev/shm",
        None,
    ));
    checks.push(check(
        "cpu time, open files",
        Active,
        "RLIMIT_CPU and RLIMIT_NOFILE per process",
        None,
    ));
    checks.push(check(
        "output limit",
        Active,
        "each stream capped by the host; memory bounded by the cap",
        None,
    ));
    for language in Language::ALL {
        checks.push(match backend.interpreter(language) {
            Ok(i) => check(
                interpreter_layer(language),
                Active,
                i.path.display().to_string(),
                None,
            ),
            Err(e) => check(
                interpreter_layer(language),
                Missing,
                e.to_string(),
                Some("install it, or set interpreters in the options"),
            ),
        });
    }
    checks
}

fn interpreter_layer(language: Language) -> &'static str {
    match language {
        Language::Python => "interpreter: python",
        Language::Node => "interpreter: node",
        Language::Bash => "interpreter: bash",
    }
}

fn landlock() -> Check {
    const WANTED: i64 = 6;
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
