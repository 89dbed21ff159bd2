"""Checks the artifacts in npm/<target>/ that scripts/build-all.js made.

Run through scripts/check-artifacts.js, which installs what this needs (lief
from PyPI; qemu-user and libseccomp's scmp_sys_resolver from Debian) and passes
the targets as JSON on stdin. For each target it checks, failing loudly:

- the files the platform package lists exist;
- the addon's format and machine (ELF shared object / Mach-O dylib; x86_64 or
  aarch64);
- what the addon links: glibc's libraries only, and no GLIBC_x.y symbol version
  above the floor (gnu); musl's libc only (musl); system libraries in /usr/lib
  only and no framework (darwin);
- the minimum macOS (LC_BUILD_VERSION or LC_VERSION_MIN_MACOSX) is the floor;
- the fork server's library is a shared object of the same machine, linked
  as the addon is (the target's libc), exporting e2b_fork_server_serve;
- the helper is a static executable of the same machine;
- the helper's seccomp filters are those of its architecture: the helper itself
  (under qemu-user for another architecture) prints the classic-BPF programs it
  installs (`e2b-sandbox --seccomp-table`); this script runs them in its own
  BPF interpreter on syscall numbers from libseccomp's tables (not from Rust's
  libc crate, which built them) and checks each denied call is denied, ordinary
  calls are allowed, and another architecture's calls are not let through.
"""

import json
import os
import re
import subprocess
import sys

import lief

lief.logging.disable()

# AUDIT_ARCH_* of <linux/audit.h>: what seccomp_data.arch holds.
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
ELF_MACHINE = {"x86_64": lief.ELF.ARCH.X86_64, "aarch64": lief.ELF.ARCH.AARCH64}
MACHO_CPU = {"x86_64": lief.MachO.Header.CPU_TYPE.X86_64, "aarch64": lief.MachO.Header.CPU_TYPE.ARM64}
# libseccomp's and qemu's names for the architectures.
SECCOMP_ARCH = {"x86_64": "x86_64", "aarch64": "aarch64"}
QEMU = {"aarch64": "qemu-aarch64"}

GLIBC_LIBS = {
    "libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libutil.so.1",
    "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1",
}
MUSL_LIBS = re.compile(r"^(libc\.so|libc\.musl-(x86_64|aarch64)\.so\.1|ld-musl-(x86_64|aarch64)\.so\.1)$")
DARWIN_LIBS = {
    "/usr/lib/libSystem.B.dylib", "/usr/lib/libiconv.2.dylib", "/usr/lib/libcharset.1.dylib",
    "/usr/lib/libresolv.9.dylib",
}

RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
EPERM, ENOSYS = 1, 38
CLONE_NEW = {"CLONE_NEWNS": 0x20000, "CLONE_NEWCGROUP": 0x2000000, "CLONE_NEWUTS": 0x4000000,
             "CLONE_NEWIPC": 0x8000000, "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
             "CLONE_NEWNET": 0x40000000, "CLONE_NEWTIME": 0x80}
# What glibc's pthread_create passes to clone: no namespace flag.
CLONE_THREAD_FLAGS = 0x3D0F00
AF_UNIX, AF_INET, AF_INET6, AF_NETLINK = 1, 2, 10, 16
TIOCSTI, TIOCLINUX, TCGETS = 0x5412, 0x541C, 0x5401


def version_tuple(text):
    return tuple(int(x) for x in text.split("."))


class Report:
    def __init__(self):
        self.failures = []

    def check(self, target, what, ok, detail=""):
        mark = "ok  " if ok else "FAIL"
        print(f"  {mark} {what}{': ' + detail if detail else ''}")
        if not ok:
            self.failures.append(f"{target}: {what}: {detail}")
        return ok


# --- the addon -------------------------------------------------------------


def check_elf_addon(t, path, report, what="addon"):
    """A Linux shared object Node (the addon) or Python (the fork server's
    library) loads: its machine, and the target's libc, no newer than the floor."""
    name = t["name"]
    binary = lief.ELF.parse(path)
    if not report.check(name, f"{what} is an ELF file", binary is not None, path):
        return None
    report.check(name, f"{what} is a shared object", binary.header.file_type == lief.ELF.Header.FILE_TYPE.DYN,
                 str(binary.header.file_type))
    report.check(name, f"{what} machine is {t['machine']}", binary.header.machine_type == ELF_MACHINE[t["machine"]],
                 str(binary.header.machine_type))
    report.check(name, f"{what} is 64-bit", binary.header.identity_class == lief.ELF.Header.CLASS.ELF64,
                 str(binary.header.identity_class))
    needed = list(binary.libraries)
    versions = sorted({aux.name for req in binary.symbols_version_requirement
                       for aux in req.get_auxiliary_symbols()})
    glibc_versions = [v for v in versions if v.startswith("GLIBC_")]
    if t["libc"] == "glibc":
        others = [lib for lib in needed if lib not in GLIBC_LIBS]
        report.check(name, f"{what} links glibc's libraries only", not others,
                     f"needs {', '.join(needed)}" + (f"; not glibc: {', '.join(others)}" if others else ""))
        numbers = [version_tuple(v[len("GLIBC_"):]) for v in glibc_versions if re.match(r"^GLIBC_\d+(\.\d+)*$", v)]
        highest = max(numbers) if numbers else None
        floor = version_tuple(t["glibcFloor"])
        report.check(name, f"{what} needs glibc <= {t['glibcFloor']}", highest is not None and highest <= floor,
                     f"highest symbol version GLIBC_{'.'.join(map(str, highest)) if highest else '(none)'}")
    else:
        others = [lib for lib in needed if not MUSL_LIBS.match(lib)]
        report.check(name, f"{what} links musl's libc only", not others and bool(needed),
                     f"needs {', '.join(needed) or 'nothing'}" + (f"; not musl: {', '.join(others)}" if others else ""))
        report.check(name, f"{what} has no glibc symbol versions", not glibc_versions,
                     ", ".join(glibc_versions) or "none")
    report.check(name, f"{what} has no program interpreter", not binary.has_interpreter,
                 binary.interpreter if binary.has_interpreter else "none")
    return binary


def check_fork_server_library(t, path, report):
    binary = check_elf_addon(t, path, report, "fork server library")
    if binary is not None:
        exported = {f.name for f in binary.exported_functions}
        report.check(t["name"], "fork server library exports e2b_fork_server_serve",
                     "e2b_fork_server_serve" in exported, f"{len(exported)} exported")


def macos_min(binary):
    for command in binary.commands:
        if isinstance(command, lief.MachO.BuildVersion):
            if command.platform == lief.MachO.BuildVersion.PLATFORMS.MACOS:
                return ".".join(map(str, command.minos[:2])), "LC_BUILD_VERSION"
        if isinstance(command, lief.MachO.VersionMin) and command.command == lief.MachO.LoadCommand.TYPE.VERSION_MIN_MACOSX:
            return ".".join(map(str, command.version[:2])), "LC_VERSION_MIN_MACOSX"
    return None, None


def check_macho_addon(t, path, report):
    name = t["name"]
    fat = lief.MachO.parse(path)
    if not report.check(name, "addon is a Mach-O file", fat is not None, path):
        return
    report.check(name, "addon is thin (one architecture)", fat.size == 1, f"{fat.size} architectures")
    binary = fat.at(0)
    report.check(name, "addon is a dylib", binary.header.file_type == lief.MachO.Header.FILE_TYPE.DYLIB,
                 str(binary.header.file_type))
    report.check(name, f"addon CPU is {t['machine']}", binary.header.cpu_type == MACHO_CPU[t["machine"]],
                 str(binary.header.cpu_type))
    loads = [c.name for c in binary.commands if isinstance(c, lief.MachO.DylibCommand)
             and c.command != lief.MachO.LoadCommand.TYPE.ID_DYLIB]
    frameworks = [lib for lib in loads if ".framework/" in lib]
    others = [lib for lib in loads if lib not in DARWIN_LIBS]
    report.check(name, "addon links no framework", not frameworks, ", ".join(frameworks) or "none")
    report.check(name, "addon links system libraries of /usr/lib only", not others and bool(loads),
                 f"links {', '.join(loads)}" + (f"; not allowed: {', '.join(others)}" if others else ""))
    minimum, source = macos_min(binary)
    report.check(name, f"addon's minimum macOS is {t['macosFloor']}", minimum == t["macosFloor"],
                 f"{source}: {minimum}" if source else "no LC_BUILD_VERSION or LC_VERSION_MIN_MACOSX")


# --- the helper and its seccomp filters --------------------------------------


def check_helper(t, path, report):
    name = t["name"]
    binary = lief.ELF.parse(path)
    if not report.check(name, "helper is an ELF file", binary is not None, path):
        return False
    report.check(name, "helper is executable", os.access(path, os.X_OK), oct(os.stat(path).st_mode & 0o777))
    report.check(name, f"helper machine is {t['machine']}", binary.header.machine_type == ELF_MACHINE[t["machine"]],
                 str(binary.header.machine_type))
    static = not binary.has_interpreter and not list(binary.libraries)
    report.check(name, "helper is statically linked", static,
                 f"interpreter {binary.interpreter if binary.has_interpreter else 'none'}, "
                 f"needs {', '.join(binary.libraries) or 'nothing'}")
    return True


def run_bpf(program, nr, arch, args=(0, 0, 0, 0, 0, 0)):
    """Runs a classic-BPF seccomp program on one seccomp_data; returns its verdict."""
    def word(offset):
        if offset == 0:
            return nr & 0xFFFFFFFF
        if offset == 4:
            return arch
        if 16 <= offset < 64 and offset % 4 == 0:
            arg = args[(offset - 16) // 8]
            return (arg >> 32) & 0xFFFFFFFF if offset % 8 else arg & 0xFFFFFFFF
        raise ValueError(f"load of seccomp_data offset {offset}")

    acc, pc, steps = 0, 0, 0
    while True:
        steps += 1
        if pc >= len(program) or steps > 100000:
            raise ValueError(f"program runs off its end at {pc}")
        code, jt, jf, k = program[pc]
        cls = code & 0x07
        if code == 0x20:  # ld [k]
            acc = word(k)
        elif code == 0x00:  # ld #k
            acc = k
        elif code == 0x06:  # ret #k
            return k
        elif code == 0x16:  # ret a
            return acc
        elif code == 0x05:  # ja
            pc += k
        elif cls == 0x05:  # conditional jumps on k
            op = code & 0xF0
            if code & 0x08:
                raise ValueError(f"jump on X at {pc}")
            if op == 0x10:
                taken = acc == k
            elif op == 0x20:
                taken = acc > k
            elif op == 0x30:
                taken = acc >= k
            elif op == 0x40:
                taken = (acc & k) != 0
            else:
                raise ValueError(f"jump opcode {code:#x} at {pc}")
            pc += jt if taken else jf
        elif code == 0x54:  # and #k
            acc &= k
        else:
            raise ValueError(f"opcode {code:#x} at {pc}")
        pc += 1


def resolve(resolver, arch, name):
    """libseccomp's number for a syscall on an architecture; negative where it has none."""
    out = subprocess.run([resolver, "-a", SECCOMP_ARCH[arch], name], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def seccomp_table(t, helper):
    machine = t["machine"]
    command = [helper, "--seccomp-table"]
    host = os.uname().machine
    if machine != host:
        command = [QEMU[machine]] + command
    out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {out.returncode}: {out.stderr.strip()}")
    return json.loads(out.stdout), " ".join(command[:1]) if machine != host else "natively"


def check_seccomp(t, helper, tables, resolver, report):
    name, machine = t["name"], t["machine"]
    try:
        table, how = seccomp_table(t, helper)
    except Exception as error:  # noqa: BLE001 - the check reports any failure
        report.check(name, "helper prints its seccomp table", False, str(error))
        return
    report.check(name, f"helper prints its seccomp table (run {how})", True)
    report.check(name, f"the table is built for {machine}", table["arch"] == machine, table["arch"])
    arch = AUDIT_ARCH[machine]
    other = next(a for m, a in AUDIT_ARCH.items() if m != machine)
    programs = table["programs"]
    numbers = {n: resolve(resolver, machine, n) for n in set(table["syscalls"]) | {"read", "write", "openat", "execve", "exit_group", "mmap", "futex"}}

    wrong = {n: (nr, numbers[n]) for n, nr in table["syscalls"].items() if nr != numbers[n]}
    report.check(name, f"its syscall numbers are {machine}'s (libseccomp)", not wrong,
                 ", ".join(f"{n}: {nr}, libseccomp {ref}" for n, (nr, ref) in sorted(wrong.items())) or
                 f"{len(table['syscalls'])} numbers")

    def verdict(program, syscall, args=(0, 0, 0, 0, 0, 0), audit=arch):
        return run_bpf(programs[program], numbers[syscall], audit, args)

    try:
        misses = [f"{n} ({p})" for n in table["denied"]
                  for p in ("deny", "deny_inet") if verdict(p, n) != RET_ERRNO | EPERM]
        report.check(name, "every denied call fails with EPERM", not misses, ", ".join(misses) or
                     f"{len(table['denied'])} calls")
        ordinary = ["read", "write", "openat", "execve", "exit_group", "mmap", "futex"]
        blocked = [f"{n} ({p})" for n in ordinary for p in programs if verdict(p, n) != RET_ALLOW]
        report.check(name, "ordinary calls are allowed", not blocked, ", ".join(blocked) or ", ".join(ordinary))
        flags = [f for f, bit in CLONE_NEW.items() if verdict("deny", "clone", (bit | CLONE_THREAD_FLAGS, 0, 0, 0, 0, 0)) != RET_ERRNO | EPERM]
        thread = verdict("deny", "clone", (CLONE_THREAD_FLAGS, 0, 0, 0, 0, 0))
        report.check(name, "clone with a namespace flag fails, a thread's clone does not", not flags and thread == RET_ALLOW,
                     f"let through: {', '.join(flags)}" if flags else f"thread clone {thread:#x}")
        sockets = {
            "deny": {AF_UNIX: RET_ALLOW, AF_INET: RET_ERRNO | EPERM, AF_INET6: RET_ERRNO | EPERM, AF_NETLINK: RET_ERRNO | EPERM},
            "deny_inet": {AF_UNIX: RET_ALLOW, AF_INET: RET_ALLOW, AF_INET6: RET_ALLOW, AF_NETLINK: RET_ERRNO | EPERM},
        }
        bad = [f"{p} family {f}" for p, want in sockets.items() for f, v in want.items()
               if verdict(p, "socket", (f, 1, 0, 0, 0, 0)) != v]
        report.check(name, "sockets: unix only, and IP too for installs", not bad, ", ".join(bad) or "as expected")
        ioctls = [verdict("deny", "ioctl", (0, TIOCSTI, 0, 0, 0, 0)), verdict("deny", "ioctl", (0, TIOCLINUX, 0, 0, 0, 0)),
                  verdict("deny", "ioctl", (0, TCGETS, 0, 0, 0, 0))]
        report.check(name, "ioctl TIOCSTI and TIOCLINUX fail, TCGETS does not",
                     ioctls == [RET_ERRNO | EPERM, RET_ERRNO | EPERM, RET_ALLOW], ", ".join(f"{v:#x}" for v in ioctls))
        personas = [verdict("deny", "personality", (v, 0, 0, 0, 0, 0)) for v in (0, 0xFFFFFFFF, 0x0040000)]
        report.check(name, "personality: Linux's and the query pass, ADDR_NO_RANDOMIZE fails",
                     personas == [RET_ALLOW, RET_ALLOW, RET_ERRNO | EPERM], ", ".join(f"{v:#x}" for v in personas))
        clone3 = verdict("clone3", "clone3")
        report.check(name, "clone3 fails with ENOSYS", clone3 == RET_ERRNO | ENOSYS, f"{clone3:#x}")
        foreign = {p: verdict(p, n, audit=other) for p in programs for n in ("read", "mount")}
        let_through = sorted(p for p, v in foreign.items() if v == RET_ALLOW)
        report.check(name, "a call of another architecture is not let through", not let_through,
                     f"allowed by {', '.join(let_through)}" if let_through else
                     ", ".join(sorted({f"{v:#x}" for v in foreign.values()})))
    except ValueError as error:
        report.check(name, "the BPF programs run", False, str(error))
        return

    # The same policy on every architecture: what one denies, the others deny
    # where the call exists (iopl, ioperm, uselib exist on x86 only).
    tables[machine] = set(table["denied"])
    for other_machine, denied in tables.items():
        if other_machine == machine:
            continue
        missing = sorted(n for n in denied - set(table["denied"]) if resolve(resolver, machine, n) >= 0)
        report.check(name, f"it denies every call {other_machine}'s table denies that {machine} has", not missing,
                     ", ".join(missing) or "yes")


def main():
    config = json.load(sys.stdin)
    report = Report()
    tables = {}
    for t in config["targets"]:
        print(f"{t['name']} ({t['triple']})")
        files = t["files"]
        missing = [f for f in files if not os.path.exists(os.path.join(t["dir"], f))]
        if not report.check(t["name"], "the package's files are there", not missing,
                            f"missing {', '.join(missing)} in {t['dir']}: run npm run build:all" if missing else ", ".join(
                                f"{f} {os.path.getsize(os.path.join(t['dir'], f)) / 1048576:.1f} MiB" for f in files)):
            continue
        addon = os.path.join(t["dir"], t["binary"])
        if t["platform"] == "linux":
            check_elf_addon(t, addon, report)
        else:
            check_macho_addon(t, addon, report)
        if t["helper"]:
            check_fork_server_library(t, os.path.join(t["dir"], "libe2b_fork_server.so"), report)
            helper = os.path.join(t["dir"], "e2b-sandbox")
            if check_helper(t, helper, report):
                check_seccomp(t, helper, tables, config["resolver"], report)
    if report.failures:
        print(f"\ncheck-artifacts: {len(report.failures)} failed:")
        for failure in report.failures:
            print(f"  {failure}")
        return 1
    print("\ncheck-artifacts: every check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
