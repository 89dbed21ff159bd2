//! This host's name and its processes, for the tags that let `reap_orphans`
//! find the sandboxes of dead processes. Unix through `nix`; Windows through
//! its process API, so the e2b backend builds for every target Node runs on.

/// The host's name; empty when it cannot be read.
#[cfg(unix)]
pub(crate) fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Whether process `pid` of this host still runs.
#[cfg(unix)]
pub(crate) fn process_alive(pid: i32) -> bool {
    // Signal 0 checks existence and permission only.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

#[cfg(windows)]
pub fn hostname() -> String {
    std::env::var("COMPUTERNAME").unwrap_or_default()
}

#[cfg(windows)]
pub fn process_alive(pid: i32) -> bool {
    use windows_sys::Win32::Foundation::{
        CloseHandle, GetLastError, ERROR_ACCESS_DENIED, STILL_ACTIVE,
    };
    use windows_sys::Win32::System::Threading::{
        GetExitCodeProcess, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION,
    };
    let Ok(pid) = u32::try_from(pid) else {
        return false;
    };
    // SAFETY: OpenProcess takes plain values and returns a handle or null.
    let handle = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if handle.is_null() {
        // A process we may not query still runs; any other failure means
        // there is no such process.
        // SAFETY: reads this thread's last error code.
        return unsafe { GetLastError() } == ERROR_ACCESS_DENIED;
    }
    let mut code = 0u32;
    // SAFETY: `handle` is an open process handle and `code` outlives the call;
    // the handle is closed exactly once.
    unsafe {
        let ok = GetExitCodeProcess(handle, &mut code) != 0;
        CloseHandle(handle);
        ok && code == STILL_ACTIVE as u32
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_is_alive_and_a_reaped_child_is_not() {
        assert!(super::process_alive(std::process::id() as i32));
        // A system program: it runs under an emulator (qemu-user) too.
        let mut child = match cfg!(windows) {
            true => std::process::Command::new("cmd")
                .args(["/C", "exit 0"])
                .spawn(),
            false => std::process::Command::new("true").spawn(),
        }
        .unwrap();
        let pid = child.id() as i32;
        child.wait().unwrap();
        assert!(!super::process_alive(pid));
    }

    #[test]
    fn the_host_has_a_name() {
        assert!(!super::hostname().is_empty());
    }
}
