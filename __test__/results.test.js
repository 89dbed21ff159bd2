'use strict'
// The result table of the README, row by row, in all three languages.
const { E2BService } = require('..')

const { tierOf } = require('./helpers')

const svc = new E2BService({ backend: 'local' })
let tier
beforeAll(async () => {
  tier = await tierOf(svc)
})
afterAll(() => svc.close())

describe('ran to the end', () => {
  test.each([
    ['python', 'import sys\nsys.stdout.write("a")\nsys.stdout.write("b\\n")\nprint("é€", end="")', 'ab\né€'],
    ['node', 'process.stdout.write("a"); process.stdout.write("b\\n"); process.stdout.write("é€")', 'ab\né€'],
    ['bash', 'printf a; printf "b\\n"; printf "é€"', 'ab\né€'],
  ])('%s: exit 0, no error, exactly the bytes written', async (language, code, stdout) => {
    const r = await svc.executeCode(code, language)
    expect(r).toMatchObject({ stdout, stderr: '', exitCode: 0, timedOut: false, truncated: false, backend: 'local' })
    expect(r).not.toHaveProperty('error')
    expect(typeof r.durationMs).toBe('number')
  })

  test('stderr is kept apart from stdout, byte for byte', async () => {
    const r = await svc.executePython('import sys\nprint("out")\nprint("err", file=sys.stderr)')
    expect(r).toMatchObject({ stdout: 'out\n', stderr: 'err\n', exitCode: 0 })
  })

  test('invalid UTF-8 is replaced, not dropped', async () => {
    const r = await svc.executePython('import sys\nsys.stdout.buffer.write(b"a\\xffb")')
    expect(r.stdout).toBe('a\uFFFDb')
  })

  test('empty code runs and prints nothing', async () => {
    for (const language of ['python', 'node', 'bash']) {
      await expect(svc.executeCode('', language)).resolves.toMatchObject({ stdout: '', stderr: '', exitCode: 0 })
    }
  })
})

describe('raised or threw and did not catch', () => {
  test.each([
    ['python', '1/0', 'ZeroDivisionError', 'Traceback (most recent call last)'],
    ['python', 'import json\njson.loads("{")', 'JSONDecodeError', 'json.decoder.JSONDecodeError'],
    ['python', 'x = (', 'SyntaxError', 'SyntaxError'],
    ['node', 'undefinedThing', 'ReferenceError', 'ReferenceError: undefinedThing is not defined'],
    ['node', 'null.x', 'TypeError', 'TypeError'],
    ['node', 'Promise.reject(new RangeError("r"))', 'RangeError', 'RangeError: r'],
  ])('%s `%s` → exit 1, error %s, traceback in stderr', async (language, code, error, trace) => {
    const r = await svc.executeCode(code, language)
    expect(r).toMatchObject({ exitCode: 1, error, stdout: '' })
    expect(r.stderr).toContain(trace)
  })

  test('output before the exception is kept', async () => {
    const r = await svc.executePython('print("before")\nraise ValueError("boom")')
    expect(r).toMatchObject({ stdout: 'before\n', exitCode: 1, error: 'ValueError' })
  })

  test('a program’s own EAGAIN is its error; where a pids cgroup counts, not a process limit', async () => {
    const r = await svc.executePython('import socket\na, b = socket.socketpair()\na.setblocking(False)\na.recv(1)')
    expect(r.exitCode).toBe(1)
    if (process.getuid() === 0 && tier === 'namespaces') {
      expect(r.error).toBe('BlockingIOError')
      expect(r.limit).toBeUndefined()
    } else {
      // Without cgroups the fork bomb's own signature is all there is to go on.
      expect(['BlockingIOError', 'ProcessLimitError']).toContain(r.error)
    }
  })

  test('a bash command that is not found is an exit status, not an exception', async () => {
    const r = await svc.executeCode('no-such-command-xyz', 'bash')
    expect(r.exitCode).toBe(127)
    expect(r.stderr).toContain('no-such-command-xyz')
    expect(r).not.toHaveProperty('error')
  })
})

describe('exited with N', () => {
  test.each([
    ['python', 'import sys\nprint("x")\nsys.exit(3)', 3],
    ['python', 'import os\nos._exit(42)', 42],
    ['node', 'console.log("x"); process.exit(4)', 4],
    ['node', 'process.exitCode = 9', 9],
    ['bash', 'echo x; exit 5', 5],
    ['bash', 'exit 255', 255],
  ])('%s `%s` → exit %i, no error', async (language, code, exitCode) => {
    const r = await svc.executeCode(code, language)
    expect(r.exitCode).toBe(exitCode)
    expect(r).not.toHaveProperty('error')
  })

  test('killed by a signal → 128 + the signal', async () => {
    const r = await svc.executeCode('kill -SEGV $$', 'bash')
    expect(r.exitCode).toBe(128 + 11)
  })
})

describe('limits come from the kernel, not from what the code prints', () => {
  const oom = 'FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory'
  test.each([
    ['bash', `echo "${oom}" >&2; exit 3`],
    ['node', `process.stderr.write(${JSON.stringify(oom + '\n')}); process.exit(134)`],
    ['python', 'raise MemoryError()'],
  ])('%s: printing an out-of-memory message is not a MemoryLimitError', async (language, code) => {
    const r = await svc.executeCode(code, language)
    expect(r.error).not.toBe('MemoryLimitError')
    expect(r).not.toHaveProperty('limit')
  })

  test('a program that ignores SIGXCPU is killed at the hard CPU limit and still reports limit "cpu"', async () => {
    const code = 'import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True: pass'
    const r = await svc.executePython(code, { timeoutMs: 20000, limits: { cpuSeconds: 1 } })
    expect(r).toMatchObject({ exitCode: 152, error: 'TimeoutError', limit: 'cpu', timedOut: true })
  })
})

describe('ran past its timeout', () => {
  test.each([
    ['python', 'print("before", flush=True)\nwhile True: pass', 'before\n'],
    ['node', 'console.log("before"); for (;;) {}', 'before\n'],
    ['bash', 'echo before; while :; do :; done', 'before\n'],
  ])('%s → 124, TimeoutError, timedOut, the output so far', async (language, code, stdout) => {
    const r = await svc.executeCode(code, language, { timeoutMs: 500 })
    expect(r).toMatchObject({ exitCode: 124, error: 'TimeoutError', timedOut: true, limit: 'time', stdout })
  })

  test('the constructor timeout applies to every call', async () => {
    const quick = new E2BService({ backend: 'local', timeoutMs: 300 })
    const r = await quick.executeCode('sleep 30', 'bash')
    expect(r).toMatchObject({ exitCode: 124, timedOut: true })
    await quick.close()
  })
})

describe('hit the output limit', () => {
  test('stdout past maxOutputBytes is cut there and the code stopped', async () => {
    const small = new E2BService({ backend: 'local', maxOutputBytes: 1000 })
    const r = await small.executePython('while True: print("x" * 100)')
    expect(r).toMatchObject({ truncated: true, error: 'OutputLimitError', limit: 'output', exitCode: 137 })
    expect(r.stdout.length).toBe(1000)
    await small.close()
  })

  test('a flood under the default cap stops at 10 MiB', async () => {
    const r = await svc.executeCode('yes xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 'bash')
    expect(r).toMatchObject({ truncated: true, error: 'OutputLimitError' })
    expect(r.stdout.length).toBe(10 * 1024 * 1024)
  })

  test('a character cut by the cap is dropped, not mangled', async () => {
    const small = new E2BService({ backend: 'local', maxOutputBytes: 4 })
    const r = await small.executePython('print("ab€€€€")')
    expect(r.stdout).toBe('ab')
    await small.close()
  })
})
