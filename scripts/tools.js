'use strict'
// The tools build:all and check:artifacts need, installed where missing, so
// that both run on a clean clone: a Python venv (.tools/venv) with zig,
// cargo-zigbuild and lief from PyPI; Rust's std for each target (rustup);
// Debian packages (qemu-user, seccomp) through apt-get when running as root.
// Each step does nothing when its tool is already there.
const { execFileSync, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { ROOT, PYTHON_TOOLS } = require('./targets.js')

const VENV = path.join(ROOT, '.tools', 'venv')
const VENV_BIN = path.join(VENV, 'bin')

function log(message) {
  process.stderr.write(`${message}\n`)
}

function has(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0
}

function run(command, args, options = {}) {
  const r = spawnSync(command, args, { stdio: 'inherit', ...options })
  if (r.error) throw new Error(`${command}: ${r.error.message}`)
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${r.status ?? r.signal}`)
}

/** The venv with PYTHON_TOOLS; returns its python. */
function ensurePythonTools() {
  const python = path.join(VENV_BIN, 'python')
  const stamp = path.join(VENV, '.installed')
  const wanted = PYTHON_TOOLS.join('\n') + '\n'
  if (fs.existsSync(python) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === wanted) return python
  const system = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3'
  if (!fs.existsSync(python)) {
    log(`tools: creating ${path.relative(ROOT, VENV)} (${system} -m venv)`)
    run(system, ['-m', 'venv', VENV])
  }
  log(`tools: pip install ${PYTHON_TOOLS.join(' ')}`)
  run(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ...PYTHON_TOOLS])
  fs.writeFileSync(stamp, wanted)
  return python
}

/** Rust's standard library for each triple. */
function ensureRustTargets(triples) {
  const installed = new Set(execFileSync('rustup', ['target', 'list', '--installed'], { encoding: 'utf8' }).split('\n'))
  const missing = [...new Set(triples)].filter((t) => !installed.has(t))
  if (missing.length) {
    log(`tools: rustup target add ${missing.join(' ')}`)
    run('rustup', ['target', 'add', ...missing])
  }
}

/**
 * Debian packages for what is missing: `{ command: package }` for commands on
 * PATH, `{ '/a/file': 'pkg1 pkg2' }` for files. Installs them as root;
 * otherwise fails, saying what to install.
 */
function ensureDebianPackages(needs) {
  const present = (what) => (what.startsWith('/') ? fs.existsSync(what) : has(what))
  const missing = Object.entries(needs).filter(([what]) => !present(what))
  if (!missing.length) return
  const packages = [...new Set(missing.flatMap(([, pkgs]) => pkgs.split(' ')))]
  const names = missing.map(([what]) => what).join(', ')
  const root = typeof process.getuid === 'function' && process.getuid() === 0
  if (!root || !has('apt-get')) {
    throw new Error(`missing ${names}: install the Debian/Ubuntu packages ${packages.join(' ')} (apt-get install ${packages.join(' ')})`)
  }
  log(`tools: apt-get install ${packages.join(' ')} (for ${names})`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  run('apt-get', ['update', '-qq'], { env })
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], { env })
}

module.exports = { VENV_BIN, ensurePythonTools, ensureRustTargets, ensureDebianPackages, log, run }
