'use strict'
// The public API: a drop-in for the E2BService of frontend/lib/services/e2b.ts.
// The work happens in Rust (binding.js loads it); this file checks JavaScript
// types, and turns failures into Errors of the caller's realm, so that
// `instanceof Error` holds even inside Jest's sandboxed modules.

const platform = require('./platform.js')
platform.assertNodeRuntime() // Edge or a browser bundle: say why, before anything loads
// Where no binary fits or loads, a stand-in binding makes every call reject
// with `code` and `reason` (the import itself still works).
const { binding, code: bindingCode, reason: bindingReason } = platform.loadBinding()
const nativeBinding = binding || platform.unavailableBinding(bindingCode, bindingReason)
const { NativeService, killAll, liveSandboxes, pooledSandboxPids, diagnose, startServer: startNativeServer } = nativeBinding

const LANGUAGES = ['python', 'node', 'bash']
const PACKAGE_LANGUAGES = ['python', 'node']
/** Variables backend selection and the helper lookup read from process.env. */
const ENV_NAMES = [
  'E2B_BACKEND',
  'E2B_API_KEY',
  'E2B_DOMAIN',
  'E2B_API_URL',
  'E2B_SANDBOX_URL',
  'NODE_ENV',
  'E2B_NATIVE_SANDBOX_HELPER',
  'E2B_NATIVE_POOL_SIZE',
]

// Sandboxes must not outlive Node: `process.exit()` and uncaught exceptions
// skip napi's cleanup hooks but still emit 'exit'.
let exitHookInstalled = false
function installExitHook() {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => killAll())
}

function systemError(code, message) {
  const error = new Error(message)
  error.code = code
  if (code === 'ABORT_ERR') error.name = 'AbortError'
  return error
}

function invalid(message) {
  return systemError('ERR_INVALID_ARG', message)
}

function isPlainObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function checkOptions(options, where) {
  if (options === undefined || options === null) return {}
  if (!isPlainObject(options)) throw invalid(`${where}: options must be an object, got ${describe(options)}`)
  return options
}

function checkNumber(value, name) {
  if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) {
    throw invalid(`${name} must be a finite number, got ${describe(value)}`)
  }
  return value
}

function checkStringRecord(value, name) {
  if (value === undefined) return undefined
  if (!isPlainObject(value)) throw invalid(`${name} must be an object of strings, got ${describe(value)}`)
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== 'string') throw invalid(`${name}.${key} must be a string, got ${describe(item)}`)
  }
  return { ...value }
}

function checkNumberRecord(value, name) {
  if (value === undefined) return undefined
  if (!isPlainObject(value)) throw invalid(`${name} must be an object of numbers, got ${describe(value)}`)
  for (const [key, item] of Object.entries(value)) checkNumber(item, `${name}.${key}`)
  return { ...value }
}

function describe(value) {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`
}

function rethrowNative(error) {
  const [code, message] = String(error && error.message).split('\u0000')
  if (message === undefined) throw systemError('ERR_INTERNAL', code)
  throw systemError(code, message)
}

let nextCallId = 1

class E2BService {
  #native

  /**
   * @param {import('./index').ServiceOptions} [options]
   */
  constructor(options) {
    options = checkOptions(options, 'new E2BService()')
    if (options.backend !== undefined && typeof options.backend !== 'string') {
      throw invalid(`backend must be "local" or "e2b", got ${describe(options.backend)}`)
    }
    if (options.apiKey !== undefined && typeof options.apiKey !== 'string') {
      throw invalid(`apiKey must be a string, got ${describe(options.apiKey)}`)
    }
    const pool = checkPoolOptions(options.pool)
    const env = {}
    for (const name of ENV_NAMES) {
      if (typeof process.env[name] === 'string') env[name] = process.env[name]
    }
    const config = {
      backend: options.backend,
      apiKey: options.apiKey,
      timeoutMs: checkNumber(options.timeoutMs, 'timeoutMs'),
      installTimeoutMs: checkNumber(options.installTimeoutMs, 'installTimeoutMs'),
      maxOutputBytes: checkNumber(options.maxOutputBytes, 'maxOutputBytes'),
      interpreters: checkStringRecord(options.interpreters, 'interpreters'),
      limits: checkNumberRecord(options.limits, 'limits'),
      e2b: checkE2bOptions(options),
      packages: checkPackageOptions(options.packages),
      poolSize: pool.size,
      poolIdleMs: pool.idleMs,
      env,
    }
    try {
      this.#native = new NativeService(config)
    } catch (error) {
      rethrowNative(error)
    }
    installExitHook()
  }

  executeCode(code, language = 'python', options) {
    return this.#execute(code, language, [], options, LANGUAGES)
  }

  executePython(code, options) {
    return this.#execute(code, 'python', [], options, LANGUAGES)
  }

  executeNode(code, options) {
    return this.#execute(code, 'node', [], options, LANGUAGES)
  }

  executeWithPackages(code, packages, language = 'python', options) {
    if (!Array.isArray(packages) || packages.some((p) => typeof p !== 'string')) {
      return Promise.reject(invalid(`packages must be an array of strings, got ${describe(packages)}`))
    }
    return this.#execute(code, language, packages, options, PACKAGE_LANGUAGES)
  }

  /**
   * Reports each isolation layer and limit of the local backend on this host:
   * `{ ok, checks: [{ layer, status: 'active'|'fallback'|'missing', detail, fix? }] }`.
   */
  static async diagnose() {
    const checks = (await diagnose(process.env.E2B_NATIVE_SANDBOX_HELPER)).map((c) => {
      const check = { layer: c.layer, status: c.status, detail: c.detail }
      if (c.fix != null) check.fix = c.fix
      return check
    })
    return { ok: checks.every((c) => c.status !== 'missing'), checks }
  }

  /**
   * e2b backend: deletes sandboxes this library created from processes of this
   * host that are gone (killed before they could clean up). Resolves to how many.
   */
  async reapOrphans() {
    const reply = await this.#native.reapOrphans()
    if (reply.code) throw systemError(reply.code, reply.message)
    return Number(reply.message)
  }

  /**
   * The local backend's warm pool: `{ size, idleMs, python: { ready, starting,
   * served }, node: { ... } }` (size 0 when it is off or the backend is e2b).
   */
  poolStats() {
    const stats = this.#native.poolStats()
    const result = { size: stats.size, idleMs: stats.idleMs }
    for (const lane of stats.lanes) {
      result[lane.language] = { ready: lane.ready, starting: lane.starting, served: lane.served }
    }
    return result
  }

  /** Kills everything this service still runs and empties its warm pool; resolves when it is gone. */
  close() {
    return this.#native.close()
  }

  [Symbol.asyncDispose || Symbol.for('nodejs.asyncDispose')]() {
    return this.close()
  }

  async #execute(code, language, packages, options, languages) {
    if (typeof code !== 'string') throw invalid(`code must be a string, got ${describe(code)}`)
    if (!languages.includes(language)) {
      const names = languages.map((l) => `"${l}"`).join(', ')
      throw invalid(`unknown language ${describe(language)}: use one of ${names}`)
    }
    options = checkOptions(options, 'execute')
    const signal = options.signal
    if (signal !== undefined && !(signal && typeof signal.aborted === 'boolean' && signal.addEventListener)) {
      throw invalid(`signal must be an AbortSignal, got ${describe(signal)}`)
    }
    const call = {
      language,
      code,
      packages,
      timeoutMs: checkNumber(options.timeoutMs, 'timeoutMs'),
      installTimeoutMs: checkNumber(options.installTimeoutMs, 'installTimeoutMs'),
      env: checkStringRecord(options.env, 'env'),
      limits: checkNumberRecord(options.limits, 'limits'),
      files: checkFiles(options.files),
      readFiles: checkStringArray(options.readFiles, 'readFiles'),
    }
    for (const name of ['onStdout', 'onStderr']) {
      if (options[name] !== undefined && typeof options[name] !== 'function') {
        throw invalid(`${name} must be a function, got ${describe(options[name])}`)
      }
    }
    if (signal && signal.aborted) throw systemError('ABORT_ERR', 'The operation was aborted')
    const id = nextCallId++
    // A callback that throws must not crash the process: catch it, stop the
    // sandbox, and reject with what it threw.
    let thrown
    const guard = (callback) =>
      callback &&
      ((chunk) => {
        if (thrown) return
        try {
          callback(chunk)
        } catch (error) {
          thrown = { error }
          this.#native.cancel(id)
        }
      })
    const onAbort = () => this.#native.cancel(id)
    this.#native.begin(id)
    signal && signal.addEventListener('abort', onAbort, { once: true })
    let reply
    try {
      reply = await this.#native.execute(call, id, guard(options.onStdout), guard(options.onStderr))
    } finally {
      signal && signal.removeEventListener('abort', onAbort)
    }
    if (thrown) {
      const error = systemError('ERR_CALLBACK', `an output callback threw, so the sandbox was stopped: ${thrown.error}`)
      error.cause = thrown.error
      throw error
    }
    if (reply.code) throw systemError(reply.code, reply.message)
    return toResult(reply.outcome, call.readFiles)
  }
}

/** `pool: false | { size, idleMs }`; Rust checks the ranges. */
function checkPoolOptions(pool) {
  if (pool === undefined) return {}
  if (pool === false) return { size: 0 }
  if (!isPlainObject(pool)) throw invalid(`pool must be false or an object { size, idleMs }, got ${describe(pool)}`)
  for (const key of Object.keys(pool)) {
    if (key !== 'size' && key !== 'idleMs') throw invalid(`pool: unknown option ${describe(key)}: use size or idleMs`)
  }
  return { size: checkNumber(pool.size, 'pool.size'), idleMs: checkNumber(pool.idleMs, 'pool.idleMs') }
}

/** The e2b backend's settings, as strings for the binding. */
function checkPackageOptions(value) {
  if (value === undefined) return undefined
  if (!isPlainObject(value)) throw invalid(`packages must be an object, got ${describe(value)}`)
  const strings = ['cacheDir', 'pythonIndexUrl', 'pythonWheelDir', 'npmRegistry']
  for (const key of Object.keys(value)) {
    if (![...strings, 'maxCacheBytes', 'allowHosts'].includes(key)) {
      throw invalid(`packages.${key} is not an option: use ${strings.join(', ')}, maxCacheBytes or allowHosts`)
    }
  }
  const packages = {}
  for (const key of strings) {
    if (value[key] !== undefined && typeof value[key] !== 'string') {
      throw invalid(`packages.${key} must be a string, got ${describe(value[key])}`)
    }
    packages[key] = value[key]
  }
  packages.maxCacheBytes = checkNumber(value.maxCacheBytes, 'packages.maxCacheBytes')
  const hosts = value.allowHosts
  if (hosts !== undefined && (!Array.isArray(hosts) || hosts.some((h) => typeof h !== 'string'))) {
    throw invalid(`packages.allowHosts must be an array of strings, got ${describe(hosts)}`)
  }
  packages.allowHosts = hosts && [...hosts]
  return packages
}

function checkE2bOptions(options) {
  const e2b = {}
  for (const name of ['template', 'domain', 'apiUrl', 'sandboxUrl']) {
    if (options[name] === undefined) continue
    if (typeof options[name] !== 'string') throw invalid(`${name} must be a string, got ${describe(options[name])}`)
    e2b[name] = options[name]
  }
  if (options.maxConcurrency !== undefined) e2b.maxConcurrency = String(checkNumber(options.maxConcurrency, 'maxConcurrency'))
  return e2b
}

function checkStringArray(value, name) {
  if (value === undefined) return undefined
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw invalid(`${name} must be an array of strings, got ${describe(value)}`)
  }
  return [...value]
}

function checkFiles(files) {
  if (files === undefined) return undefined
  if (!Array.isArray(files)) throw invalid(`files must be an array of { path, content }, got ${describe(files)}`)
  return files.map((file, i) => {
    if (!isPlainObject(file) || typeof file.path !== 'string') {
      throw invalid(`files[${i}] must be { path: string, content: string | Buffer }`)
    }
    const { content } = file
    if (typeof content === 'string') return { path: file.path, content: Buffer.from(content, 'utf8') }
    if (content instanceof Uint8Array) return { path: file.path, content: Buffer.from(content.buffer, content.byteOffset, content.byteLength) }
    throw invalid(`files[${i}].content must be a string or a Buffer, got ${describe(content)}`)
  })
}

function toResult(o, readFiles) {
  const result = { stdout: o.stdout, stderr: o.stderr, exitCode: o.exitCode }
  if (o.error != null) result.error = o.error
  result.timedOut = o.timedOut
  result.truncated = o.truncated
  if (o.limit != null) result.limit = o.limit
  result.durationMs = Math.round(o.durationMs * 1000) / 1000
  result.backend = o.backend
  // Keyed by the paths as the caller wrote them; files the code did not write are absent.
  if (readFiles) result.files = Object.fromEntries(o.files.map((f) => [f.path, f.content]))
  return result
}

const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent']

/**
 * Starts `e2b-native serve` in this process: E2B's control plane, envd and code
 * interpreter on one port, over local sandboxes (see the README).
 * @param {import('./index').ServerOptions} [options]
 * @returns {Promise<import('./index').E2BServer>}
 */
async function startServer(options) {
  options = checkOptions(options, 'startServer()')
  for (const name of ['host', 'apiKey', 'logLevel']) {
    if (options[name] !== undefined && typeof options[name] !== 'string') {
      throw invalid(`${name} must be a string, got ${describe(options[name])}`)
    }
  }
  if (options.logLevel !== undefined && !LOG_LEVELS.includes(options.logLevel)) {
    throw invalid(`logLevel must be one of ${LOG_LEVELS.join(', ')}, got ${describe(options.logLevel)}`)
  }
  if (options.debugSandbox !== undefined && typeof options.debugSandbox !== 'boolean') {
    throw invalid(`debugSandbox must be a boolean, got ${describe(options.debugSandbox)}`)
  }
  const whole = (value, name, min, max) => {
    checkNumber(value, name)
    if (value !== undefined && (!Number.isInteger(value) || value < min || value > max)) {
      throw invalid(`${name} must be a whole number from ${min} to ${max}, got ${value}`)
    }
    return value
  }
  const apiKeys = checkStringArray(options.apiKeys, 'apiKeys') || []
  if (options.apiKey !== undefined) apiKeys.unshift(options.apiKey)
  const native = {
    host: options.host,
    port: whole(options.port, 'port', 0, 65535),
    apiKeys,
    maxSandboxes: whole(options.maxSandboxes, 'maxSandboxes', 1, 100000),
    maxTimeoutMs: whole(options.maxTimeoutMs, 'maxTimeoutMs', 1000, 30 * 86400 * 1000),
    limits: checkNumberRecord(options.limits, 'limits'),
    interpreters: checkStringRecord(options.interpreters, 'interpreters'),
    debugSandbox: options.debugSandbox,
    logLevel: options.logLevel || 'warn',
    helper: typeof process.env.E2B_NATIVE_SANDBOX_HELPER === 'string' ? process.env.E2B_NATIVE_SANDBOX_HELPER : undefined,
  }
  let server
  try {
    server = await startNativeServer(native)
  } catch (error) {
    rethrowNative(error)
  }
  installExitHook()
  let closed
  return {
    url: server.url,
    apiKey: server.apiKeys[0],
    apiKeys: server.apiKeys,
    close: () => (closed = closed || server.close()),
  }
}

const e2bService = new E2BService()

module.exports = { E2BService, e2bService, liveSandboxes, pooledSandboxPids, startServer }
