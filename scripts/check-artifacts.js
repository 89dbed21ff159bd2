#!/usr/bin/env node
'use strict'
// `npm run check:artifacts [-- <target>...]`: checks what build:all put in
// npm/<target>/ (format, machine, linked libraries, glibc and macOS floors,
// a static helper, seccomp tables per architecture; see check_artifacts.py).
// Installs its own tools: lief (PyPI, in .tools/venv), qemu-user and libseccomp's
// scmp_sys_resolver (Debian packages qemu-user and seccomp, as root). Exits
// non-zero, listing every failed check.
const { spawnSync } = require('node:child_process')
const path = require('node:path')
const { HELPER_FILES } = require('../platform.js')
const { BUILD } = require('./targets.js')
const { ensurePythonTools, ensureDebianPackages } = require('./tools.js')

function main() {
  const names = process.argv.slice(2)
  const unknown = names.filter((n) => !BUILD.some((t) => t.name === n))
  if (unknown.length) {
    console.error(`check-artifacts: no target ${unknown.join(', ')}; targets: ${BUILD.map((t) => t.name).join(', ')}`)
    process.exit(2)
  }
  const targets = names.length ? BUILD.filter((t) => names.includes(t.name)) : BUILD
  const python = ensurePythonTools()
  const commands = { scmp_sys_resolver: 'seccomp' }
  if (targets.some((t) => t.helper && t.machine === 'aarch64')) commands['qemu-aarch64'] = 'qemu-user'
  ensureDebianPackages(commands)
  const config = {
    resolver: 'scmp_sys_resolver',
    targets: targets.map((t) => ({
      name: t.name,
      triple: t.triple,
      platform: t.platform,
      libc: t.libc,
      machine: t.machine,
      binary: t.binary,
      helper: t.helper,
      files: [t.binary, ...(t.helper ? HELPER_FILES : [])],
      glibcFloor: t.glibcFloor,
      macosFloor: t.macosFloor,
      dir: t.dir,
    })),
  }
  const r = spawnSync(python, [path.join(__dirname, 'check_artifacts.py')], {
    input: JSON.stringify(config),
    stdio: ['pipe', 'inherit', 'inherit'],
  })
  process.exit(r.status === null ? 1 : r.status)
}

main()
