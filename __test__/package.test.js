'use strict'
// The package as npm delivers it: `npm pack`, then `npm install <tarball>` into a
// fresh project, with no Rust toolchain on PATH and no source tree beside it.
// CommonJS, ESM and both type entries; the binary from the tarball and from the
// napi-style platform package npm/linux-x64-gnu; a clear error where it cannot load.
const fs = require('node:fs')
const path = require('node:path')
const { ROOT, BINARY, HELPER, canRun, tempDir, removeDir, run, ok, packPackage, newProject, npmInstall } = require('./packaging')

jest.setTimeout(5 * 60 * 1000)
const describeIf = canRun ? describe : describe.skip

describeIf('the packed package', () => {
  let tmp
  let tarball
  let app

  beforeAll(async () => {
    tmp = tempDir('pkg-e2e')
    tarball = await packPackage(tmp)
    app = newProject(path.join(tmp, 'app'))
    ok(await npmInstall(app, [tarball]))
  })
  afterAll(() => removeDir(tmp))

  /** Runs a script file in the installed project, as its own code would. */
  async function node(name, source, args = []) {
    fs.writeFileSync(path.join(app, name), source)
    return run(process.execPath, [...args, name], { cwd: app })
  }

  test('holds the JavaScript, the types, the binary and the helper, and nothing of the source', async () => {
    const listing = ok(await run('tar', ['-tvzf', tarball])).stdout.trim().split('\n')
    const files = Object.fromEntries(listing.map((line) => [line.split(/\s+/).pop().replace(/^package\//, ''), line]))
    expect(Object.keys(files).sort()).toEqual(
      [
        'README.md',
        'package.json',
        'index.js',
        'index.d.ts',
        'index.mjs',
        'index.d.mts',
        'platform.js',
        'edge.js',
        'binding.js',
        'binding.d.ts',
        'bin/e2b-native.js',
        BINARY,
        HELPER,
      ].sort(),
    )
    expect(files[HELPER]).toMatch(/^-rwx/)
    const installed = path.join(app, 'node_modules', 'e2b-native')
    expect(fs.lstatSync(installed).isDirectory()).toBe(true)
    expect(fs.statSync(path.join(installed, HELPER)).mode & 0o111).not.toBe(0)
  })

  test('require() runs code, loading the binary and the helper from the installed package', async () => {
    const r = await node(
      'cjs.js',
      `const { e2bService } = require('e2b-native')
      e2bService.executeCode('echo "$((6 * 7))"', 'bash').then((result) => {
        const loaded = Object.keys(require.cache).filter((f) => f.endsWith('.node'))
        console.log(JSON.stringify({ result, resolved: require.resolve('e2b-native'), loaded }))
      })`,
    )
    const out = JSON.parse(ok(r).stdout)
    expect(out.result).toMatchObject({ stdout: '42\n', exitCode: 0, backend: 'local' })
    expect(out.resolved).toBe(path.join(fs.realpathSync(app), 'node_modules', 'e2b-native', 'index.js'))
    expect(out.loaded).toEqual([path.join(fs.realpathSync(app), 'node_modules', 'e2b-native', BINARY)])
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

  test('on another OS or CPU, importing it throws an error that says why and what to do', async () => {
    for (const [property, value, where] of [
      ['platform', 'darwin', 'Node.js on darwin x64'],
      ['arch', 'arm64', 'Node.js on linux arm64'],
    ]) {
      const r = await node(
        'other.js',
        `Object.defineProperty(process, ${JSON.stringify(property)}, { value: ${JSON.stringify(value)} })
        try { require('e2b-native'); console.log('loaded') } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }`,
      )
      const out = JSON.parse(ok(r).stdout)
      expect(out.code).toBe('ERR_UNSUPPORTED_PLATFORM')
      expect(out.message).toContain(`e2b-native cannot load in ${where}.`)
      expect(out.message).toContain('runs only in the Node.js runtime on Linux x64 with glibc')
      expect(out.message).toContain("serverExternalPackages: ['e2b-native']")
    }
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
    }
  })

  test('edge.js declares every name the Node.js entry exports (bundlers check imports statically)', () => {
    const source = fs.readFileSync(path.join(ROOT, 'edge.js'), 'utf8')
    const declared = [...source.matchAll(/exports\.(\w+) =/g)].map((m) => m[1]).sort()
    expect(declared).toEqual(Object.keys(require('..')).sort())
  })

  test('the platform package npm/linux-x64-gnu carries the binary and the helper when the main package does not', async () => {
    // npm/linux-x64-gnu as `npm run artifacts` fills it, packed from a copy so
    // that the repository stays as it is.
    const platformDir = path.join(tmp, 'linux-x64-gnu')
    fs.cpSync(path.join(ROOT, 'npm', 'linux-x64-gnu'), platformDir, { recursive: true })
    for (const file of [BINARY, HELPER]) fs.copyFileSync(path.join(ROOT, file), path.join(platformDir, file))
    const packed = JSON.parse(ok(await run('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: platformDir })).stdout)
    expect(packed[0].name).toBe('e2b-native-linux-x64-gnu')
    expect(packed[0].files.map((f) => f.path).sort()).toEqual(['README.md', BINARY, HELPER, 'package.json'].sort())

    const split = newProject(path.join(tmp, 'split'))
    ok(await npmInstall(split, [tarball, path.join(tmp, packed[0].filename)]))
    // The main package without its binary, as a napi-rs release publishes it.
    for (const file of [BINARY, HELPER]) fs.rmSync(path.join(split, 'node_modules', 'e2b-native', file))
    fs.writeFileSync(
      path.join(split, 'run.js'),
      `const { e2bService } = require('e2b-native')
      e2bService.executePython('print(6 * 7)').then((result) => {
        const loaded = Object.keys(require.cache).filter((f) => f.endsWith('.node'))
        console.log(JSON.stringify({ result, loaded }))
      })`,
    )
    const out = JSON.parse(ok(await run(process.execPath, ['run.js'], { cwd: split })).stdout)
    expect(out.result).toMatchObject({ stdout: '42\n', exitCode: 0 })
    expect(out.loaded).toEqual([path.join(fs.realpathSync(split), 'node_modules', 'e2b-native-linux-x64-gnu', BINARY)])
  })
})
