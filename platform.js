'use strict'
// Finds the native binding for this platform, napi-rs's multi-package way: the
// binary of each target ships in its own package (npm/<target>/, published as
// e2b-native-<target>), listed in optionalDependencies with os/cpu/libc so npm
// installs only the one that fits. loadBinding() never throws: where no binary
// fits or loads, it returns the reason, and the service's calls reject with it.
// Only a runtime that is not Node.js at all (Edge, a browser) throws at import.

const path = require('node:path')

/**
 * Every target a binary is built for. `triple`: the Rust target; `libc`: npm's
 * `libc` field (Linux only); `helper`: the package also carries the local
 * sandbox's helper files, HELPER_FILES (Linux only: the local backend needs Linux).
 */
const TARGETS = [
  { name: 'linux-x64-gnu', triple: 'x86_64-unknown-linux-gnu', platform: 'linux', arch: 'x64', libc: 'glibc', helper: true },
  { name: 'linux-arm64-gnu', triple: 'aarch64-unknown-linux-gnu', platform: 'linux', arch: 'arm64', libc: 'glibc', helper: true },
  { name: 'linux-x64-musl', triple: 'x86_64-unknown-linux-musl', platform: 'linux', arch: 'x64', libc: 'musl', helper: true },
  { name: 'linux-arm64-musl', triple: 'aarch64-unknown-linux-musl', platform: 'linux', arch: 'arm64', libc: 'musl', helper: true },
  { name: 'darwin-arm64', triple: 'aarch64-apple-darwin', platform: 'darwin', arch: 'arm64', libc: null, helper: false },
  { name: 'darwin-x64', triple: 'x86_64-apple-darwin', platform: 'darwin', arch: 'x64', libc: null, helper: false },
]

const PACKAGE = 'e2b-native'
const BINARY_NAME = 'e2b-native'

/** The npm package of a target: `e2b-native-linux-x64-gnu`. */
function packageName(target) {
  return `${PACKAGE}-${target.name}`
}

/**
 * Beside the addon on Linux: the sandbox helper (statically linked, one per
 * architecture), and the same helper as a library for Python's fork server
 * (linked against the target's libc, as the Python that loads it is).
 */
const HELPER_FILES = ['e2b-sandbox', 'libe2b_fork_server.so']

/** The addon's file name in that package: `e2b-native.linux-x64-gnu.node`. */
function binaryFile(target) {
  return `${BINARY_NAME}.${target.name}.node`
}

const PLATFORM_NAMES = { darwin: 'macOS', win32: 'Windows', linux: 'Linux' }

function describePlatform(platform, arch, libc) {
  const name = PLATFORM_NAMES[platform] || platform
  return `${name} ${arch}${platform === 'linux' && libc ? ` (${libc})` : ''}`
}

const SUPPORTED = 'Linux x64 and arm64 (glibc or musl) and macOS arm64 and x64'

function readLdd(readFile) {
  try {
    return readFile('/usr/bin/ldd', 'utf8')
  } catch {
    return null
  }
}

/**
 * The C library of this Linux process: 'glibc', 'musl', or null (not Linux, or
 * no sign of either). /usr/bin/ldd first, as napi-rs and detect-libc do (it
 * costs nothing; the report takes ~10 ms), then Node's own report.
 */
function detectLibc({
  platform = process.platform,
  readFile = (file, encoding) => require('node:fs').readFileSync(file, encoding),
  getReport = () => {
    if (!process.report || typeof process.report.getReport !== 'function') return null
    process.report.excludeNetwork = true
    return process.report.getReport()
  },
} = {}) {
  if (platform !== 'linux') return null
  const ldd = readLdd(readFile)
  if (ldd !== null) {
    if (ldd.includes('musl')) return 'musl'
    if (ldd.includes('GNU C Library') || ldd.includes('glibc') || ldd.includes('GLIBC')) return 'glibc'
  }
  let report = null
  try {
    report = getReport()
  } catch {
    // No report: decide from what else there is.
  }
  if (report && report.header && report.header.glibcVersionRuntime) return 'glibc'
  if (report && Array.isArray(report.sharedObjects)) {
    if (report.sharedObjects.some((f) => f.includes('libc.musl-') || f.includes('ld-musl-'))) return 'musl'
    if (report.sharedObjects.some((f) => /\/libc\.so\.6$/.test(f))) return 'glibc'
  }
  return null
}

/**
 * The target for a platform, CPU and C library, or `{ target: null, reason }`.
 * An unknown Linux C library counts as glibc, the common case: if it is not,
 * loading says so.
 */
function targetFor({ platform, arch, libc }) {
  const wanted = platform === 'linux' ? libc || 'glibc' : null
  const target = TARGETS.find((t) => t.platform === platform && t.arch === arch && t.libc === wanted)
  if (target) return { target, reason: null }
  let reason = `e2b-native has no native binary for ${describePlatform(platform, arch, wanted)}; it has binaries for ${SUPPORTED}.`
  if (platform === 'win32') {
    reason += ' On Windows, run the server in WSL2 (Linux), where the local backend works too.'
  } else {
    reason += ' Run the server on one of those (a container or VM will do).'
  }
  return { target: null, reason }
}

/**
 * `require` of the files and packages the loader may load, each with a literal
 * name: bundlers and file tracers (Next.js output tracing, @vercel/nft) follow
 * only literal requires, and a deployment that leaves the platform package
 * behind has no binary. Anything else (NAPI_RS_NATIVE_LIBRARY_PATH) is
 * required as given.
 */
function requireLiteral(id) {
  switch (id) {
    case './e2b-native.linux-x64-gnu.node': return require('./e2b-native.linux-x64-gnu.node')
    case './e2b-native.linux-arm64-gnu.node': return require('./e2b-native.linux-arm64-gnu.node')
    case './e2b-native.linux-x64-musl.node': return require('./e2b-native.linux-x64-musl.node')
    case './e2b-native.linux-arm64-musl.node': return require('./e2b-native.linux-arm64-musl.node')
    case './e2b-native.darwin-arm64.node': return require('./e2b-native.darwin-arm64.node')
    case './e2b-native.darwin-x64.node': return require('./e2b-native.darwin-x64.node')
    case 'e2b-native-linux-x64-gnu': return require('e2b-native-linux-x64-gnu')
    case 'e2b-native-linux-arm64-gnu': return require('e2b-native-linux-arm64-gnu')
    case 'e2b-native-linux-x64-musl': return require('e2b-native-linux-x64-musl')
    case 'e2b-native-linux-arm64-musl': return require('e2b-native-linux-arm64-musl')
    case 'e2b-native-darwin-arm64': return require('e2b-native-darwin-arm64')
    case 'e2b-native-darwin-x64': return require('e2b-native-darwin-x64')
    case 'e2b-native-linux-x64-gnu/package.json': return require('e2b-native-linux-x64-gnu/package.json')
    case 'e2b-native-linux-arm64-gnu/package.json': return require('e2b-native-linux-arm64-gnu/package.json')
    case 'e2b-native-linux-x64-musl/package.json': return require('e2b-native-linux-x64-musl/package.json')
    case 'e2b-native-linux-arm64-musl/package.json': return require('e2b-native-linux-arm64-musl/package.json')
    case 'e2b-native-darwin-arm64/package.json': return require('e2b-native-darwin-arm64/package.json')
    case 'e2b-native-darwin-x64/package.json': return require('e2b-native-darwin-x64/package.json')
    default: return require(id)
  }
}

/** The first line of an error, without the require stack napi's errors carry. */
function firstLine(error) {
  return String((error && error.message) || error).split('\n')[0]
}

/**
 * Loads the binding for this process. Never throws. Returns
 * `{ binding, target, file, reason, code }`: `binding` is null where nothing
 * fits or loads, and then `reason` says why and what to do, and `code` is
 * `ERR_UNSUPPORTED_PLATFORM` (no binary exists for this platform) or
 * `ERR_NATIVE_BINDING` (one exists but is missing or does not load here).
 *
 * Looks, in order, at: `NAPI_RS_NATIVE_LIBRARY_PATH` (napi-rs's override); the
 * `.node` file beside this package, which only a development build puts there
 * (a published e2b-native holds none), so that a rebuilt addon is never
 * shadowed by an installed platform package; the platform package, whose
 * version must be this package's own.
 */
function loadBinding({
  platform = process.platform,
  arch = process.arch,
  libc = platform === 'linux' ? detectLibc({ platform }) : null,
  env = process.env,
  version = require('./package.json').version,
  load = requireLiteral,
  exists = (file) => require('node:fs').existsSync(file),
} = {}) {
  const tried = []
  const override = env.NAPI_RS_NATIVE_LIBRARY_PATH
  if (override) {
    try {
      return { binding: load(override), target: null, file: override, reason: null, code: null }
    } catch (error) {
      return {
        binding: null,
        target: null,
        file: override,
        reason: `NAPI_RS_NATIVE_LIBRARY_PATH=${override} does not load: ${firstLine(error)}`,
        code: 'ERR_NATIVE_BINDING',
      }
    }
  }
  const { target, reason } = targetFor({ platform, arch, libc })
  if (!target) return { binding: null, target: null, file: null, reason, code: 'ERR_UNSUPPORTED_PLATFORM' }

  const local = path.join(__dirname, binaryFile(target))
  if (exists(local)) {
    try {
      return { binding: load(`./${binaryFile(target)}`), target, file: local, reason: null, code: null }
    } catch (error) {
      tried.push(`${local} does not load: ${firstLine(error)}`)
    }
  }

  const pkg = packageName(target)
  let installed = null
  try {
    installed = load(`${pkg}/package.json`).version
  } catch (error) {
    if (error && error.code !== 'MODULE_NOT_FOUND') tried.push(`${pkg}/package.json does not read: ${firstLine(error)}`)
  }
  if (installed === null && tried.length === 0) {
    const reason =
      `the platform package ${pkg} is not installed, and it holds the binary for ${describePlatform(platform, arch, target.libc)}. ` +
      `npm installs it as an optional dependency of e2b-native, unless optional dependencies were omitted ` +
      `(--omit=optional, --no-optional) or the lockfile was made on another platform (npm/cli#4828). ` +
      `Install it: npm install ${pkg}@${version}` +
      (target.libc === 'musl' ? ' (on musl, as on Alpine, check that npm saw libc musl: npm config get libc)' : '')
    return { binding: null, target, file: null, reason, code: 'ERR_NATIVE_BINDING' }
  }
  if (installed !== null && installed !== version) {
    const reason =
      `${pkg}@${installed} is installed, but e2b-native is ${version}; the binary must come from the same release. ` +
      `Reinstall so they match: npm install e2b-native@${version} ${pkg}@${version}`
    return { binding: null, target, file: null, reason, code: 'ERR_NATIVE_BINDING' }
  }
  if (installed !== null) {
    try {
      const binding = load(pkg)
      return { binding, target, file: pkg, reason: null, code: null }
    } catch (error) {
      tried.push(`${pkg} does not load: ${firstLine(error)}`)
    }
  }
  return {
    binding: null,
    target,
    file: null,
    reason: `the e2b-native binary for ${describePlatform(platform, arch, target.libc)} does not load: ${tried.join('; ')}`,
    code: 'ERR_NATIVE_BINDING',
  }
}

/** Why e2b-native cannot load in this runtime at all (Edge, a browser), or null in Node.js. */
function runtimeReason() {
  if (typeof EdgeRuntime !== 'undefined') return `the Edge runtime (EdgeRuntime = ${JSON.stringify(EdgeRuntime)})`
  if (typeof process === 'undefined' || !process.versions || !process.versions.node) {
    return 'a runtime that is not Node.js (a browser or worker bundle)'
  }
  return null
}

const RUNTIME_HELP =
  'e2b-native is a native addon that runs only in the Node.js runtime. ' +
  'In Next.js, import it only from server code (route handlers, server actions, server ' +
  "components) in the Node.js runtime (`export const runtime = 'nodejs'`, never 'edge'), " +
  "and list it in next.config: `serverExternalPackages: ['e2b-native']`."

/** Throws `ERR_UNSUPPORTED_PLATFORM` outside Node.js (Edge, a browser): nothing can work there. */
function assertNodeRuntime() {
  const where = runtimeReason()
  if (where === null) return
  const error = new Error(`e2b-native cannot load in ${where}. ${RUNTIME_HELP}`)
  error.code = 'ERR_UNSUPPORTED_PLATFORM'
  throw error
}

/**
 * A binding with the native one's shape that runs nothing: each call of a
 * service resolves to a reply with `code` and `reason`, which `index.js` turns
 * into a rejection, as it does the native binding's; `startServer` rejects
 * the same way. Constructing a service still works, as it must.
 */
function unavailableBinding(code, reason) {
  const fail = async () => {
    throw new Error(`${code}\u0000${reason}`)
  }
  class NativeService {
    begin() {}
    cancel() {}
    execute() {
      return fail()
    }
    reapOrphans() {
      return fail()
    }
    createSession() {
      return fail()
    }
    poolStats() {
      return { size: 0, idleMs: 0, lanes: [] }
    }
    async close() {}
  }
  return {
    NativeService,
    killAll: () => 0,
    liveSandboxes: () => 0,
    pooledSandboxPids: () => [],
    diagnose: async () => [{ layer: 'binary', status: 'missing', detail: `${code}: no native binding`, fix: reason }],
    startServer: fail,
    parseServeArgs: () => {
      throw new Error(`${code}\u0000${reason}`)
    },
    serveUsage: () => `e2b-native serve is unavailable here: ${reason}\n`,
    prepareEnvironment: fail,
    installApparmorProfile: () => {
      throw new Error(`${code}\u0000${reason}`)
    },
  }
}

let nativeBinding
/** The binding, or (where none fits or loads) the stand-in: loaded once. */
function native() {
  if (!nativeBinding) {
    const { binding, code, reason } = loadBinding()
    nativeBinding = binding || unavailableBinding(code, reason)
  }
  return nativeBinding
}

module.exports = {
  TARGETS,
  HELPER_FILES,
  packageName,
  binaryFile,
  detectLibc,
  targetFor,
  loadBinding,
  assertNodeRuntime,
  runtimeReason,
  unavailableBinding,
  native,
}
