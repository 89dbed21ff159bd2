'use strict'
// Hostile programs, each through the public API: the call comes back promptly
// with the right result, and the host is as it was — its files, processes,
// memory, and a sentinel server on 127.0.0.1.
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const { E2BService } = require('..')
const { descendants, processesWith, tierOf } = require('./helpers')

const svc = new E2BService({ backend: 'local', timeoutMs: 20000 })
let tier
const sentinelFile = path.join(os.tmpdir(), `sentinel-${process.pid}`)
const cwdFile = path.join(process.cwd(), `.sentinel-${process.pid}`)
let sentinel
let port

beforeAll(async () => {
  tier = await tierOf(svc)
  fs.writeFileSync(sentinelFile, 'untouched')
  fs.writeFileSync(cwdFile, 'cwd-secret')
  sentinel = net.createServer((s) => s.end('sentinel'))
  await new Promise((r) => sentinel.listen(0, '127.0.0.1', r))
  port = sentinel.address().port
})

afterAll(async () => {
  fs.rmSync(sentinelFile, { force: true })
  fs.rmSync(cwdFile, { force: true })
  sentinel.close()
  await svc.close()
})

async function sentinelAnswers() {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    let data = ''
    socket.on('data', (d) => (data += d))
    socket.on('end', () => resolve(data === 'sentinel'))
    socket.on('error', () => resolve(false))
  })
}

// After every hostile program: nothing of it runs, the host still works.
afterEach(async () => {
  expect(descendants()).toEqual([])
  expect(fs.readFileSync(sentinelFile, 'utf8')).toBe('untouched')
  expect(await sentinelAnswers()).toBe(true)
  expect(execFileSync('/bin/echo', ['host ok']).toString()).toBe('host ok\n')
})

describe('resource exhaustion is contained and named', () => {
  test('bash fork bomb', async () => {
    const r = await svc.executeCode(':(){ :|:& };:; sleep 2; echo survived', 'bash', { timeoutMs: 10000 })
    expect(r.durationMs).toBeLessThan(15000)
    expect(r.exitCode).not.toBe(124)
  })

  test('python fork bomb → ProcessLimitError', async () => {
    const r = await svc.executePython('import os\nwhile True: os.fork()', { timeoutMs: 10000 })
    expect(r).toMatchObject({ error: 'ProcessLimitError', limit: 'processes' })
    expect(r.exitCode).not.toBe(0)
  })

  test('pid exhaustion with sleeping children → ProcessLimitError', async () => {
    const r = await svc.executePython(
      'import subprocess\nps = [subprocess.Popen(["sleep", "100"]) for _ in range(500)]',
      { timeoutMs: 10000 },
    )
    expect(r).toMatchObject({ error: 'ProcessLimitError', limit: 'processes' })
  })

  test.each([
    ['python', 'x = []\nwhile True: x.append(bytearray(10**7))'],
    ['node', 'const a = []; for (;;) a.push(Buffer.alloc(1e7, 1))'],
    ['node', 'const a = []; for (;;) a.push(new Array(1e6).fill(1.5))'],
  ])('%s memory bomb → MemoryLimitError', async (language, code) => {
    const r = await svc.executeCode(code, language, { limits: { memoryBytes: 256 * 1024 * 1024 } })
    expect(r).toMatchObject({ error: 'MemoryLimitError', limit: 'memory' })
    expect(r.exitCode).not.toBe(0)
  })

  test('disk fill → DiskLimitError, host disk untouched', async () => {
    const before = fs.statfsSync('/').bfree
    const r = await svc.executeCode('cat /dev/zero > ~/fill; echo $?', 'bash', {
      limits: { diskBytes: 64 * 1024 * 1024 },
    })
    expect(r).toMatchObject({ error: 'DiskLimitError', limit: 'disk' })
    // A tmpfs of its own is full; without one, no file may grow past the limit.
    expect(r.stderr).toContain(tier === 'namespaces' ? 'No space left on device' : 'File size limit exceeded')
    expect(Math.abs(fs.statfsSync('/').bfree - before) * fs.statfsSync('/').bsize).toBeLessThan(32 * 1024 * 1024)
  })

  test('disk fill by many files → DiskLimitError, and the sandbox stopped', async () => {
    const r = await svc.executeCode('i=0; while :; do head -c 1048576 /dev/zero > ~/f$i || break; i=$((i+1)); done; sleep 5', 'bash', {
      limits: { diskBytes: 32 * 1024 * 1024 },
    })
    expect(r).toMatchObject({ error: 'DiskLimitError', limit: 'disk' })
  })

  test('a GiB of output → OutputLimitError with host memory bounded by the cap', async () => {
    const rss = process.memoryUsage().rss
    const r = await svc.executePython('import sys\nchunk = "x" * 65536\nfor _ in range(16384): sys.stdout.write(chunk)')
    expect(r).toMatchObject({ truncated: true, error: 'OutputLimitError', limit: 'output' })
    expect(r.stdout.length).toBe(10 * 1024 * 1024)
    expect(process.memoryUsage().rss - rss).toBeLessThan(200 * 1024 * 1024)
  })

  test('fd exhaustion stays inside', async () => {
    const r = await svc.executePython('fs = []\nwhile True: fs.append(open("/dev/null"))')
    expect(r.stderr).toContain('Too many open files')
    expect(r.exitCode).toBe(1)
  })

  test('an infinite loop that ignores every signal it can → TimeoutError', async () => {
    const code = 'import signal\nfor s in range(1, 32):\n    try: signal.signal(s, signal.SIG_IGN)\n    except Exception: pass\nwhile True: pass'
    const r = await svc.executePython(code, { timeoutMs: 1000 })
    expect(r).toMatchObject({ timedOut: true, exitCode: 124, error: 'TimeoutError' })
  })

  test('a double-forked setsid daemon is gone with the call', async () => {
    const marker = `${700000 + Math.floor(Math.random() * 99999)}`
    const r = await svc.executeCode(`(setsid sh -c 'trap "" HUP TERM; sleep ${marker}' &) ; echo bye`, 'bash')
    expect(r).toMatchObject({ stdout: 'bye\n', exitCode: 0 })
    expect(processesWith(`sleep ${marker}`)).toEqual([])
  })
})

describe('the host stays out of reach', () => {
  test('secrets: /etc/shadow, the caller environment, /proc/1/environ, home and cwd files', async () => {
    process.env.E2B_HOSTILE_SECRET = 'env-secret'
    const r = await svc.executeCode(
      `cat /etc/shadow; env; cat /proc/1/environ; cat /proc/*/environ; cat ${cwdFile}; ls ${os.homedir()}; cat ${sentinelFile}; echo END`,
      'bash',
    )
    delete process.env.E2B_HOSTILE_SECRET
    expect(r.stdout).toContain('END')
    for (const secret of ['root:', 'env-secret', 'cwd-secret', 'untouched', 'E2B_HOSTILE']) {
      expect(r.stdout).not.toContain(secret)
    }
  })

  test('the helper that built the sandbox shows no host path: its command line is its name', async () => {
    const r = await svc.executeCode('tr "\\0" " " < /proc/$PPID/cmdline; echo; tr "\\0" " " < /proc/1/cmdline', 'bash')
    const [parent, init] = r.stdout.split('\n')
    expect(parent).toBe('e2b-sandbox ')
    // Without a pid namespace, pid 1 is the container's own init.
    if (tier === 'namespaces') expect(init).toBe('e2b-sandbox ')
  })

  test('writing outside the work dir fails', async () => {
    const r = await svc.executePython(`
import os
# (/tmp is the sandbox's own: the host's sentinel there is checked after each test)
for p in ["/usr/bin/x", "/etc/passwd", "/x", "/proc/sys/kernel/hostname", "/proc/self/exe", "/dev/x"]:
    try:
        open(p, "w").write("owned")
        print("WROTE", p)
    except OSError as e:
        print(type(e).__name__)
`)
    expect(r.stdout).not.toContain('WROTE')
  })

  test('runc CVE-2019-5736: the interpreter binary cannot be overwritten through /proc/self/exe', async () => {
    const r = await svc.executeCode(
      'exec 3>/proc/self/exe 2>/dev/null && echo OPENED; cp /bin/true /proc/1/exe 2>/dev/null && echo COPIED; echo done',
      'bash',
    )
    expect(r.stdout).toBe('done\n')
  })

  test('the sentinel server is unreachable', async () => {
    const r = await svc.executeCode(`exec 3<>/dev/tcp/127.0.0.1/${port} && cat <&3; echo rc=$?`, 'bash')
    expect(r.stdout).not.toContain('sentinel')
  })

  test('host processes cannot be seen, killed, signalled or ptraced', async () => {
    const r = await svc.executePython(`
import ctypes, os, signal
for pid in (${process.pid}, 1):
    try:
        os.kill(pid, signal.SIGKILL); print("killed", pid)
    except OSError as e:
        print(type(e).__name__)
libc = ctypes.CDLL(None, use_errno=True)
print("ptrace", libc.ptrace(16, 1, 0, 0), ctypes.get_errno())  # PTRACE_ATTACH init
print("ptrace", libc.ptrace(0, 0, 0, 0), ctypes.get_errno())   # PTRACE_TRACEME
`)
    expect(r.stdout).not.toContain('killed')
    expect(r.stdout).toContain('ptrace -1 1\nptrace -1 1\n')
    expect(process.kill(process.pid, 0)).toBe(true)
  })

  test('mount, new namespaces and setuid are denied', async () => {
    const r = await svc.executePython(`
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
print("mount", libc.mount(b"none", b"/tmp", b"tmpfs", 0, None), ctypes.get_errno())
for flag in (0x10000000, 0x20000000, 0x40000000, 0x00020000):  # user, pid, net, mount
    print("unshare", libc.unshare(flag), ctypes.get_errno())
print("setns", libc.setns(os.open("/proc/self/ns/mnt", os.O_RDONLY), 0), ctypes.get_errno())
try:
    os.setuid(0); print("SETUID")
except OSError:
    print("setuid denied")
print(os.popen("su -c id root 2>&1; sudo id 2>&1").read().count("uid=0"))
`)
    expect(r.stdout).toBe(
      'mount -1 1\nunshare -1 1\nunshare -1 1\nunshare -1 1\nunshare -1 1\nsetns -1 1\nsetuid denied\n0\n',
    )
  })

  test('escapes through /proc/self/root, /proc/*/cwd, symlinks and hard links find only the sandbox', async () => {
    const r = await svc.executeCode(
      [
        'ls /proc/self/root/',
        'ls /proc/1/cwd/ 2>&1 | head -1',
        'ls /proc/1/root/ 2>&1 | head -1',
        'ln -s /etc/shadow ~/s; cat ~/s 2>&1',
        `ln -s ${sentinelFile} ~/t; cat ~/t 2>&1`,
        'ln /etc/hostname ~/h 2>&1 | head -1',
        'ls /sys 2>&1',
      ].join('; '),
      'bash',
    )
    expect(r.stdout).not.toMatch(/root:|untouched/)
    if (tier === 'namespaces') {
      expect(r.stdout.split('\n').slice(0, 6)).toEqual(['bin', 'dev', 'etc', 'home', 'lib', 'lib64'])
    } else {
      // Without a root of its own, every one of these is refused.
      for (const line of r.stdout.trim().split('\n')) expect(line).toMatch(/Permission denied|cross-device link/)
    }
  })

  test('TIOCSTI cannot push keystrokes into a terminal', async () => {
    const r = await svc.executePython(`
import fcntl, os, termios
for path in ("/dev/tty", "/proc/self/fd/0"):
    try:
        fd = os.open(path, os.O_RDWR)
        fcntl.ioctl(fd, termios.TIOCSTI, b"x"); print("PUSHED")
    except OSError as e:
        print(type(e).__name__)
`)
    expect(r.stdout).not.toContain('PUSHED')
  })

  test('kernel attack surface: bpf, keyctl, io_uring, userfaultfd, perf, syslog are denied', async () => {
    const r = await svc.executePython(`
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
for name, nr in (("bpf", 321), ("keyctl", 250), ("io_uring_setup", 425), ("userfaultfd", 323), ("perf_event_open", 298), ("syslog", 103)):
    print(name, libc.syscall(nr, 0, 0, 0, 0, 0), ctypes.get_errno())
`)
    expect(r.stdout).toBe(
      'bpf -1 1\nkeyctl -1 1\nio_uring_setup -1 1\nuserfaultfd -1 1\nperf_event_open -1 1\nsyslog -1 1\n',
    )
  })

  test('modify_ldt, personality(ADDR_NO_RANDOMIZE), memfd_secret, fanotify and inotify are denied', async () => {
    const r = await svc.executePython(`
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
for name, nr, arg in (("modify_ldt", 154, 0), ("personality", 135, 0x0040000), ("memfd_secret", 447, 0),
                      ("fanotify_init", 300, 0), ("inotify_init", 253, 0), ("inotify_init1", 294, 0)):
    print(name, libc.syscall(nr, arg, 0, 0, 0, 0), ctypes.get_errno())
print("query", libc.syscall(135, ctypes.c_ulong(0xffffffff)) & 0xff)
`)
    expect(r.stdout).toBe(
      'modify_ldt -1 1\npersonality -1 1\nmemfd_secret -1 1\nfanotify_init -1 1\ninotify_init -1 1\ninotify_init1 -1 1\nquery 0\n',
    )
  })

  test('a program that watches files gets a clean error, not a crash', async () => {
    const r = await svc.executeNode(`
const fs = require('fs')
try { fs.watch('.').close(); console.log('WATCHING') } catch (e) { console.log(e.code) }
`)
    expect(r).toMatchObject({ stdout: 'EPERM\n', exitCode: 0 })
  })

  test('a sandbox cannot read a concurrent sandbox’s files', async () => {
    const writer = svc.executeCode('echo concurrent-secret > ~/f; echo concurrent-secret > /tmp/f; echo x > /dev/shm/f; sleep 2', 'bash')
    await new Promise((r) => setTimeout(r, 500))
    const reader = await svc.executeCode('cat ~/f /tmp/f /dev/shm/f /proc/*/root/home/user/f 2>/dev/null; echo end', 'bash')
    await writer
    expect(reader.stdout).toBe('end\n')
  })
})
