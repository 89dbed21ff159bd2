//! The seccomp filter of the program: the syscalls a sandbox escape or a kernel
//! attack needs, and nothing an ordinary Python, Node.js or Bash program uses,
//! fail with EPERM. Installed last before exec, after no_new_privs.

use std::collections::BTreeMap;
use std::io::Write;

use seccompiler::{
    apply_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};

use super::{Setup, SetupError};
use crate::protocol::Shape;

/// `(name, number)` of each `libc::SYS_<name>` (or of `SYS_<name> = number`
/// where libc lacks it): the number is the target's, and the name lets
/// `--seccomp-table` report it for the release check.
macro_rules! syscalls {
    ($($(#[$attr:meta])* $name:ident $(= $nr:literal)?,)*) => {
        &[$($(#[$attr])* (stringify!($name), syscalls!(@nr $name $($nr)?)),)*]
    };
    (@nr $name:ident) => { libc::$name };
    (@nr $name:ident $nr:literal) => { $nr };
}

/// Denied whatever their arguments.
const DENIED: &[(&str, libc::c_long)] = syscalls![
    // filesystems and namespaces
    SYS_mount,
    SYS_umount2,
    SYS_pivot_root,
    SYS_chroot,
    SYS_unshare,
    SYS_setns,
    SYS_fsopen,
    SYS_fsconfig,
    SYS_fsmount,
    SYS_fspick,
    SYS_move_mount,
    SYS_open_tree,
    SYS_mount_setattr,
    SYS_open_by_handle_at,
    SYS_name_to_handle_at,
    SYS_quotactl,
    SYS_swapon,
    SYS_swapoff,
    SYS_acct,
    // other processes' memory
    SYS_ptrace,
    SYS_process_vm_readv,
    SYS_process_vm_writev,
    SYS_pidfd_getfd,
    // kernel attack surface
    SYS_bpf,
    SYS_perf_event_open,
    SYS_keyctl,
    SYS_add_key,
    SYS_request_key,
    SYS_io_uring_setup,
    SYS_io_uring_enter,
    SYS_io_uring_register,
    SYS_userfaultfd,
    SYS_kexec_load,
    // memory the kernel hides even from itself: a place to keep an exploit
    SYS_memfd_secret,
    // Watching files: inotify's instances and watches, and fanotify's groups,
    // are counted per host uid, which sandboxes share (one could exhaust them
    // for every other sandbox and for Node), and a watch on the read-only
    // system binds would show which files another sandbox opens. Programs that
    // watch files get EPERM and fall back to polling or fail cleanly.
    SYS_inotify_init1,
    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    SYS_inotify_init,
    SYS_fanotify_init,
    #[cfg(not(all(target_arch = "aarch64", target_env = "musl")))]
    SYS_kexec_file_load,
    // libc lacks it for aarch64 musl: asm-generic's number
    #[cfg(all(target_arch = "aarch64", target_env = "musl"))]
    SYS_kexec_file_load = 294,
    SYS_init_module,
    SYS_finit_module,
    SYS_delete_module,
    SYS_syslog,
    SYS_lookup_dcookie,
    SYS_vhangup,
    // x86 only: other architectures have no such calls
    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    SYS_iopl,
    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    SYS_ioperm,
    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    SYS_uselib,
    // 16-bit segments: the attack surface of old exploits, used by nothing here
    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    SYS_modify_ldt,
    // the machine itself
    SYS_reboot,
    SYS_settimeofday,
    SYS_clock_settime,
    SYS_clock_adjtime,
    SYS_adjtimex,
];

const NAMESPACE_FLAGS: &[libc::c_int] = &[
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWNS,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWCGROUP,
    0x80, // CLONE_NEWTIME
];

pub(super) fn install(shape: &Shape) -> Setup<()> {
    for filter in &programs(shape.egress_port.is_some())? {
        apply_filter(filter)
            .map_err(|e| SetupError::new("seccomp", format!("installing the filter: {e}")))?;
    }
    Ok(())
}

/// The filters, in the order they are installed.
fn programs(inet: bool) -> Setup<[BpfProgram; 2]> {
    let deny = program(deny_rules(inet)?, SeccompAction::Errno(libc::EPERM as u32))?;
    // clone3 passes its flags in memory a filter cannot read: answer ENOSYS,
    // and glibc falls back to clone, whose flags are checked above.
    let clone3 = [(libc::SYS_clone3, vec![])].into_iter().collect();
    let clone3 = program(clone3, SeccompAction::Errno(libc::ENOSYS as u32))?;
    Ok([deny, clone3])
}

/// `e2b-sandbox --seccomp-table`: prints, as JSON, the filters this build
/// installs (classic BPF, without and with IP sockets) and the number of each
/// syscall they name, so that a release check can run the filters of every
/// architecture's helper against an independent syscall table. Returns the
/// exit status.
pub fn print_table() -> i32 {
    let bpf = |p: &BpfProgram| -> Vec<[u32; 4]> {
        p.iter()
            .map(|i| [i.code.into(), i.jt.into(), i.jf.into(), i.k])
            .collect()
    };
    let (plain, inet) = match (programs(false), programs(true)) {
        (Ok(plain), Ok(inet)) => (plain, inet),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("e2b-sandbox: {}: {}", e.layer, e.message);
            return 1;
        }
    };
    let named = [
        ("clone", libc::SYS_clone),
        ("clone3", libc::SYS_clone3),
        ("socket", libc::SYS_socket),
        ("ioctl", libc::SYS_ioctl),
        ("personality", libc::SYS_personality),
    ];
    let syscalls: BTreeMap<&str, i64> = DENIED
        .iter()
        .map(|&(name, nr)| (name.trim_start_matches("SYS_"), nr))
        .chain(named)
        .collect();
    let table = serde_json::json!({
        "arch": std::env::consts::ARCH,
        "denied": DENIED.iter().map(|(name, _)| name.trim_start_matches("SYS_")).collect::<Vec<_>>(),
        "syscalls": syscalls,
        "programs": { "deny": bpf(&plain[0]), "deny_inet": bpf(&inet[0]), "clone3": bpf(&plain[1]) },
    });
    // A closed pipe is the reader's business, not a failure of the table.
    let _ = writeln!(std::io::stdout(), "{table}");
    0
}

fn deny_rules(inet: bool) -> Setup<BTreeMap<i64, Vec<SeccompRule>>> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        DENIED.iter().map(|&(_, nr)| (nr, vec![])).collect();
    let rule = |arg: u8, len: SeccompCmpArgLen, op: SeccompCmpOp, value: u64| {
        SeccompCondition::new(arg, len, op, value)
            .and_then(|c| SeccompRule::new(vec![c]))
            .map_err(|e| SetupError::new("seccomp", format!("building a rule: {e}")))
    };
    // clone with any namespace flag.
    let clone = NAMESPACE_FLAGS
        .iter()
        .map(|&flag| {
            rule(
                0,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(flag as u64),
                flag as u64,
            )
        })
        .collect::<Setup<Vec<_>>>()?;
    rules.insert(libc::SYS_clone, clone);
    // Sockets other than AF_UNIX: the sandbox has no network to use. An
    // install step also gets IP sockets, to reach its proxy on loopback.
    let families: &[libc::c_int] = match inet {
        false => &[libc::AF_UNIX],
        true => &[libc::AF_UNIX, libc::AF_INET, libc::AF_INET6],
    };
    let other_family = families
        .iter()
        .map(|&f| SeccompCondition::new(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, f as u64))
        .collect::<Result<Vec<_>, _>>()
        .and_then(SeccompRule::new)
        .map_err(|e| SetupError::new("seccomp", format!("building a rule: {e}")))?;
    rules.insert(libc::SYS_socket, vec![other_family]);
    // Pushing keystrokes into a terminal (TIOCSTI) or a console (TIOCLINUX).
    // The request's type is c_ulong in glibc and c_int in musl.
    #[allow(clippy::unnecessary_cast)]
    let ioctl = [libc::TIOCSTI as u64, libc::TIOCLINUX as u64]
        .iter()
        .map(|&req| rule(1, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, req))
        .collect::<Setup<Vec<_>>>()?;
    rules.insert(libc::SYS_ioctl, ioctl);
    // Execution domains other than Linux's, among them ADDR_NO_RANDOMIZE
    // (which turns address randomisation off for what the program execs) and
    // READ_IMPLIES_EXEC; asking which domain runs (0xffffffff) stays allowed.
    let other_persona = [0, 0xffff_ffff]
        .iter()
        .map(|&p| SeccompCondition::new(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, p))
        .collect::<Result<Vec<_>, _>>()
        .and_then(SeccompRule::new)
        .map_err(|e| SetupError::new("seccomp", format!("building a rule: {e}")))?;
    rules.insert(libc::SYS_personality, vec![other_persona]);
    Ok(rules)
}

fn program(rules: BTreeMap<i64, Vec<SeccompRule>>, action: SeccompAction) -> Setup<BpfProgram> {
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| SetupError::new("seccomp", format!("unsupported architecture: {e}")))?;
    SeccompFilter::new(rules, SeccompAction::Allow, action, arch)
        .and_then(TryInto::try_into)
        .map_err(|e| SetupError::new("seccomp", format!("compiling the filter: {e}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_filter_compiles_for_this_architecture() {
        for inet in [false, true] {
            let rules = super::deny_rules(inet).unwrap();
            assert!(rules.contains_key(&(libc::SYS_mount)));
            super::program(rules, seccompiler::SeccompAction::Errno(1)).unwrap();
        }
    }
}
