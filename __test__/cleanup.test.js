'use strict'
// Nothing of a sandbox outlives its call: not on success, error, timeout,
// abort, close, or when the Node process running it dies.
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { E2BService, liveSandboxes } = require('..')
const { descendants, processesWith, hostFootprint, footprintGrowth, eventually } = require('./helpers')

const svc = new E2BService({ backend: 'local' })
afterAll(() => svc.close())

test('success, error, timeout and a left-behind daemon leave the host as it was', async () => {
  const before = hostFootprint()
  await svc.executePython('print(1)')
  await svc.executeNode('throw new Error("x")')
  await svc.executeCode('(trap "" TERM; sleep 1000) & sleep 1000', 'bash', { timeoutMs: 300 })
  // A double-forked setsid daemon that the program leaves running on exit.
  const r = await svc.executeCode('(setsid sleep 1000 &) ; echo done', 'bash')
  expect(r).toMatchObject({ stdout: 'done\n', exitCode: 0 })
  expect(footprintGrowth(before, hostFootprint())).toEqual({ processes: 0, mounts: 0, tmp: [] })
  expect(liveSandboxes()).toBe(0)
})

test('a timeout kills a fork tree and processes that ignore SIGTERM', async () => {
  const code = [
    'import os, signal, time',
    'signal.signal(signal.SIGTERM, signal.SIG_IGN)',
    'for _ in range(4):',
    '    if os.fork() == 0:',
    '        os.setsid()',
    '        os.fork(); os.fork()',
    '        while True: pass',
    'print("forked", flush=True)',
    'while True: time.sleep(1)',
  ].join('\n')
  const r = await svc.executePython(code, { timeoutMs: 1000 })
  expect(r).toMatchObject({ timedOut: true, exitCode: 124, stdout: 'forked\n' })
  expect(descendants()).toEqual([])
})

test('50 concurrent calls each get their own sandbox and their own output', async () => {
  const calls = Array.from({ length: 50 }, (_, i) =>
    svc.executeCode(['python', 'node', 'bash'][i % 3] === 'bash' ? `echo ${i}` : i % 3 === 0 ? `print(${i})` : `console.log(${i})`, ['python', 'node', 'bash'][i % 3]),
  )
  const results = await Promise.all(calls)
  results.forEach((r, i) => expect(r).toMatchObject({ stdout: `${i}\n`, exitCode: 0 }))
  expect(descendants()).toEqual([])
})

test('an abort kills the sandbox and rejects with an AbortError', async () => {
  const controller = new AbortController()
  const call = svc.executeCode('sleep 1000', 'bash', { signal: controller.signal })
  await eventually(() => descendants().length > 0)
  controller.abort()
  await expect(call).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' })
  await expect(call).rejects.toBeInstanceOf(Error)
  expect(descendants()).toEqual([])
})

test('an already-aborted signal rejects without creating a sandbox', async () => {
  const before = descendants().length
  await expect(svc.executePython('print(1)', { signal: AbortSignal.abort() })).rejects.toMatchObject({
    code: 'ABORT_ERR',
  })
  expect(descendants().length).toBe(before)
})

test('close() kills running calls, resolves when they are gone, and refuses new ones', async () => {
  const own = new E2BService({ backend: 'local' })
  const running = own.executeCode('sleep 1000', 'bash')
  await eventually(() => descendants().length > 0)
  await own.close()
  // Under load, a sandbox the pool was preparing at close() has been seen to
  // trail it by a moment (once, in CI, as non-root): a leak stays and fails.
  await eventually(() => descendants().length === 0, 1000)
  expect(descendants()).toEqual([])
  await expect(running).rejects.toMatchObject({ code: 'ERR_CLOSED' })
  await expect(own.executePython('print(1)')).rejects.toMatchObject({ code: 'ERR_CLOSED' })
})

test('Symbol.asyncDispose closes the service', async () => {
  const own = new E2BService({ backend: 'local' })
  await own[Symbol.asyncDispose]()
  await expect(own.executePython('print(1)')).rejects.toMatchObject({ code: 'ERR_CLOSED' })
})

// A Node process that runs a long call (which marks its work dir), then
// dies in the given way.
function runAndDie(how, marker, isolation) {
  const script = `
    const { e2bService } = require(${JSON.stringify(path.resolve(__dirname, '..'))})
    e2bService.executeCode('touch .mark-${marker}; sleep ${marker}', 'bash', { timeoutMs: 600000 })
    const poll = setInterval(() => {
      if (require('node:child_process').execSync('cat /proc/*/cmdline 2>/dev/null | tr "\\\\0" " "').toString().includes('sleep ${marker}')) {
        clearInterval(poll)
        console.log('running')
        ${how === 'exit' ? 'process.exit(0)' : how === 'throw' ? 'setTimeout(() => { throw new Error("boom") })' : ''}
      }
    }, 20)
  `
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, E2B_BACKEND: 'local', E2B_NATIVE_ISOLATION: isolation } })
  return new Promise((resolve) => {
    child.stdout.on('data', (d) => {
      if (d.toString().includes('running')) {
        if (how === 'SIGKILL') child.kill('SIGKILL')
      }
    })
    child.on('exit', (code, signal) => resolve({ code, signal }))
  })
}

// Without namespaces a sandbox's work dir is a room on the host's disk
// (SECURITY.md): that goes too.
function roomsMarked(marker) {
  return fs.readdirSync(os.tmpdir()).filter((e) => e.startsWith('e2b-native-room-') && fs.existsSync(path.join(os.tmpdir(), e, 'home', `.mark-${marker}`)))
}

test.each([
  ['SIGKILL', 'auto'],
  ['exit', 'auto'],
  ['throw', 'auto'],
  ['SIGKILL', 'landlock'],
  ['exit', 'landlock'],
])('a Node process that dies by %s takes its sandboxes with it (isolation %s)', async (how, isolation) => {
  const marker = String(900000 + Math.floor(Math.random() * 99999))
  const ended = await runAndDie(how, marker, isolation)
  expect(ended.signal ?? ended.code).toBe(how === 'SIGKILL' ? 'SIGKILL' : how === 'exit' ? 0 : 1)
  const gone = await eventually(() => processesWith(`sleep ${marker}`).length === 0)
  expect(processesWith(`sleep ${marker}`)).toEqual([])
  expect(gone).toBe(true)
  expect(await eventually(() => roomsMarked(marker).length === 0)).toBe(true)
})

test('a room whose code locked its own directories is removed all the same', async () => {
  const own = new E2BService({ backend: 'local', isolation: 'landlock', pool: false })
  try {
    const marker = String(Math.floor(Math.random() * 1e9))
    const code = `touch .mark-${marker}; mkdir -p a/b t; touch a/b/f t/g; chmod 000 a/b; chmod 500 a t; echo ok`
    expect(await own.executeCode(code, 'bash')).toMatchObject({ stdout: 'ok\n', exitCode: 0 })
    expect(await eventually(() => roomsMarked(marker).length === 0)).toBe(true)
  } finally {
    await own.close()
  }
})
