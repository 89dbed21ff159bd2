//! What this host gives the local sandbox: each isolation layer and limit
//! mechanism, whether it is active, and for each one that is not, the fix. The
//! namespace, capability and seccomp rows come from a real probe sandbox, so the
//! report is what a call would get, not what the kernel version suggests.

use e2b_native_core::{CancellationToken, Error, Language, Request};

use crate::{cgroup, tier, LocalBackend};

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
    "grep -E '^(CapPrm|CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; cat /proc/self/uid_map";

pub async fn diagnose(backend: &LocalBackend) -> Vec<Check> {
    let probe = backend
        .execute(
            &Request::new(Language::Bash, PROBE),
            &CancellationToken::new(),
        )
        .await;
    let probed = tier::probe(&backend.config.helper, false).await;
    let mut checks = vec![
        tier_row(
            probe
                .as_ref()
                .map(|o| o.isolation)
                .map_err(ToString::to_string),
        ),
        namespaces_row(&probed.namespaces, probe.is_ok()),
    ];
    let unshared = matches!(&probe, Ok(o) if o.isolation == "landlock");
    checks.extend(process_rows(probe.ok().map(|o| o.stdout).as_deref()));
    checks.push(host_user(unshared));
    checks.push(landlock());
    checks.extend(limit_rows(unshared));
    checks.extend(Language::ALL.map(|language| interpreter(backend, language)));
    checks
}

/// The tier calls get, and what it cannot promise.
fn tier_row(ran: Result<&'static str, String>) -> Check {
    match ran {
        Ok("namespaces") => check(
            "tier",
            Status::Active,
            "namespaces: the full tier (namespaces, Landlock, seccomp, cgroup or rlimit limits)",
            None,
        ),
        Ok(tier) => check(
            "tier",
            Status::Fallback,
            format!(
                "{tier}: no namespaces here, so sandboxes run under Landlock, seccomp and rlimits (as a \
                 uid of their own when Node is root). It cannot hide other processes in /proc (their command lines show), \
                 gives no private /home/user or /tmp (each call gets its own dirs), and limits \
                 memory per process rather than per sandbox (SECURITY.md, \"Isolation tiers\")"
            ),
            Some(
                "isolation: \"namespaces\" (or E2B_NATIVE_ISOLATION=namespaces) refuses this tier; \
                 the namespaces row says how to get the full one",
            ),
        ),
        Err(e) => check(
            "tier",
            Status::Missing,
            e,
            Some("the local backend cannot run here: follow the message above, or use the e2b backend"),
        ),
    }
}

/// Whether the namespace tier works here, and if not, the exact change
/// (a fallback while the landlock tier stands in).
fn namespaces_row(found: &Result<(), Error>, another_tier_runs: bool) -> Check {
    match found {
        Ok(()) => check(
            "namespaces",
            Status::Active,
            "user, pid, mount, network, ipc, uts and cgroup namespaces; a fresh read-only root",
            None,
        ),
        Err(e) => check(
            "namespaces",
            if another_tier_runs {
                Status::Fallback
            } else {
                Status::Missing
            },
            "this host refuses them",
            Some(e.to_string().as_str()),
        ),
    }
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
    let no_new_privs = field("NoNewPrivs:").as_deref() == Some("1");
    // Without privilege the bounding set cannot be cleared; holding nothing
    // under no_new_privs, the program can never use it.
    let unused_bounding = zero("CapPrm:") && no_new_privs;
    vec![
        row(
            "capabilities",
            zero("CapEff:") && (zero("CapBnd:") || unused_bounding),
            if zero("CapBnd:") {
                "none: effective and bounding sets empty"
            } else {
                "none: effective and permitted sets empty, and no_new_privs keeps the bounding set unusable"
            },
            "the probe still held capabilities",
        ),
        row(
            "no_new_privs",
            no_new_privs,
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

fn host_user(landlock: bool) -> Check {
    let uid = nix::unistd::geteuid();
    let detail = match (uid.is_root(), landlock) {
        (true, false) => {
            "Node runs as root: each sandbox runs as its own host uid (40000-60000), never as \
             root; package installs as 65534 (nobody), which owns the package cache"
                .into()
        }
        (true, true) => "Node runs as root: each sandbox runs as its own host uid (40000-60000), \
                         which no other sandbox shares"
            .into(),
        (false, false) => format!("sandboxes run as your uid {uid} (mapped to uid 1000 inside)"),
        (false, true) => {
            return check(
                "host user",
                Status::Fallback,
                format!(
                    "sandboxes share your uid {uid}: Landlock's signal and ptrace scoping keep \
                     them from this process, which is made non-dumpable"
                ),
                Some("run Node as root in the container, so that each sandbox gets its own uid"),
            )
        }
    };
    check("host user", Status::Active, detail, None)
}

fn limit_rows(landlock: bool) -> Vec<Check> {
    if landlock {
        return landlock_limit_rows();
    }
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
    ]
    .into_iter()
    .chain(tier_free_limit_rows())
    .collect()
}

/// The limits every tier enforces the same way.
fn tier_free_limit_rows() -> [Check; 2] {
    [
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

/// The landlock tier has no cgroups and no private tmpfs: per-process
/// rlimits, and the helper's own watch over the sandbox's processes and room.
fn landlock_limit_rows() -> Vec<Check> {
    let fallback = |layer, detail: &str| check(layer, Status::Fallback, detail, None);
    vec![
        fallback(
            "memory limit",
            "RLIMIT_AS per process (Python, Bash) and V8's heap cap (Node), not the sandbox's sum",
        ),
        fallback(
            "process limit",
            "RLIMIT_NPROC of the sandbox's own uid (root), or the helper counting the sandbox's tasks (TooManyProcesses)",
        ),
        fallback(
            "disk limit",
            "RLIMIT_FSIZE per file, and the helper stops a sandbox whose work dir grows past the limit",
        ),
    ]
    .into_iter()
    .chain(tier_free_limit_rows())
    .collect()
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
