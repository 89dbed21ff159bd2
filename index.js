'use strict'
// The public API: a drop-in for the E2BService of frontend/lib/services/e2b.ts.
// The work happens in Rust (platform.js loads it), and so does checking every
// option: this file passes options across as JSON, checks only what cannot
// cross (callbacks, an AbortSignal, file contents), and turns failures into
// Errors of the caller's realm, so that `instanceof Error` holds even inside
// Jest's sandboxed modules.

const platform = require('./platform.js')
platform.assertNodeRuntime() // Edge or a browser bundle: say why, before anything loads
// Where no binary fits or loads, a stand-in binding makes every call reject
// with its code and reason (the import itself still works).
const { NativeService, killAll, liveSandboxes, pooledSandboxPids, diagnose, startServer: startNativeServer } = platform.native()

/** Variables the Rust side reads from the caller's process.env. */
const ENV_NAMES = [
  'E2B_BACKEND',
  'E2B_API_KEY',
  'E2B_DOMAIN',
  'E2B_API_URL',
  'E2B_SANDBOX_URL',
  'NODE_ENV',
  'E2B_NATIVE_SANDBOX_HELPER',
  'E2B_NATIVE_POOL_SIZE',
  'E2B_NATIVE_ISOLATION',
  'E2B_NATIVE_DATA_SCIENCE',
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

/** A failure of the binding (`CODE\0message`) as an Error of this realm. */
function rethrowNative(error) {
  const [code, message] = String(error && error.message).split('\u0000')
  if (message === undefined) throw systemError('ERR_INTERNAL', code)
  throw systemError(code, message)
}

async function native(promise) {
  try {
    return await promise
  } catch (error) {
    rethrowNative(error)
  }
}

/**
 * Options as JSON for the binding. Values JSON cannot hold are named
 * (`{ $js: "function" }`), so that the Rust side's messages can say what came.
 */
function toJson(value) {
  try {
    return JSON.stringify(value === undefined ? null : value, (_, v) => {
      if (typeof v === 'function' || typeof v === 'symbol') return { $js: typeof v }
      if (typeof v === 'bigint') return { $js: `bigint ${v}` }
      if (typeof v === 'number' && !Number.isFinite(v)) return { $js: `number ${v}` }
      return v
    })
  } catch (error) {
    throw invalid(`options must be plain data (objects, arrays, strings, numbers, booleans): ${error.message}`)
  }
}

function isPlainObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function describe(value) {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`
}

function processEnv() {
  const env = {}
  for (const name of ENV_NAMES) {
    if (typeof process.env[name] === 'string') env[name] = process.env[name]
  }
  return env
}

let nextCallId = 1

class E2BService {
  #native

  /**
   * @param {import('./index').ServiceOptions} [options]
   */
  constructor(options) {
    try {
      this.#native = new NativeService(toJson(options), processEnv())
    } catch (error) {
      rethrowNative(error)
    }
    installExitHook()
  }

  executeCode(code, language = 'python', options) {
    return this.#execute('executeCode', code, language, undefined, options)
  }

  executePython(code, options) {
    return this.#execute('executePython', code, 'python', undefined, options)
  }

  executeNode(code, options) {
    return this.#execute('executeNode', code, 'node', undefined, options)
  }

  executeWithPackages(code, packages, language = 'python', options) {
    return this.#execute('executeWithPackages', code, language, packages === undefined ? null : packages, options)
  }

  /**
   * Reports each isolation layer and limit of the local backend on this host:
   * `{ ok, checks: [{ layer, status: 'active'|'fallback'|'missing', detail, fix? }] }`.
   */
  static async diagnose() {
    const rows = await native(diagnose(process.env.E2B_NATIVE_SANDBOX_HELPER))
    const checks = rows.map((c) => {
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
  reapOrphans() {
    return native(this.#native.reapOrphans())
  }

  /**
   * The local backend's warm pool: `{ size, idleMs, python: { ready, starting,
   * served, forkServer }, node: { ... }, bash: { ... } }` (size 0 when it is off or the backend is e2b).
   */
  poolStats() {
    const stats = this.#native.poolStats()
    const result = { size: stats.size, idleMs: stats.idleMs }
    for (const lane of stats.lanes) {
      result[lane.language] = { ready: lane.ready, starting: lane.starting, served: lane.served, forkServer: lane.forkServer, ...(lane.forkServerError ? { forkServerError: lane.forkServerError } : {}) }
    }
    return result
  }

  /**
   * A session: one long-lived sandbox whose kernels (one per language) keep their
   * state from one `runCode` to the next, as E2B's code interpreter does.
   * @param {import('./index').SessionOptions} [options]
   * @returns {Promise<import('./index').Session>}
   */
  async createSession(options) {
    return new Session(await native(this.#native.createSession(toJson(options))))
  }

  /** Kills everything this service still runs (calls and sessions) and empties its warm pool; resolves when it is gone. */
  close() {
    return this.#native.close()
  }

  [Symbol.asyncDispose || Symbol.for('nodejs.asyncDispose')]() {
    return this.close()
  }

  async #execute(method, code, language, packages, options) {
    if (typeof code !== 'string') throw invalid(`code must be a string, got ${describe(code)}`)
    // What cannot cross as data is taken out here; the rest is checked in Rust.
    const { signal, onStdout, onStderr, files, ...data } = isPlainObject(options) ? options : {}
    checkCallback('onStdout', onStdout)
    checkCallback('onStderr', onStderr)
    checkSignal(signal)
    const call = toJson({ method, language, packages, options: isPlainObject(options) ? data : options })
    const nativeFiles = toNativeFiles(files)
    if (signal && signal.aborted) throw systemError('ABORT_ERR', 'The operation was aborted')
    const id = nextCallId++
    const outcome = await cancellable(this.#native, id, signal, 'an output callback threw, so the sandbox was stopped', (guard) =>
      this.#native.execute(code, call, nativeFiles, id, guard(onStdout), guard(onStderr)),
    )
    return toResult(outcome, 'readFiles' in data && data.readFiles !== undefined)
  }
}

/**
 * Runs native call `id` of `target` (its `begin`/`cancel`), started by `start(guard)`:
 * aborting `signal` cancels it, and so does a callback wrapped with `guard` that
 * throws (it must not crash the process); the call then rejects with
 * `ERR_CALLBACK`, `what` saying what was stopped, and what it threw as `cause`.
 */
async function cancellable(target, id, signal, what, start) {
  let thrown
  const guard = (callback) =>
    callback &&
    ((value) => {
      if (thrown) return
      try {
        callback(value)
      } catch (error) {
        thrown = { error }
        target.cancel(id)
      }
    })
  const onAbort = () => target.cancel(id)
  target.begin(id)
  signal && signal.addEventListener('abort', onAbort, { once: true })
  let value
  try {
    value = await start(guard)
  } catch (error) {
    if (!thrown) rethrowNative(error)
  } finally {
    signal && signal.removeEventListener('abort', onAbort)
  }
  if (thrown) {
    const error = systemError('ERR_CALLBACK', `${what}: ${thrown.error}`)
    error.cause = thrown.error
    throw error
  }
  return value
}

/** A callback option: a function or absent. */
function checkCallback(name, callback) {
  if (callback !== undefined && typeof callback !== 'function') {
    throw invalid(`${name} must be a function, got ${describe(callback)}`)
  }
}

function checkSignal(signal) {
  if (signal !== undefined && !(signal && typeof signal.aborted === 'boolean' && signal.addEventListener)) {
    throw invalid(`signal must be an AbortSignal, got ${describe(signal)}`)
  }
}

/** A chunk of output as E2B's `onStdout`/`onStderr` get it. */
class OutputMessage {
  constructor(line, timestamp, error) {
    this.line = line
    /** Microseconds since the epoch, as E2B's SDK gives it. */
    this.timestamp = timestamp
    this.error = error
  }

  toString() {
    return this.line
  }
}

const RESULT_FORMATS = ['text', 'html', 'markdown', 'svg', 'png', 'jpeg', 'pdf', 'latex', 'json', 'javascript', 'data', 'chart']

/** One result of an execution (E2B's `Result`): the last expression's value or display data. */
class Result {
  constructor(wire) {
    for (const format of RESULT_FORMATS) this[format] = wire[format] === undefined ? undefined : wire[format]
    this.extra = wire.extra || {}
    this.isMainResult = wire.is_main_result === true
  }

  /** The formats this result has, as E2B's `Result.formats()`. */
  formats() {
    const formats = RESULT_FORMATS.filter((f) => this[f] !== undefined && this[f] !== null)
    return formats.concat(Object.keys(this.extra))
  }
}

/** What a `runCode` produced (E2B's `Execution`). */
class Execution {
  constructor(wire) {
    this.results = wire.results.map((r) => new Result(r))
    this.logs = { stdout: wire.stdout, stderr: wire.stderr }
    if (wire.error) this.error = { ...wire.error }
    if (wire.execution_count != null) this.executionCount = wire.execution_count
  }

  /** The text of the last expression's value, if the code ended with one. */
  get text() {
    const main = this.results.find((r) => r.isMainResult)
    return main ? main.text : undefined
  }

  toJSON() {
    return { results: this.results, logs: this.logs, error: this.error, executionCount: this.executionCount }
  }
}

let nextRunId = 1

/** A session made by `E2BService.createSession()`. */
class Session {
  #native

  constructor(nativeSession) {
    this.#native = nativeSession
    const session = nativeSession
    /** The session's files, relative to (or within) its work dir, /home/user. */
    this.files = Object.freeze({
      write: async (path, content) => {
        if (typeof path !== 'string') throw invalid(`path must be a string, got ${describe(path)}`)
        return toEntry(await native(session.writeFile(path, toBuffer(content, 'content'))))
      },
      read: async (path, options) => {
        if (typeof path !== 'string') throw invalid(`path must be a string, got ${describe(path)}`)
        const format = isPlainObject(options) && options.format !== undefined ? options.format : 'text'
        if (format !== 'text' && format !== 'bytes') throw invalid(`format must be "text" or "bytes", got ${describe(format)}`)
        const content = await native(session.readFile(path))
        return format === 'bytes' ? content : content.toString('utf8')
      },
      list: async (dir = '.') => {
        if (typeof dir !== 'string') throw invalid(`dir must be a string, got ${describe(dir)}`)
        return (await native(session.list(dir))).map(toEntry)
      },
    })
  }

  /** Unique among this process's sessions (the sandbox ID on the e2b backend). */
  get id() {
    return this.#native.id
  }

  /** `namespaces` or `landlock` (local), `microvm` (e2b). */
  get isolation() {
    return this.#native.isolation
  }

  get backend() {
    return this.#native.backend
  }

  /**
   * Runs `code` in the session's kernel of its language, whose state persists.
   * @param {string} code
   * @param {import('./index').RunCodeOptions} [options]
   */
  async runCode(code, options) {
    if (typeof code !== 'string') throw invalid(`code must be a string, got ${describe(code)}`)
    const { signal, onStdout, onStderr, onResult, onError, ...data } = isPlainObject(options) ? options : {}
    for (const [name, callback] of Object.entries({ onStdout, onStderr, onResult, onError })) checkCallback(name, callback)
    checkSignal(signal)
    const json = toJson(isPlainObject(options) ? data : options)
    if (signal && signal.aborted) throw systemError('ABORT_ERR', 'The operation was aborted')
    const id = nextRunId++
    const callbacks = { stdout: onStdout, stderr: onStderr, result: onResult, error: onError }
    const watched = Object.values(callbacks).some(Boolean)
    const onEvent = (line) => {
      const event = JSON.parse(line)
      const callback = callbacks[event.type]
      if (!callback) return
      if (event.type === 'result') callback(new Result(event))
      else if (event.type === 'error') callback({ name: event.name, value: event.value, traceback: event.traceback })
      else callback(new OutputMessage(event.text, Date.parse(event.timestamp) * 1000, event.type === 'stderr'))
    }
    const wire = await cancellable(this.#native, id, signal, 'a runCode callback threw, so the code was interrupted', (guard) =>
      this.#native.runCode(code, json, id, watched ? guard(onEvent) : undefined),
    )
    return new Execution(JSON.parse(wire))
  }

  /** New kernels for every language (their state is gone); the sandbox and its files stay. */
  restart() {
    return native(this.#native.restart())
  }

  /** Ends the session and resolves once its sandbox is gone; later calls reject with `ERR_CLOSED`. */
  close() {
    return this.#native.close()
  }

  [Symbol.asyncDispose || Symbol.for('nodejs.asyncDispose')]() {
    return this.close()
  }
}

function toEntry(entry) {
  return { name: entry.name, path: entry.path, type: entry.kind, size: entry.size }
}

/** A string (UTF-8) or bytes as a Buffer for the binding. */
function toBuffer(content, name) {
  if (typeof content === 'string') return Buffer.from(content, 'utf8')
  if (content instanceof Uint8Array) return Buffer.from(content.buffer, content.byteOffset, content.byteLength)
  throw invalid(`${name} must be a string or a Buffer, got ${describe(content)}`)
}

/** `files` as Buffers for the binding; their paths are checked in Rust. */
function toNativeFiles(files) {
  if (files === undefined) return undefined
  if (!Array.isArray(files)) throw invalid(`files must be an array of { path, content }, got ${describe(files)}`)
  return files.map((file, i) => {
    if (!isPlainObject(file) || typeof file.path !== 'string') {
      throw invalid(`files[${i}] must be { path: string, content: string | Buffer }`)
    }
    return { path: file.path, content: toBuffer(file.content, `files[${i}].content`) }
  })
}

function toResult(o, askedFiles) {
  const result = { stdout: o.stdout, stderr: o.stderr, exitCode: o.exitCode }
  if (o.error != null) result.error = o.error
  result.timedOut = o.timedOut
  result.truncated = o.truncated
  if (o.limit != null) result.limit = o.limit
  result.durationMs = Math.round(o.durationMs * 1000) / 1000
  result.backend = o.backend
  result.isolation = o.isolation
  // Keyed by the paths as the caller wrote them; files the code did not write are absent.
  if (askedFiles) result.files = Object.fromEntries(o.files.map((f) => [f.path, f.content]))
  // Python's rich results (figures shown with plt.show()), only when there are some.
  if (o.results != null) result.results = JSON.parse(o.results).map((r) => new Result(r))
  return result
}

/**
 * Starts `e2b-native serve` in this process: E2B's control plane, envd and code
 * interpreter on one port, over local sandboxes (see the README).
 * @param {import('./index').ServerOptions} [options]
 * @returns {Promise<import('./index').E2BServer>}
 */
async function startServer(options) {
  const helper = process.env.E2B_NATIVE_SANDBOX_HELPER
  const server = await native(startNativeServer(toJson(options), typeof helper === 'string' ? helper : undefined))
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
