//! Every sandbox this process has running, so that they can all be killed at
//! once when Node exits, whatever way it exits. A pool's sandboxes are here
//! too, marked as pooled until a call takes one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::protocol::Isolation;

#[derive(Clone, Copy)]
struct Pids {
    helper: Option<i32>,
    init: Option<i32>,
    /// Waiting in a pool (or being prepared for one), not running a call.
    pooled: bool,
    isolation: Isolation,
}

static LIVE: Mutex<Option<HashMap<u64, Pids>>> = Mutex::new(None);
/// The pools' fork servers: part of no sandbox, but of this process, and
/// the parents of the helpers they fork.
static FORK_SERVERS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

fn fork_servers() -> std::sync::MutexGuard<'static, Vec<i32>> {
    FORK_SERVERS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts a fork server with `spawn` and registers it (until
/// [`fork_server_ended`]), under the list's lock, as [`Guard::register`]
/// does for helpers: whoever sees the process and then asks
/// [`pooled_pids`] finds it.
pub(crate) fn fork_server_spawn(
    spawn: impl FnOnce() -> std::io::Result<std::process::Child>,
) -> std::io::Result<std::process::Child> {
    let mut servers = fork_servers();
    let child = spawn()?;
    servers.push(child.id() as i32);
    Ok(child)
}

/// A fork server has been reaped: its pid is not to be signalled again.
pub(crate) fn fork_server_ended(pid: i32) {
    fork_servers().retain(|p| *p != pid);
}
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn with_live<T>(f: impl FnOnce(&mut HashMap<u64, Pids>) -> T) -> T {
    let mut live = LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    f(live.get_or_insert_with(HashMap::new))
}

fn kill_pids(pids: Pids) {
    let signal = |pid: Option<i32>, signal| {
        if let Some(pid) = pid {
            let _ = kill(Pid::from_raw(pid), signal);
        }
    };
    match pids.isolation {
        // Killing init first takes the whole pid namespace down with it.
        Isolation::Namespaces => {
            signal(pids.init, Signal::SIGKILL);
            signal(pids.helper, Signal::SIGKILL);
        }
        // The helper kills everything below it, then ends: it must live
        // to do so, and SIGTERM asks it to (so does init's end).
        Isolation::Landlock => {
            signal(pids.init, Signal::SIGKILL);
            signal(pids.helper, Signal::SIGTERM);
        }
    }
}

/// Kills every sandbox of this process, synchronously: for `process.on('exit')`
/// and the env cleanup hook, where nothing asynchronous runs any more. Their
/// rooms go too.
pub fn kill_all() -> usize {
    let all: Vec<Pids> = with_live(|live| live.values().copied().collect());
    all.iter().for_each(|p| kill_pids(*p));
    for server in fork_servers().iter() {
        let _ = kill(Pid::from_raw(*server), Signal::SIGKILL);
    }
    crate::room::remove_all();
    all.len()
}

/// For this process's exit: [`kill_all`], and no room made after it (a
/// preparation still running would leave its room behind).
pub fn shut_down() -> usize {
    crate::room::refuse_new();
    kill_all()
}

/// How many sandboxes this process has running calls in (pooled ones wait).
pub fn live_count() -> usize {
    with_live(|live| live.values().filter(|p| !p.pooled).count())
}

/// The helper pids of the sandboxes waiting in a pool or being prepared for
/// one (every process of such a sandbox descends from its helper), and the
/// pids of the pools' fork servers (whose children are helpers).
pub fn pooled_pids() -> Vec<i32> {
    let mut pids: Vec<i32> = with_live(|live| {
        live.values()
            .filter(|p| p.pooled)
            .filter_map(|p| p.helper)
            .collect()
    });
    pids.extend(fork_servers().iter());
    pids
}

/// One sandbox's entry: kills it when dropped, whatever path drops it (return,
/// `?`, timeout, a cancelled future, a panic).
pub(crate) struct Guard {
    id: u64,
}

impl Guard {
    /// Starts a helper with `start` and registers it, under the registry's
    /// lock: whoever sees the process and then asks [`pooled_pids`] finds it.
    /// A forked helper is reaped by the fork server rather than here: its
    /// pid may be reused between its end and [`Guard::reaped`], a window of
    /// a moment in which a kill would need the whole pid space to wrap.
    pub(crate) fn register(
        pooled: bool,
        isolation: Isolation,
        start: impl FnOnce() -> std::io::Result<crate::launch::Process>,
    ) -> std::io::Result<(crate::launch::Process, Guard)> {
        with_live(|live| {
            let child = start()?;
            let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            let pids = Pids {
                helper: child.id().map(|pid| pid as i32),
                init: None,
                pooled,
                isolation,
            };
            live.insert(id, pids);
            Ok((child, Guard { id }))
        })
    }

    /// A pooled sandbox now runs a call.
    pub(crate) fn serving(&self) {
        with_live(|live| live.get_mut(&self.id).map(|p| p.pooled = false));
    }

    pub(crate) fn set_init(&self, pid: i32) {
        with_live(|live| live.get_mut(&self.id).map(|p| p.init = Some(pid)));
    }

    pub(crate) fn kill(&self) {
        if let Some(pids) = with_live(|live| live.get(&self.id).copied()) {
            kill_pids(pids);
        }
    }

    /// The helper has been reaped: its pid (and init's) may be reused now and
    /// must never be signalled again.
    pub(crate) fn reaped(&self) {
        with_live(|live| live.remove(&self.id));
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.kill();
        self.reaped();
    }
}
