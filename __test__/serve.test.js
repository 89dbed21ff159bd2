'use strict'
// `e2b-native serve` proven with the official E2B SDK (@e2b/code-interpreter,
// which brings `e2b`): a server started here, the SDK in a plain Node process
// pointed at it with E2B_API_URL, E2B_SANDBOX_URL and an e2b_ key (and in
// E2B_DEBUG=true mode), each scenario in __test__/serve-sdk.js.
const { spawn } = require('node:child_process')
const path = require('node:path')
const { startServer, liveSandboxes, E2BService } = require('..')
const { descendants, eventually, tierOf } = require('./helpers')

const DRIVER = path.join(__dirname, 'serve-sdk.js')
const CLI = path.join(__dirname, '..', 'bin', 'e2b-native.js')
const KEY = 'e2b_5e7e5e7e5e7e5e7e5e7e5e7e'

/** Runs a scenario of the SDK driver with `env`; resolves to what it saw. */
function sdk(scenario, env) {
  return new Promise((resolve, reject) => {
    const clean = { ...process.env }
    for (const name of Object.keys(clean)) if (name.startsWith('E2B_')) delete clean[name]
    const child = spawn(process.execPath, [DRIVER, scenario], { env: { ...clean, ...env } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`scenario ${scenario} exited ${code}: ${stderr}`))
      resolve(JSON.parse(stdout))
    })
  })
}

let server
let small
let before
let tier // the local tier serve's sandboxes get here
const viaEnv = () => ({ E2B_API_URL: server.url, E2B_SANDBOX_URL: server.url, E2B_API_KEY: server.apiKey })

beforeAll(async () => {
  before = descendants().length
  const probe = new E2BService({ backend: 'local', pool: { size: 0 } })
  tier = await tierOf(probe)
  await probe.close()
  server = await startServer({ port: 0, apiKey: KEY, logLevel: 'silent' })
  small = await startServer({ port: 0, maxSandboxes: 2, maxTimeoutMs: 60000, logLevel: 'silent' })
})

afterAll(async () => {
  await Promise.all([server && server.close(), small && small.close()])
  // Every sandbox (helper, init, kernels, commands) is gone with the servers.
  expect(await eventually(() => descendants().length <= before)).toBe(true)
  expect(liveSandboxes()).toBe(0)
})

describe('startServer', () => {
  test('listens on 127.0.0.1 and hands out its URL and key', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(server.apiKey).toBe(KEY)
    expect(small.apiKey).toMatch(/^e2b_[0-9a-f]+$/)
  })

  test('rejects malformed options with ERR_INVALID_ARG', async () => {
    await expect(startServer({ port: 'x' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' })
    await expect(startServer({ apiKey: 'not-an-e2b-key', port: 0 })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG',
      message: expect.stringContaining('e2b_'),
    })
  })
})

describe('the official SDK against it', () => {
  let seen
  beforeAll(async () => {
    seen = await sdk('basics', viaEnv())
  })

  test('Sandbox.create with metadata; getInfo reports it', () => {
    expect(seen.id).toMatch(/^i[a-z0-9]{20}$/)
    expect(seen.info).toEqual({ metadata: { suite: 'serve-basics', owner: 'jest' }, state: 'running', envdVersion: '0.6.13' })
  })

  test('runCode in Python keeps state, streams stdout, returns the last expression', () => {
    expect(seen.python).toEqual({ text: '42', stdout: 'hello\n', count: 2 })
    expect(seen.pythonString).toBe('a-b')
    expect(seen.afterError).toBe('40')
    expect(seen.pythonStderr).toEqual({ stderr: 'warn\n', results: 0 })
  })

  test('runCode reports an exception as name, value and traceback', () => {
    expect(seen.pythonError.name).toBe('ZeroDivisionError')
    expect(seen.pythonError.value).toBe('division by zero')
    expect(seen.pythonError.traceback).toMatch(/line 2, in f[\s\S]*ZeroDivisionError: division by zero/)
  })

  test('runCode in JavaScript keeps its own state; contexts are separate', () => {
    expect(seen.javascript).toEqual({ text: '13', stdout: 'js says hi\n' })
    expect(seen.javascriptError).toBe('ReferenceError')
    expect(seen.contexts).toEqual({ own: 'other', default: '40', listed: true })
  })

  test('commands.run: stdout, stderr, exit codes, envs, as user in /home/user', () => {
    if (tier === 'namespaces') {
      expect(seen.command).toEqual({ exitCode: 0, stdout: 'out\nuser\n/home/user\n', stderr: 'err\n' })
    } else {
      // The room's home; the user's name is the host's for a shared uid, and
      // none for a room's own uid (SECURITY.md).
      const shared = process.getuid() !== 0
      expect(seen.command).toEqual({
        exitCode: 0,
        stdout: expect.stringMatching(shared ? /^out\n\S+\n\/tmp\/e2b-native-room-[^/]+\/home\n$/ : /^out\n\/tmp\/e2b-native-room-[^/]+\/home\n$/),
        stderr: shared ? 'err\n' : expect.stringMatching(/^err\nwhoami: cannot find name for user ID \d+\n$/),
      })
    }
    expect(seen.failing).toMatchObject({ error: 'CommandExitError', exitCode: 3, stderr: 'oops\n' })
    expect(seen.envs).toBe('hi there\n')
  })

  test('files.write and files.read share /home/user with commands and code', () => {
    expect(seen.read).toBe('written by files.write\n')
    expect(seen.cat).toBe('written by files.write\n')
    expect(seen.fromPython).toBe('written by files.write')
    expect(seen.readBack).toBe('from bash\n')
    expect(seen.missing.error).toBe('FileNotFoundError')
    expect(seen.exists).toEqual([true, false])
  })

  test('Sandbox.list by metadata, setTimeout, kill', () => {
    expect(seen.listed).toEqual([seen.id])
    expect(seen.listedOther).toBe(0)
    expect(seen.endAfterSetTimeout).toBeGreaterThan(60000)
    expect(seen).toMatchObject({ killed: true, runningAfterKill: false, killedAgain: false })
  })
})

test('portable: state, files under /home/user and relative paths, commands, in whichever tier this host gives', async () => {
  const seen = await sdk('portable', viaEnv())
  expect(seen).toEqual({
    python: '42',
    javascript: '2',
    cat: { stdout: 'written\nhi\n', stderr: '' },
    read: 'from bash\n',
    failing: 3,
  })
})

test('a command past its timeout is killed (TimeoutError); a background one by kill()', async () => {
  const seen = await sdk('commandTimeout', viaEnv())
  expect(seen.timedOut.error).toBe('TimeoutError')
  expect(seen.gone).toBe(true)
  expect(seen.killed).toBe(true)
  expect(seen.waited).toMatchObject({ error: 'CommandExitError', exitCode: -1 })
  expect(seen.after).toBe('2')
})

test('a sandbox whose timeout passes is killed; setTimeout extends another', async () => {
  const seen = await sdk('ttl', viaEnv())
  expect(seen.expired).toBe(true)
  expect(seen.shortListed).toBe(false)
  expect(seen.extendedRunning).toBe(true)
  expect(seen.extendedWorks).toBe('alive\n')
  expect(seen.afterExpiry.error).toBe('TimeoutError')
  expect(seen.infoAfterExpiry.error).toBe('SandboxNotFoundError')
})

test('a client that disconnects mid-execution interrupts the code; the context lives on', async () => {
  const seen = await sdk('disconnect', viaEnv())
  expect(seen.aborted.error).toBe('TimeoutError')
  expect(Number(seen.first)).toBeLessThan(400)
  expect(seen.second).toBe(seen.first) // the loop stopped
  expect(seen.finished).toBe('False')
  expect(seen.js.error).toBe('TimeoutError')
  expect(seen.jsAfter).toBe('true')
})

test('10 sandboxes at once, each isolated from the others', async () => {
  const seen = await sdk('many', viaEnv())
  expect(new Set(seen.ids).size).toBe(10)
  expect(seen.values).toEqual(Array.from({ length: 10 }, (_, i) => String(i * 10)))
  expect(seen.homes).toEqual(Array.from({ length: 10 }, (_, i) => `mine-${i}.txt`))
  // Each sees only its own processes (init, its kernel, the shell and ls);
  // without a pid namespace, /proc lists the host's (SECURITY.md).
  if (tier === 'namespaces') for (const count of seen.processCounts) expect(count).toBeLessThan(10)
  expect([...seen.listed].sort()).toEqual([...seen.ids].sort())
  expect(seen.pages).toBe(3)
  expect(seen.killed).toEqual(Array(10).fill(true))
})

test("wrong key and unknown sandboxes fail with the SDK's own error classes", async () => {
  const seen = await sdk('errors', viaEnv())
  expect(seen.classes).toEqual({ AuthenticationError: 'function', SandboxNotFoundError: 'function' })
  expect(seen.createWrongKey.error).toBe('AuthenticationError')
  expect(seen.listWrongKey.error).toBe('AuthenticationError')
  expect(seen.connectUnknown.error).toBe('SandboxNotFoundError')
  expect(seen.infoUnknown.error).toBe('SandboxNotFoundError')
  expect(seen.setTimeoutUnknown.error).toBe('SandboxNotFoundError')
  expect(seen.killUnknown).toBe(false)
  expect(seen.runCodeKilled.error).toBe('TimeoutError')
  expect(seen.killedMidRun.error).toBe('TimeoutError') // killed under a running execution
  expect(seen.commandKilled.error).toMatch(/Error$/)
})

test('past maxSandboxes creation answers 429 (RateLimitError); past maxTimeout 400', async () => {
  const seen = await sdk('limits', { E2B_API_URL: small.url, E2B_SANDBOX_URL: small.url, E2B_API_KEY: small.apiKey })
  expect(seen.third.error).toBe('RateLimitError')
  expect(seen.again).toBe(21)
  expect(seen.tooLong.error).toBe('SandboxError')
  expect(seen.tooLong.message).toMatch(/^400: Timeout cannot be greater than/)
})

test('the SDK in E2B_DEBUG=true mode: runCode and commands.run', async () => {
  const seen = await sdk('debug', { E2B_DEBUG: 'true', E2B_SANDBOX_URL: server.url })
  expect(seen.id).toBe('debug_sandbox_id')
  expect(seen.python).toEqual({ text: '2', stdout: 'debug mode\n' })
  expect(seen.javascript).toBe('[ 2, 4 ]')
  expect(seen.command).toEqual({ exitCode: 0, stdout: 'from debug\n', stderr: 'to stderr\n' })
  expect(seen.failing).toMatchObject({ error: 'CommandExitError', exitCode: 7 })
  expect(seen.killed).toBe(true)
})

test('TypeScript, ESM imports, top-level await, bash, contexts with a cwd, env vars and callbacks', async () => {
  const seen = await sdk('languages', viaEnv())
  expect(seen.ts).toEqual(['Hello World!\n'])
  expect(seen.tsTypes).toBe('[ 2, 1 ]')
  expect(seen.esm).toEqual(['function\n'])
  expect(seen.await).toBe('Hello World!')
  expect(seen.redeclared).toBe('[ 3 ]')
  expect(seen.syntaxError).toEqual({ name: 'SyntaxError', value: expect.stringMatching(/\(1:7\)$/) })
  expect(seen.bash.join('')).toBe('hi 5\n/tmp\n')
  expect(seen.bashError).toEqual({ name: '', value: '1' })
  expect(seen.sandboxEnv).toEqual(['supertest', 'supertest', 'supertest\n'])
  expect(seen.perExecution).toEqual(['baroverwrite', 'baroverwrite', 'baroverwrite', 'baroverwrite\n'])
  expect(seen.afterwards).toEqual(['defaultsupertest', 'defaultsupertest', 'defaultsupertest\n'])
  for (const language of ['python', 'javascript', 'typescript', 'bash']) {
    // Without a root of its own, /tmp is the sandbox's room's tmp (SECURITY.md).
    const tmp = tier === 'namespaces' ? '/tmp' : expect.stringMatching(/^\/tmp\/e2b-native-room-[^/]+\/tmp$/)
    expect(seen.cwds[language]).toEqual({ context: '/tmp', language, seen: tmp })
  }
  expect(seen.listed).toEqual(['bash', 'bash', 'javascript', 'javascript', 'python', 'python', 'typescript', 'typescript'])
  expect(seen.callbacks).toEqual({ results: ['7', '8'], stdout: ['out\n', 'js\n'], stderr: ['err\n'], errors: ['NameError'] })
  expect(seen.executionCount).toBe(2)
})

describe('rich results, with serve\'s data-science environment (installed from PyPI on first use)', () => {
  let rich
  beforeAll(async () => {
    if (process.env.E2B_TEST_OFFLINE) return console.log('skipped: E2B_TEST_OFFLINE (the environment comes from PyPI)')
    rich = await startServer({ port: 0, logLevel: 'silent' })
  }, 600000)
  afterAll(() => rich && rich.close())

  test('plt.show() display data, onResult, charts, DataFrame data, !cmd, raw display', async () => {
    if (!rich) return
    const seen = await sdk('richResults', { E2B_API_URL: rich.url, E2B_SANDBOX_URL: rich.url, E2B_API_KEY: rich.apiKey })
    expect(seen.display).toEqual({ png: 'iVBOR', text: expect.stringMatching(/^<Figure size/), extra: {}, main: false })
    // As E2B's own test: the figure, then the last expression's value.
    expect(seen.streamed).toEqual([
      { main: false, formats: ['png'], chart: true, text: expect.stringMatching(/^<Figure/) },
      { main: true, formats: [], chart: false, text: '100' },
    ])
    expect(seen.chart).toEqual({
      type: 'bar',
      title: 'Counts',
      xLabel: 'letter',
      elements: [
        { label: 'a', value: 3, group: 'n' },
        { label: 'b', value: 1, group: 'n' },
        { label: 'c', value: 2, group: 'n' },
      ],
    })
    expect(seen.data).toEqual({ data: { a: [1, 2, 3] }, html: true })
    expect(seen.shell).toBe('/home/user\n')
    expect(seen.latex).toEqual(['latex'])
  })
})

test('`e2b-native serve` (the bin) prints where it listens, logs requests at debug, and leaves nothing on SIGTERM', async () => {
  const cli = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--api-key', KEY, '--log-level', 'debug'])
  let stdout = ''
  let stderr = ''
  cli.stdout.on('data', (d) => (stdout += d))
  cli.stderr.on('data', (d) => (stderr += d))
  const exited = new Promise((resolve) => cli.on('close', resolve))
  try {
    expect(await eventually(() => /E2B_API_KEY=/.test(stdout), 20000)).toBe(true)
    const url = stdout.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/)[1]
    const seen = await sdk('cli', { E2B_API_URL: url, E2B_SANDBOX_URL: url, E2B_API_KEY: KEY })
    expect(seen).toEqual({ text: '42', stdout: 'cli\n' })
    expect(stderr).toMatch(/debug e2b-native serve: api POST \/v2\/sandboxes -> 201/)
    expect(stderr).toMatch(/interpreter POST \/execute \[i[a-z0-9]{20}\] -> 200/)
    // A sandbox left running when the server is stopped dies with it.
    const running = await sdkCreate(url)
    expect(running).toMatch(/^i[a-z0-9]{20}$/)
    const helpers = descendants(cli.pid)
    expect(helpers.length).toBeGreaterThan(0)
    cli.kill('SIGTERM')
    expect(await exited).toBe(0)
    expect(await eventually(() => helpers.every((pid) => !alive(pid)))).toBe(true)
  } finally {
    cli.kill('SIGKILL')
  }
})

/** Creates a sandbox through the REST API and leaves it running. */
async function sdkCreate(url) {
  const response = await fetch(`${url}/v2/sandboxes`, {
    method: 'POST',
    headers: { 'X-API-Key': KEY, 'Content-Type': 'application/json' },
    body: JSON.stringify({ templateID: 'base', timeout: 300 }),
  })
  return (await response.json()).sandboxID
}

function alive(pid) {
  try {
    process.kill(pid, 0)
    const state = require('node:fs').readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1][0]
    return state !== 'Z'
  } catch {
    return false
  }
}
