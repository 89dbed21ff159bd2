// The JavaScript/TypeScript kernel: one per code context. Requests arrive
// as JSON lines on fd 3: {"code", "env"} with the cell already transformed
// by the host (see transform.rs: an async function whose declarations are
// hoisted to globals, run as a script in this context), or
// {"syntax_error", "env"} for a cell that did not parse. Replies go out as
// JSON lines on fd 4 ("ready", then per execution "started", "display",
// "error", "done"); console output goes to fds 1 and 2. SIGINT interrupts
// the running cell.
'use strict'
;(() => {
  const fs = require('node:fs')
  const path = require('node:path')
  const readline = require('node:readline')
  const util = require('node:util')
  const vm = require('node:vm')
  const { createRequire, isBuiltin } = require('node:module')
  const { pathToFileURL } = require('node:url')
  // The cell may replace globals such as `process`: the kernel keeps its own.
  const { env } = process
  const cwd = () => process.cwd()

  const send = (message) => fs.writeSync(4, JSON.stringify(message) + '\n')

  // stdout and stderr write through, synchronously: output lands before the
  // reply that follows it, and a cell interrupted in the middle of a write
  // leaves no stream state behind that would swallow later output.
  const pause = new Int32Array(new SharedArrayBuffer(4))
  const writeAll = (fd, chunk, encoding) => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk
    for (let done = 0; done < bytes.length; ) {
      try {
        done += fs.writeSync(fd, bytes, done)
      } catch (error) {
        if (error.code !== 'EAGAIN') throw error
        Atomics.wait(pause, 0, 0, 1) // the pipe is full: wait for the reader
      }
    }
  }
  for (const [stream, fd] of [
    [process.stdout, 1],
    [process.stderr, 2],
  ]) {
    stream.write = (chunk, encoding, callback) => {
      if (typeof encoding === 'function') [callback, encoding] = [encoding, undefined]
      writeAll(fd, chunk, encoding)
      if (callback) process.nextTick(callback)
      return true
    }
  }
  let interrupt = null
  process.on('SIGINT', () => interrupt && interrupt())
  // Errors of callbacks that outlive their cell are reported, not fatal.
  process.on('uncaughtException', (e) => console.error('Uncaught', e))
  process.on('unhandledRejection', (e) => console.error('Unhandled rejection', e))

  // `require` and `import` resolve from the cwd, then NODE_PATH.
  const requireHere = () => createRequire(path.join(cwd(), '[cell]'))
  const cellRequire = (id) => requireHere()(id)
  cellRequire.resolve = (id, options) => requireHere().resolve(id, options)
  cellRequire.cache = require.cache
  globalThis.require = cellRequire

  const resolve = (specifier) => {
    if (typeof specifier !== 'string' || isBuiltin(specifier) || /^[a-z][a-z\d+.-]+:/i.test(specifier)) {
      return specifier
    }
    if (specifier.startsWith('.') || specifier.startsWith('/')) {
      return pathToFileURL(path.resolve(cwd(), specifier)).href
    }
    try {
      // ESM's own resolver ignores NODE_PATH; CommonJS's does not.
      return pathToFileURL(cellRequire.resolve(specifier)).href
    } catch {
      return specifier // e.g. an ESM-only package: ESM's resolver, from the start cwd
    }
  }
  Object.defineProperty(globalThis, '__e2b_kernel__', {
    value: Object.freeze({
      import: (specifier, options) => import(resolve(specifier), options),
      // `import {x} from 'cjs'`: a name Node did not detect is read from
      // module.exports, as bundlers and Babel's interop do.
      named: (module, name) => (name in module ? module[name] : module.default?.[name]),
    }),
  })

  const text = (value) => util.inspect(value, { depth: 4 })

  const trace = (error) => {
    if (!(error instanceof Error) || typeof error.stack !== 'string') return `Uncaught ${text(error)}`
    const lines = error.stack.split('\n')
    const kernel = lines.findIndex((l) => /^\s+at /.test(l) && !l.includes('<cell-'))
    return (kernel === -1 ? lines : lines.slice(0, kernel)).join('\n')
  }

  const failure = (error) => {
    if (error && error.code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED') {
      return { name: 'ExecutionAborted', value: 'Execution was aborted', traceback: '' }
    }
    const isError = error instanceof Error
    return {
      name: isError ? error.name : 'Error',
      value: isError ? String(error.message) : text(error),
      traceback: trace(error),
    }
  }

  const syntaxFailure = ({ message, line, column, source_line }, filename) => ({
    name: 'SyntaxError',
    value: `${message} (${line}:${column})`,
    traceback: `${filename}:${line}:${column}\n${source_line}\n${' '.repeat(column - 1)}^\n\nSyntaxError: ${message}`,
  })

  const interrupted = () =>
    new Promise((_, reject) => {
      interrupt = () => reject(Object.assign(new Error('interrupted'), { code: 'ERR_SCRIPT_EXECUTION_INTERRUPTED' }))
    })

  let count = 0
  async function execute(request) {
    count += 1
    send({ type: 'started', count })
    const saved = {}
    for (const [key, value] of Object.entries(request.env || {})) {
      saved[key] = env[key]
      env[key] = value
    }
    const filename = `<cell-${count}>`
    try {
      if (request.syntax_error) {
        send({ type: 'error', ...syntaxFailure(request.syntax_error, filename) })
        return
      }
      // The transform puts its prologue on a line of its own before the cell's.
      const script = new vm.Script(request.code, { filename, lineOffset: -1 })
      // Armed first: a SIGINT right after the synchronous part (which
      // breakOnSigint covers) must not be lost.
      const stop = interrupted()
      stop.catch(() => {})
      const running = script.runInThisContext({ breakOnSigint: true, displayErrors: false })
      const value = await Promise.race([running, stop])
      if (value !== undefined) {
        send({ type: 'display', main: true, bundle: { 'text/plain': text(value) } })
      }
    } catch (error) {
      send({ type: 'error', ...failure(error) })
    } finally {
      interrupt = null
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete env[key]
        else env[key] = value
      }
      send({ type: 'done' })
    }
  }

  const input = readline.createInterface({ input: fs.createReadStream(null, { fd: 3 }) })
  const queue = []
  let busy = false
  const next = async () => {
    if (busy) return
    busy = true
    while (queue.length) {
      let request
      try {
        request = JSON.parse(queue.shift())
      } catch {
        continue
      }
      await execute(request)
    }
    busy = false
  }
  input.on('line', (line) => {
    queue.push(line)
    next()
  })
  input.on('close', () => process.exit(0))
  send({ type: 'ready', mode: 'node', version: process.version })
})()
