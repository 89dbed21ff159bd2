'use strict'
// The loader (platform.js): which platform package it picks for each OS, CPU
// and C library, in what order it looks, and what it says where nothing fits —
// first as a function with its inputs given, then in a child Node process with
// process.platform, process.arch and the libc report stubbed, requiring the
// package from a node_modules that holds stand-in platform packages.
const fs = require('node:fs')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const platform = require('../platform.js')
const { TARGETS, targetFor, loadBinding, detectLibc, packageName, binaryFile } = platform
const { ROOT, tempDir, removeDir } = require('./packaging')

const VERSION = require('../package.json').version

describe('targetFor', () => {
  test.each([
    ['linux', 'x64', 'glibc', 'linux-x64-gnu'],
    ['linux', 'arm64', 'glibc', 'linux-arm64-gnu'],
    ['linux', 'x64', 'musl', 'linux-x64-musl'],
    ['linux', 'arm64', 'musl', 'linux-arm64-musl'],
    ['linux', 'x64', null, 'linux-x64-gnu'], // libc unknown: glibc, the common case
    ['darwin', 'arm64', null, 'darwin-arm64'],
    ['darwin', 'x64', null, 'darwin-x64'],
    ['darwin', 'arm64', 'glibc', 'darwin-arm64'], // a libc answer is ignored off Linux
  ])('%s %s %s -> %s', (p, arch, libc, name) => {
    const { target, reason } = targetFor({ platform: p, arch, libc })
    expect(reason).toBeNull()
    expect(target.name).toBe(name)
  })

  test.each([
    ['win32', 'x64', null, 'Windows x64', 'WSL2'],
    ['win32', 'arm64', null, 'Windows arm64', 'WSL2'],
    ['linux', 'ia32', 'glibc', 'Linux ia32 (glibc)', 'container'],
    ['linux', 'riscv64', 'musl', 'Linux riscv64 (musl)', 'container'],
    ['freebsd', 'x64', null, 'freebsd x64', 'container'],
    ['android', 'arm64', null, 'android arm64', 'container'],
  ])('%s %s %s: none, and the reason names it', (p, arch, libc, named, advice) => {
    const { target, reason } = targetFor({ platform: p, arch, libc })
    expect(target).toBeNull()
    expect(reason).toContain(`no native binary for ${named}`)
    expect(reason).toContain('Linux x64 and arm64 (glibc or musl) and macOS arm64 and x64')
    expect(reason).toContain(advice)
  })

  test('every target has a platform package in npm/ and in optionalDependencies at the root version', () => {
    const root = require('../package.json')
    for (const t of TARGETS) {
      const manifest = require(path.join(ROOT, 'npm', t.name, 'package.json'))
      expect(manifest).toMatchObject({ name: packageName(t), version: VERSION, main: binaryFile(t), os: [t.platform], cpu: [t.arch] })
      expect(manifest.libc).toEqual(t.libc ? [t.libc] : undefined)
      expect(manifest.files).toEqual(t.platform === 'linux' ? [binaryFile(t), 'e2b-sandbox', 'libe2b_fork_server.so'] : [binaryFile(t)])
      expect(root.optionalDependencies[packageName(t)]).toBe(VERSION)
    }
    expect(Object.keys(root.optionalDependencies).sort()).toEqual(TARGETS.map(packageName).sort())
    expect(root.os).toBeUndefined()
    // And scripts/sync-packages.js, which writes them, has nothing to change.
    expect(() => execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'sync-packages.js'), '--check'], { stdio: 'pipe' })).not.toThrow()
  })
})

describe('detectLibc', () => {
  const noFile = () => {
    throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' })
  }
  const noReport = () => null

  test('off Linux there is no answer, and nothing is read', () => {
    const readFile = jest.fn()
    const getReport = jest.fn()
    expect(detectLibc({ platform: 'darwin', readFile, getReport })).toBeNull()
    expect(readFile).not.toHaveBeenCalled()
    expect(getReport).not.toHaveBeenCalled()
  })

  test('/usr/bin/ldd decides first: musl (Alpine) or glibc (Debian)', () => {
    const getReport = jest.fn(() => ({ header: { glibcVersionRuntime: '2.36' } }))
    expect(detectLibc({ platform: 'linux', readFile: () => '#!/bin/sh\nexec /lib/ld-musl-x86_64.so.1 --list "$@"\n', getReport })).toBe('musl')
    expect(detectLibc({ platform: 'linux', readFile: () => '# This file is part of the GNU C Library.\n', getReport })).toBe('glibc')
    expect(getReport).not.toHaveBeenCalled()
  })

  test('without ldd, Node\'s report decides: glibcVersionRuntime, or a musl loader among the shared objects', () => {
    expect(detectLibc({ platform: 'linux', readFile: noFile, getReport: () => ({ header: { glibcVersionRuntime: '2.31' } }) })).toBe('glibc')
    expect(
      detectLibc({ platform: 'linux', readFile: noFile, getReport: () => ({ header: {}, sharedObjects: ['/usr/bin/node', '/lib/ld-musl-aarch64.so.1'] }) }),
    ).toBe('musl')
    expect(detectLibc({ platform: 'linux', readFile: () => 'something else', getReport: () => ({ header: {}, sharedObjects: ['/lib/libc.musl-x86_64.so.1'] }) })).toBe('musl')
  })

  test('no sign of either, or a report that throws: no answer', () => {
    expect(detectLibc({ platform: 'linux', readFile: noFile, getReport: noReport })).toBeNull()
    expect(
      detectLibc({
        platform: 'linux',
        readFile: noFile,
        getReport: () => {
          throw new Error('no report')
        },
      }),
    ).toBeNull()
  })

  test('this host', () => {
    // Node's own report is the reference: glibcVersionRuntime is set only in a glibc process.
    const glibc = Boolean(process.report.getReport().header.glibcVersionRuntime)
    expect(detectLibc()).toBe(process.platform === 'linux' ? (glibc ? 'glibc' : 'musl') : null)
  })
})

describe('loadBinding, its inputs given', () => {
  /** A `require` over a map of ids; anything else is MODULE_NOT_FOUND. */
  function loader(modules) {
    const calls = []
    const load = (id) => {
      calls.push(id)
      if (!(id in modules)) throw Object.assign(new Error(`Cannot find module '${id}'\nRequire stack:\n- x`), { code: 'MODULE_NOT_FOUND' })
      const value = modules[id]
      if (value instanceof Error) throw value
      return value
    }
    return { load, calls }
  }
  const base = { env: {}, version: '1.2.3', exists: () => false }

  test.each(TARGETS.map((t) => [t.name, t]))('%s: the platform package, checked for its version first', (_, t) => {
    const binding = { marker: t.name }
    const { load, calls } = loader({ [`${packageName(t)}/package.json`]: { version: '1.2.3' }, [packageName(t)]: binding })
    const r = loadBinding({ ...base, platform: t.platform, arch: t.arch, libc: t.libc, load })
    expect(r).toEqual({ binding, target: t, file: packageName(t), reason: null, code: null })
    expect(calls).toEqual([`${packageName(t)}/package.json`, packageName(t)])
  })

  test('a .node beside the package (a development build) comes before the platform package', () => {
    const t = TARGETS.find((x) => x.name === 'linux-arm64-musl')
    const local = path.join(ROOT, binaryFile(t))
    const { load, calls } = loader({ [`./${binaryFile(t)}`]: { dev: true }, [packageName(t)]: { dev: false } })
    const r = loadBinding({ ...base, platform: 'linux', arch: 'arm64', libc: 'musl', load, exists: (f) => f === local })
    expect(r.binding).toEqual({ dev: true })
    expect(r.file).toBe(local)
    expect(calls).toEqual([`./${binaryFile(t)}`])
  })

  test('a .node beside the package that does not load falls through to the platform package', () => {
    const t = TARGETS.find((x) => x.name === 'linux-x64-gnu')
    const { load } = loader({ [`./${binaryFile(t)}`]: new Error('invalid ELF header'), [`${packageName(t)}/package.json`]: { version: '1.2.3' }, [packageName(t)]: { ok: 1 } })
    const r = loadBinding({ ...base, platform: 'linux', arch: 'x64', libc: 'glibc', load, exists: () => true })
    expect(r).toMatchObject({ binding: { ok: 1 }, file: packageName(t), reason: null })
  })

  test('NAPI_RS_NATIVE_LIBRARY_PATH overrides everything, and says so when it does not load', () => {
    const { load } = loader({ '/x/custom.node': { custom: true } })
    const ok = loadBinding({ ...base, platform: 'win32', arch: 'ia32', env: { NAPI_RS_NATIVE_LIBRARY_PATH: '/x/custom.node' }, load })
    expect(ok.binding).toEqual({ custom: true })
    const bad = loadBinding({ ...base, platform: 'linux', arch: 'x64', libc: 'glibc', env: { NAPI_RS_NATIVE_LIBRARY_PATH: '/x/missing.node' }, load })
    expect(bad).toMatchObject({ binding: null, code: 'ERR_NATIVE_BINDING' })
    expect(bad.reason).toBe("NAPI_RS_NATIVE_LIBRARY_PATH=/x/missing.node does not load: Cannot find module '/x/missing.node'")
  })

  test('no binary for this platform: ERR_UNSUPPORTED_PLATFORM, and nothing is required', () => {
    const { load, calls } = loader({})
    const r = loadBinding({ ...base, platform: 'win32', arch: 'x64', load })
    expect(r).toMatchObject({ binding: null, target: null, code: 'ERR_UNSUPPORTED_PLATFORM' })
    expect(r.reason).toContain('no native binary for Windows x64')
    expect(calls).toEqual([])
  })

  test('platform package not installed: ERR_NATIVE_BINDING, naming the package and the command that installs it', () => {
    const { load } = loader({})
    const r = loadBinding({ ...base, platform: 'darwin', arch: 'arm64', libc: null, load })
    expect(r).toMatchObject({ binding: null, code: 'ERR_NATIVE_BINDING' })
    expect(r.reason).toContain('the platform package e2b-native-darwin-arm64 is not installed')
    expect(r.reason).toContain('--omit=optional')
    expect(r.reason).toContain('npm install e2b-native-darwin-arm64@1.2.3')
    const musl = loadBinding({ ...base, platform: 'linux', arch: 'x64', libc: 'musl', load })
    expect(musl.reason).toContain('npm install e2b-native-linux-x64-musl@1.2.3')
    expect(musl.reason).toContain('npm config get libc')
  })

  test('a platform package of another version is refused, not loaded', () => {
    const { load, calls } = loader({ 'e2b-native-linux-x64-gnu/package.json': { version: '1.2.2' }, 'e2b-native-linux-x64-gnu': {} })
    const r = loadBinding({ ...base, platform: 'linux', arch: 'x64', libc: 'glibc', load })
    expect(r).toMatchObject({ binding: null, code: 'ERR_NATIVE_BINDING' })
    expect(r.reason).toContain('e2b-native-linux-x64-gnu@1.2.2 is installed, but e2b-native is 1.2.3')
    expect(calls).not.toContain('e2b-native-linux-x64-gnu')
  })

  test('a platform package whose binary does not load: the loader\'s error, first line only', () => {
    const dlopen = new Error('/lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.99\' not found\n    at Module._extensions..node')
    const { load } = loader({ 'e2b-native-linux-x64-gnu/package.json': { version: '1.2.3' }, 'e2b-native-linux-x64-gnu': dlopen })
    const r = loadBinding({ ...base, platform: 'linux', arch: 'x64', libc: 'glibc', load })
    expect(r).toMatchObject({ binding: null, code: 'ERR_NATIVE_BINDING' })
    expect(r.reason).toBe(
      "the e2b-native binary for Linux x64 (glibc) does not load: e2b-native-linux-x64-gnu does not load: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.99' not found",
    )
  })

  test('every file and package it may load is required by a literal name, which file tracers follow', () => {
    const source = fs.readFileSync(path.join(ROOT, 'platform.js'), 'utf8')
    for (const t of TARGETS) {
      for (const id of [packageName(t), `${packageName(t)}/package.json`, `./${binaryFile(t)}`]) {
        expect(source).toContain(`case '${id}': return require('${id}')`)
      }
    }
  })

  test('on this host, from the repository: the development build beside the package', () => {
    const r = loadBinding()
    expect(r.reason).toBeNull()
    expect(r.file).toBe(path.join(ROOT, binaryFile(r.target)))
    expect(typeof r.binding.NativeService).toBe('function')
  })
})

describe('the package, required in a child process with platform, arch and libc stubbed', () => {
  let tmp
  let app

  // node_modules with e2b-native (its JavaScript, no binary) and a stand-in
  // package for every target: a JavaScript `main` that names its target.
  beforeAll(() => {
    tmp = tempDir('loader')
    app = path.join(tmp, 'app')
    const own = path.join(app, 'node_modules', 'e2b-native')
    fs.mkdirSync(own, { recursive: true })
    for (const file of require('../package.json').files.concat('package.json')) {
      fs.cpSync(path.join(ROOT, file), path.join(own, file), { recursive: true })
    }
    for (const t of TARGETS) {
      const dir = path.join(app, 'node_modules', packageName(t))
      fs.mkdirSync(dir, { recursive: true })
      fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: packageName(t), version: VERSION, main: 'stand-in.js' }))
      fs.writeFileSync(
        path.join(dir, 'stand-in.js'),
        `class NativeService { begin() {} cancel() {} async execute() { throw new Error(${JSON.stringify(`ERR_STAND_IN\u0000${t.name}`)}) } poolStats() { return { size: 0, idleMs: 0, lanes: [] } } async close() {} }
        module.exports = { target: ${JSON.stringify(t.name)}, NativeService, killAll: () => 0, liveSandboxes: () => 0, pooledSandboxPids: () => [], diagnose: async () => [] }\n`,
      )
    }
  })
  afterAll(() => removeDir(tmp))

  /** Requires e2b-native in a child Node with these stubs; returns what it reports. */
  function requireAs({ platform: p, arch, ldd, report, remove = [] }) {
    for (const name of remove) fs.rmSync(path.join(app, 'node_modules', name), { recursive: true, force: true })
    const script = `
      Object.defineProperty(process, 'platform', { value: ${JSON.stringify(p)} })
      Object.defineProperty(process, 'arch', { value: ${JSON.stringify(arch)} })
      const fs = require('node:fs')
      const readFileSync = fs.readFileSync
      fs.readFileSync = (file, ...rest) => {
        if (file === '/usr/bin/ldd') {
          if (${JSON.stringify(ldd)} === null) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' })
          return ${JSON.stringify(ldd)}
        }
        return readFileSync(file, ...rest)
      }
      process.report.getReport = () => (${JSON.stringify(report)})
      const { e2bService } = require('e2b-native')
      const loaded = Object.keys(require.cache).filter((f) => f.includes('stand-in')).map((f) => f.split('node_modules/')[1].split('/')[0])
      e2bService.executeCode('1').then(
        () => console.log(JSON.stringify({ loaded })),
        (e) => console.log(JSON.stringify({ loaded, code: e.code, message: e.message })),
      )`
    const out = execFileSync(process.execPath, ['-e', script], { cwd: app, encoding: 'utf8', env: { ...process.env, NAPI_RS_NATIVE_LIBRARY_PATH: '' } })
    return JSON.parse(out)
  }

  const glibcReport = { header: { glibcVersionRuntime: '2.36' }, sharedObjects: ['/lib/x86_64-linux-gnu/libc.so.6'] }
  const muslReport = { header: {}, sharedObjects: ['/lib/ld-musl-x86_64.so.1'] }

  test.each([
    ['linux', 'x64', 'GNU C Library', glibcReport, 'linux-x64-gnu'],
    ['linux', 'arm64', 'GNU C Library', glibcReport, 'linux-arm64-gnu'],
    ['linux', 'x64', 'musl libc (x86_64)', muslReport, 'linux-x64-musl'],
    ['linux', 'arm64', 'musl libc (aarch64)', muslReport, 'linux-arm64-musl'],
    ['linux', 'x64', null, muslReport, 'linux-x64-musl'], // no ldd: the report decides
    ['linux', 'arm64', null, glibcReport, 'linux-arm64-gnu'],
    ['darwin', 'arm64', null, null, 'darwin-arm64'],
    ['darwin', 'x64', null, null, 'darwin-x64'],
  ])('%s %s, ldd %j, report %j: loads %s', (p, arch, ldd, report, name) => {
    const out = requireAs({ platform: p, arch, ldd, report })
    expect(out).toEqual({ loaded: [`e2b-native-${name}`], code: 'ERR_STAND_IN', message: name })
  })

  test('Windows: the import works; calls reject with ERR_UNSUPPORTED_PLATFORM and the reason', () => {
    const out = requireAs({ platform: 'win32', arch: 'x64', ldd: null, report: null })
    expect(out.loaded).toEqual([])
    expect(out.code).toBe('ERR_UNSUPPORTED_PLATFORM')
    expect(out.message).toContain('no native binary for Windows x64')
  })

  test('the platform package missing: the import works; calls reject with ERR_NATIVE_BINDING naming it', () => {
    const out = requireAs({ platform: 'darwin', arch: 'x64', ldd: null, report: null, remove: ['e2b-native-darwin-x64'] })
    expect(out.loaded).toEqual([])
    expect(out.code).toBe('ERR_NATIVE_BINDING')
    expect(out.message).toContain('npm install e2b-native-darwin-x64@')
  })
})
