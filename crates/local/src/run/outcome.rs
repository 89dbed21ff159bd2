//! What an execution did, from what the sandbox said: the exit code, the
//! error's name, the limit it hit (see the README's result table).

use e2b_native_core::{
    uncaught_error_name, Error, Limit, Outcome, Request, KILLED_EXIT_CODE, TIMEOUT_EXIT_CODE,
};
use tokio::time::Instant;

use super::stream::{Stop, Streamed};
use crate::protocol::{Event, Isolation};

pub(super) fn outcome(
    streamed: Streamed,
    request: &Request,
    started: Instant,
    isolation: Isolation,
) -> Result<Outcome, Error> {
    let Streamed {
        stop,
        out,
        err,
        ended,
        failure,
        disk_full,
        too_many_processes,
        usage,
        files,
        refused,
        status,
        cgroups,
    } = streamed;
    let cgroup_hit =
        crate::cgroup::limit_hit(&cgroups.0).or(too_many_processes.then_some(Limit::Processes));
    let counted = !cgroups.0.is_empty();
    drop(cgroups);
    let truncated = out.kept.truncated() || err.kept.truncated();
    let (stdout, stderr) = (out.kept.into_string(), err.kept.into_string());
    if let (None, Some((path, reason))) = (stop, refused) {
        return Err(Error::invalid_arg(format!("readFiles: {path} {reason}")));
    }
    let exit_code = match (stop, ended, failure) {
        (Some(Stop::Cancelled), ..) => return Err(Error::Aborted),
        (Some(Stop::Timeout), ..) => TIMEOUT_EXIT_CODE,
        (Some(Stop::Output), ..) => KILLED_EXIT_CODE,
        (None, _, Some((layer, message, errno))) => {
            return Err(not_built(&layer, &message, errno, isolation))
        }
        (None, Some(Event::Exited { code }), None) => code,
        (None, Some(Event::Signaled { signal }), None) => 128 + signal,
        _ => {
            return Err(Error::Internal(format!(
                "the sandbox helper ended without a result ({status}); stderr: {}",
                stderr.chars().take(500).collect::<String>()
            )))
        }
    };
    let (cpu_ms, max_rss_kib) = usage.unwrap_or_default();
    // RLIMIT_CPU's hard limit kills with SIGKILL a program that ignored
    // SIGXCPU: the CPU time it used says so, reported as SIGXCPU would be.
    let exit_code = match request.limits.cpu_seconds {
        Some(seconds)
            if stop.is_none()
                && cgroup_hit.is_none()
                && exit_code == KILLED_EXIT_CODE
                && cpu_ms >= seconds * 1000 =>
        {
            128 + libc::SIGXCPU
        }
        _ => exit_code,
    };
    let crashed_as = uncaught_error_name(request.language, exit_code, &stderr);
    // An out-of-memory message is believed only if the kernel saw the memory
    // used: a quarter of the limit in one process (V8 stops at half to
    // three quarters of it), so that a program cannot claim the limit by
    // printing V8's words.
    let near_memory_limit = max_rss_kib.saturating_mul(1024 * 4) >= request.limits.memory_bytes;
    let limit = match stop {
        Some(Stop::Timeout) => Some(Limit::Time),
        Some(Stop::Output) => Some(Limit::Output),
        _ => cgroup_hit.or_else(|| {
            fallback_limit(
                exit_code,
                crashed_as.as_deref(),
                &stderr,
                disk_full,
                counted,
            )
            .filter(|&l| l != Limit::Memory || near_memory_limit)
        }),
    };
    Ok(Outcome {
        error: limit.map(|l| l.error_name().to_string()).or(crashed_as),
        stdout,
        stderr,
        exit_code,
        timed_out: matches!(limit, Some(Limit::Time | Limit::Cpu)),
        truncated,
        limit,
        duration: started.elapsed(),
        backend: "local",
        isolation: isolation.as_str(),
        files,
        results: Vec::new(),
    })
}

/// A sandbox that could not be built: the step, what the kernel said, and,
/// where namespaces were refused, what to change in this environment.
pub(crate) fn not_built(
    layer: &str,
    message: &str,
    errno: Option<i32>,
    isolation: Isolation,
) -> Error {
    let mut text = format!("the local sandbox could not be built ({layer}): {message}");
    if isolation == Isolation::Namespaces && layer.ends_with("namespace") {
        let env = crate::advice::Environment::here();
        text.push_str(&format!(
            ". Detected {}: {}",
            env.name(),
            crate::advice::advise(env, layer, errno)
        ));
    }
    Error::IsolationUnavailable(text)
}

/// Limits that show only in how the program ended: where no cgroup counts,
/// an rlimit makes allocation fail; V8 aborts at its heap cap; RLIMIT_CPU
/// (set only when the caller asked for one) sends SIGXCPU; a full tmpfs
/// fails writes, and where no tmpfs bounds the work dir, RLIMIT_FSIZE sends
/// SIGXFSZ. `counted`: a pids cgroup held the sandbox, and its counter,
/// not the program's errors, says whether the process limit was hit.
fn fallback_limit(
    exit_code: i32,
    crashed_as: Option<&str>,
    stderr: &str,
    disk_full: bool,
    counted: bool,
) -> Option<Limit> {
    if exit_code == 128 + libc::SIGXCPU {
        Some(Limit::Cpu)
    } else if exit_code == 128 + libc::SIGXFSZ {
        Some(Limit::Disk)
    } else if crashed_as == Some("MemoryError")
        || (exit_code != 0
            && (stderr.contains("JavaScript heap out of memory")
                || stderr.contains("Array buffer allocation failed")))
    {
        Some(Limit::Memory)
    } else if !counted
        && exit_code != 0
        && (crashed_as == Some("BlockingIOError")
            // Many processes' tracebacks, interleaved (unbuffered stderr
            // writes each part of a line apart), may end with no whole one.
            || (stderr.contains("BlockingIOError")
                && stderr.contains("[Errno 11] Resource temporarily unavailable"))
            || stderr.contains("fork: retry: Resource temporarily unavailable"))
    {
        // RLIMIT_NPROC makes fork fail with EAGAIN.
        Some(Limit::Processes)
    } else if disk_full {
        Some(Limit::Disk)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use e2b_native_core::Language;

    // The end of a fork bomb's stderr under RLIMIT_NPROC, as CI saw it: the
    // processes' tracebacks cut into each other, no whole one last.
    const INTERLEAVED: &str = "Traceback (most recent call last):\n  \
        File \"<string>\", line 2, in <module>\nBlockingIOErrorBlockingIOError:   \
        File \"<string>\", line 2, in <module>\nTraceback (most recent call last):\n\
        [Errno 11] Resource temporarily unavailable[Errno 11] Resource temporarily \
        unavailable\n  File \"<string>\", line 2, in <module>\nTraceback (most recent \
        call last):\n";

    #[test]
    fn a_fork_bomb_under_rlimits_is_a_process_limit_however_its_tracebacks_interleave() {
        let crashed_as = uncaught_error_name(Language::Python, 1, INTERLEAVED);
        assert_eq!(crashed_as, None);
        let limit = fallback_limit(1, crashed_as.as_deref(), INTERLEAVED, false, false);
        assert_eq!(limit, Some(Limit::Processes));
    }

    #[test]
    fn where_a_pids_cgroup_counts_a_programs_own_eagain_is_not_a_process_limit() {
        let stderr = "Traceback (most recent call last):\n  File \"<string>\", line 3, in \
            <module>\nBlockingIOError: [Errno 11] Resource temporarily unavailable\n";
        let crashed_as = uncaught_error_name(Language::Python, 1, stderr);
        assert_eq!(crashed_as.as_deref(), Some("BlockingIOError"));
        assert_eq!(
            fallback_limit(1, crashed_as.as_deref(), stderr, false, true),
            None
        );
        let without_cgroups = fallback_limit(1, crashed_as.as_deref(), stderr, false, false);
        assert_eq!(without_cgroups, Some(Limit::Processes));
    }
}
