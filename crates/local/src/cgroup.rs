//! Memory and process limits through cgroup v1, where this host has it and the
//! caller is root (as here). The helper creates `e2b-native/<its pid>` under the
//! memory and pids hierarchies before dropping root; init moves itself in
//! before it does anything else, so every process of the sandbox is counted; the host
//! reads what was hit and removes the groups once the sandbox is gone.
//! Elsewhere rlimits stand in (see `sandbox::exec`), and `diagnose()` says so.

use std::fs;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use e2b_native_core::Limit;

const ROOT: &str = "/sys/fs/cgroup";
const GROUP: &str = "e2b-native";

/// The v1 hierarchies used, and the file that proves each is there.
const CONTROLLERS: [(&str, &str); 2] = [
    ("memory", "memory.limit_in_bytes"),
    ("pids", "cgroup.procs"),
];

/// Whether the memory and pids controllers can be used by this process.
pub(crate) fn available() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("cgroup v1 hierarchies are writable only by root, and this host has no delegated cgroup v2".into());
    }
    for (controller, probe) in CONTROLLERS {
        if !Path::new(ROOT).join(controller).join(probe).exists() {
            return Err(format!(
                "no cgroup v1 {controller} controller at {ROOT}/{controller}"
            ));
        }
    }
    Ok(())
}

/// A sandbox's groups as the helper created them, with their limits. Their
/// `tasks` files are opened while the helper is still root: cgroup v1 checks
/// the opener's credentials, so init can use them after root is gone.
pub(crate) struct NewGroups {
    pub dirs: Vec<PathBuf>,
    tasks: Vec<fs::File>,
}

impl NewGroups {
    /// Init side: moves the calling thread into every group. Init is
    /// single-threaded, so that is all of it; and a thread that moves itself
    /// skips cgroup v1's global lock, whose first taking after a quiet spell
    /// waits for an RCU grace period (a move by pid: 6-15 ms; this: 0.2 ms).
    pub(crate) fn enter(&self) -> Result<(), String> {
        for (file, dir) in self.tasks.iter().zip(&self.dirs) {
            (&*file)
                .write_all(b"0")
                .map_err(|e| format!("joining {}: {e}", dir.display()))?;
        }
        Ok(())
    }

    /// The memory group's directory.
    pub(crate) fn memory_dir(&self) -> &Path {
        &self.dirs[0] // CONTROLLERS' order
    }

    /// The descriptors, for init to close once it is in.
    pub(crate) fn fds(&self) -> Vec<i32> {
        self.tasks.iter().map(|f| f.as_raw_fd()).collect()
    }

    /// Removes the groups, which nothing has joined.
    pub(crate) fn abandon(self) {
        drop(self.tasks);
        remove(&self.dirs);
    }
}

/// Helper side, as root: creates this sandbox's groups and sets the limits.
pub(crate) fn create(memory_bytes: u64, processes: u64) -> Result<NewGroups, String> {
    available()?;
    let pid = std::process::id();
    let mut groups = NewGroups {
        dirs: Vec::new(),
        tasks: Vec::new(),
    };
    let result = (|| {
        for (controller, _) in CONTROLLERS {
            let parent = Path::new(ROOT).join(controller).join(GROUP);
            match fs::create_dir(&parent) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(format!("mkdir {}: {e}", parent.display())),
            }
            let dir = parent.join(pid.to_string());
            fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
            groups.dirs.push(dir.clone());
            let write = |file: &str, value: String| {
                fs::write(dir.join(file), &value)
                    .map_err(|e| format!("writing {value} to {}/{file}: {e}", dir.display()))
            };
            if controller == "memory" {
                write("memory.limit_in_bytes", memory_bytes.to_string())?;
                // Without swap accounting the file is absent; with it, swap counts too.
                if dir.join("memory.memsw.limit_in_bytes").exists() {
                    write("memory.memsw.limit_in_bytes", memory_bytes.to_string())?;
                }
            } else {
                write("pids.max", processes.to_string())?;
            }
            let tasks = fs::OpenOptions::new()
                .write(true)
                .open(dir.join("tasks"))
                .map_err(|e| format!("opening {}/tasks: {e}", dir.display()))?;
            groups.tasks.push(tasks);
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(groups),
        Err(e) => {
            groups.abandon();
            Err(e)
        }
    }
}

/// One sandbox's groups, removed when dropped — after a normal end as after a
/// dropped call — on a thread of their own, since rmdir may have to wait for
/// the last killed processes to exit.
#[derive(Default)]
pub(crate) struct Groups(pub Vec<PathBuf>);

impl Groups {
    /// Removes the groups now, on this thread.
    pub(crate) fn remove_now(mut self) {
        remove(&std::mem::take(&mut self.0));
    }
}

impl Drop for Groups {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let dirs = std::mem::take(&mut self.0);
            std::thread::spawn(move || remove(&dirs));
        }
    }
}

/// Host side, once the sandbox is gone: which limit, if any, was hit.
pub(crate) fn limit_hit(dirs: &[PathBuf]) -> Option<Limit> {
    let counter = |dir: &Path, file: &str, key: &str| -> u64 {
        fs::read_to_string(dir.join(file))
            .ok()
            .and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix(key).and_then(|v| v.trim().parse().ok()))
            })
            .unwrap_or(0)
    };
    let memory = dirs
        .iter()
        .find(|d| d.starts_with(Path::new(ROOT).join("memory")));
    let pids = dirs
        .iter()
        .find(|d| d.starts_with(Path::new(ROOT).join("pids")));
    if memory.is_some_and(|d| counter(d, "memory.oom_control", "oom_kill ") > 0) {
        return Some(Limit::Memory);
    }
    if pids.is_some_and(|d| counter(d, "pids.events", "max ") > 0) {
        return Some(Limit::Processes);
    }
    None
}

/// Removes the groups once their processes are gone; the last killed ones may
/// still be exiting, so rmdir is retried for a moment.
pub(crate) fn remove(dirs: &[PathBuf]) {
    for dir in dirs {
        for _ in 0..50 {
            match fs::remove_dir(dir) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(std::time::Duration::from_millis(2))
                }
                _ => break,
            }
        }
    }
}

/// Removes groups left by helpers that died with their host (SIGKILL): a group
/// is named by its helper's pid, and rmdir only succeeds on an empty group.
pub(crate) fn sweep_stale() {
    for (controller, _) in CONTROLLERS {
        let Ok(entries) = fs::read_dir(Path::new(ROOT).join(controller).join(GROUP)) else {
            continue;
        };
        for entry in entries.flatten() {
            let pid = entry.file_name().to_string_lossy().parse::<i32>().ok();
            let alive = pid.is_some_and(|p| {
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None).is_ok()
            });
            if pid.is_some() && !alive {
                let _ = fs::remove_dir(entry.path());
            }
        }
    }
}
