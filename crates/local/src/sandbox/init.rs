//! Pid 1 of a one-shot sandbox, once its root is built: forks the program,
//! reaps everything, and reports how the program ended. Its exit takes the
//! namespace with it.

use nix::sys::prctl;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};

use super::confine::Confinement;
use super::{egress, exec, workfiles, Reporter, SetupError};
use crate::protocol::{Event, Isolation, Job, Work};

pub(super) fn main(confinement: Confinement<'_>, job: &Job, reporter: &Reporter) -> i32 {
    let egress_port = confinement.shape.egress_port;
    let layout = confinement.layout;
    // Without namespaces the host listens for an install step itself.
    let hand_over = egress_port.filter(|_| confinement.shape.isolation == Isolation::Namespaces);
    let built = workfiles::write(&job.work, layout)
        .and_then(|()| hand_over.map_or(Ok(()), egress::hand_over));
    if let Err(e) = built {
        return reporter.failed(e);
    }
    // The program (same uid, no capabilities) must not be able to ptrace init.
    let _ = prctl::set_dumpable(false);
    // SAFETY: init is single-threaded; the child only sets itself up and execs.
    let program = match unsafe { fork() } {
        Ok(ForkResult::Child) => exec::run(confinement, job, reporter, None),
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => return reporter.failed(SetupError::new("pid namespace", format!("fork: {e}"))),
    };
    wait_program(&job.work, &confinement, reporter, program)
}

/// Reaps until `program` ends, then reports the disk, the files read back and
/// how it ended; returns init's exit status.
pub(super) fn wait_program(
    work: &Work,
    confinement: &Confinement<'_>,
    reporter: &Reporter,
    program: nix::unistd::Pid,
) -> i32 {
    let layout = confinement.layout;
    loop {
        // Reap orphans too: init inherits every process whose parent died.
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == program => {
                report_usage(reporter);
                report_disk(confinement, reporter);
                workfiles::read(work, layout, reporter);
                reporter.send(&Event::Exited { code });
                return 0;
            }
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == program => {
                report_usage(reporter);
                report_disk(confinement, reporter);
                workfiles::read(work, layout, reporter);
                reporter.send(&Event::Signaled {
                    signal: signal as i32,
                });
                return 0;
            }
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return 1,
        }
    }
}

/// The CPU time and peak memory of the program and every process reaped so
/// far (its own children included, which it reaped before it ended).
fn report_usage(reporter: &Reporter) {
    use nix::sys::resource::{getrusage, UsageWho};
    if let Ok(usage) = getrusage(UsageWho::RUSAGE_CHILDREN) {
        let ms = |t: nix::sys::time::TimeVal| {
            u64::try_from(t.tv_sec()).unwrap_or(0) * 1000
                + u64::try_from(t.tv_usec()).unwrap_or(0) / 1000
        };
        reporter.send(&Event::Usage {
            cpu_ms: ms(usage.user_time()) + ms(usage.system_time()),
            max_rss_kib: u64::try_from(usage.max_rss()).unwrap_or(0),
        });
    }
}

/// A full work dir is how the disk limit shows: a tmpfs of the sandbox's
/// own with no room left, or, without namespaces, a room whose files take
/// the limit (RLIMIT_FSIZE stopped the largest at it): tell the host.
fn report_disk(confinement: &Confinement<'_>, reporter: &Reporter) {
    let layout = confinement.layout;
    let full = match confinement.shape.isolation {
        Isolation::Namespaces => layout.writable().iter().any(|dir| {
            nix::sys::statvfs::statvfs(*dir)
                .is_ok_and(|s| s.blocks_available() == 0 || s.files_available() == 0)
        }),
        Isolation::Landlock => {
            let used: u64 = layout
                .writable()
                .iter()
                .map(|d| super::unshared::usage(d))
                .sum();
            used >= confinement.shape.limits.disk_bytes
        }
    };
    if full {
        reporter.send(&Event::DiskFull);
    }
}
