'use strict'
// Sessions on the e2b backend, against a local `e2b-native serve` (started in
// this process, as e2b.test.js does): a sandbox with one code context per
// language, files through envd. The same API as local sessions.
const { spawn } = require('node:child_process')
const path = require('node:path')
const { E2BService, startServer } = require('..')
const { commandsWith: running, eventually } = require('./helpers')

jest.setTimeout(120000)

const KEY = 'e2b_' + 'c'.repeat(40)
let server
let svc
let session

beforeAll(async () => {
  server = await startServer({ port: 0, apiKey: KEY, logLevel: 'silent' })
  svc = new E2BService({ backend: 'e2b', apiKey: KEY, apiUrl: server.url, sandboxUrl: server.url, timeoutMs: 30000 })
  session = await svc.createSession()
})
afterAll(async () => {
  await svc.close()
  await server.close()
})

test('createSession() without options: an e2b Python session whose state persists', async () => {
  expect(session.backend).toBe('e2b')
  expect(session.isolation).toBe('microvm')
  await session.runCode('import math\nx = 9')
  const run = await session.runCode('math.sqrt(x) + 1')
  expect(run.error).toBeUndefined()
  expect(run.text).toBe('4.0')
  expect(run.executionCount).toBeGreaterThan(1)
})

test('JavaScript (ESM import, top-level await), TypeScript and Bash keep their state', async () => {
  await session.runCode("import { basename } from 'node:path'\nconst n = await Promise.resolve(41)", { language: 'javascript' })
  const js = await session.runCode("basename('/x/y.txt') + (n + 1)", { language: 'js' })
  expect(js.error).toBeUndefined()
  expect(js.text).toBe('y.txt42')
  await session.runCode('const t: number = 5', { language: 'typescript' })
  const ts = await session.runCode('t * 2', { language: 'typescript' })
  expect(ts.text).toBe('10')
  await session.runCode('V=kept; cd /tmp', { language: 'bash' })
  const sh = await session.runCode('echo $V $(pwd)', { language: 'bash' })
  expect(sh.logs.stdout).toEqual(['kept /tmp\n'])
})

test('files: write, list, read; code sees them', async () => {
  await session.files.write('in/data.txt', 'abc')
  expect((await session.files.list('in')).map((e) => e.name)).toEqual(['data.txt'])
  const run = await session.runCode("open('/home/user/in/data.txt').read().upper()")
  expect(run.text).toBe('ABC')
  await session.runCode("open('/home/user/in/out.txt', 'w').write('xyz')")
  expect(await session.files.read('in/out.txt')).toBe('xyz')
})

test('exceptions give error { name, value, traceback }; streaming callbacks fire', async () => {
  const out = []
  const run = await session.runCode('print("hi")\nraise ValueError("nope")', { onStdout: (m) => out.push(m.line) })
  expect(run.error).toMatchObject({ name: 'ValueError', value: 'nope' })
  expect(run.error.traceback).toContain('ValueError')
  expect(out.join('')).toBe('hi\n')
})

test('a run past its timeoutMs is interrupted and the session stays usable with its state', async () => {
  await session.runCode('before_timeout = 5')
  const run = await session.runCode('import time\nwhile True:\n    time.sleep(0.05)', { timeoutMs: 1500 })
  expect(run.error).toMatchObject({ name: 'TimeoutError' })
  const after = await session.runCode('before_timeout * 2')
  expect(after.text).toBe('10')
})

test('restart() loses the kernels’ state but keeps the files', async () => {
  const s = await svc.createSession()
  try {
    await s.runCode("gone_after_restart = 1\nopen('/home/user/keep.txt', 'w').write('k')")
    await s.restart()
    expect((await s.runCode('gone_after_restart')).error).toMatchObject({ name: 'NameError' })
    expect(await s.files.read('keep.txt')).toBe('k')
  } finally {
    await s.close()
  }
})

test('close() kills the sandbox (its processes under serve are gone) and refuses later calls', async () => {
  const s = await svc.createSession({ language: 'bash' })
  const marker = String(600000 + Math.floor(Math.random() * 99999))
  const call = s.runCode(`sleep ${marker}`)
  expect(await eventually(() => running(`sleep ${marker}`).length > 0, 10000)).toBe(true)
  await s.close()
  expect(await eventually(() => running(`sleep ${marker}`).length === 0, 5000)).toBe(true)
  await expect(call).rejects.toMatchObject({ code: 'ERR_CLOSED' })
  await expect(s.runCode('echo 1')).rejects.toMatchObject({ code: 'ERR_CLOSED' })
})

test('rich results: a figure gives png and chart, a DataFrame html and data (serve has the data-science environment)', async () => {
  const probe = await session.runCode('import matplotlib, pandas')
  if (probe.error && process.env.E2B_TEST_OFFLINE) return console.warn('skipped: no data-science environment (node bin/e2b-native.js prepare)')
  expect(probe.error).toBeUndefined()
  const shown = await session.runCode("import matplotlib.pyplot as plt\nplt.bar(['a', 'b'], [3, 4])\nplt.title('Remote')\nplt.show()")
  expect(shown.results).toHaveLength(1)
  expect(shown.results[0].png).toMatch(/^iVBOR/)
  expect(shown.results[0].chart).toMatchObject({ type: 'bar', title: 'Remote' })
  const frame = await session.runCode("import pandas as pd\npd.DataFrame({'n': [1, 2]})")
  expect(frame.results[0]).toMatchObject({ isMainResult: true, data: { n: [1, 2] } })
  expect(frame.results[0].html).toContain('<table')
})

test('one-shot executePython on the e2b backend gets results for a figure too', async () => {
  const r = await svc.executePython("import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\nprint('ok')\n42")
  expect(r).toMatchObject({ stdout: 'ok\n', exitCode: 0, backend: 'e2b' })
  expect(r.results).toHaveLength(1) // the figure; the last expression is not a one-shot result
  expect(r.results[0].chart).toMatchObject({ type: 'line' })
})

test('kill -9 of the Node process holding a session: its sandbox ends by its TTL (the session lifetime)', async () => {
  const marker = String(500000 + Math.floor(Math.random() * 99999))
  const script = `
    const { E2BService } = require(${JSON.stringify(path.resolve(__dirname, '..'))})
    const svc = new E2BService({ backend: 'e2b', apiKey: '${KEY}', apiUrl: '${server.url}', sandboxUrl: '${server.url}' })
    svc.createSession({ language: 'bash', timeoutMs: 6000 }).then((s) => {
      // A background process: it outlives the run, and ends only with the sandbox.
      // (The name is built here, so that this script's own command line does not hold it.)
      const name = 'e2bmark-' + ${marker}
      s.runCode('(exec -a ' + name + ' sleep 1000) & echo started')
      const poll = setInterval(() => {
        if (require('node:child_process').execSync('cat /proc/*/cmdline 2>/dev/null | tr "\\\\0" " "').toString().includes(name)) {
          clearInterval(poll)
          console.log('running')
        }
      }, 20)
    })
  `
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  const ended = await new Promise((resolve) => {
    child.stdout.on('data', (d) => d.toString().includes('running') && child.kill('SIGKILL'))
    child.on('exit', (code, signal) => resolve(signal))
  })
  expect(ended).toBe('SIGKILL')
  // The sandbox outlives its client until the TTL the session set (its 6 s lifetime).
  expect(running(`e2bmark-${marker}`).length).toBeGreaterThan(0)
  expect(await eventually(() => running(`e2bmark-${marker}`).length === 0, 20000)).toBe(true)
})

test('bad arguments reject with ERR_INVALID_ARG naming the argument', async () => {
  await expect(svc.createSession({ language: 'cobol' })).rejects.toMatchObject({
    code: 'ERR_INVALID_ARG',
    message: expect.stringContaining('language'),
  })
  await expect(session.runCode('1', { timeoutMs: 'x' })).rejects.toMatchObject({
    code: 'ERR_INVALID_ARG',
    message: expect.stringContaining('timeoutMs'),
  })
})
