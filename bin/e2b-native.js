#!/usr/bin/env node
'use strict'
// `npx e2b-native serve`: E2B's API (control plane, envd, code interpreter) on
// one port over local sandboxes, for the official E2B SDKs. See the README,
// "Self-hosted E2B: e2b-native serve".

const USAGE = `usage: e2b-native serve [options]

  --port N             port to listen on (default 3000; 0: any free port)
  --host ADDR          address to listen on (default 127.0.0.1)
  --api-key KEY        accepted API key, e2b_ + hex (repeatable; default: one is
                       generated and printed; also E2B_NATIVE_SERVE_API_KEY)
  --max-sandboxes N    sandboxes running at once, 429 beyond (default 20)
  --max-timeout S      longest sandbox timeout in seconds (default 3600)
  --memory-mb N        memory of each sandbox (default 512)
  --disk-mb N          size of each sandbox's /home/user, /tmp, /dev/shm (default 256)
  --processes N        processes of each sandbox (default 64)
  --no-debug-sandbox   do not serve the SDKs' E2B_DEBUG=true mode
  --log-level L        debug (one line per request), info (default), warn, error, silent
  -h, --help           this help`

function fail(message) {
  process.stderr.write(`e2b-native: ${message}\n\n${USAGE}\n`)
  process.exit(2)
}

function parse(argv) {
  const options = { logLevel: 'info', apiKeys: [], limits: {} }
  const envKey = process.env.E2B_NATIVE_SERVE_API_KEY
  if (envKey) options.apiKeys.push(envKey)
  const number = (flag, value) => {
    if (value === undefined || !/^\d+$/.test(value)) fail(`${flag} wants a whole number, got ${value === undefined ? 'nothing' : JSON.stringify(value)}`)
    return Number(value)
  }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]
    const next = () => argv[++i]
    switch (flag) {
      case '--port': options.port = number(flag, next()); break
      case '--host': options.host = next() || fail('--host needs an address'); break
      case '--api-key': options.apiKeys.push(next() || fail('--api-key needs a key')); break
      case '--max-sandboxes': options.maxSandboxes = number(flag, next()); break
      case '--max-timeout': options.maxTimeoutMs = number(flag, next()) * 1000; break
      case '--memory-mb': options.limits.memoryBytes = number(flag, next()) * 1024 * 1024; break
      case '--disk-mb': options.limits.diskBytes = number(flag, next()) * 1024 * 1024; break
      case '--processes': options.limits.processes = number(flag, next()); break
      case '--debug-sandbox': options.debugSandbox = true; break
      case '--no-debug-sandbox': options.debugSandbox = false; break
      case '--log-level': options.logLevel = next() || fail('--log-level needs a level'); break
      case '-h':
      case '--help':
        process.stdout.write(`${USAGE}\n`)
        process.exit(0)
        break
      default:
        fail(`unknown option ${flag}`)
    }
  }
  return options
}

async function serve(argv) {
  const { startServer } = require('..')
  let server
  try {
    server = await startServer(parse(argv))
  } catch (error) {
    process.stderr.write(`e2b-native serve: ${error.message}${error.code ? ` (${error.code})` : ''}\n`)
    process.exit(1)
  }
  const { url, apiKey } = server
  process.stdout.write(
    `e2b-native serve listening on ${url}\n` +
      `Point the E2B SDKs at it:\n` +
      `  E2B_API_URL=${url} E2B_SANDBOX_URL=${url} E2B_API_KEY=${apiKey}\n` +
      `or, in their debug mode (no API key; one shared sandbox):\n` +
      `  E2B_DEBUG=true E2B_SANDBOX_URL=${url}\n`,
  )
  // The server lives on native threads: keep the event loop alive.
  const alive = setInterval(() => {}, 1 << 30)
  let stopping = false
  const stop = (signal) => {
    if (stopping) process.exit(1) // a second Ctrl-C: now (the sandboxes die with us anyway)
    stopping = true
    process.stderr.write(`e2b-native serve: ${signal}, killing the sandboxes\n`)
    server.close().then(() => {
      clearInterval(alive)
      process.exit(0)
    })
  }
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGTERM', () => stop('SIGTERM'))
}

const [command, ...rest] = process.argv.slice(2)
if (command === 'serve') serve(rest)
else if (command === '-h' || command === '--help' || command === undefined) {
  process.stdout.write(`${USAGE}\n`)
  process.exit(command === undefined ? 2 : 0)
} else fail(`unknown command ${command}: the only command is serve`)
