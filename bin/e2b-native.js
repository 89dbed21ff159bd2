#!/usr/bin/env node
'use strict'
// `npx e2b-native serve`: E2B's API (control plane, envd, code interpreter) on
// one port over local sandboxes, for the official E2B SDKs. The flags are
// read by the same table as the `e2b-native-serve` binary's (crates/server,
// `cli`); see the README, "Self-hosted E2B: e2b-native serve".

function usage() {
  return (
    'commands:\n' +
    '  e2b-native serve [options]   an E2B-compatible server over local sandboxes\n' +
    '  e2b-native prepare           install the data-science environment (numpy, pandas, matplotlib, IPython)\n' +
    '  sudo e2b-native apparmor     Ubuntu 23.10+/24.04: let the sandbox helper create user namespaces\n\n' +
    require('../platform.js').native().serveUsage()
  )
}

function fail(message) {
  process.stderr.write(`e2b-native: ${message}\n\n${usage()}`)
  process.exit(2)
}

/** The `startServer` options the arguments ask for, or null for help. */
function parse(argv) {
  const { parseServeArgs } = require('../platform.js').native()
  try {
    const json = parseServeArgs(argv, process.env.E2B_NATIVE_SERVE_API_KEY)
    return json == null ? null : JSON.parse(json)
  } catch (error) {
    fail(String(error.message).split('\u0000').pop())
  }
}

async function serve(argv) {
  const options = parse(argv)
  if (options === null) {
    process.stdout.write(usage())
    process.exit(0)
  }
  const { startServer } = require('..')
  let server
  try {
    server = await startServer(options)
  } catch (error) {
    process.stderr.write(`e2b-native serve: ${error.message}${error.code ? ` (${error.code})` : ''}\n`)
    process.exit(error.code === 'ERR_INVALID_ARG' ? 2 : 1)
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

/**
 * `npx e2b-native prepare`: installs the data-science environment (IPython,
 * numpy, pandas, matplotlib, …) into the package cache, once, so that Python
 * sandboxes have it without an install (a Dockerfile step). Prints its
 * directory.
 */
async function prepare(argv) {
  if (argv.length > 0) fail(`prepare takes no arguments (it reads the E2B_NATIVE_* variables the service reads)`)
  const { prepareEnvironment } = require('../platform.js').native()
  const env = {}
  for (const [name, value] of Object.entries(process.env)) if (name.startsWith('E2B_NATIVE_')) env[name] = value
  process.stderr.write('e2b-native: installing the data-science environment (once for this host, ~330 MB)…\n')
  try {
    process.stdout.write(`${await prepareEnvironment('null', env)}\n`)
  } catch (error) {
    const [code, message] = String(error.message).split('\u0000')
    process.stderr.write(`e2b-native prepare: ${message || code}${message ? ` (${code})` : ''}\n`)
    process.exit(1)
  }
}

/**
 * `sudo npx e2b-native apparmor`: for Ubuntu 23.10+ hosts that restrict
 * unprivileged user namespaces; installs the sandbox helper at a root-owned
 * path with an AppArmor profile that lets it create them.
 */
function apparmor(argv) {
  if (argv.length > 0) fail('apparmor takes no arguments')
  try {
    process.stdout.write(`${require('../platform.js').native().installApparmorProfile()}\n`)
  } catch (error) {
    const [code, message] = String(error.message).split('\u0000')
    process.stderr.write(`e2b-native apparmor: ${message || code}\n`)
    process.exit(1)
  }
}

const [command, ...rest] = process.argv.slice(2)
if (command === 'serve') serve(rest)
else if (command === 'prepare') prepare(rest)
else if (command === 'apparmor') apparmor(rest)
else if (command === '-h' || command === '--help' || command === undefined) {
  process.stdout.write(usage())
  process.exit(command === undefined ? 2 : 0)
} else fail(`unknown command ${command}: use serve, prepare or apparmor`)
