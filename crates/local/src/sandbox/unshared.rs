//! The tier where namespaces are refused (a default Docker or Kubernetes
//! container): no fresh root, no pid namespace whose init takes everything
//! with it. Instead:
//! - the helper becomes the sandbox's own host uid when the host is root (the
//!   room's uid: the kernel then counts its processes, and no other process
//!   may signal, trace or read it), and the child subreaper of everything
//!   below it, so that no process of the sandbox can leave its tree;
//! - init, its child, runs the mode's main in the room's work dir, and every
//!   program is confined as ever, Landlock reading only system paths;
//! - when init ends (or the host asks with SIGTERM, or the host dies), the
//!   helper kills every process below it and reaps them, then exits. A
//!   one-shot sandbox whose room grows past its disk limit is stopped the
//!   same way, reported as `DiskFull`.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::prctl;
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{
    fork, getppid, setgroups, setresgid, setresuid, setsid, ForkResult, Gid, Pid, Uid,
};

use super::confine::Confinement;
use super::{init_main, Context, Layout, Reporter, Setup, SetupError};
use crate::protocol::{Event, Job, Mode, Room, Spec};

/// How often the helper measures a sandbox against the bounds it watches.
const DISK_WATCH: Duration = Duration::from_millis(100);

pub(super) fn run(
    spec: &Spec,
    job: Option<&Job>,
    layout: &Layout,
    reporter: &Reporter,
) -> Setup<()> {
    let room = spec
        .room
        .as_ref()
        .ok_or_else(|| SetupError::new("protocol", "a sandbox without namespaces needs a room"))?;
    let host = getppid();
    become_the_sandbox(room)?;
    // Everything below the helper stays below it, whatever dies first.
    prctl::set_child_subreaper(true).context("process", || "PR_SET_CHILD_SUBREAPER".into())?;
    // The host's death asks for the same clean-up as its SIGTERM.
    prctl::set_pdeathsig(Signal::SIGTERM).context("process", || "PR_SET_PDEATHSIG".into())?;
    if getppid() != host {
        return Err(SetupError::new(
            "process",
            "the host process exited during set-up",
        ));
    }
    let mut watched = SigSet::empty();
    watched.add(Signal::SIGCHLD);
    watched.add(Signal::SIGTERM);
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&watched), None)
        .context("process", || "blocking SIGCHLD and SIGTERM".into())?;
    let confinement = Confinement {
        shape: &spec.shape,
        cgroup_limits: false,
        layout,
    };
    // SAFETY: the helper is single-threaded; the child sets itself up and
    // runs init's main, then _exits.
    let init = match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let status = start_init(confinement, job, reporter, &watched);
            // SAFETY: _exit skips atexit handlers that belong to the helper.
            unsafe { libc::_exit(status) }
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => return Err(SetupError::new("process", format!("fork: {e}"))),
    };
    reporter.send(&Event::Init { pid: init.as_raw() });
    let bounds = Bounds {
        // A session's room is bounded per file only: stopping its kernels
        // would take its state.
        disk: (spec.shape.mode != Mode::Session).then_some((room, spec.shape.limits.disk_bytes)),
        // Sharing the host's uid, RLIMIT_NPROC counts other processes too.
        tasks: room
            .uid
            .is_none()
            .then_some(spec.shape.limits.processes + 1),
    };
    watch(init, &watched, &bounds, reporter);
    kill_everything_below();
    remove_room(room);
    Ok(())
}

/// The helper is the room's last user, and its owner: it removes the room
/// however the host ends (the host removes it too, should the helper not
/// get to it). The code may have left directories it cannot list or
/// write; they are the room's uid's, as the helper is, and are opened up.
fn remove_room(room: &Room) {
    use std::os::unix::fs::PermissionsExt;
    let Some(dir) = room.home.parent().filter(|d| room.tmp.parent() == Some(*d)) else {
        return;
    };
    if fs::remove_dir_all(dir).is_ok() {
        return;
    }
    let mut queue = vec![dir.to_path_buf()];
    while let Some(dir) = queue.pop() {
        let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(0o700));
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                queue.push(entry.path());
            }
        }
    }
    let _ = fs::remove_dir_all(dir);
}

/// The helper's own credentials: the room's uid and gid when it has them.
fn become_the_sandbox(room: &Room) -> Setup<()> {
    let Some(id) = room.uid else {
        return Ok(());
    };
    // The output pipes are root's: hand them to the sandbox user, so that
    // code can reopen them as /dev/stdout and /dev/stderr.
    for fd in [1, 2] {
        // SAFETY: fchown on our own standard descriptors.
        unsafe { libc::fchown(fd, id, id) };
    }
    super::confine::clear_bounding_set()?;
    setgroups(&[]).context("process", || "dropping supplementary groups".into())?;
    setresgid(Gid::from_raw(id), Gid::from_raw(id), Gid::from_raw(id))
        .context("process", || format!("switching to the sandbox's gid {id}"))?;
    setresuid(Uid::from_raw(id), Uid::from_raw(id), Uid::from_raw(id))
        .context("process", || format!("switching to the sandbox's uid {id}"))
}

/// Init's start: dies with the helper, leaves the host's session and
/// terminal, takes back the signals the helper blocked, runs the mode.
fn start_init(
    confinement: Confinement<'_>,
    job: Option<&Job>,
    reporter: &Reporter,
    watched: &SigSet,
) -> i32 {
    let started = prctl::set_pdeathsig(Signal::SIGKILL)
        .context("process", || "PR_SET_PDEATHSIG".into())
        .and_then(|()| setsid().map(drop).context("process", || "setsid".into()))
        .and_then(|()| {
            sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(watched), None)
                .context("process", || "unblocking signals".into())
        });
    if let Err(e) = started {
        return reporter.failed(e);
    }
    init_main(confinement, job, reporter)
}

/// What the helper watches while the sandbox runs.
struct Bounds<'a> {
    /// The room and its disk limit.
    disk: Option<(&'a Room, u64)>,
    /// The most tasks (processes and threads) below the helper.
    tasks: Option<u64>,
}

/// Reaps until init ends or the host asks with SIGTERM; stops the sandbox's
/// programs when they pass a bound.
fn watch(init: Pid, watched: &SigSet, bounds: &Bounds<'_>, reporter: &Reporter) {
    let timeout = libc::timespec {
        tv_sec: 0,
        tv_nsec: DISK_WATCH.as_nanos() as libc::c_long,
    };
    let mut next_check = Instant::now() + DISK_WATCH;
    loop {
        // SAFETY: sigtimedwait reads the set and the timeout; no siginfo asked.
        let signal =
            unsafe { libc::sigtimedwait(watched.as_ref(), std::ptr::null_mut(), &timeout) };
        match signal {
            libc::SIGTERM => return,
            libc::SIGCHLD if reap_all().contains(&init) => return,
            _ => {}
        }
        // On time, however many children end meanwhile (a fork bomb's do).
        if Instant::now() >= next_check {
            next_check = Instant::now() + DISK_WATCH;
            if let Some(event) = passed(bounds) {
                reporter.send(&event);
                // Init reports how its program ended, then ends (maybe
                // already, reaped on the way).
                if kill_everything_below_but(Some(init)).contains(&init) {
                    return;
                }
            }
        }
    }
}

/// The bound the sandbox passed, if any.
fn passed(bounds: &Bounds<'_>) -> Option<Event> {
    if let Some((room, limit)) = bounds.disk {
        if usage(&room.home) + usage(&room.tmp) > limit {
            return Some(Event::DiskFull);
        }
    }
    let tasks = bounds.tasks?;
    let running: u64 = descendants(Pid::this())
        .iter()
        .map(|pid| threads(*pid))
        .sum();
    (running > tasks).then_some(Event::TooManyProcesses)
}

/// How many threads process `pid` runs (1 if it is gone meanwhile).
fn threads(pid: Pid) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // "pid (comm) state ppid ... num_threads" is the 18th field after comm.
    stat.rfind(')')
        .and_then(|end| stat[end + 2..].split(' ').nth(17)?.parse().ok())
        .unwrap_or(1)
}

/// Reaps every child that ended; returns their pids.
fn reap_all() -> Vec<Pid> {
    let mut reaped = Vec::new();
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, _) | WaitStatus::Signaled(pid, _, _)) => reaped.push(pid),
            Ok(WaitStatus::StillAlive) | Err(_) => return reaped,
            Ok(_) => {}
        }
    }
}

/// Kills every process below the helper and reaps them all.
fn kill_everything_below() {
    // Every process below the helper descends from a child of it (orphans
    // come to it, the subreaper): with no child, there is nothing to find
    // in /proc. The usual end: the program and init are reaped already.
    if matches!(
        waitpid(None, Some(WaitPidFlag::WNOHANG)),
        Err(nix::errno::Errno::ECHILD)
    ) {
        return;
    }
    kill_everything_below_but(None);
    while waitpid(None, None).is_ok() {}
}

/// Kills every process below the helper but `spare`, until none is left:
/// those whose parent dies come to the helper, the subreaper, and are found
/// on the next round. Returns the children it reaped meanwhile.
fn kill_everything_below_but(spare: Option<Pid>) -> Vec<Pid> {
    let me = Pid::this();
    let mut reaped = Vec::new();
    loop {
        let below: Vec<Pid> = descendants(me)
            .into_iter()
            .filter(|pid| Some(*pid) != spare)
            .collect();
        if below.is_empty() {
            return reaped;
        }
        for pid in &below {
            let _ = kill(*pid, Signal::SIGKILL);
        }
        reaped.extend(reap_all());
    }
}

/// Every live process below `root`, from /proc (no pid namespace to ask).
fn descendants(root: Pid) -> Vec<Pid> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold anything but the last ')'.
        let fields: Vec<&str> = stat[stat.rfind(')').map_or(0, |i| i + 2)..]
            .split(' ')
            .collect();
        if fields.first() == Some(&"Z") {
            continue;
        }
        if let Some(ppid) = fields.get(1).and_then(|p| p.parse::<i32>().ok()) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    let mut queue = vec![root.as_raw()];
    while let Some(parent) = queue.pop() {
        for &child in children.get(&parent).into_iter().flatten() {
            if seen.insert(child) {
                found.push(Pid::from_raw(child));
                queue.push(child);
            }
        }
    }
    found
}

/// Bytes a directory tree takes on disk (what a tmpfs limit would count).
/// The helper owns the room as the code does, so a directory the code made
/// unreadable is made readable again rather than left uncounted.
pub(super) fn usage(dir: &Path) -> u64 {
    use std::os::unix::fs::PermissionsExt;
    let mut total = 0;
    let mut queue = vec![dir.to_path_buf()];
    while let Some(dir) = queue.pop() {
        let listing = fs::read_dir(&dir).or_else(|_| {
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
            fs::read_dir(&dir)
        });
        for entry in listing.into_iter().flatten().flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            total += meta.blocks() * 512;
            if meta.is_dir() {
                queue.push(entry.path());
            }
        }
    }
    total
}

/// How many tasks (threads) this process's real uid runs now: what
/// RLIMIT_NPROC counts.
pub(super) fn tasks_of_this_uid() -> u64 {
    let uid = nix::unistd::getuid().as_raw();
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.metadata().is_ok_and(|m| m.uid() == uid))
        .filter_map(|e| fs::read_dir(e.path().join("task")).ok())
        .map(|tasks| tasks.count() as u64)
        .sum()
}
