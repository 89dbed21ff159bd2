//! The seccomp filter of the program: the syscalls a sandbox escape or a kernel
//! attack needs, and nothing an ordinary Python, Node.js or Bash program uses,
//! fail with EPERM. Installed last before exec, after no_new_privs.

use std::collections::BTreeMap;

use seccompiler::{
    apply_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};

use super::{Setup, SetupError};
use crate::protocol::Shape;

/// Denied whatever their arguments.
const DENIED: &[libc::c_long] = &[
    // filesystems and namespaces
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_mount_setattr,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_quotactl,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_acct,
    // other processes' memory
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_pidfd_getfd,
    // kernel attack surface
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_userfaultfd,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_syslog,
    libc::SYS_iopl,
    libc::SYS_ioperm,
    libc::SYS_lookup_dcookie,
    libc::SYS_uselib,
    libc::SYS_vhangup,
    // the machine itself
    libc::SYS_reboot,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
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
    let deny = program(
        deny_rules(shape.egress_port.is_some())?,
        SeccompAction::Errno(libc::EPERM as u32),
    )?;
    // clone3 passes its flags in memory a filter cannot read: answer ENOSYS,
    // and glibc falls back to clone, whose flags are checked above.
    let clone3 = [(libc::SYS_clone3, vec![])].into_iter().collect();
    let clone3 = program(clone3, SeccompAction::Errno(libc::ENOSYS as u32))?;
    for filter in [&deny, &clone3] {
        apply_filter(filter)
            .map_err(|e| SetupError::new("seccomp", format!("installing the filter: {e}")))?;
    }
    Ok(())
}

fn deny_rules(inet: bool) -> Setup<BTreeMap<i64, Vec<SeccompRule>>> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        DENIED.iter().map(|&nr| (nr, vec![])).collect();
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
    let ioctl = [libc::TIOCSTI, libc::TIOCLINUX]
        .iter()
        .map(|&req| rule(1, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, req))
        .collect::<Setup<Vec<_>>>()?;
    rules.insert(libc::SYS_ioctl, ioctl);
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
