#!/usr/bin/env node
'use strict'
// `npm run build:all [-- <target>...]`: cross-builds the addon for every target
// of platform.js (or the ones named, e.g. `linux-arm64-gnu darwin-arm64`) on
// this Linux x64 machine, with cargo-zigbuild and zig from PyPI, and the
// statically linked sandbox helper for each Linux architecture; copies each
// into npm/<target>/. Installs its own tools first (scripts/tools.js). One
// cargo at a time. `npm run check:artifacts` checks the result.
const fs = require('node:fs')
const path = require('node:path')
const { HELPER_FILES } = require('../platform.js')
const { ROOT, BUILD } = require('./targets.js')
const { VENV_BIN, ensurePythonTools, ensureRustTargets, log, run } = require('./tools.js')

// Directories of their own: `npm run build` (napi, the host's linker) and
// build-helper.js (+crt-static) build x86_64-unknown-linux-gnu with other
// flags, and the helpers build with other flags than the musl addons (static,
// not -crt-static); sharing a directory would rebuild one after the other.
const TARGET_DIR = path.join(process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target'), 'cross')
const HELPER_TARGET_DIR = path.join(process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target'), 'cross-helper')

const [HELPER, FORK_SERVER_LIBRARY] = HELPER_FILES

function envName(triple) {
  return triple.toUpperCase().replace(/[-.]/g, '_')
}

/** The build environment: the venv's zig first on PATH, no flags from outside. */
function baseEnv() {
  const env = { ...process.env, PATH: `${VENV_BIN}${path.delimiter}${process.env.PATH}` }
  // RUSTFLAGS would replace the per-target flags below.
  delete env.RUSTFLAGS
  delete env.CARGO_ENCODED_RUSTFLAGS
  return env
}

function cargoZigbuild(args, env) {
  run(path.join(VENV_BIN, 'cargo-zigbuild'), ['zigbuild', '--release', ...args], { cwd: ROOT, env })
}

/** Copies through a temporary name: a helper that is running cannot be written over. */
function place(from, to, mode) {
  const staged = `${to}.tmp`
  fs.copyFileSync(from, staged)
  fs.chmodSync(staged, mode)
  fs.renameSync(staged, to)
}

/** The addon, and on Linux the fork server's library: both cdylibs, built alike. */
function buildAddon(t) {
  const env = baseEnv()
  if (t.macosFloor) env.MACOSX_DEPLOYMENT_TARGET = t.macosFloor
  // A musl cdylib must link libc dynamically: the musl Node (or Python) loads it.
  if (t.libc === 'musl') env[`CARGO_TARGET_${envName(t.triple)}_RUSTFLAGS`] = '-C target-feature=-crt-static'
  const packages = ['-p', 'e2b-native', ...(t.helper ? ['-p', 'e2b-native-fork-server'] : [])]
  cargoZigbuild([...packages, '--target', t.zigTarget, '--target-dir', TARGET_DIR], env)
  const built = path.join(TARGET_DIR, t.triple, 'release')
  const lib = t.platform === 'darwin' ? 'libe2b_native.dylib' : 'libe2b_native.so'
  place(path.join(built, lib), path.join(t.dir, t.binary), 0o644)
  if (t.helper) place(path.join(built, FORK_SERVER_LIBRARY), path.join(t.dir, FORK_SERVER_LIBRARY), 0o644)
}

function buildHelper(triple) {
  cargoZigbuild(['-p', 'e2b-native-local', '--bin', HELPER, '--target', triple, '--target-dir', HELPER_TARGET_DIR], baseEnv())
  return path.join(HELPER_TARGET_DIR, triple, 'release', HELPER)
}

function main() {
  const names = process.argv.slice(2)
  const unknown = names.filter((n) => !BUILD.some((t) => t.name === n))
  if (unknown.length) {
    console.error(`build-all: no target ${unknown.join(', ')}; targets: ${BUILD.map((t) => t.name).join(', ')}`)
    process.exit(2)
  }
  const targets = names.length ? BUILD.filter((t) => names.includes(t.name)) : BUILD
  const started = Date.now()
  ensurePythonTools()
  const helperTriples = [...new Set(targets.map((t) => t.helperTriple).filter(Boolean))]
  ensureRustTargets([...targets.map((t) => t.triple), ...helperTriples])

  const times = []
  const helpers = {}
  for (const triple of helperTriples) {
    const t0 = Date.now()
    log(`build-all: e2b-sandbox for ${triple}`)
    helpers[triple] = buildHelper(triple)
    times.push([`helper ${triple}`, Date.now() - t0])
  }
  for (const t of targets) {
    const t0 = Date.now()
    log(`build-all: ${t.name} (${t.zigTarget}${t.macosFloor ? `, macOS ${t.macosFloor}` : ''})`)
    buildAddon(t)
    if (t.helperTriple) place(helpers[t.helperTriple], path.join(t.dir, HELPER), 0o755)
    times.push([t.name, Date.now() - t0])
  }
  const lines = targets.map((t) => {
    const files = [t.binary, ...(t.helper ? HELPER_FILES : [])]
    return `  npm/${t.name}: ${files.map((f) => `${f} ${(fs.statSync(path.join(t.dir, f)).size / 1048576).toFixed(1)} MiB`).join(', ')}`
  })
  const took = times.map(([what, ms]) => `${what} ${(ms / 1000).toFixed(0)} s`).join(', ')
  log(`build-all: done in ${((Date.now() - started) / 1000).toFixed(0)} s (${took})\n${lines.join('\n')}`)
}

main()
