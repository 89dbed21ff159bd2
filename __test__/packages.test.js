'use strict'
// executeWithPackages on the local backend: installs run in a sandbox whose
// only way out is a proxy to the configured registries; sets are cached.
// Most cases run offline, from sources the tests build: a wheel folder and an
// npm registry on loopback. Two cases use the real registries.
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const { E2BService, liveSandboxes } = require('..')
const { buildWheel, sharedTempDir, startRegistry } = require('./registry')
const { descendants } = require('./helpers')

jest.setTimeout(120000)

const hostDir = sharedTempDir('e2bn-host-')
fs.chmodSync(hostDir, 0o777) // only the sandbox may keep an install script out
const secret = path.join(os.tmpdir(), `e2bn-secret-${process.pid}`)
let sentinel
let sentinelPort
let registry
let wheels
const caches = []

function service(packages, options = {}) {
  const cacheDir = sharedTempDir('e2bn-cache-')
  caches.push(cacheDir)
  return new E2BService({ backend: 'local', packages: { cacheDir, ...packages }, ...options })
}

const probe = () => `
const fs = require('fs'), net = require('net'), http = require('http')
const findings = {}
const attempt = (name, fn) => { try { findings[name] = fn() } catch (e) { findings[name] = 'blocked ' + e.code } }
attempt('writeHost', () => { fs.writeFileSync(${JSON.stringify(hostDir)} + '/pwned', 'x'); return 'wrote' })
attempt('readSecret', () => fs.readFileSync(${JSON.stringify(secret)}, 'utf8'))
attempt('processes', () => fs.readdirSync('/proc').filter((e) => /^\\d+$/.test(e)).length)
attempt('mountinfo', () => fs.readFileSync('/proc/self/mountinfo', 'utf8'))
attempt('init', () => fs.readFileSync('/proc/1/cmdline', 'utf8'))
const connect = (port) => new Promise((resolve) => {
  const s = net.connect(port, '127.0.0.1')
  s.on('connect', () => { s.destroy(); resolve('connected') })
  s.on('error', (e) => resolve('blocked ' + e.code))
})
const viaProxy = (target) => new Promise((resolve) => {
  const req = http.request({ host: '127.0.0.1', port: new URL(process.env.HTTPS_PROXY).port, method: 'CONNECT', path: target })
  req.on('connect', (res, socket) => { socket.destroy(); resolve(res.statusCode) })
  req.on('error', (e) => resolve('error ' + e.code))
  req.end()
})
;(async () => {
  findings.sentinel = await connect(${sentinelPort})
  findings.proxyToSentinel = await viaProxy('127.0.0.1:${sentinelPort}')
  findings.proxyToInternet = await viaProxy('example.com:443')
  fs.writeFileSync(__dirname + '/findings.json', JSON.stringify(findings))
})()
`

beforeAll(async () => {
  fs.writeFileSync(secret, 'host-secret', { mode: 0o644 })
  sentinel = net.createServer((s) => s.end('sentinel'))
  await new Promise((resolve) => sentinel.listen(0, '127.0.0.1', resolve))
  sentinelPort = sentinel.address().port
  registry = await startRegistry(
    [
      { name: 'e2bn-greet', version: '1.0.0', files: { 'index.js': "module.exports = (who) => 'hi ' + who" } },
      { name: 'e2bn-concurrent', version: '2.0.0', files: { 'index.js': 'module.exports = 2' } },
      {
        name: '@e2bn/scoped',
        version: '1.2.3',
        files: { 'index.js': "module.exports = require('e2bn-greet')('scoped')" },
        dependencies: { 'e2bn-greet': '^1.0.0' },
      },
      {
        name: 'e2bn-hostile',
        version: '1.0.0',
        files: { 'index.js': 'module.exports = 1', 'probe.js': probe() },
        scripts: { install: 'node probe.js' },
      },
      {
        name: 'e2bn-hoarder',
        version: '1.0.0',
        files: {
          'index.js': '',
          'hoard.js':
            "const net = require('net'); const port = new URL(process.env.HTTPS_PROXY).port; const s = []; " +
            "for (let i = 0; i < 300; i++) { const c = net.connect(port, '127.0.0.1'); c.on('error', () => {}); s.push(c) } " +
            'setTimeout(() => process.exit(0), 4000)',
        },
        scripts: { install: 'node hoard.js' },
      },
      {
        name: 'e2bn-filler',
        version: '1.0.0',
        files: {
          'index.js': '',
          'fill.js':
            "const { execFileSync } = require('child_process'); const cache = process.env.npm_config_cache || '/packages-cache/npm'; " +
            "console.log('cache', cache); execFileSync('fallocate', ['-l', '1G', cache + '/big']); " +
            "for (const f of ['big1', 'big2', 'big3']) execFileSync('fallocate', ['-l', '1G', f]); setTimeout(() => {}, 5000)",
        },
        scripts: { install: 'node fill.js' },
      },
      {
        name: 'e2bn-failing',
        version: '1.0.0',
        files: { 'index.js': '' },
        scripts: { install: "node -e \"console.error('build exploded'); process.exit(3)\"" },
      },
    ],
    { hang: 'e2bn-slow' },
  )
  wheels = sharedTempDir('e2bn-wheels-')
  buildWheel(wheels, 'e2bn_base', '1.0')
  buildWheel(wheels, 'e2bn_hello', '1.0', ['e2bn_base>=1'])
})

afterAll(async () => {
  sentinel.close()
  await registry.close()
  for (const dir of [hostDir, wheels, ...caches]) fs.rmSync(dir, { recursive: true, force: true })
  fs.rmSync(secret, { force: true })
})

afterEach(() => {
  expect(liveSandboxes()).toBe(0)
  expect(descendants()).toEqual([])
})

function setsIn(cacheDir) {
  return fs.readdirSync(path.join(cacheDir, 'sets'))
}

describe('offline sources', () => {
  test('wheels from a local folder, with a dependency, then from the cache', async () => {
    const svc = service({ pythonWheelDir: wheels })
    const code = 'import e2bn_hello, e2bn_base; print(e2bn_hello.greet("py"), e2bn_base.VERSION)'
    const first = await svc.executeWithPackages(code, ['e2bn-hello'])
    expect(first).toMatchObject({ stdout: 'hello py from e2bn_hello 1.0\n', exitCode: 0, backend: 'local' })
    expect(first.error).toBeUndefined()

    // The wheels are gone: the same set still works, a new set cannot install.
    const moved = sharedTempDir('e2bn-moved-')
    for (const f of fs.readdirSync(wheels)) fs.renameSync(path.join(wheels, f), path.join(moved, f))
    try {
      const second = await svc.executeWithPackages(code, ['e2bn-hello'])
      expect(second).toMatchObject({ stdout: first.stdout, exitCode: 0 })
      const other = await svc.executeWithPackages(code, ['e2bn-hello==1.0'])
      expect(other).toMatchObject({ error: 'PackageInstallError', stdout: '' })
      expect(other.exitCode).not.toBe(0)
      expect(other.stderr).toMatch(/e2bn-hello==1.0/)
    } finally {
      for (const f of fs.readdirSync(moved)) fs.renameSync(path.join(moved, f), path.join(wheels, f))
      fs.rmSync(moved, { recursive: true })
    }
    await svc.close()
  })

  test('under a low hard limit on open files, the install and the code run within it', async () => {
    const cacheDir = sharedTempDir('e2bn-cache-')
    caches.push(cacheDir)
    const script = `
const { E2BService } = require(${JSON.stringify(path.resolve(__dirname, '..'))})
const svc = new E2BService({ backend: 'local', packages: { cacheDir: ${JSON.stringify(cacheDir)}, pythonWheelDir: ${JSON.stringify(wheels)} } })
svc.executeWithPackages('import e2bn_hello, resource; print(resource.getrlimit(resource.RLIMIT_NOFILE))', ['e2bn-hello'])
  .then((r) => console.log(JSON.stringify(r)), (e) => console.log(JSON.stringify({ rejected: e.code, message: e.message })))
  .finally(() => svc.close())
`
    const out = execFileSync('/bin/bash', ['-c', 'ulimit -Sn 200 && ulimit -Hn 200 && exec "$0" -e "$1"', process.execPath, script], {
      encoding: 'utf8',
      timeout: 100000,
    })
    expect(JSON.parse(out)).toMatchObject({ stdout: '(200, 200)\n', exitCode: 0 })
  })

  test('an install script that opens hundreds of proxy connections holds a bounded number of host descriptors', async () => {
    const svc = service({ npmRegistry: registry.url })
    const fds = () => fs.readdirSync('/proc/self/fd').length
    const before = fds()
    let most = before
    const watch = setInterval(() => (most = Math.max(most, fds())), 50)
    const r = await svc.executeWithPackages("console.log('ran')", ['e2bn-hoarder'], 'node')
    clearInterval(watch)
    expect(r).toMatchObject({ stdout: 'ran\n', exitCode: 0 })
    expect(most - before).toBeLessThan(100)
    await svc.close()
  })

  test('npm packages from a registry, scoped with a dependency; a cache hit asks the registry nothing', async () => {
    const svc = service({ npmRegistry: registry.url })
    const code = "console.log(require('@e2bn/scoped'), require('e2bn-greet')('node'))"
    const first = await svc.executeWithPackages(code, ['@e2bn/scoped@^1.2.0'], 'node')
    expect(first).toMatchObject({ stdout: 'hi scoped hi node\n', exitCode: 0 })
    const asked = registry.requests.length
    expect(registry.requests).toContain('/@e2bn/scoped')
    const second = await svc.executeWithPackages(code, ['@e2bn/scoped@^1.2.0'], 'node')
    expect(second).toMatchObject({ stdout: first.stdout, exitCode: 0 })
    expect(registry.requests.length).toBe(asked)
    await svc.close()
  })

  test('concurrent calls needing one new set install it once', async () => {
    const svc = service({ npmRegistry: registry.url })
    const before = registry.requests.filter((r) => r === '/e2bn-concurrent').length
    const results = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        svc.executeWithPackages(`console.log(${i} + require('e2bn-concurrent'))`, ['e2bn-concurrent'], 'node'),
      ),
    )
    results.forEach((r, i) => expect(r).toMatchObject({ stdout: `${i + 2}\n`, exitCode: 0 }))
    expect(registry.requests.filter((r) => r === '/e2bn-concurrent').length - before).toBe(1)
    await svc.close()
  })

  test("an install script is contained, and the code cannot write the set or reach the network", async () => {
    const svc = service({ npmRegistry: registry.url })
    const code = `
      const fs = require('fs'), net = require('net')
      const findings = require('e2bn-hostile/findings.json')
      let write
      try { fs.writeFileSync(require.resolve('e2bn-hostile/index.js'), 'hacked'); write = 'wrote' } catch (e) { write = e.code }
      const s = net.connect(${sentinelPort}, '127.0.0.1')
      s.on('connect', () => { console.log(JSON.stringify({ findings, write, net: 'connected' })); s.destroy() })
      s.on('error', (e) => console.log(JSON.stringify({ findings, write, net: e.code })))
    `
    const result = await svc.executeWithPackages(code, ['e2bn-hostile'], 'node')
    expect(result).toMatchObject({ exitCode: 0, stderr: '' })
    const { findings, write, net: network } = JSON.parse(result.stdout)
    const tier = result.isolation
    expect(findings.writeHost).toMatch(/^blocked/)
    expect(findings.readSecret).toMatch(/^blocked/)
    // Without a pid namespace the host's processes show (SECURITY.md).
    if (tier === 'namespaces') expect(findings.processes).toBeLessThan(10)
    // Nothing of the host's process: not its pid (in the set folder's name), nor the helper's path.
    expect(findings.mountinfo).not.toContain(`-${process.pid}-`)
    if (tier === 'namespaces') expect(findings.init).toBe('e2b-sandbox\0')
    expect(findings.sentinel).toMatch(/^blocked/)
    expect(findings.proxyToSentinel).toBe(403)
    expect(findings.proxyToInternet).toBe(403)
    // A read-only bind in its own root; Landlock's refusal without one.
    expect(write).toBe(tier === 'namespaces' ? 'EROFS' : 'EACCES')
    expect(network).not.toBe('connected')
    expect(fs.existsSync(path.join(hostDir, 'pwned'))).toBe(false)
    await svc.close()
  })
})

describe('failures resolve without running the code', () => {
  test('a package that does not exist', async () => {
    const svc = service({ npmRegistry: registry.url })
    const result = await svc.executeWithPackages("console.log('ran')", ['e2bn-no-such-package'], 'node')
    expect(result).toMatchObject({ stdout: '', error: 'PackageInstallError', backend: 'local' })
    expect(result.exitCode).not.toBe(0)
    expect(result.stderr).toMatch(/404|e2bn-no-such-package/)
    const cacheDir = caches[caches.length - 1]
    expect(setsIn(cacheDir)).toEqual([])
    await svc.close()
  })

  test("a failing install script: the installer's status and output", async () => {
    const svc = service({ npmRegistry: registry.url })
    const result = await svc.executeWithPackages("console.log('ran')", ['e2bn-failing'], 'node')
    expect(result).toMatchObject({ stdout: '', error: 'PackageInstallError' })
    expect(result.exitCode).not.toBe(0)
    expect(result.stderr).toContain('build exploded')
    await svc.close()
  })

  test('an unreachable registry says so', async () => {
    const svc = service({ npmRegistry: 'http://127.0.0.1:1/' })
    const result = await svc.executeWithPackages("console.log('ran')", ['e2bn-greet'], 'node')
    expect(result).toMatchObject({ stdout: '', error: 'PackageInstallError' })
    expect(result.stderr).toMatch(/package registry 127\.0\.0\.1:1 could not be reached/)
    await svc.close()
  })

  test('an install that reserves gigabytes is stopped at its disk limit and leaves nothing in the cache', async () => {
    const svc = service({ npmRegistry: registry.url })
    const cacheDir = caches[caches.length - 1]
    const r = await svc.executeWithPackages("console.log('ran')", ['e2bn-filler'], 'node')
    expect(r).toMatchObject({ error: 'PackageInstallError', stdout: '' })
    // Stopped at its limit; where the cache is on a small filesystem (a container's /tmp), the disk refuses first.
    expect(r.stderr).toMatch(/DiskLimitError|No space left on device/)
    const used = Number(execFileSync('du', ['-sk', cacheDir], { encoding: 'utf8' }).split('\t')[0])
    expect(used).toBeLessThan(100 * 1024)
    await svc.close()
  })

  test('installTimeoutMs bounds the install, apart from timeoutMs', async () => {
    const svc = service({ npmRegistry: registry.url }, { timeoutMs: 1000 })
    const result = await svc.executeWithPackages("console.log('ran')", ['e2bn-slow'], 'node', { installTimeoutMs: 3000 })
    expect(result).toMatchObject({ stdout: '', error: 'PackageInstallError' })
    expect(result.stderr).toMatch(/installTimeoutMs is 3000 ms/)
    await svc.close()
  })

  test('an install aborted midway leaves no sandbox and no partial set', async () => {
    const svc = service({ npmRegistry: registry.url })
    const cacheDir = caches[caches.length - 1]
    const controller = new AbortController()
    const call = svc.executeWithPackages("console.log('ran')", ['e2bn-slow'], 'node', { signal: controller.signal })
    await new Promise((resolve) => setTimeout(resolve, 1500))
    expect(fs.readdirSync(path.join(cacheDir, 'sets')).some((e) => e.startsWith('.tmp-'))).toBe(true)
    controller.abort()
    await expect(call).rejects.toMatchObject({ code: 'ABORT_ERR' })
    expect(setsIn(cacheDir)).toEqual([])
    await svc.close()
  })

  test('bad specs of every class are rejected before anything runs', async () => {
    const svc = service({ npmRegistry: registry.url })
    const bad = {
      python: ['six; rm -rf /', '../six', 'https://evil/x.whl', 'git+https://x/y', '--index-url=http://evil', '-e .', 'six @ file:///etc', 'evil.tgz', 'x.tar', 'evil-1.0.tar.gz', 'a-1.0-py3-none-any.whl'],
      node: ['left-pad && id', '/tmp/pkg', 'https://evil/x.tgz', 'github:user/repo', '--registry=http://evil', 'file:../x', 'evil.tgz', 'x.tar', 'evil-1.0.tar.gz'],
    }
    for (const [language, specs] of Object.entries(bad)) {
      for (const spec of specs) {
        await expect(svc.executeWithPackages('1', ['e2bn-greet', spec], language)).rejects.toMatchObject({
          code: 'ERR_INVALID_ARG',
          message: expect.stringContaining(JSON.stringify(spec)),
        })
      }
    }
    expect(registry.requests.filter((r) => r.includes('evil'))).toEqual([])
    await svc.close()
  })
})

test('package options are checked when the service is made', () => {
  for (const packages of [
    'cache',
    { cacheDir: 'relative/dir' },
    { pythonIndexUrl: 'file:///etc/passwd' },
    { npmRegistry: 'not a url' },
    { pythonWheelDir: '/no/such/folder' },
    { allowHosts: ['evil.example/path'] },
    { allowHosts: 'evil.example' },
    { maxCacheBytes: -1 },
    { registry: 'https://registry.npmjs.org/' },
  ]) {
    expect(() => new E2BService({ backend: 'local', packages })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG', message: expect.stringMatching(/packages/) }),
    )
  }
})

// Inside a container without a network (CI runs this suite there too) they cannot run.
const online = process.env.E2B_TEST_OFFLINE === undefined
;(online ? describe : describe.skip)('the public registries', () => {
  test('a pure-Python package from PyPI', async () => {
    const svc = service({})
    const result = await svc.executeWithPackages('import six; print(six.__version__)', ['six==1.16.0'])
    expect(result).toMatchObject({ stdout: '1.16.0\n', exitCode: 0 })
    await svc.close()
  })

  test('a small package from the npm registry', async () => {
    const svc = service({})
    const result = await svc.executeWithPackages("console.log(require('is-number')('7'))", ['is-number@7.0.0'], 'node')
    expect(result).toMatchObject({ stdout: 'true\n', exitCode: 0 })
    await svc.close()
  })
})
