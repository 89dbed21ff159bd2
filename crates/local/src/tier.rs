//! Which isolation tier this host gives, decided once per helper by trying
//! each: a one-shot sandbox that runs `sh -c 'exit 0'`, first with
//! namespaces, then (where those are refused) without. The service's
//! `isolation` option either lets it take the strongest that works
//! (`auto`) or requires one, so that calls reject instead of degrading.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use e2b_native_core::{CancellationToken, Error, Language, Limits, Request};
use tokio::sync::OnceCell;

use crate::protocol::{Isolation, Job, Mode, Program, Spec, Work};

/// What each tier's probe found on this host.
#[derive(Debug, Clone)]
pub(crate) struct Probed {
    pub namespaces: Result<(), Error>,
    /// Tried only when namespaces are refused or the landlock tier is wanted.
    pub landlock: Option<Result<(), Error>>,
}

/// Each helper's probes, each made once: a result is cached whether it
/// found the tier or not.
#[derive(Default)]
struct Probes {
    namespaces: OnceCell<Result<(), Error>>,
    landlock: OnceCell<Result<(), Error>>,
}

static PROBED: Mutex<Option<HashMap<PathBuf, Arc<Probes>>>> = Mutex::new(None);

/// The tier sandboxes of `helper` get: `wanted`, or with `None` the
/// strongest this host allows.
pub(crate) async fn decide(helper: &Path, wanted: Option<Isolation>) -> Result<Isolation, Error> {
    let decided = choose(helper, wanted).await;
    if decided == Ok(Isolation::Landlock) && !nix::unistd::geteuid().is_root() {
        // Sandboxes then share this process's uid: made non-dumpable, its
        // /proc files (environment, memory, descriptors) become root's, so
        // that they cannot read them.
        let _ = nix::sys::prctl::set_dumpable(false);
    }
    decided
}

async fn choose(helper: &Path, wanted: Option<Isolation>) -> Result<Isolation, Error> {
    let probed = probe(helper, wanted == Some(Isolation::Landlock)).await;
    let landlock = || probed.landlock.clone().unwrap_or(Ok(()));
    match wanted {
        Some(Isolation::Namespaces) => {
            probed
                .namespaces
                .map(|()| Isolation::Namespaces)
                .map_err(|e| {
                    Error::IsolationUnavailable(format!(
                "{e}\nThis service requires the namespace tier (isolation: \"namespaces\"); \
                 allow the namespace-free tier with isolation: \"auto\" to run here anyway."
            ))
                })
        }
        Some(Isolation::Landlock) => landlock().map(|()| Isolation::Landlock),
        None => match (&probed.namespaces, landlock()) {
            (Ok(()), _) => Ok(Isolation::Namespaces),
            (Err(_), Ok(())) => Ok(Isolation::Landlock),
            (Err(full), Err(free)) => Err(Error::IsolationUnavailable(format!(
                "no sandbox can be built on this host. With namespaces: {full}\n\
                 Without namespaces: {free}"
            ))),
        },
    }
}

/// Both probes' findings for `helper`, each made once per process: the
/// landlock probe once namespaces are refused, or when `landlock` asks
/// for it.
pub(crate) async fn probe(helper: &Path, landlock: bool) -> Probed {
    let probes = {
        let mut all = PROBED.lock().unwrap_or_else(|p| p.into_inner());
        all.get_or_insert_with(HashMap::new)
            .entry(helper.to_path_buf())
            .or_default()
            .clone()
    };
    let namespaces = probes
        .namespaces
        .get_or_init(|| try_tier(helper, Isolation::Namespaces))
        .await
        .clone();
    let landlock = if landlock || namespaces.is_err() {
        Some(
            probes
                .landlock
                .get_or_init(|| try_tier(helper, Isolation::Landlock))
                .await
                .clone(),
        )
    } else {
        None
    };
    Probed {
        namespaces,
        landlock,
    }
}

/// Builds a sandbox of tier `isolation` that runs `sh -c 'exit 0'`.
async fn try_tier(helper: &Path, isolation: Isolation) -> Result<(), Error> {
    if isolation == Isolation::Landlock {
        landlock_is_enough()?;
    }
    let sh = std::fs::canonicalize("/bin/sh")
        .map_err(|e| Error::InterpreterUnavailable(format!("no /bin/sh on this host: {e}")))?;
    let limits = Limits::default();
    let spec = Spec {
        shape: crate::shape::shape(Mode::OneShot, &limits, &[], isolation),
        job: Some(Job {
            program: Program {
                path: sh,
                argv: ["sh", "-c", "exit 0"].map(String::from).to_vec(),
                flags_fallback: Vec::new(),
                env: Vec::new(),
                exec_on_go: false,
            },
            cpu_seconds: None,
            work: Work::default(),
        }),
        room: None,
    };
    let request = Request::new(Language::Bash, "");
    let outcome = crate::run::run(helper, spec, &request, &CancellationToken::new(), None).await?;
    match outcome.exit_code {
        0 => Ok(()),
        code => Err(Error::IsolationUnavailable(format!(
            "a probe sandbox ran but its program failed (exit {code}): {}",
            outcome.stderr.trim()
        ))),
    }
}

/// Without namespaces, Landlock confines the filesystem; and where the
/// sandbox shares this process's uid (not root), only Landlock's scoping
/// (ABI 6, Linux 6.12) keeps it from signalling this process.
fn landlock_is_enough() -> Result<(), Error> {
    let abi = crate::diagnose::landlock_abi();
    let root = nix::unistd::geteuid().is_root();
    match (abi, root) {
        (Some(abi), _) if abi >= 6 => Ok(()),
        (Some(_), true) => Ok(()),
        (Some(abi), false) => Err(Error::IsolationUnavailable(format!(
            "this kernel's Landlock (ABI {abi}) cannot keep a sandbox that shares your uid from \
             signalling your processes: run Node as root in the container (sandboxes then get \
             uids of their own), or on Linux 6.12 or newer"
        ))),
        (None, _) => Err(Error::IsolationUnavailable(
            "this kernel has no Landlock, the filesystem isolation of sandboxes without \
             namespaces: use Linux 5.13 or newer with Landlock enabled (`lsm=landlock,...`)"
                .into(),
        )),
    }
}
