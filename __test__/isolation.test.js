'use strict'
// The code cannot see or change the host's files, processes or network. Where
// namespaces are refused (the landlock tier, as in a default container), the
// same promises hold by other means, and the ones that tier cannot keep are
// checked as SECURITY.md states them.
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const { E2BService } = require('..')
const { commandsWith, eventually, tierOf } = require('./helpers')

const svc = new E2BService({ backend: 'local' })
let tier
beforeAll(async () => {
  tier = await tierOf(svc)
})
afterAll(() => svc.close())

test('cannot read a file the test puts in the host /tmp or home', async () => {
  const secret = `secret-${process.pid}-${Date.now()}`
  const files = [path.join(os.tmpdir(), `host-only-${secret}`), path.join(os.homedir(), `.host-only-${secret}`)]
  for (const f of files) fs.writeFileSync(f, secret)
  try {
    for (const f of files) {
      const r = await svc.executeCode(`cat ${f}; ls -a ${path.dirname(f)}`, 'bash')
      expect(r.stdout).not.toContain(secret)
      // Not there at all in its own root; there, but not readable, without one.
      expect(r.stderr).toContain(tier === 'namespaces' ? 'No such file' : 'Permission denied')
    }
  } finally {
    for (const f of files) fs.rmSync(f, { force: true })
  }
})

test('cannot read host secrets, not even through /proc', async () => {
  const r = await svc.executePython(`
import os
def readable(p):
    try:
        (os.listdir if os.path.isdir(p) else lambda p: open(p).read())(p)
        return True
    except OSError:
        return False
for p in ["/etc/shadow", "/root", "/proc/1/root/etc/shadow", "/proc/${process.pid}/environ"]:
    print(p, readable(p))
print(sorted(k for k in os.environ if k != "PYTHONPATH"))
print("PYTHONPATH", os.environ.get("PYTHONPATH"))
`)
  for (const secret of ['/etc/shadow', '/root', '/proc/1/root/etc/shadow', `/proc/${process.pid}/environ`]) {
    expect(r.stdout).toContain(`${secret} False`)
  }
  expect(r.stdout).not.toMatch(/E2B_|NODE_|JEST/)
  // Without a root of its own, TMPDIR points into the sandbox's room.
  const names = ['HOME', 'LANG', 'LOGNAME', 'PATH', 'SHELL', ...(tier === 'landlock' ? ['TMPDIR'] : []), 'USER']
  expect(r.stdout).toContain(JSON.stringify(names).replace(/"/g, "'").replace(/,/g, ', '))
  // PYTHONPATH only ever names the data-science environment (when installed).
  expect(r.stdout).toMatch(/^PYTHONPATH (None|\S+\/environment-data-science-[0-9a-f]+\/python)$/m)
})

test('cannot change system directories, and writes stay in the sandbox', async () => {
  const marker = `/tmp/host-only-written-${process.pid}`
  const r = await svc.executeCode(
    `touch /usr/x 2>&1; touch /etc/x 2>&1; touch / 2>&1; echo hi > ${marker} && cat ${marker}; echo data > ~/f && cat ~/f`,
    'bash',
  )
  expect(r.stdout).toMatch(/Read-only file system|Permission denied/)
  // Its own /tmp in its own root; without one, /tmp is the host's and
  // refused (TMPDIR is the sandbox's).
  expect(r.stdout).toContain(tier === 'namespaces' ? 'hi\ndata\n' : 'data\n')
  expect(fs.existsSync(marker)).toBe(false)
})

test('runs as an unprivileged user with no capabilities', async () => {
  const r = await svc.executeCode('id -u; id -g; whoami; grep -E "^Cap(Eff|Prm|Bnd)" /proc/self/status; echo $HOME; pwd', 'bash')
  if (tier === 'namespaces') {
    expect(r.stdout).toBe(
      '1000\n1000\nuser\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000000\n/home/user\n/home/user\n',
    )
    return
  }
  // A uid of its own when Node is root, else Node's; no capability either
  // way (the bounding set cannot be emptied without one, and no_new_privs
  // keeps it out of reach); the work dir is the sandbox's room.
  const [uid, gid] = r.stdout.split('\n').map(Number)
  expect(uid).toBeGreaterThan(0)
  expect(gid).toBeGreaterThan(0)
  if (process.getuid() === 0) expect(uid).toBeGreaterThanOrEqual(40000)
  else expect(uid).toBe(process.getuid())
  expect(r.stdout).toContain('CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n')
  const [home, cwd] = r.stdout.trim().split('\n').slice(-2)
  expect(home).toBe(cwd)
  expect(home).toMatch(/\/e2b-native-room-\d+-[0-9a-f]+\/home$/)
})

test('cannot see host processes', async () => {
  const r = await svc.executePython(`
import os
pids = [p for p in os.listdir("/proc") if p.isdigit()]
print(len(pids) <= 3, any(("je" + "st") in open(f"/proc/{p}/cmdline").read() for p in pids))
`)
  // Without a pid namespace the host's processes show in /proc (SECURITY.md):
  // their command lines, not their environment, memory or files (above).
  expect(r.stdout).toBe(tier === 'namespaces' ? 'True False\n' : 'False True\n')
})

test('sees only its own cgroups, at the root of its cgroup namespace', async () => {
  if (tier !== 'namespaces') return // no cgroup namespace without namespaces (SECURITY.md)
  const cold = new E2BService({ backend: 'local', pool: false })
  try {
    for (const [service, language, code] of [
      [cold, 'bash', 'cat /proc/self/cgroup'],
      [cold, 'python', 'print(open("/proc/self/cgroup").read(), end="")'],
      [svc, 'python', 'print(open("/proc/self/cgroup").read(), end="")'],
    ]) {
      const r = await service.executeCode(code, language)
      const paths = r.stdout.trim().split('\n').map((line) => line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1))
      expect(paths.length).toBeGreaterThan(0)
      expect(paths.every((p) => p === '/')).toBe(true)
    }
  } finally {
    await cold.close()
  }
})

test('Node’s heap fits in the memory limit, cold and warm', async () => {
  const cold = new E2BService({ backend: 'local', pool: false })
  const code = 'console.log(require("v8").getHeapStatistics().heap_size_limit)'
  try {
    // The default limit (512 MiB) is the one the pool's sandboxes have.
    for (const service of [cold, svc]) {
      for (const memoryBytes of [512 * 2 ** 20, 256 * 2 ** 20, 2 ** 30]) {
        const r = await service.executeNode(code, { limits: { memoryBytes } })
        const heap = Number(r.stdout)
        expect(heap).toBeGreaterThan(memoryBytes / 4)
        expect(heap).toBeLessThan(memoryBytes)
      }
    }
  } finally {
    await cold.close()
  }
})

test('where a memory cgroup holds the sandbox, it shows read-only at /sys/fs/cgroup/memory', async () => {
  const memoryBytes = 300 * 2 ** 20
  const r = await svc.executeCode(
    [
      'f=/sys/fs/cgroup/memory/memory.limit_in_bytes',
      'if [ -e $f ]; then cat $f; echo 1 > $f; else echo none; fi',
      'grep " /sys/fs/cgroup/memory " /proc/self/mountinfo | cut -d" " -f4,6',
    ].join('\n'),
    'bash',
    { limits: { memoryBytes } },
  )
  if (process.getuid() !== 0 || tier !== 'namespaces') {
    expect(r.stdout).toBe('none\n')
    return
  }
  // Its own limit; no host path (the mount's root is the namespace's root).
  const [limit, mount] = r.stdout.split('\n')
  expect(limit).toBe(String(memoryBytes))
  expect(mount).toMatch(/^\/ ro(,|$)/)
  expect(r.stderr).toContain('Read-only file system')
})

test('cannot reach a server on the host loopback: no network, no inet sockets', async () => {
  const server = net.createServer((s) => s.end('host-secret'))
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address()
  try {
    const r = await svc.executePython(`
import socket
for family in (socket.AF_INET, socket.AF_INET6):
    try:
        print(socket.socket(family).connect(("127.0.0.1", ${port})))
    except OSError as e:
        print(type(e).__name__)
a, b = socket.socketpair()
a.send(b"unix ok"); print(b.recv(7).decode())
`)
    expect(r.stdout).toBe('PermissionError\nPermissionError\nunix ok\n')
    const bash = await svc.executeCode(`exec 3<>/dev/tcp/127.0.0.1/${port} && cat <&3`, 'bash')
    expect(bash.stdout).not.toContain('host-secret')
  } finally {
    server.close()
  }
})

test('concurrent sandboxes cannot see each other’s files', async () => {
  const writer = svc.executeCode('echo mine > ~/shared.txt; echo mine > /tmp/shared.txt; sleep 1', 'bash')
  await new Promise((r) => setTimeout(r, 300))
  const reader = await svc.executeCode('cat ~/shared.txt /tmp/shared.txt 2>&1; ls -A ~ /tmp', 'bash')
  await writer
  expect(reader.stdout).not.toContain('mine')
})

test('as root, concurrent sandboxes run as host uids of their own, never root; else as Node’s uid', async () => {
  const markers = [1, 2].map((i) => `${800000 + Math.floor(Math.random() * 99999)}${i}`)
  const calls = markers.map((m) => svc.executeCode(`sleep ${m} & echo started; wait`, 'bash', { timeoutMs: 3000 }))
  const uids = await eventually(() => {
    const found = markers.map((m) => commandsWith(`sleep ${m}`)[0])
    return found.every(Boolean) && found.map((pid) => Number(/^Uid:\t(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]))
  }, 2500)
  await Promise.all(calls)
  expect(uids).toHaveLength(2)
  if (process.getuid() === 0) {
    expect(uids).not.toContain(0)
    expect(uids[0]).not.toBe(uids[1])
  } else {
    expect(uids).toEqual([process.getuid(), process.getuid()])
  }
})

test('the program starts as a fresh process: only stdio open, default signals', async () => {
  const r = await svc.executeCode('ls /proc/self/fd | wc -l; yes | head -1; echo "status=${PIPESTATUS[0]}"; grep -E "^Sig(Blk|Ign)" /proc/self/status', 'bash')
  // ls, wc: 0, 1, 2 and ls's own directory handle.
  expect(r.stdout).toBe('4\ny\nstatus=141\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n')
  expect(r.stderr).toBe('')
})

test('the local time zone is the host’s: /etc/localtime links into /usr as on the host', async () => {
  let link
  try {
    link = fs.readlinkSync('/etc/localtime')
  } catch {
    return // the host has no link to show
  }
  const r = await svc.executeCode('readlink /etc/localtime; date +%Z', 'bash')
  expect(r.stdout.split('\n')[0]).toBe(link.startsWith('/usr/') ? link : '')
  const hostZone = require('node:child_process').execFileSync('date', ['+%Z'], { env: {}, encoding: 'utf8' }).trim()
  expect(r.stdout.split('\n')[1]).toBe(hostZone)
})

test('a service that requires a tier probes it once per process: each call builds one sandbox', async () => {
  // A helper that counts its starts: the probe's sandboxes and the calls'.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'e2b-counted-helper-'))
  const helper = path.join(dir, 'e2b-sandbox')
  fs.writeFileSync(helper, `#!/bin/sh\necho >> ${dir}/starts\nexec ${path.join(__dirname, '..', 'e2b-sandbox')} "$@"\n`, { mode: 0o755 })
  const starts = () => fs.readFileSync(path.join(dir, 'starts'), 'utf8').length
  const before = process.env.E2B_NATIVE_SANDBOX_HELPER
  process.env.E2B_NATIVE_SANDBOX_HELPER = helper
  const own = new E2BService({ backend: 'local', isolation: 'landlock', pool: false })
  if (before === undefined) delete process.env.E2B_NATIVE_SANDBOX_HELPER
  else process.env.E2B_NATIVE_SANDBOX_HELPER = before
  try {
    expect(await own.executeCode('echo 1', 'bash')).toMatchObject({ stdout: '1\n', isolation: 'landlock' })
    const first = starts()
    for (let i = 0; i < 3; i++) expect(await own.executeCode('echo 1', 'bash')).toMatchObject({ stdout: '1\n' })
    expect(starts() - first).toBe(3)
  } finally {
    await own.close()
    fs.rmSync(dir, { recursive: true, force: true })
  }
})
