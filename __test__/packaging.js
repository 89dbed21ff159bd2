'use strict'
// For the tests that install the packed package somewhere else, as a user would:
// pack it, run commands in an environment without the Rust toolchain, clean up.
const { execFile } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const ROOT = path.resolve(__dirname, '..')
const BINARY = 'e2b-native.linux-x64-gnu.node'
const { HELPER_FILES } = require('../platform.js')
const [HELPER, FORK_SERVER_LIBRARY] = HELPER_FILES

/** True where the package's binary can run: the tests that install it need it. */
const canRun = process.platform === 'linux' && process.arch === 'x64'

/**
 * A directory for one test file's installs. Its name must not start with
 * "e2b": the cleanup tests count such entries of the temp dir as leaks.
 */
function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`))
}

function removeDir(dir) {
  if (dir && !process.env.E2B_NATIVE_KEEP_TMP) fs.rmSync(dir, { recursive: true, force: true })
}

/**
 * The environment of a machine that has Node.js and npm but no Rust: PATH
 * without cargo's and rustup's folders, no CARGO_* or RUSTUP_* variables, and
 * without what Jest sets for its own workers (NODE_ENV=test, JEST_WORKER_ID).
 */
function userEnv(extra = {}) {
  const env = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (/^(CARGO|RUSTUP|RUSTC|JEST_WORKER_ID$|NODE_ENV$|E2B_|NAPI_RS_)/.test(name)) continue
    env[name] = value
  }
  env.PATH = (process.env.PATH || '')
    .split(path.delimiter)
    .filter((dir) => dir && !/cargo|rustup/.test(dir))
    .join(path.delimiter)
  return { ...env, ...extra }
}

/**
 * Runs a command to its end; resolves `{code, stdout, stderr, ms}` whatever the
 * exit status (the caller checks it, so that a failure shows the output).
 */
function run(command, args, options = {}) {
  const started = Date.now()
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { env: userEnv(), maxBuffer: 64 * 1024 * 1024, timeout: 5 * 60 * 1000, ...options },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
        resolve({ code, stdout, stderr, ms: Date.now() - started, command: [command, ...args].join(' ') })
      },
    )
  })
}

/** Fails with the command's output unless it exited 0. */
function ok(result) {
  if (result.code !== 0) {
    throw new Error(`${result.command} exited ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`)
  }
  return result
}

/**
 * `npm pack` of the repository into `dest`: the JavaScript, no binary (a
 * release ships the binary in the platform package, see packPlatformPackage).
 * `--ignore-scripts` packs what is there instead of building again. Returns
 * the tarball's path.
 */
async function packPackage(dest) {
  const result = ok(await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dest], { cwd: ROOT }))
  const [{ filename }] = JSON.parse(result.stdout)
  return path.join(dest, filename)
}

/**
 * `npm pack` of npm/linux-x64-gnu as a release fills it, from a copy (so the
 * repository stays as it is) holding this host's build of the addon and the
 * helper (`npm install` or `npm run build`). Returns the tarball's path.
 */
async function packPlatformPackage(dest) {
  const dir = fs.mkdtempSync(path.join(dest, 'platform-'))
  fs.cpSync(path.join(ROOT, 'npm', 'linux-x64-gnu'), dir, { recursive: true })
  for (const file of [BINARY, ...HELPER_FILES]) {
    if (!fs.existsSync(path.join(ROOT, file))) throw new Error(`${file} is missing: run \`npm run build\` first`)
    fs.copyFileSync(path.join(ROOT, file), path.join(dir, file))
  }
  const result = ok(await run('npm', ['pack', '--json', '--pack-destination', dest], { cwd: dir }))
  const [{ filename }] = JSON.parse(result.stdout)
  return path.join(dest, filename)
}

/** Both tarballs a linux-x64-gnu user's install fetches: `[main, platform]`. */
async function packRelease(dest) {
  return [await packPackage(dest), await packPlatformPackage(dest)]
}

/** A new npm project in `dir` (a package.json and nothing else). */
function newProject(dir, fields = {}) {
  fs.mkdirSync(dir, { recursive: true })
  const pkg = { name: path.basename(dir), version: '1.0.0', private: true, ...fields }
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(pkg, null, 2) + '\n')
  return dir
}

/** `npm install` in `dir`, registry lookups answered from the cache where it can. */
function npmInstall(dir, args = []) {
  return run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...args], { cwd: dir })
}

module.exports = {
  ROOT,
  BINARY,
  HELPER,
  FORK_SERVER_LIBRARY,
  PLATFORM_PACKAGE: 'e2b-native-linux-x64-gnu',
  canRun,
  tempDir,
  removeDir,
  userEnv,
  run,
  ok,
  packPackage,
  packPlatformPackage,
  packRelease,
  newProject,
  npmInstall,
}
