'use strict'
// `e2b-native serve` under hostile clients, through its HTTP API: request
// bodies, connections, stream headers and kernel lines are bounded; a
// sandbox belongs to the API key that created it, lives no longer than
// maxLifetimeMs, and the unauthenticated debug sandbox answers only to
// loopback-like Host names and is never exposed by accident.
const http = require('node:http')
const net = require('node:net')
const { startServer, liveSandboxes } = require('..')
const { descendants, eventually } = require('./helpers')

const A = 'e2b_aaaaaaaaaaaaaaaaaaaaaaaa'
const B = 'e2b_bbbbbbbbbbbbbbbbbbbbbbbb'
const MIB = 1 << 20

let hard // small bounds everywhere
let capped // two connections at most
let before

beforeAll(async () => {
  before = descendants().length
  hard = await startServer({
    port: 0,
    apiKeys: [A, B],
    maxSandboxes: 1,
    maxLifetimeMs: 60000,
    maxBodyBytes: MIB,
    maxUploadBytes: 2 * MIB,
    maxResultBytes: MIB,
    headerTimeoutMs: 1000,
    allowedHosts: ['sandbox.test'],
    dataScience: false,
    logLevel: 'silent',
  })
  capped = await startServer({ port: 0, apiKey: A, maxConnections: 2, dataScience: false, logLevel: 'silent' })
})

afterAll(async () => {
  await Promise.all([hard && hard.close(), capped && capped.close()])
  expect(await eventually(() => descendants().length <= before)).toBe(true)
  expect(liveSandboxes()).toBe(0)
})

/** A control-plane call; resolves to { status, body, headers }. */
async function api(method, path, { key = A, body } = {}) {
  const response = await fetch(hard.url + path, {
    method,
    headers: { 'X-API-Key': key, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await response.text()
  let parsed = text
  try {
    parsed = JSON.parse(text)
  } catch {}
  return { status: response.status, body: parsed, headers: response.headers }
}

/** A sandbox-surface call (`port` 49983: envd; 49999: the interpreter). */
async function surface(port, id, method, path, { body, headers = {}, token } = {}) {
  const response = await fetch(hard.url + path, {
    method,
    headers: {
      'E2b-Sandbox-Id': id,
      'E2b-Sandbox-Port': String(port),
      ...(token ? { 'X-Access-Token': token } : {}),
      ...headers,
    },
    body,
    ...(body && typeof body.getReader === 'function' ? { duplex: 'half' } : {}),
  })
  return { status: response.status, body: Buffer.from(await response.arrayBuffer()) }
}

/** One Connect envelope around `message`. */
function envelope(message) {
  const payload = Buffer.from(JSON.stringify(message))
  const head = Buffer.alloc(5)
  head.writeUInt32BE(payload.length, 1)
  return Buffer.concat([head, payload])
}

/** The envelopes of a Connect stream, as { end, message }. */
function frames(buffer) {
  const out = []
  for (let at = 0; at + 5 <= buffer.length; ) {
    const length = buffer.readUInt32BE(at + 1)
    out.push({ end: (buffer[at] & 2) !== 0, message: JSON.parse(buffer.subarray(at + 5, at + 5 + length)) })
    at += 5 + length
  }
  return out
}

/** The NDJSON lines of an execution. */
async function execute(id, code, token) {
  const { status, body } = await surface(49999, id, 'POST', '/execute', {
    token,
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ code, language: 'python' }),
  })
  expect(status).toBe(200)
  return body
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((l) => l.type !== 'keepalive')
}

/** A raw HTTP/1.1 exchange on a new connection: what came back before it closed. */
function raw(url, text) {
  const { port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1', () => socket.write(text))
    let got = ''
    socket.on('data', (d) => (got += d))
    socket.on('error', reject)
    socket.on('close', () => resolve(got))
  })
}

/** GET with a Host header of our choosing (fetch may not set it). */
function getWithHost(url, path, host, headers) {
  const { port } = new URL(url)
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: '127.0.0.1', port: Number(port), path, method: 'GET', headers: { Host: host, ...headers } },
      (response) => {
        response.resume()
        response.on('end', () => resolve(response.statusCode))
      },
    )
    request.on('error', reject)
    request.end()
  })
}

async function withSandbox(key, body, use) {
  const created = await api('POST', '/v2/sandboxes', { key, body: { templateID: 'base', timeout: 60, ...body } })
  expect(created.status).toBe(201)
  try {
    return await use(created.body)
  } finally {
    await api('DELETE', `/sandboxes/${created.body.sandboxID}`, { key })
  }
}

describe('bounds', () => {
  test('each bound is range-checked (ERR_INVALID_ARG naming the range)', async () => {
    for (const [options, message] of [
      [{ maxConnections: 0 }, /maxConnections.*1.*65536/],
      [{ maxBodyBytes: 1 }, /maxBodyBytes/],
      [{ headerTimeoutMs: 10 ** 9 }, /headerTimeoutMs/],
      [{ maxLifetimeMs: -1 }, /maxLifetimeMs/],
      [{ allowedHosts: ['evil.example:80'] }, /allowedHosts/],
    ]) {
      await expect(startServer({ port: 0, ...options })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', message })
    }
  })

  test('a body past maxBodyBytes is refused with 413, declared or streamed; uploads have maxUploadBytes', async () => {
    await withSandbox(A, {}, async ({ sandboxID: id, envdAccessToken: token }) => {
      const start = '/process.Process/Start'
      const big = Buffer.alloc(2 * MIB, 0x20)
      expect((await surface(49983, id, 'POST', start, { token, body: big })).status).toBe(413)
      const stream = new ReadableStream({
        start(c) {
          for (let i = 0; i < 4; i++) c.enqueue(new Uint8Array(MIB / 2))
          c.close()
        },
      })
      expect((await surface(49983, id, 'POST', start, { token, body: stream })).status).toBe(413)
      const execute = await surface(49999, id, 'POST', '/execute', { token, body: big })
      expect(execute.status).toBe(413)
      expect((await api('POST', '/v2/sandboxes', { body: { templateID: 'x'.repeat(2 * MIB) } })).status).toBe(413)
      // Past maxBodyBytes but within maxUploadBytes: a file.
      const upload = (size) =>
        surface(49983, id, 'POST', '/files?path=/home/user/big', {
          token,
          headers: { 'Content-Type': 'application/octet-stream' },
          body: Buffer.alloc(size, 0x61),
        })
      expect((await upload(1.5 * MIB)).status).toBe(200)
      const tooBig = await upload(3 * MIB)
      expect(tooBig.status).toBe(413)
      expect(JSON.parse(tooBig.body).message).toMatch(/maxUploadBytes/)
    })
  })

  test('Connect-Timeout-Ms past 10 digits is invalid_argument and starts nothing; a huge keepalive is harmless', async () => {
    await withSandbox(A, {}, async ({ sandboxID: id, envdAccessToken: token }) => {
      const start = (headers, cmd, args) =>
        surface(49983, id, 'POST', '/process.Process/Start', {
          token,
          headers: { 'Content-Type': 'application/connect+json', ...headers },
          body: envelope({ process: { cmd, args } }),
        })
      const huge = await start({ 'Connect-Timeout-Ms': '18446744073709551615' }, 'sleep', ['1000'])
      const last = frames(huge.body).at(-1)
      expect(last.end).toBe(true)
      expect(last.message.error).toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(/Connect-Timeout-Ms/) })
      const listed = await surface(49983, id, 'POST', '/process.Process/List', {
        token,
        headers: { 'Content-Type': 'application/json' },
        body: '{}',
      })
      expect(JSON.parse(listed.body).processes).toEqual([])
      const echoed = await start(
        { 'Connect-Timeout-Ms': '9999999999', 'Keepalive-Ping-Interval': '18446744073709551615' },
        'echo',
        ['hi'],
      )
      const events = frames(echoed.body)
      expect(events.at(-1)).toEqual({ end: true, message: {} })
      expect(events.map((f) => f.message.event && f.message.event.end).find(Boolean)).toMatchObject({ exitCode: 0 })
    })
  })

  test('a result line past maxResultBytes is dropped with a clear error; the context lives on', async () => {
    await withSandbox(A, {}, async ({ sandboxID: id, envdAccessToken: token }) => {
      const lines = await execute(id, 'x = 41\n"y" * 3_000_000', token)
      expect(lines.filter((l) => l.type === 'result')).toEqual([])
      expect(lines.find((l) => l.type === 'error')).toMatchObject({
        name: 'ResultTooLarge',
        value: expect.stringMatching(/maxResultBytes/),
      })
      expect(lines.at(-1).type).toBe('end_of_execution')
      const after = await execute(id, 'x + 1', token)
      expect(after.find((l) => l.type === 'result')).toMatchObject({ text: '42' })
    })
  })

  test('a connection that does not finish its request head within headerTimeoutMs is closed', async () => {
    const got = await raw(hard.url, 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n')
    expect(got).not.toMatch(/^HTTP\/1.1 200/)
  }, 20000)

  test('past maxConnections a connection is answered 503 and closed; the server serves again once they go', async () => {
    const { port } = new URL(capped.url)
    const idle = await Promise.all(
      [0, 1].map(
        () =>
          new Promise((resolve, reject) => {
            const socket = net.connect(Number(port), '127.0.0.1', () => resolve(socket))
            socket.on('error', reject)
          }),
      ),
    )
    try {
      const third = await raw(capped.url, 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
      expect(third).toMatch(/^HTTP\/1.1 503/)
      expect(third).toMatch(/maxConnections/)
    } finally {
      for (const socket of idle) socket.destroy()
    }
    // The server notices the two going at its own pace: ask until it has.
    let answer = ''
    for (let i = 0; i < 100 && !/^HTTP\/1.1 200/.test(answer); i++) {
      answer = await raw(capped.url, 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')
    }
    expect(answer).toMatch(/^HTTP\/1.1 200/)
  })
})

describe('tenancy', () => {
  test("a secure sandbox's /contexts want its access token", async () => {
    await withSandbox(A, {}, async ({ sandboxID: id, envdAccessToken: token }) => {
      const contexts = (method, path, auth) =>
        surface(49999, id, method, path, {
          headers: { 'Content-Type': 'application/json', ...(auth ? { 'E2B-Traffic-Access-Token': auth } : {}) },
          body: method === 'POST' ? '{"language":"python"}' : undefined,
        })
      expect((await contexts('GET', '/contexts')).status).toBe(401)
      expect((await contexts('POST', '/contexts')).status).toBe(401)
      expect((await contexts('GET', '/contexts', 'wrong')).status).toBe(401)
      expect((await contexts('GET', '/contexts', token)).status).toBe(200)
    })
  })

  test('a sandbox belongs to the API key that created it: to others it does not exist (404)', async () => {
    await withSandbox(A, {}, async ({ sandboxID: id }) => {
      expect((await api('GET', `/sandboxes/${id}`, { key: B })).status).toBe(404)
      expect((await api('POST', `/sandboxes/${id}/timeout`, { key: B, body: { timeout: 30 } })).status).toBe(404)
      expect((await api('POST', `/sandboxes/${id}/refreshes`, { key: B, body: { duration: 30 } })).status).toBe(404)
      expect((await api('POST', `/sandboxes/${id}/connect`, { key: B, body: { timeout: 30 } })).status).toBe(404)
      expect((await api('DELETE', `/sandboxes/${id}`, { key: B })).status).toBe(404)
      expect((await api('GET', '/sandboxes', { key: B })).body).toEqual([])
      const listedByB = await api('GET', '/v2/sandboxes', { key: B })
      expect(listedByB.body).toEqual([])
      expect(listedByB.headers.get('x-total-running')).toBe('0')
      // Its creator still has it, with its token.
      const detail = await api('GET', `/sandboxes/${id}`, { key: A })
      expect(detail.status).toBe(200)
      expect(detail.body.envdAccessToken).toMatch(/^[0-9a-f]+$/)
      expect((await api('GET', '/v2/sandboxes', { key: A })).body.map((s) => s.sandboxID)).toEqual([id])
    })
  })

  test('no timeout takes a sandbox past maxLifetimeMs from its start', async () => {
    await withSandbox(A, { timeout: 3600 }, async ({ sandboxID: id }) => {
      const lifetime = async () => {
        const { body } = await api('GET', `/sandboxes/${id}`)
        return Date.parse(body.endAt) - Date.parse(body.startedAt)
      }
      expect(await lifetime()).toBeLessThanOrEqual(60000)
      expect((await api('POST', `/sandboxes/${id}/timeout`, { body: { timeout: 3600 } })).status).toBe(204)
      expect(await lifetime()).toBeLessThanOrEqual(60000)
      expect((await api('POST', `/sandboxes/${id}/connect`, { body: { timeout: 3600 } })).status).toBe(200)
      expect(await lifetime()).toBeLessThanOrEqual(60000)
    })
  })

  test('the debug sandbox takes no maxSandboxes slot and is not listed', async () => {
    const health = await surface(49983, 'debug_sandbox_id', 'GET', '/health')
    expect(health.status).toBe(204)
    await withSandbox(A, {}, async ({ sandboxID: id }) => {
      expect((await api('GET', '/v2/sandboxes')).body.map((s) => s.sandboxID)).toEqual([id])
    })
  })

  test('the debug sandbox answers only to loopback, IP-literal and allowedHosts Host names (DNS rebinding)', async () => {
    const headers = { 'E2b-Sandbox-Id': 'debug_sandbox_id', 'E2b-Sandbox-Port': '49983' }
    const { port } = new URL(hard.url)
    expect(await getWithHost(hard.url, '/envs', 'attacker.example', headers)).toBe(403)
    expect(await getWithHost(hard.url, '/envs', `attacker.example:${port}`, headers)).toBe(403)
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'sandbox.test']) {
      expect(await getWithHost(hard.url, '/envs', host, headers)).toBe(200)
    }
  })

  test('debugSandbox on a non-loopback host is refused unless exposeDebugSandbox', async () => {
    await expect(startServer({ host: '0.0.0.0', port: 0, debugSandbox: true, logLevel: 'silent' })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG',
      message: expect.stringMatching(/exposeDebugSandbox/),
    })
    const exposed = await startServer({
      host: '0.0.0.0',
      port: 0,
      debugSandbox: true,
      exposeDebugSandbox: true,
      dataScience: false,
      logLevel: 'silent',
    })
    await exposed.close()
  })
})
