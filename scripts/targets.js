'use strict'
// How each target of platform.js is built and what its artifacts must satisfy:
// the one table scripts/build-all.js and scripts/check-artifacts.js share.
const path = require('node:path')
const { TARGETS, binaryFile } = require('../platform.js')

const ROOT = path.join(__dirname, '..')

/**
 * The oldest glibc the gnu addons may need. 2.17 is what napi-rs projects
 * state (their build images link against it; CentOS 7, manylinux2014) and is
 * below what Node 18+ needs itself (2.28), so no Node that can load the addon
 * lacks it. zig links against this version's symbols: `<triple>.2.17`.
 */
const GLIBC_FLOOR = '2.17'

/**
 * The oldest macOS each darwin addon runs on (MACOSX_DEPLOYMENT_TARGET, then
 * LC_BUILD_VERSION / LC_VERSION_MIN_MACOSX). arm64: 11.0, the first macOS on
 * Apple silicon. x64: 10.13, what napi-rs's templates build with; Node 18 and
 * 20 need 10.15 themselves, so the floor never bites.
 */
const MACOS_FLOOR = { 'aarch64-apple-darwin': '11.0', 'x86_64-apple-darwin': '10.13' }

/**
 * The helper of both Linux flavours of an architecture: the musl build, which
 * links statically by default. zig has no static glibc: asked for
 * `+crt-static` on a gnu target it quietly links dynamically (tried here).
 */
const HELPER_TRIPLE = { x64: 'x86_64-unknown-linux-musl', arm64: 'aarch64-unknown-linux-musl' }

/** ELF e_machine / Mach-O CPU names the check expects, per Node arch. */
const MACHINE = { x64: 'x86_64', arm64: 'aarch64' }

const BUILD = TARGETS.map((t) => {
  const build = {
    ...t,
    binary: binaryFile(t),
    machine: MACHINE[t.arch],
    // cargo-zigbuild's target: a gnu triple carries the glibc version to link against.
    zigTarget: t.libc === 'glibc' ? `${t.triple}.${GLIBC_FLOOR}` : t.triple,
    glibcFloor: t.libc === 'glibc' ? GLIBC_FLOOR : null,
    macosFloor: MACOS_FLOOR[t.triple] || null,
    helperTriple: t.helper ? HELPER_TRIPLE[t.arch] : null,
    dir: path.join(ROOT, 'npm', t.name),
  }
  return build
})

/** Pinned, so that every build here and in CI uses the same linker. */
const PYTHON_TOOLS = ['ziglang==0.17.1', 'cargo-zigbuild==0.24.1', 'lief==1.0.0']

module.exports = { ROOT, BUILD, GLIBC_FLOOR, MACOS_FLOOR, HELPER_TRIPLE, PYTHON_TOOLS }
