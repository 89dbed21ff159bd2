//! Landlock: write only in the work dirs (and an install step's output) and
//! to the harmless devices; no TCP but an install step's connection to its
//! proxy; no signals to, or abstract sockets of, processes outside the
//! sandbox. What may be read depends on the tier: in the full tier the
//! sandbox's own root holds nothing of the host's but system files, so all
//! of it; without namespaces, only the system directories, a few /etc
//! files, /proc, the interpreters and the work dirs. In the full tier
//! Landlock is one layer of several and a kernel without it keeps the
//! others; without namespaces it is the filesystem isolation, and a kernel
//! that does not enforce it refuses the sandbox.

use std::path::{Path, PathBuf};

use landlock::{
    path_beneath_rules, Access, AccessFs, AccessNet, NetPort, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};

use super::{rootfs, Layout, Setup, SetupError};
use crate::protocol::{Isolation, Shape};

const ABI_WANTED: ABI = ABI::V6;
const WRITABLE_DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
];
/// Without namespaces, /etc files beyond those the full tier shows: the
/// accounts and names its synthetic /etc holds, and what tells the
/// distribution (pip reads it for its user agent, and fails when refused).
const ETC_HOST: &[&str] = &[
    "passwd",
    "group",
    "hosts",
    "hostname",
    "resolv.conf",
    "os-release",
    "debian_version",
    "lsb-release",
    "alpine-release",
    "redhat-release",
    "system-release",
    // What a login shell reads (`bash -l`, as E2B's commands run).
    "profile",
    "profile.d",
    "bash.bashrc",
    "bashrc",
    "environment",
];

pub(super) fn restrict(shape: &Shape, layout: &Layout) -> Setup<()> {
    let fail = |e: landlock::RulesetError| SetupError::new("landlock", e.to_string());
    let writable_mounts = shape
        .mounts
        .iter()
        .filter(|m| m.writable)
        .map(|m| &m.target);
    let proxy = shape
        .egress_port
        .map(|port| NetPort::new(port, AccessNet::ConnectTcp));
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(ABI_WANTED))
        .and_then(|r| r.handle_access(AccessNet::from_all(ABI_WANTED)))
        .and_then(|r| r.scope(Scope::Signal | Scope::AbstractUnixSocket))
        .and_then(|r| r.create())
        .and_then(|r| {
            r.add_rules(path_beneath_rules(
                readable(shape),
                AccessFs::from_read(ABI_WANTED),
            ))
        })
        .and_then(|r| {
            r.add_rules(path_beneath_rules(
                layout.writable(),
                AccessFs::from_all(ABI_WANTED),
            ))
        })
        .and_then(|r| {
            r.add_rules(path_beneath_rules(
                writable_mounts,
                AccessFs::from_all(ABI_WANTED),
            ))
        })
        .and_then(|r| r.add_rules(proxy.into_iter().map(Ok::<_, landlock::RulesetError>)))
        .and_then(|r| {
            r.add_rules(path_beneath_rules(
                WRITABLE_DEVICES,
                AccessFs::from_file(ABI_WANTED),
            ))
        })
        .and_then(|r| r.restrict_self())
        .map_err(fail)?;
    if shape.isolation == Isolation::Landlock && status.ruleset == RulesetStatus::NotEnforced {
        return Err(SetupError::new(
            "landlock",
            "this kernel does not enforce Landlock, which is the filesystem isolation of \
             sandboxes without namespaces",
        ));
    }
    Ok(())
}

/// What programs may read (and execute).
fn readable(shape: &Shape) -> Vec<PathBuf> {
    if shape.isolation == Isolation::Namespaces {
        return vec!["/".into()];
    }
    let etc = rootfs::ETC_ENTRIES.iter().chain(ETC_HOST);
    let mut paths: Vec<PathBuf> = rootfs::SYSTEM_DIRS
        .iter()
        .map(PathBuf::from)
        .chain(etc.map(|entry| Path::new("/etc").join(entry)))
        .chain(["/proc", "/sys/devices/system/cpu"].map(PathBuf::from))
        .chain(shape.binds.iter().cloned())
        .chain(shape.mounts.iter().map(|m| m.target.clone()))
        .collect();
    // A rule needs its path to exist; the host may lack some of these.
    paths.retain(|p| p.exists());
    paths
}
