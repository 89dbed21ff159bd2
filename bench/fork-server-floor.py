"""The CPU floor of a fork server, for the throughput target of the warm pool.

A pre-started Python forks one child per execution; the child enters fresh
user, mount, pid, network, ipc and uts namespaces, mounts fresh tmpfs work
dirs, forks pid 1 of its namespace, which forks the program that runs
`print(1)`. Eight at a time, as the benchmark's concurrency. No cgroups,
Landlock, seccomp, fresh /proc or root, and no host bookkeeping: the real
thing costs more. Prints executions per second and CPU per execution, two
ways: busy CPU of all cores (/proc/stat: includes the kernel's deferred
namespace teardown, and whatever else the machine runs) and this process's
reaped children's (user + system), with and without the network namespace,
beside a raw spawn of `python3 -c 'print(1)'` (fork + exec, no isolation)
eight at a time in the same run.

    /usr/bin/python3 bench/fork-server-floor.py [executions]
"""
import ctypes
import os
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
CLONE = {"user": 0x10000000, "mount": 0x00020000, "pid": 0x20000000,
         "net": 0x40000000, "ipc": 0x08000000, "uts": 0x04000000}
MS_REC, MS_PRIVATE = 0x4000, 0x40000
TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def busy_ms():
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return (f[0] + f[1] + f[2] + f[5] + f[6]) * TICK_MS


def execution(flags):
    if libc.unshare(flags) != 0:
        os._exit(90)
    libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None)
    for target in (b"/tmp", b"/dev/shm"):
        if libc.mount(b"tmpfs", target, b"tmpfs", 0, b"size=1m") != 0:
            os._exit(91)
    if os.fork() == 0:  # pid 1 of the new pid namespace
        if os.fork() == 0:  # the program
            exec(compile("print(1)", "<string>", "exec"), {"__name__": "__main__"})
            sys.stdout.flush()
            os._exit(0)
        os.wait()
        os._exit(0)
    os.wait()
    os._exit(0)


def children_ms():
    t = os.times()
    return (t.children_user + t.children_system) * 1000


def raw():
    os.execv(sys.executable, [sys.executable, "-c", "print(1)"])  # run me with /usr/bin/python3


def measure(flags, n, concurrency=8):
    start_busy, start, start_own = busy_ms(), time.perf_counter(), children_ms()
    running, failed = 0, 0
    for _ in range(n):
        while running >= concurrency:
            _, status = os.wait()
            running -= 1
            failed += status != 0
        if os.fork() == 0:
            raw() if flags is None else execution(flags)
        running += 1
    while running:
        _, status = os.wait()
        running -= 1
        failed += status != 0
    if failed:
        sys.exit(f"{failed} executions failed (unprivileged user namespaces needed)")
    seconds = time.perf_counter() - start
    return n / seconds, (busy_ms() - start_busy) / n, (children_ms() - start_own) / n


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    os.dup2(os.open("/dev/null", os.O_WRONLY), 1)  # the programs' output
    print(f"{n} executions each, 8 at a time, load {os.getloadavg()[0]:.2f}", file=sys.stderr)
    for label, names in (("raw spawn (fork + exec python3)", None),
                         ("fork server, all six namespaces", CLONE),
                         ("fork server, without the network namespace", [k for k in CLONE if k != "net"])):
        flags = None if names is None else sum(CLONE[name] for name in names)
        per_second, cpu, own = measure(flags, n)
        print(f"{label}: {per_second:.0f} exec/s, CPU per execution {cpu:.2f} ms (machine), "
              f"{own:.2f} ms (children)", file=sys.stderr)


main()
