'use strict'
// The warm pool: sandboxes prepared ahead of time, each serving exactly one
// call and destroyed after it, refilled in the background, emptied when idle
// and by close(), never keeping Node alive. Results are the same as cold ones.
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { E2BService, liveSandboxes, pooledSandboxPids } = require('..')
const { descendants, describeProcesses, eventually, forkServerPids, tierOf } = require('./helpers')

const svc = new E2BService({ backend: 'local', pool: { size: 2 } })
const cold = new E2BService({ backend: 'local', pool: false })
let tier
beforeAll(async () => {
  tier = await tierOf(cold)
})
afterAll(() => Promise.all([svc.close(), cold.close()]))

const TRIVIAL = { python: 'pass', node: '0', bash: ':' }

/**
 * Waits until `language`'s lane is full and idle, so that the next call is
 * served warm. A lane fills after a call (the first call of a language runs
 * cold and starts it).
 */
async function ready(service, language, size = 2) {
  const lane = service.poolStats()[language]
  if (lane === undefined || lane.ready + lane.starting < size) await service.executeCode(TRIVIAL[language], language)
  const full = () => {
    const lane = service.poolStats()[language]
    return lane !== undefined && lane.ready === size && lane.starting === 0
  }
  expect(await eventually(full, 20000)).toBe(true)
}

/** Runs one call and checks whether the pool served it. */
async function run(service, language, code, options) {
  const lane = () => (service.poolStats()[language] || { served: 0 }).served
  const before = lane()
  const result = await service.executeCode(code, language, options)
  return { result, warm: lane() > before }
}

function alive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}

const PY_MARKS = [
  'import os',
  'print(os.getpid(), os.getppid())',
  'print(sorted(p for p in os.listdir("/proc") if p.isdigit()))',
  'print([os.path.exists(p) for p in ("/tmp/left", "/home/user/left", "/dev/shm/left")], os.environ.get("LEFT"))',
  'for p in ("/tmp/left", "/home/user/left", "/dev/shm/left"): open(p, "w").write("x")',
  'os.environ["LEFT"] = "1"',
  'import subprocess; subprocess.Popen(["sleep", "1000"], start_new_session=True)',
].join('\n')

// Without namespaces, the same marks in the sandbox's own room (HOME,
// TMPDIR); /tmp and /dev/shm are the host's, and refused.
const PY_MARKS_UNSHARED = [
  'import os, subprocess',
  'home, tmp = os.environ["HOME"], os.environ["TMPDIR"]',
  'print([os.path.exists(d + "/left") for d in (home, tmp)], os.environ.get("LEFT"))',
  'for d in (home, tmp): open(d + "/left", "w").write("x")',
  'os.environ["LEFT"] = "1"',
  'subprocess.Popen(["sleep", "1000"], start_new_session=True)',
].join('\n')

// A fresh sandbox: the program is the first process init forked (pid 2), no
// other process runs, and nothing the last call wrote is there.
test('each call gets its own sandbox: no file, process or env passes to the next', async () => {
  for (let i = 0; i < 4; i++) {
    await ready(svc, 'python')
    const { result, warm } = await run(svc, 'python', tier === 'namespaces' ? PY_MARKS : PY_MARKS_UNSHARED)
    expect(warm).toBe(true)
    expect(result.exitCode).toBe(0)
    if (tier === 'namespaces') {
      const [ids, pids, left] = result.stdout.trim().split('\n')
      expect(ids).toBe('2 1')
      expect(pids).toBe("['1', '2']") // init and the program: nothing left by the last call
      expect(left).toBe('[False, False, False] None')
    } else {
      expect(result.stdout).toBe('[False, False] None\n')
    }
  }
  expect(liveSandboxes()).toBe(0)
  expect(descendants()).toEqual([])
})

test('node: globals, files and env do not carry over', async () => {
  const code = `
    const fs = require('fs')
    const left = require('os').tmpdir() + '/left'
    console.log(typeof globalThis.leftBehind, fs.existsSync(left), process.env.LEFT)
    globalThis.leftBehind = 1; fs.writeFileSync(left, 'x'); process.env.LEFT = '1'
    require('child_process').spawn('sleep', ['1000'], { detached: true, stdio: 'ignore' }).unref()
  `
  for (let i = 0; i < 3; i++) {
    await ready(svc, 'node')
    const { result, warm } = await run(svc, 'node', code)
    expect(warm).toBe(true)
    expect(result).toMatchObject({ stdout: 'undefined false undefined\n', exitCode: 0 })
  }
  expect(descendants()).toEqual([])
})

// Python's sandboxes are forked from one interpreter (the fork server), so
// each call must start from that clean interpreter, never from the last
// call's: its globals, modules, builtins, environment, files, threads,
// descriptors and random state are its own.
test('python: module globals, random state, os.environ, files, threads and descriptors do not carry over', async () => {
  const code = [
    'import builtins, os, random, sys, threading, time',
    'marks = [globals().get("LEFT"), os.environ.get("LEFT"), os.path.exists("left"), threading.active_count(), sorted(os.listdir("/proc/self/fd"))]',
    'marks += [hasattr(builtins, "LEFT"), "json" in sys.modules, "/left" in sys.path]',
    'LEFT = 1; os.environ["LEFT"] = "1"; open("left", "w").write("x"); builtins.LEFT = 1; sys.path.append("/left")',
    'import json',
    'threading.Thread(target=time.sleep, args=(100,), daemon=True).start()',
    'os.open("/dev/null", os.O_RDONLY)',
    'print(marks, random.getrandbits(64))',
  ].join('\n')
  const draws = new Set()
  for (let i = 0; i < 3; i++) {
    await ready(svc, 'python')
    const { result, warm } = await run(svc, 'python', code)
    expect(warm).toBe(true)
    const [, marks, draw] = result.stdout.match(/^(.*\]) (\d+)\n$/)
    expect(marks).toBe("[None, None, False, 1, ['0', '1', '2', '3'], False, False, False]")
    draws.add(draw)
  }
  expect(draws.size).toBe(3)
  expect(descendants()).toEqual([])
})

// The fork server: one clean interpreter per pool; each sandbox's program is
// a fork of it, confined as a started one, with what exec would have done
// done (descriptors closed, its own name, dumpable), behind the same helper
// as ever (pid 1 is e2b-sandbox).
test('python sandboxes are forked from the fork server, confined as started ones', async () => {
  await ready(svc, 'python')
  expect(svc.poolStats().python.forkServer).toBe(true)
  expect(forkServerPids().length).toBeGreaterThanOrEqual(1)
  const code = [
    'import os, sys',
    'status = dict(l.split(":\t", 1) for l in open("/proc/self/status").read().splitlines())',
    'print(open("/proc/self/comm").read().strip().startswith("python3"), "ctypes" in sys.modules)',
    'print(sorted(os.listdir("/proc/self/fd")), status["CapEff"], status["NoNewPrivs"], status["Seccomp"])',
    'print(os.getuid(), os.stat("/proc/self/status").st_uid, sys.argv, sys.stdout.write_through)',
  ].join('\n')
  const { result, warm } = await run(svc, 'python', code)
  expect(warm).toBe(true)
  const [named, fds, ids] = result.stdout.trim().split('\n')
  expect(named).toBe('True True')
  expect(fds).toBe("['0', '1', '2', '3'] 0000000000000000 1 2")
  const uid = tier === 'namespaces' ? '1000' : String(JSON.parse(ids.split(' ')[0]))
  expect(ids).toBe(`${uid} ${uid} ['-c'] True`)
  expect(result.stderr).toBe('')
})

// Where sandboxes share Node's uid (not root, no namespaces), the server's
// memory and environment are not theirs to read: Landlock keeps a confined
// process from ptrace access to any process outside its domain, and the
// server is not dumpable besides (this held before that too, by Landlock).
test("a forked program cannot read the fork server's memory or environment", async () => {
  await ready(svc, 'python')
  const servers = forkServerPids()
  expect(servers.length).toBeGreaterThanOrEqual(1)
  const code = [
    'import os, sys',
    'for pid in sys.argv[1:] or os.environ["SERVERS"].split():',
    '    for name in ("mem", "environ", "maps"):',
    '        try:',
    '            with open(f"/proc/{pid}/{name}", "rb") as f: f.read(1); print(name, "read")',
    '        except OSError as e: print(name, type(e).__name__)',
  ].join('\n')
  const { result, warm } = await run(svc, 'python', code, { env: { SERVERS: servers.join(' ') } })
  expect(warm).toBe(true)
  expect(result.exitCode).toBe(0)
  expect(result.stdout).not.toContain('read')
})

test('forkServer: false starts an interpreter in every Python sandbox, with the same results', async () => {
  const own = new E2BService({ backend: 'local', pool: { size: 1, forkServer: false } })
  try {
    await ready(own, 'python', 1)
    expect(own.poolStats().python.forkServer).toBe(false)
    const code = 'import sys; print("ctypes" in sys.modules, open("/proc/self/cmdline").read().split("\\0")[:3])'
    const { result, warm } = await run(own, 'python', code)
    expect(warm).toBe(true)
    expect(result.stdout).toBe("False ['python3', '-u', '-c']\n")
  } finally {
    await own.close()
  }
})

test('without the fork server library, Python is pooled as before and poolStats says why', async () => {
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'e2b-no-fork-server-'))
  fs.copyFileSync(path.join(__dirname, '..', 'e2b-sandbox'), path.join(dir, 'e2b-sandbox'))
  fs.chmodSync(path.join(dir, 'e2b-sandbox'), 0o755)
  const before = process.env.E2B_NATIVE_SANDBOX_HELPER
  process.env.E2B_NATIVE_SANDBOX_HELPER = path.join(dir, 'e2b-sandbox')
  const own = new E2BService({ backend: 'local', pool: { size: 1 } })
  if (before === undefined) delete process.env.E2B_NATIVE_SANDBOX_HELPER
  else process.env.E2B_NATIVE_SANDBOX_HELPER = before
  try {
    await ready(own, 'python', 1)
    const lane = own.poolStats().python
    expect(lane.forkServer).toBe(false)
    expect(lane.forkServerError).toContain('libe2b_fork_server.so is missing')
    const { result, warm } = await run(own, 'python', 'print(6 * 7)')
    expect(warm).toBe(true)
    expect(result).toMatchObject({ stdout: '42\n', exitCode: 0 })
  } finally {
    await own.close()
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

// A server is spawned and registered under the registry's lock, as helpers
// are: whoever looks at /proc while one starts finds every process a pool's.
test('a starting fork server is never a process of nobody', async () => {
  const strays = []
  for (let i = 0; i < 5; i++) {
    const own = new E2BService({ backend: 'local', pool: { size: 1 } })
    try {
      await own.executePython('pass') // cold; the refill starts the server
      const until = Date.now() + 300
      while (Date.now() < until) {
        strays.push(...describeProcesses(descendants()))
        await new Promise((resolve) => setImmediate(resolve))
      }
      expect(await eventually(() => own.poolStats().python.forkServer, 10000)).toBe(true)
    } finally {
      await own.close()
    }
  }
  expect(strays).toEqual([])
})

// The server dies with this process (PR_SET_PDEATHSIG), which fires when the
// thread that started it ends: not a runtime thread that ends when idle.
test('a forked sandbox outlives the thread that started its fork server', async () => {
  const own = new E2BService({ backend: 'local', pool: { size: 1 } })
  try {
    await ready(own, 'python', 1)
    const { result, warm } = await run(own, 'python', 'import time; time.sleep(12); print("done")', { timeoutMs: 30000 })
    expect(warm).toBe(true)
    expect(result).toMatchObject({ stdout: 'done\n', exitCode: 0 })
  } finally {
    await own.close()
  }
}, 40000)

test('bash: variables, files, env and processes do not carry over; env and files are served', async () => {
  const code = 'echo "${LEFT-unset} $FROM_CALL $(cat left 2>/dev/null || echo none) $(cat in.txt)"; export LEFT=1; echo x > left; (sleep 1000 &)'
  for (let i = 0; i < 3; i++) {
    await ready(svc, 'bash')
    const { result, warm } = await run(svc, 'bash', code, { env: { FROM_CALL: `call${i}` }, files: [{ path: 'in.txt', content: 'data' }] })
    expect(warm).toBe(true)
    expect(result).toMatchObject({ stdout: `unset call${i} none data\n`, exitCode: 0 })
  }
  await ready(svc, 'bash')
  let { result, warm } = await run(svc, 'bash', 'ulimit -t', { limits: { cpuSeconds: 7 } })
  expect({ warm, stdout: result.stdout }).toEqual({ warm: true, stdout: '7\n' })
  await ready(svc, 'bash')
  ;({ result, warm } = await run(svc, 'bash', 'echo started; while :; do :; done', { timeoutMs: 500 }))
  expect(warm).toBe(true)
  expect(result).toMatchObject({ timedOut: true, exitCode: 124, stdout: 'started\n', error: 'TimeoutError' })
  expect(descendants()).toEqual([])
})

// Bash starts on its go, with the call's env: what it reads at start-up is
// served warm too.
test('bash: env read at start-up is served warm, with the cold result', async () => {
  const code = 'echo "$SHLVL $PATH $LANG $X"; shopt -q login_shell; echo $?; tr "\\0" "\\n" < /proc/self/environ | sort'
  const env = { SHLVL: '5', PATH: '/bin:/usr/bin', LANG: 'C', BASH_ENV: '/dev/null', X: 'a\nb' }
  await ready(svc, 'bash')
  const { result, warm } = await run(svc, 'bash', code, { env })
  const { result: coldResult } = await run(cold, 'bash', code, { env })
  expect(warm).toBe(true)
  expect(result.stdout.split('\n').slice(0, 3)).toEqual(['6 /bin:/usr/bin C a', 'b', '1'])
  const room = (text) => text.replace(/\/e2b-native-room-\d+-[0-9a-f]+\//g, '/<room>/')
  expect(room(result.stdout)).toBe(room(coldResult.stdout))
})

test('the pool refills in the background after each call', async () => {
  await ready(svc, 'python')
  const calls = await Promise.all([1, 2, 3].map((i) => svc.executePython(`print(${i})`)))
  expect(calls.map((r) => r.stdout)).toEqual(['1\n', '2\n', '3\n'])
  await ready(svc, 'python')
  expect(svc.poolStats()).toMatchObject({ size: 2, idleMs: 30000, python: { ready: 2, starting: 0 } })
})

// The same program warm and cold: the same result. Node's stack traces are
// compared up to their frames (a warm one shows the bootstrap's two).
const SAME = {
  python: [
    'print(1)',
    'print("é", end="")',
    '1/0',
    'def f():\n    raise ValueError("x")\nf()',
    '1 +',
    'import sys; sys.exit(3)',
    'import sys; sys.exit("bye")',
    'raise SystemExit(None)',
    'raise KeyboardInterrupt',
    'try:\n    1/0\nexcept Exception as e:\n    raise KeyError("k") from e',
    'import sys; print(sys.argv, __name__, sys.stdin.read() == "", sys.orig_argv[-1][:6])',
    'print(sorted(k for k in globals() if not k.startswith("__")))',
    'import os; print(sorted(os.listdir("/proc/self/fd")), os.getcwd(), os.getuid())',
    'import os; print(os.readlink("/proc/self/fd/0"))',
    'x = 5\ndef g():\n    return x\nprint(g())',
    'import sys; print(sys.flags.unbuffered, sys.path[0] == "")',
    'import os; print(sorted(os.environ))',
    // A warm Python skips freeing the interpreter at exit, and nothing else:
    'import atexit; atexit.register(print, "at exit")',
    'class A:\n    def __del__(self):\n        print("del", flush=True)\na = A()',
    'class A:\n    def __del__(self):\n        print("cycle")\na = A(); a.me = a; del a',
    'class A:\n    def __del__(self):\n        1/0\na = A()',
    'f = open("/dev/stdout", "w"); f.write("unflushed")',
    'import sys; sys.stdout = open("/dev/stderr", "w"); print("replaced")',
    'import sys; print("closed"); sys.stdout.close()',
    'import threading, time\ndef w():\n    time.sleep(0.05); print("thread")\nthreading.Thread(target=w).start()',
    'import threading, time\nthreading.Thread(target=time.sleep, args=(100,), daemon=True).start(); print("daemon")',
    'import os, sys; sys.stdout.write("x"); os.close(1)',
  ],
  node: [
    'console.log(1)',
    'throw new Error("x")',
    'null.x',
    'process.exit(4)',
    'Promise.reject(new TypeError("t"))',
    '1 +',
    'setTimeout(() => { throw new RangeError("late") }, 1)',
    'console.log(typeof require, typeof module, __filename, __dirname, process.argv.length, process.execArgv.at(-1))',
    'var v = 1; let l = 2; console.log(globalThis.v, typeof globalThis.l, this === globalThis)',
    // Node opens a /dev/null of its own when it first builds process.stdout,
    // which the warm bootstrap has done already: list fds after that.
    'process.stdout; console.log(require("fs").readdirSync("/proc/self/fd"), require("fs").readlinkSync("/proc/self/fd/0"))',
    'console.log(Object.keys(globalThis).sort().join())',
    'process.stdin.on("data", () => {}).on("end", () => console.log("end"))',
    'console.log(Object.keys(process.env).sort())',
    'process.exitCode = 7',
    // The bootstrap's warm-up writes nothing to the streams.
    'console.log(process.stdout.bytesWritten, process.stderr.bytesWritten, process.stdout.writableLength)',
    'console.error("e"); console.log("%s %d", "o", 1)',
  ],
  // The bootstrap execs a fresh `bash -c CODE`: $0, $_, LINENO, error
  // messages and the exec of a last simple command are a cold call's.
  bash: [
    'echo 1',
    'echo $0 $# "$_"',
    'exit 3',
    'set -e; false; echo unreached',
    'false',
    'set -o pipefail; false | true; echo $?',
    'no_such_command',
    'echo (',
    'echo $LINENO\necho $LINENO\n\n',
    'printf "%s|" "$BASH_EXECUTION_STRING"',
    'return 1; echo after',
    'cat; echo "stdin $?"; readlink /proc/self/fd/0; ls /proc/self/fd',
    'echo $SHLVL; echo $BASH',
    'env | grep -v "^_=" | sort',
    'echo "$-"; shopt | md5sum; set -o | md5sum',
    'trap "echo bye" EXIT; echo hi',
    'kill -9 $$',
    'sh -c \'kill -TERM $$\'',
    'echo "é ü"; echo -n "no newline"',
    // Without a uid of its own (a shared uid in a container) RLIMIT_NPROC
    // stands in for the pids cgroup, counting the uid's processes at start.
    'ulimit -a | grep -v "max user processes"',
    'tr "\\0" "\\n" < /proc/self/environ; tr "\\0" " " < /proc/$$/cmdline',
  ],
}

// Object addresses differ from run to run, warm or cold.
const headOf = (stderr) =>
  stderr
    .split('\n')
    .filter((line) => !line.startsWith('    at '))
    .join('\n')
    .replace(/0x[0-9a-f]+/g, '0x…')

test.each(Object.entries(SAME).flatMap(([language, codes]) => codes.map((code) => [language, code])))(
  '%s %j: warm and cold give the same result',
  async (language, code) => {
    await ready(svc, language)
    const { result: warm, warm: wasWarm } = await run(svc, language, code)
    const { result: coldResult } = await run(cold, language, code)
    expect(wasWarm).toBe(true)
    // Without namespaces each sandbox has a room of its own, named apart,
    // and (Node being root) a uid of its own.
    const room = (text) =>
      text.replace(/\/e2b-native-room-\d+-[0-9a-f]+\//g, '/<room>/').replace(/ [45]\d{4}\n$/, tier === 'landlock' ? ' <uid>\n' : '$&')
    const view = (r) => ({ stdout: room(r.stdout), stderr: room(headOf(r.stderr)), exitCode: r.exitCode, error: r.error })
    expect(view(warm)).toEqual(view(coldResult))
  },
)

test('env, files, readFiles, timeouts and cpuSeconds are served warm', async () => {
  await ready(svc, 'python')
  let { result, warm } = await run(svc, 'python', 'import os; print(os.environ["GREETING"], open("in.txt").read()); open("out.txt", "w").write("back")', {
    env: { GREETING: 'hi' },
    files: [{ path: 'in.txt', content: 'data' }],
    readFiles: ['out.txt'],
  })
  expect(warm).toBe(true)
  expect(result).toMatchObject({ stdout: 'hi data\n', exitCode: 0 })
  expect(result.files['out.txt'].toString()).toBe('back')

  // A file left open is flushed when the interpreter exits, warm as cold.
  await ready(svc, 'python')
  const unclosed = 'log = open("log.txt", "w"); log.write("kept")\nclass K:\n    f = open("k.txt", "w")\nK.f.write("class")'
  ;({ result, warm } = await run(svc, 'python', unclosed, { readFiles: ['log.txt', 'k.txt'] }))
  expect(warm).toBe(true)
  expect(result.files['log.txt'].toString()).toBe('kept')
  expect(result.files['k.txt'].toString()).toBe('class')

  // So is one left open by a module of the code's own.
  await ready(svc, 'python')
  ;({ result, warm } = await run(svc, 'python', 'import mine', {
    files: [{ path: 'mine.py', content: 'f = open("mod.txt", "w")\nf.write("module")\n' }],
    readFiles: ['mod.txt'],
  }))
  expect(warm).toBe(true)
  expect(result.files['mod.txt'].toString()).toBe('module')

  await ready(svc, 'python')
  ;({ result, warm } = await run(svc, 'python', 'import os; print(os.environ.get("GREETING"))'))
  expect(warm).toBe(true)
  expect(result.stdout).toBe('None\n')

  await ready(svc, 'python')
  ;({ result, warm } = await run(svc, 'python', 'print("started", flush=True)\nwhile True: pass', { timeoutMs: 500 }))
  expect(warm).toBe(true)
  expect(result).toMatchObject({ timedOut: true, exitCode: 124, stdout: 'started\n', error: 'TimeoutError' })

  await ready(svc, 'python')
  ;({ result, warm } = await run(svc, 'python', 'import resource; print(resource.getrlimit(resource.RLIMIT_CPU))', { limits: { cpuSeconds: 7 } }))
  expect(warm).toBe(true)
  expect(result.stdout).toBe('(7, 8)\n')
  expect(descendants()).toEqual([])
})

test('an abort kills a warm sandbox', async () => {
  await ready(svc, 'node')
  const controller = new AbortController()
  const call = svc.executeNode('setInterval(() => {}, 1000); console.log("up")', {
    signal: controller.signal,
    onStdout: () => controller.abort(),
  })
  await expect(call).rejects.toMatchObject({ code: 'ABORT_ERR' })
  expect(descendants()).toEqual([])
})

test('calls the pool cannot serve exactly run cold, with the same results', async () => {
  await ready(svc, 'python')
  await ready(svc, 'node')
  const cases = [
    ['python', 'import resource; print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])', { limits: { openFiles: 100 } }, '100\n'],
    ['python', 'import sys; print(sys.path[1])', { env: { PYTHONPATH: '/opt/x' } }, '/opt/x\n'],
    ['node', 'console.log(process.env.NODE_OPTIONS)', { env: { NODE_OPTIONS: '--no-warnings' } }, '--no-warnings\n'],
    ['node', 'const f = async () => 1; f().then(async (v) => console.log(await v))', undefined, '1\n'],
  ]
  for (const [language, code, options, stdout] of cases) {
    const { result, warm } = await run(svc, language, code, options)
    expect({ code, warm, stdout: result.stdout }).toEqual({ code, warm: false, stdout })
  }
})

test('pool: false turns it off; poolStats says so', async () => {
  const r = await cold.executePython('print(1)')
  expect(r.stdout).toBe('1\n')
  const none = { ready: 0, starting: 0, served: 0, forkServer: false }
  expect(cold.poolStats()).toEqual({ size: 0, idleMs: 30000, python: none, node: none, bash: none })
})

test('a lane unused for idleMs is emptied', async () => {
  const quick = new E2BService({ backend: 'local', pool: { size: 1, idleMs: 300 } })
  await quick.executePython('print(1)')
  await ready(quick, 'python', 1)
  const emptied = () => quick.poolStats().python.ready === 0 && quick.poolStats().python.starting === 0
  expect(await eventually(emptied, 10000)).toBe(true)
  await quick.close()
})

test('close() empties the pool and waits until its sandboxes are gone', async () => {
  const own = new E2BService({ backend: 'local', pool: { size: 2 } })
  await own.executeNode('console.log(1)')
  await ready(own, 'node')
  const before = new Set(pooledSandboxPids())
  await own.close()
  expect(own.poolStats().node).toEqual({ ready: 0, starting: 0, served: 0, forkServer: false })
  const ours = [...before].filter((pid) => !pooledSandboxPids().includes(pid))
  expect(ours.length).toBeGreaterThanOrEqual(2)
  expect(ours.filter(alive)).toEqual([])
  await expect(own.executePython('print(1)')).rejects.toMatchObject({ code: 'ERR_CLOSED' })
})

test.each([
  [5, /pool must be false or an object/],
  ['on', /pool must be false or an object/],
  [{ size: -1 }, /pool.size must be a whole number from 0/],
  [{ size: 1.5 }, /pool.size/],
  [{ size: 65 }, /pool.size/],
  [{ size: '2' }, /pool.size must be a whole number from 0 to 64, got "2"/],
  [{ idleMs: 0 }, /pool.idleMs must be a whole number of milliseconds from 1/],
  [{ idleMs: Infinity }, /pool.idleMs/],
  [{ sizes: 2 }, /pool: unknown option "sizes"/],
])('invalid pool option %j is rejected', (pool, message) => {
  let error
  try {
    new E2BService({ backend: 'local', pool })
  } catch (e) {
    error = e
  }
  expect(error).toBeInstanceOf(Error)
  expect(error).toMatchObject({ code: 'ERR_INVALID_ARG', message: expect.stringMatching(message) })
})

test('E2B_NATIVE_POOL_SIZE sets the default size and is checked', () => {
  const saved = process.env.E2B_NATIVE_POOL_SIZE
  try {
    process.env.E2B_NATIVE_POOL_SIZE = '0'
    expect(new E2BService({ backend: 'local' }).poolStats().size).toBe(0)
    process.env.E2B_NATIVE_POOL_SIZE = '3'
    expect(new E2BService({ backend: 'local' }).poolStats().size).toBe(3)
    expect(new E2BService({ backend: 'local', pool: { size: 1 } }).poolStats().size).toBe(1)
    process.env.E2B_NATIVE_POOL_SIZE = 'many'
    expect(() => new E2BService({ backend: 'local' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG', message: expect.stringContaining('E2B_NATIVE_POOL_SIZE') }))
  } finally {
    if (saved === undefined) delete process.env.E2B_NATIVE_POOL_SIZE
    else process.env.E2B_NATIVE_POOL_SIZE = saved
  }
})

// A Node process that fills its pools, prints every process it has, then ends.
function runAndEnd(how, isolation) {
  const script = `
    const fs = require('fs')
    const { e2bService } = require(${JSON.stringify(path.resolve(__dirname, '..'))})
    function tree() {
      const children = new Map()
      for (const entry of fs.readdirSync('/proc')) {
        if (!/^\\d+$/.test(entry)) continue
        try {
          const stat = fs.readFileSync('/proc/' + entry + '/stat', 'utf8')
          const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
          if (!children.has(ppid)) children.set(ppid, [])
          children.get(ppid).push(Number(entry))
        } catch {}
      }
      const found = [], queue = [process.pid]
      while (queue.length) for (const c of children.get(queue.pop()) || []) { found.push(c); queue.push(c) }
      return found
    }
    ;(async () => {
      await e2bService.executePython('print(1)')
      await e2bService.executeNode('console.log(1)')
      while (e2bService.poolStats().python.ready < 2 || e2bService.poolStats().node.ready < 2) {
        await new Promise((r) => setTimeout(r, 20))
      }
      console.log(JSON.stringify(tree()))
      ${how === 'exit' ? 'process.exit(0)' : ''}
    })()
  `
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, E2B_BACKEND: 'local', E2B_NATIVE_ISOLATION: isolation } })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, pids: JSON.parse(out || '[]') })))
}

// A Node process that exits while its pools fill (helpers starting, rooms
// being made) leaves no room: its temp dir is the test's own.
test('a Node process that exits while its pools fill leaves no room behind', async () => {
  const tmp = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'e2b-exit-while-filling-'))
  fs.chmodSync(tmp, 0o711) // a room's own uid passes through to its room
  try {
    const script = (delay) => `
      const { E2BService } = require(${JSON.stringify(path.resolve(__dirname, '..'))})
      const svc = new E2BService({ backend: 'local', pool: { size: 8 } })
      svc.executeCode('true', 'bash').then((r) => { if (r.exitCode !== 0) process.exitCode = 3; setTimeout(() => process.exit(), ${delay}) })
    `
    for (let i = 0; i < 10; i++) {
      const child = spawn(process.execPath, ['-e', script(i % 5)], { stdio: 'inherit', env: { ...process.env, TMPDIR: tmp, E2B_NATIVE_ISOLATION: 'landlock' } })
      expect(await new Promise((resolve) => child.on('exit', resolve))).toBe(0)
    }
    expect(await eventually(() => fs.readdirSync(tmp).length === 0)).toBe(true)
    expect(fs.readdirSync(tmp)).toEqual([])
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true })
  }
})

// Without namespaces nothing but the helper takes the sandbox's processes
// down: it must get to do so, however Node ends.
test.each([
  ['natural', 'auto'],
  ['exit', 'auto'],
  ['natural', 'landlock'],
  ['exit', 'landlock'],
])('a Node process with a full pool ends by itself (%s, isolation %s) and leaves no process', async (how, isolation) => {
  const { code, pids } = await runAndEnd(how, isolation)
  expect(code).toBe(0)
  expect(pids.length).toBeGreaterThanOrEqual(4 * 3) // helper, init, interpreter per pooled sandbox
  expect(await eventually(() => pids.filter(alive).length === 0)).toBe(true)
  expect(pids.filter(alive)).toEqual([])
  // Nor a room: each is named after its helper (e2b-native-room-<pid>-…).
  const rooms = () => fs.readdirSync(require('node:os').tmpdir()).filter((e) => pids.some((pid) => e.startsWith(`e2b-native-room-${pid}-`)))
  expect(await eventually(() => rooms().length === 0)).toBe(true)
  expect(rooms()).toEqual([])
})
