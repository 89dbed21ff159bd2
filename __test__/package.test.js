'use strict'
// The package as npm delivers it: `npm pack` of e2b-native (JavaScript only)
// and of its platform package npm/linux-x64-gnu (the addon and the helper),
// then `npm install` of both into a fresh project, with no Rust toolchain on
// PATH and no source tree beside it. CommonJS, ESM and both type entries; the
// binary from the platform package; what happens where no binary fits.
const fs = require('node:fs')
const path = require('node:path')
const { ROOT, BINARY, HELPER, FORK_SERVER_LIBRARY, PLATFORM_PACKAGE, canRun, tempDir, removeDir, run, ok, packRelease, newProject, npmInstall } = require('./packaging')
const { TARGETS, packageName } = require('../platform.js')

jest.setTimeout(5 * 60 * 1000)
const describeIf = canRun ? describe : describe.skip

describeIf('the packed package', () => {
  let tmp
  let tarball
  let platformTarball
  let app

  beforeAll(async () => {
    tmp = tempDir('pkg-e2e')
    ;[tarball, platformTarball] = await packRelease(tmp)
    app = newProject(path.join(tmp, 'app'))
    // The platform tarball stands in for the registry's copy, which npm would
    // fetch as e2b-native's optional dependency.
    ok(await npmInstall(app, [tarball, platformTarball]))
  })
  afterAll(() => removeDir(tmp))

  /** Runs a script file in the installed project, as its own code would. */
  async function node(name, source, args = []) {
    fs.writeFileSync(path.join(app, name), source)
    return run(process.execPath, [...args, name], { cwd: app })
  }

  test('the main package holds the JavaScript and the types, no binary, and lists every platform package', async () => {
    const listing = ok(await run('tar', ['-tzf', tarball])).stdout.trim().split('\n')
    expect(listing.map((f) => f.replace(/^package\//, '')).sort()).toEqual(
      ['README.md', 'package.json', 'index.js', 'index.d.ts', 'index.mjs', 'index.d.mts', 'platform.js', 'edge.js', 'bin/e2b-native.js'].sort(),
    )
    const manifest = JSON.parse(fs.readFileSync(path.join(app, 'node_modules', 'e2b-native', 'package.json'), 'utf8'))
    expect(manifest.os).toBeUndefined()
    expect(manifest.optionalDependencies).toEqual(Object.fromEntries(TARGETS.map((t) => [packageName(t), manifest.version])))
  })

  test('the platform package holds the addon, the executable helper and the fork server library, and npm installed it', async () => {
    const listing = ok(await run('tar', ['-tvzf', platformTarball])).stdout.trim().split('\n')
    const files = Object.fromEntries(listing.map((line) => [line.split(/\s+/).pop().replace(/^package\//, ''), line]))
    expect(Object.keys(files).sort()).toEqual(['README.md', 'package.json', BINARY, HELPER, FORK_SERVER_LIBRARY].sort())
    expect(files[HELPER]).toMatch(/^-rwx/)
    const installed = path.join(app, 'node_modules', PLATFORM_PACKAGE)
    expect(fs.statSync(path.join(installed, HELPER)).mode & 0o111).not.toBe(0)
    // The other targets' packages are not there: os/cpu/libc kept them out.
    const others = TARGETS.map(packageName).filter((name) => name !== PLATFORM_PACKAGE)
    expect(others.filter((name) => fs.existsSync(path.join(app, 'node_modules', name)))).toEqual([])
  })

  test('require() runs code, loading the binary and the helper from the platform package', async () => {
    const r = await node(
      'cjs.js',
      `const { e2bService } = require('e2b-native')
      const forked = async () => {
        for (let i = 0; i < 100 && !e2bService.poolStats().python.forkServer; i++) await new Promise((r) => setTimeout(r, 50))
        return e2bService.poolStats().python.forkServer
      }
      e2bService.executeCode('echo "$((6 * 7))"', 'bash').then(async (result) => {
        const python = await e2bService.executePython('print(6 * 7)')
        const loaded = Object.keys(require.cache).filter((f) => f.endsWith('.node'))
        console.log(JSON.stringify({ result, python, forkServer: await forked(), resolved: require.resolve('e2b-native'), loaded }))
        await e2bService.close()
      })`,
    )
    const out = JSON.parse(ok(r).stdout)
    expect(out.result).toMatchObject({ stdout: '42\n', exitCode: 0, backend: 'local' })
    // Python's pool found the fork server's library beside the helper.
    expect(out.python).toMatchObject({ stdout: '42\n', exitCode: 0 })
    expect(out.forkServer).toBe(true)
    expect(out.resolved).toBe(path.join(fs.realpathSync(app), 'node_modules', 'e2b-native', 'index.js'))
    expect(out.loaded).toEqual([path.join(fs.realpathSync(app), 'node_modules', PLATFORM_PACKAGE, BINARY)])
  })

  test('import gets the same module: named exports, a default export, one shared service', async () => {
    const r = await node(
      'esm.mjs',
      `import { e2bService, E2BService, liveSandboxes } from 'e2b-native'
      import e2bNative from 'e2b-native'
      import { createRequire } from 'node:module'
      const cjs = createRequire(import.meta.url)('e2b-native')
      const esm = Object.keys(await import('e2b-native')).filter((name) => name !== 'default')
      const result = await e2bService.executePython('print(6 * 7)')
      console.log(JSON.stringify({
        result,
        names: [esm.sort(), Object.keys(cjs).sort()],
        same: e2bNative.e2bService === e2bService && cjs.e2bService === e2bService && cjs.E2BService === E2BService,
        live: liveSandboxes(),
        url: import.meta.resolve('e2b-native'),
      }))`,
    )
    const out = JSON.parse(ok(r).stdout)
    expect(out).toMatchObject({ result: { stdout: '42\n', exitCode: 0 }, same: true, live: 0 })
    // index.mjs names every export of index.js.
    expect(out.names[0]).toEqual(out.names[1])
    expect(out.url).toMatch(/\/node_modules\/e2b-native\/index\.mjs$/)
  })

  test('TypeScript finds the types through "exports", for ESM and for CommonJS', async () => {
    const consumer = `
      import { e2bService, E2BService, type CodeExecutionResult, type ServiceOptions } from 'e2b-native'
      const options: ServiceOptions = { backend: 'local', timeoutMs: 1000 }
      const svc: E2BService = new E2BService(options)
      export const run: Promise<CodeExecutionResult> = e2bService.executeCode('print(1)', 'python')
      export const close: Promise<void> = svc.close()
      // @ts-expect-error: not a language
      e2bService.executeCode('x', 'ruby')
    `
    fs.writeFileSync(path.join(app, 'consumer.mts'), consumer)
    fs.writeFileSync(path.join(app, 'consumer.cts'), consumer)
    fs.writeFileSync(path.join(app, 'default.mts'), `import e2b from 'e2b-native'\nexport const s: typeof e2b.e2bService = e2b.e2bService\n`)
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
    const args = ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext']
    args.push('--target', 'es2022', '--lib', 'es2022,esnext.disposable,dom')
    const r = await run(process.execPath, [tsc, ...args, 'consumer.mts', 'consumer.cts', 'default.mts'], {
      cwd: app,
    })
    expect(r.stdout + r.stderr).toBe('')
    expect(r.code).toBe(0)
    // And what it resolved: index.d.mts for import, index.d.ts for require.
    const trace = await run(process.execPath, [tsc, ...args, '--traceResolution', 'consumer.mts', 'consumer.cts'], {
      cwd: app,
    })
    expect(trace.stdout).toMatch(/'e2b-native' was successfully resolved to '[^']*\/node_modules\/e2b-native\/index\.d\.mts'/)
    expect(trace.stdout).toMatch(/'e2b-native' was successfully resolved to '[^']*\/node_modules\/e2b-native\/index\.d\.ts'/)
  })

  test('where no binary fits or is installed, importing works and every call rejects, saying why', async () => {
    for (const [property, value, code, says] of [
      ['platform', 'darwin', 'ERR_NATIVE_BINDING', 'npm install e2b-native-darwin-x64@'],
      ['arch', 'arm64', 'ERR_NATIVE_BINDING', 'npm install e2b-native-linux-arm64-gnu@'],
      ['platform', 'win32', 'ERR_UNSUPPORTED_PLATFORM', 'no native binary for Windows x64'],
    ]) {
      const r = await node(
        'other.js',
        `Object.defineProperty(process, ${JSON.stringify(property)}, { value: ${JSON.stringify(value)} })
        const { e2bService, E2BService } = require('e2b-native')
        const svc = new E2BService({ backend: 'e2b', apiKey: 'e2b_0' })
        Promise.allSettled([e2bService.executePython('print(1)'), svc.executeCode('echo 1', 'bash')]).then((results) =>
          console.log(JSON.stringify(results.map((r) => ({ status: r.status, code: r.reason && r.reason.code, message: r.reason && r.reason.message, isError: r.reason instanceof Error })))))`,
      )
      const out = JSON.parse(ok(r).stdout)
      for (const result of out) {
        expect(result).toMatchObject({ status: 'rejected', code, isError: true })
        expect(result.message).toContain(says)
      }
    }
  })

  test('installed without optional dependencies, importing works and calls name the missing package', async () => {
    const bare = newProject(path.join(tmp, 'bare'))
    ok(await npmInstall(bare, ['--omit=optional', tarball]))
    expect(fs.existsSync(path.join(bare, 'node_modules', PLATFORM_PACKAGE))).toBe(false)
    fs.writeFileSync(
      path.join(bare, 'run.js'),
      `require('e2b-native').e2bService.executePython('print(1)').catch((e) => console.log(JSON.stringify({ code: e.code, message: e.message })))`,
    )
    const out = JSON.parse(ok(await run(process.execPath, ['run.js'], { cwd: bare })).stdout)
    expect(out.code).toBe('ERR_NATIVE_BINDING')
    expect(out.message).toContain(`the platform package ${PLATFORM_PACKAGE} is not installed`)
    expect(out.message).toContain('--omit=optional')
  })

  test('in the Edge runtime or an edge/browser bundle, importing it throws an error that says why', async () => {
    // The Edge runtime's global, seen by the guard of the Node.js entry.
    const global = await node(
      'edge-global.js',
      `globalThis.EdgeRuntime = 'edge-runtime'
      try { require('e2b-native'); console.log('loaded') } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }`,
    )
    expect(JSON.parse(ok(global).stdout)).toMatchObject({
      code: 'ERR_UNSUPPORTED_PLATFORM',
      message: expect.stringContaining('e2b-native cannot load in the Edge runtime (EdgeRuntime = "edge-runtime")'),
    })
    // The conditions of edge and browser bundlers resolve to edge.js, which
    // loads nothing native and throws when evaluated.
    for (const condition of ['edge-light', 'workerd', 'browser']) {
      const r = await node(
        'edge-condition.mjs',
        `try { await import('e2b-native'); console.log('loaded') } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, url: import.meta.resolve('e2b-native') })) }`,
        [`--conditions=${condition}`],
      )
      const out = JSON.parse(ok(r).stdout)
      expect(out.url).toMatch(/\/node_modules\/e2b-native\/edge\.js$/)
      expect(out.code).toBe('ERR_UNSUPPORTED_PLATFORM')
      expect(out.message).toContain("`export const runtime = 'nodejs'`, never 'edge'")
      expect(out.message).toContain('runs only in the Node.js runtime.')
    }
  })

  test('edge.js declares every name the Node.js entry exports (bundlers check imports statically)', () => {
    const source = fs.readFileSync(path.join(ROOT, 'edge.js'), 'utf8')
    const declared = [...source.matchAll(/exports\.(\w+) =/g)].map((m) => m[1]).sort()
    expect(declared).toEqual(Object.keys(require('..')).sort())
  })
})
