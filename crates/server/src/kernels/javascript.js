// The JavaScript kernel of `e2b-native serve`: one per code context, in the
// sandbox, as the sandbox user. Requests arrive as JSON lines on fd 3
// ({"code", "env"}); replies go out as JSON lines on fd 4 ("started",
// "result", "error", "done"); console output goes to fds 1 and 2 as usual.
// Each cell runs as a script in this context, so globals and top-level
// let/const persist; the value of its last expression is the result
// (a promise is awaited). A cell using top-level await runs as an async
// function: its declarations stay local. SIGINT interrupts the running cell.
'use strict'
;(() => {
  const fs = require('node:fs')
  const vm = require('node:vm')
  const util = require('node:util')
  const readline = require('node:readline')

  const send = (message) => fs.writeSync(4, JSON.stringify(message) + '\n')
  let interrupt = null
  process.on('SIGINT', () => interrupt && interrupt())
  // Errors of callbacks that outlive their cell are reported, not fatal.
  process.on('uncaughtException', (e) => console.error('Uncaught', e))
  process.on('unhandledRejection', (e) => console.error('Unhandled rejection', e))
  globalThis.require = require

  const text = (value) => {
    const shown = typeof value === 'string' ? util.inspect(value) : util.inspect(value, { depth: 4 })
    return shown.length >= 2 && shown.startsWith("'") && shown.endsWith("'") ? shown.slice(1, -1) : shown
  }

  const trace = (error) => {
    if (!(error instanceof Error) || typeof error.stack !== 'string') return String(error)
    const lines = error.stack.split('\n')
    const kernel = lines.findIndex((l) => /^\s+at /.test(l) && !l.includes('<cell-'))
    return (kernel === -1 ? lines : lines.slice(0, kernel)).join('\n')
  }

  const interrupted = () =>
    new Promise((_, reject) => {
      interrupt = () => reject(Object.assign(new Error('Execution interrupted'), { name: 'KeyboardInterrupt' }))
    })

  let count = 0
  async function execute(request) {
    count += 1
    send({ type: 'started', count })
    const saved = {}
    for (const [key, value] of Object.entries(request.env || {})) {
      saved[key] = process.env[key]
      process.env[key] = value
    }
    try {
      const filename = `<cell-${count}>`
      let script
      let wrapped = false
      try {
        script = new vm.Script(request.code, { filename })
      } catch (error) {
        if (!(error instanceof SyntaxError) || !/\bawait\b/.test(request.code)) throw error
        script = new vm.Script(`(async () => {\n${request.code}\n})()`, { filename, lineOffset: -1 })
        wrapped = true
      }
      let value = script.runInThisContext({ breakOnSigint: true, displayErrors: false })
      if (value !== null && typeof value === 'object' && typeof value.then === 'function') {
        value = await Promise.race([value, interrupted()])
      }
      if (value !== undefined && !wrapped) {
        send({ type: 'result', is_main_result: true, extra: {}, text: text(value) })
      }
    } catch (error) {
      const isError = error instanceof Error
      send({
        type: 'error',
        name: isError ? error.name : 'Error',
        value: isError ? String(error.message) : text(error),
        traceback: trace(error),
      })
    } finally {
      interrupt = null
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[key]
        else process.env[key] = value
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
})()
