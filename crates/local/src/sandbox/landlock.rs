//! Landlock over the sandbox's own tree: read and execute everywhere, write only
//! in the work dirs (and an install step's output) and to the harmless devices;
//! no TCP but an install step's connection to its proxy; no signals to or
//! abstract sockets of processes outside the sandbox. Best effort: a kernel
//! without Landlock (or an older ABI) keeps the other layers.

use landlock::{
    path_beneath_rules, Access, AccessFs, AccessNet, NetPort, Ruleset, RulesetAttr,
    RulesetCreatedAttr, Scope, ABI,
};

use super::rootfs::WRITABLE_DIRS;
use super::{Setup, SetupError};
use crate::protocol::Shape;

const ABI_WANTED: ABI = ABI::V6;
const WRITABLE_DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
];

pub(super) fn restrict(shape: &Shape) -> Setup<()> {
    let fail = |e: landlock::RulesetError| SetupError::new("landlock", e.to_string());
    let writable_mounts = shape
        .mounts
        .iter()
        .filter(|m| m.writable)
        .map(|m| &m.target);
    let proxy = shape
        .egress_port
        .map(|port| NetPort::new(port, AccessNet::ConnectTcp));
    Ruleset::default()
        .handle_access(AccessFs::from_all(ABI_WANTED))
        .and_then(|r| r.handle_access(AccessNet::from_all(ABI_WANTED)))
        .and_then(|r| r.scope(Scope::Signal | Scope::AbstractUnixSocket))
        .and_then(|r| r.create())
        .and_then(|r| r.add_rules(path_beneath_rules(["/"], AccessFs::from_read(ABI_WANTED))))
        .and_then(|r| {
            r.add_rules(path_beneath_rules(
                WRITABLE_DIRS,
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
    Ok(())
}
