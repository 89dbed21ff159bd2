'use strict'
// The e2b backend against a real peer: `e2b-native serve` (E2B's protocol over
// local sandboxes). The same table of programs runs on both backends; a proxy
// between the backend and the server injects the cloud's failures.
const http = require('node:http')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { E2BService, startServer } = require('..')
const { eventually } = require('./helpers')

const KEY = 'e2b_0123456789abcdef0123456789abcdef'
let server
let local
let e2b

beforeAll(async () => {
  server = await startServer({ port: 0, apiKey: KEY, logLevel: 'silent' })
  local = new E2BService({ backend: 'local' })
  e2b = client(server.url)
})

afterAll(async () => {
  await e2b.close()
  await local.close()
  await server.close()
})

function client(url, options = {}) {
  return new E2BService({ backend: 'e2b', apiKey: KEY, apiUrl: url, sandboxUrl: url, timeoutMs: 30000, ...options })
}

async function sandboxesOnServer() {
  const response = await fetch(`${server.url}/v2/sandboxes`, { headers: { 'X-API-Key': KEY } })
  return (await response.json()).length
}

async function expectNoSandboxes() {
  let count = await sandboxesOnServer()
  const until = Date.now() + 15000
  while (count > 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 100))
    count = await sandboxesOnServer()
  }
  expect(count).toBe(0)
}

describe('parity: one table of programs, both backends, the same result', () => {
  const cases = [
    ['python', 'print("hi")'],
    ['python', 'import sys\nsys.stdout.write("no newline")'],
    ['python', 'print("é€")\nimport sys\nprint("err", file=sys.stderr)'],
    ['python', '1/0'],
    ['python', 'import sys\nsys.exit(3)'],
    ['python', 'x = ('],
    ['node', 'console.log("hi")'],
    ['node', 'process.stdout.write("a"); console.error("b")'],
    ['node', 'null.x'],
    ['node', 'process.exit(4)'],
    ['bash', 'echo hi; echo err >&2; exit 5'],
    ['bash', 'printf "%s" "$HOME"; pwd >&2'],
  ]
  test.each(cases)('%s %p', async (language, code) => {
    const [a, b] = await Promise.all([local.executeCode(code, language), e2b.executeCode(code, language)])
    expect(b.backend).toBe('e2b')
    expect({ stdout: b.stdout, exitCode: b.exitCode, error: b.error }).toEqual({
      stdout: a.stdout,
      exitCode: a.exitCode,
      error: a.error,
    })
    if (a.error) expect(b.stderr).toContain(a.error)
    else expect(b.stderr).toBe(a.stderr)
  })

  test('a timeout: 124, TimeoutError, the output so far', async () => {
    const code = 'echo before; sleep 100'
    const [a, b] = await Promise.all([
      local.executeCode(code, 'bash', { timeoutMs: 1500 }),
      e2b.executeCode(code, 'bash', { timeoutMs: 1500 }),
    ])
    for (const r of [a, b]) expect(r).toMatchObject({ exitCode: 124, error: 'TimeoutError', timedOut: true, stdout: 'before\n' })
  })

  afterAll(expectNoSandboxes)
})

describe('the e2b backend', () => {
  afterEach(expectNoSandboxes)

  test('files in and out, env, streaming', async () => {
    const chunks = []
    const r = await e2b.executePython('import os\nprint(open("in.txt").read(), os.environ["GREETING"])\nopen("out.bin", "wb").write(bytes([0, 255]))', {
      files: [{ path: 'in.txt', content: 'data' }],
      readFiles: ['out.bin'],
      env: { GREETING: 'hi' },
      onStdout: (c) => chunks.push(c),
    })
    expect(r).toMatchObject({ stdout: 'data hi\n', exitCode: 0 })
    expect(chunks.join('')).toBe('data hi\n')
    expect(r.files['out.bin']).toEqual(Buffer.from([0, 255]))
  })

  test('a package that cannot be installed → PackageInstallError, code not run', async () => {
    const r = await e2b.executeWithPackages('print("ran")', ['surely-not-a-package-e2b-native-xyz'])
    expect(r).toMatchObject({ error: 'PackageInstallError', stdout: '' })
    expect(r.exitCode).not.toBe(0)
    expect(r.stderr.length).toBeGreaterThan(0)
  })

  test('an abort deletes the sandbox', async () => {
    const controller = new AbortController()
    const call = e2b.executeCode('sleep 100', 'bash', { signal: controller.signal })
    await eventually(() => true, 10)
    setTimeout(() => controller.abort(), 1000)
    await expect(call).rejects.toMatchObject({ code: 'ABORT_ERR' })
  })

  test('a wrong key → ERR_E2B_AUTH', async () => {
    const wrong = new E2BService({ backend: 'e2b', apiKey: 'e2b_ffff', apiUrl: server.url, sandboxUrl: server.url })
    await expect(wrong.executePython('print(1)')).rejects.toMatchObject({ code: 'ERR_E2B_AUTH' })
  })
})

// A proxy in front of the server that answers some requests itself, by plan.
async function faultProxy(plan) {
  const counts = new Map()
  const proxy = http.createServer((req, res) => {
    const key = `${req.method} ${req.url.split('?')[0].replace(/\/sandboxes\/[^/]+/, '/sandboxes/:id')}`
    const n = (counts.get(key) || 0) + 1
    counts.set(key, n)
    const action = plan(key, n) || {}
    const forward = () => {
      const target = new URL(server.url)
      const upstream = http.request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode, up.headers)
          if (action.resetAfterFirstChunk) {
            up.once('data', (chunk) => {
              res.write(chunk)
              setTimeout(() => res.socket.destroy(), 50)
            })
          } else {
            up.pipe(res)
          }
        },
      )
      upstream.on('error', () => res.destroy())
      req.pipe(upstream)
    }
    if (action.status) {
      req.resume()
      res.writeHead(action.status, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ code: action.status, message: `injected ${action.status}` }))
    } else if (action.delayMs) {
      setTimeout(forward, action.delayMs)
    } else {
      forward()
    }
  })
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r))
  const close = () => {
    proxy.closeAllConnections()
    return new Promise((r) => proxy.close(r))
  }
  return { url: `http://127.0.0.1:${proxy.address().port}`, counts, close }
}

describe('faults of the cloud', () => {
  afterEach(expectNoSandboxes)

  test.each([
    ['429 twice', 429],
    ['500 twice', 500],
    ['502 twice', 502],
  ])('a create answered %s is retried and succeeds', async (_, status) => {
    const proxy = await faultProxy((key, n) => key === 'POST /sandboxes' && n <= 2 && { status })
    const svc = client(proxy.url)
    await expect(svc.executePython('print(1)')).resolves.toMatchObject({ stdout: '1\n', exitCode: 0 })
    expect(proxy.counts.get('POST /sandboxes')).toBe(3)
    await svc.close()
    await proxy.close()
  })

  test('429 that never ends → ERR_E2B_RATE_LIMIT within the timeout', async () => {
    const proxy = await faultProxy((key) => key === 'POST /sandboxes' && { status: 429 })
    const svc = client(proxy.url, { timeoutMs: 5000 })
    await expect(svc.executePython('print(1)')).rejects.toMatchObject({ code: 'ERR_E2B_RATE_LIMIT' })
    await svc.close()
    await proxy.close()
  })

  test('a create that succeeds after the client gave up is found and deleted', async () => {
    const proxy = await faultProxy((key) => key === 'POST /sandboxes' && { delayMs: 2500 })
    const svc = client(proxy.url)
    const r = await svc.executePython('print(1)', { timeoutMs: 1000 })
    expect(r).toMatchObject({ exitCode: 124, error: 'TimeoutError', timedOut: true })
    await new Promise((r) => setTimeout(r, 2000)) // the server finishes the create meanwhile
    await svc.close()
    await proxy.close()
  })

  test('a stream reset mid-execution → ERR_E2B_UNAVAILABLE, sandbox deleted', async () => {
    const proxy = await faultProxy((key) => (key === 'POST /process.Process/Start' || key === 'POST /execute') && { resetAfterFirstChunk: true })
    const svc = client(proxy.url)
    await expect(svc.executeCode('echo one; sleep 2; echo two', 'bash')).rejects.toMatchObject({ code: 'ERR_E2B_UNAVAILABLE' })
    await svc.close()
    await proxy.close()
  })

  test('a DELETE that fails twice is retried', async () => {
    const proxy = await faultProxy((key, n) => key === 'DELETE /sandboxes/:id' && n <= 2 && { status: 500 })
    const svc = client(proxy.url)
    await expect(svc.executeCode('echo ok', 'bash')).resolves.toMatchObject({ stdout: 'ok\n' })
    expect(proxy.counts.get('DELETE /sandboxes/:id')).toBe(3)
    await svc.close()
    await proxy.close()
  })

  test('slow answers within the timeout are waited for', async () => {
    const proxy = await faultProxy((key) => key.startsWith('POST') && { delayMs: 300 })
    const svc = client(proxy.url)
    await expect(svc.executeNode('console.log(2)')).resolves.toMatchObject({ stdout: '2\n' })
    await svc.close()
    await proxy.close()
  })
})

test('a Node process killed with SIGKILL mid-call leaves a sandbox that reapOrphans() deletes', async () => {
  const script = `
    const { E2BService } = require(${JSON.stringify(path.resolve(__dirname, '..'))})
    const svc = new E2BService({ backend: 'e2b', apiKey: '${KEY}', apiUrl: '${server.url}', sandboxUrl: '${server.url}' })
    svc.executeCode('sleep 100', 'bash', { timeoutMs: 120000 })
  `
  const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' })
  expect(await eventually(() => false, 1)).toBe(false)
  let count = 0
  const until = Date.now() + 15000
  while (count === 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 100))
    count = await sandboxesOnServer()
  }
  expect(count).toBe(1)
  child.kill('SIGKILL')
  await new Promise((r) => child.on('exit', r))
  await expect(e2b.reapOrphans()).resolves.toBe(1)
  await expectNoSandboxes()
})

test('maxConcurrency queues calls beyond it', async () => {
  const svc = client(server.url, { maxConcurrency: 1 })
  let most = 0
  let polling = true
  const poll = (async () => {
    while (polling) {
      most = Math.max(most, await sandboxesOnServer())
      await new Promise((r) => setTimeout(r, 50))
    }
  })()
  const results = await Promise.all([1, 2, 3].map((i) => svc.executeCode(`sleep 0.5; echo ${i}`, 'bash')))
  polling = false
  await poll
  expect(results.map((r) => r.stdout)).toEqual(['1\n', '2\n', '3\n'])
  expect(most).toBe(1)
  await svc.close()
  await expectNoSandboxes()
})

test('process.exit() mid-call deletes the remote sandbox on the way out', async () => {
  const script = `
    const { E2BService } = require(${JSON.stringify(path.resolve(__dirname, '..'))})
    const svc = new E2BService({ backend: 'e2b', apiKey: '${KEY}', apiUrl: '${server.url}', sandboxUrl: '${server.url}' })
    svc.executeCode('sleep 100', 'bash', { timeoutMs: 120000 })
    const poll = setInterval(async () => {
      const r = await fetch('${server.url}/v2/sandboxes', { headers: { 'X-API-Key': '${KEY}' } })
      if ((await r.json()).length > 0) { clearInterval(poll); process.exit(0) }
    }, 50)
  `
  const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' })
  const code = await new Promise((r) => child.on('exit', r))
  expect(code).toBe(0)
  // Deleted by the exit hook, not by a reaper: check right away.
  expect(await sandboxesOnServer()).toBe(0)
})
