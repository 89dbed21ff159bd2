'use strict'
// e2b-native in the app it replaces: the packed package installed into a copy
// of examples/nextjs, `next build`, `next start` on a loopback port, and the
// route handler answering POST /api/code/execute with CodeExecutionResults;
// then the app's own Jest test, and an Edge route that must fail to build with
// an error that says why. Telemetry off; nothing fetched but npm packages.
// Skip with E2B_NATIVE_SKIP_NEXTJS=1.
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const { ROOT, PLATFORM_PACKAGE, canRun, tempDir, removeDir, userEnv, run, ok, packRelease, npmInstall } = require('./packaging')

const EXAMPLE = path.join(ROOT, 'examples', 'nextjs')
const describeIf = canRun && !process.env.E2B_NATIVE_SKIP_NEXTJS ? describe : describe.skip
jest.setTimeout(10 * 60 * 1000)

/** What the app's processes get: a user's shell, telemetry off. */
const appEnv = (extra) => userEnv({ NEXT_TELEMETRY_DISABLED: '1', ...extra })

/** What of the example a user copies: not its installs, builds or local settings. */
function copyExample(dest) {
  const skip = new Set(['node_modules', '.next', 'next-env.d.ts', '.env', '.env.local'])
  fs.cpSync(EXAMPLE, dest, {
    recursive: true,
    filter: (src) => !skip.has(path.basename(src)) && !src.endsWith('.tsbuildinfo') && !src.endsWith('.tgz'),
  })
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

function alive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describeIf('examples/nextjs, npm-installed from the packed package', () => {
  const timings = {}
  let tmp
  let app
  let server // the `next start` child, leader of its own process group
  let serverLog = ''

  const next = (args, env) => run(process.execPath, [path.join(app, 'node_modules', 'next', 'dist', 'bin', 'next'), ...args], { cwd: app, env })

  async function stopServer() {
    if (!server) return
    const child = server
    server = undefined
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      try {
        process.kill(-child.pid, 'SIGTERM')
      } catch {
        // already gone
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid, 'SIGKILL')
        } catch {
          // already gone
        }
      }, 5000)
      await exited
      clearTimeout(timer)
    }
    // Nothing of the group is left: not the server, not a sandbox.
    const until = Date.now() + 5000
    while (alive(-child.pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 50))
    expect(alive(-child.pid)).toBe(false)
  }

  beforeAll(async () => {
    let started = Date.now()
    tmp = tempDir('nextjs-e2e')
    const [tarball, platformTarball] = await packRelease(tmp)
    timings.pack = Date.now() - started

    // The example as a user has it, depending on the tarballs instead of ../..
    // (the platform package stands in for the registry's copy, which npm would
    // fetch as e2b-native's optional dependency).
    app = path.join(tmp, 'app')
    copyExample(app)
    const pkgFile = path.join(app, 'package.json')
    const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8'))
    pkg.dependencies['e2b-native'] = `file:${path.relative(app, tarball)}`
    pkg.dependencies[PLATFORM_PACKAGE] = `file:${path.relative(app, platformTarball)}`
    fs.writeFileSync(pkgFile, JSON.stringify(pkg, null, 2) + '\n')
    started = Date.now()
    ok(await npmInstall(app))
    timings.install = Date.now() - started
    expect(fs.lstatSync(path.join(app, 'node_modules', 'e2b-native')).isDirectory()).toBe(true)
  })

  afterAll(async () => {
    await stopServer()
    removeDir(tmp)
    const line = Object.entries(timings).map(([step, ms]) => `${step} ${(ms / 1000).toFixed(1)} s`)
    process.stdout.write(`examples/nextjs end to end: ${line.join(', ')}\n`)
  })

  test('next build, next start, and POST /api/code/execute answers with CodeExecutionResults', async () => {
    let started = Date.now()
    const build = ok(await next(['build'], appEnv()))
    timings.build = Date.now() - started
    expect(build.stdout).toMatch(/\/api\/code\/execute/)

    // `next start` runs with NODE_ENV=production, where the service wants its
    // backend named: E2B_BACKEND=local, as the example's .env.example says.
    const port = await freePort()
    started = Date.now()
    server = spawn(
      process.execPath,
      [path.join(app, 'node_modules', 'next', 'dist', 'bin', 'next'), 'start', '-p', String(port), '-H', '127.0.0.1'],
      { cwd: app, env: appEnv({ E2B_BACKEND: 'local' }), detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    server.stdout.on('data', (chunk) => (serverLog += chunk))
    server.stderr.on('data', (chunk) => (serverLog += chunk))
    const url = `http://127.0.0.1:${port}/api/code/execute`
    const post = async (body) => {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      })
      expect(response.headers.get('content-type')).toMatch(/^application\/json/)
      return { status: response.status, json: await response.json() }
    }

    // Ready when it answers; a server that exits or never answers fails with its log.
    const until = Date.now() + 60_000
    for (;;) {
      if (server.exitCode !== null) throw new Error(`next start exited ${server.exitCode}:\n${serverLog}`)
      try {
        await fetch(`http://127.0.0.1:${port}/`)
        break
      } catch (error) {
        if (Date.now() > until) throw new Error(`next start did not answer in 60 s:\n${serverLog}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    }
    timings.start = Date.now() - started

    started = Date.now()
    const python = await post({ code: 'import sys\nprint(6 * 7)\nprint(sys.version_info[0])', language: 'python' })
    expect(python).toEqual({
      status: 200,
      json: {
        stdout: '42\n3\n',
        stderr: '',
        exitCode: 0,
        timedOut: false,
        truncated: false,
        durationMs: expect.any(Number),
        backend: 'local',
        isolation: expect.stringMatching(/^(namespaces|landlock)$/),
      },
    })

    const node = await post({ code: "console.log([1, 2, 3].map((x) => x * 2).join(','))", language: 'node' })
    expect(node.status).toBe(200)
    expect(node.json).toMatchObject({ stdout: '2,4,6\n', stderr: '', exitCode: 0, backend: 'local' })
    expect(node.json).not.toHaveProperty('error')

    const bash = await post({ code: 'echo "$((6 * 7))"; echo warn >&2; exit 3', language: 'bash' })
    expect(bash.status).toBe(200)
    expect(bash.json).toMatchObject({ stdout: '42\n', stderr: 'warn\n', exitCode: 3 })
    expect(bash.json).not.toHaveProperty('error')

    // A failing program is a result, not an HTTP error: exit code, class name, traceback.
    const failing = await post({ code: 'def f():\n    return 1 / 0\n\nf()', language: 'python' })
    expect(failing.status).toBe(200)
    expect(failing.json).toMatchObject({ stdout: '', exitCode: 1, error: 'ZeroDivisionError', timedOut: false })
    expect(failing.json.stderr).toMatch(/Traceback[\s\S]*ZeroDivisionError: division by zero\n$/)

    const thrown = await post({ code: 'null.x', language: 'node' })
    expect(thrown.json).toMatchObject({ exitCode: 1, error: 'TypeError' })

    // language defaults to python; an empty packages list runs the code as it is.
    expect((await post({ code: 'print("default")', packages: [] })).json).toMatchObject({ stdout: 'default\n', exitCode: 0 })

    // Bad requests are the route's 400s, with the service's message where it has one.
    expect(await post({ language: 'python' })).toEqual({ status: 400, json: { error: 'code is required' } })
    expect((await post('not json')).status).toBe(400)
    const ruby = await post({ code: 'puts 1', language: 'ruby' })
    expect(ruby).toMatchObject({ status: 400, json: { code: 'ERR_INVALID_ARG' } })
    expect(ruby.json.error).toContain('unknown language "ruby"')
    timings.requests = Date.now() - started

    await stopServer()
  })

  test("the app's own Jest test imports e2b-native and runs code", async () => {
    const started = Date.now()
    const jest = ok(await run(process.execPath, [path.join(app, 'node_modules', 'jest', 'bin', 'jest.js'), '--ci'], {
      cwd: app,
      env: appEnv(),
    }))
    timings.appJest = Date.now() - started
    expect(jest.stderr).toMatch(/Tests:\s+4 passed, 4 total/)
  })

  test('an Edge route that imports e2b-native fails to build, saying why', async () => {
    await stopServer()
    const route = path.join(app, 'app', 'api', 'edge', 'route.ts')
    fs.mkdirSync(path.dirname(route), { recursive: true })
    fs.writeFileSync(
      route,
      [
        "import { e2bService } from 'e2b-native'",
        "export const runtime = 'edge'",
        'export async function POST() {',
        "  return Response.json(await e2bService.executePython('print(1)'))",
        '}',
        '',
      ].join('\n'),
    )
    const started = Date.now()
    const build = await next(['build'], appEnv())
    timings.edgeBuild = Date.now() - started
    expect(build.code).not.toBe(0)
    const output = build.stdout + build.stderr
    expect(output).toContain('e2b-native cannot load in the Edge runtime')
    expect(output).toContain("`export const runtime = 'nodejs'`, never 'edge'")
  })
})
