#!/usr/bin/env node
'use strict'
// Writes what follows from platform.js's TARGETS and the root version: each
// npm/<target>/package.json and README.md, and the root's optionalDependencies
// and napi.targets. Idempotent; `--check` writes nothing and fails, naming
// each file that differs (the Jest suite runs it). Run it after `npm version`.
const fs = require('node:fs')
const path = require('node:path')
const { TARGETS, HELPER_FILES, packageName, binaryFile } = require('../platform.js')

const ROOT = path.join(__dirname, '..')

function json(value) {
  return JSON.stringify(value, null, 2) + '\n'
}

/** The package.json of a platform package. */
function platformManifest(target, root) {
  const files = [binaryFile(target), ...(target.helper ? HELPER_FILES : [])]
  const manifest = {
    name: packageName(target),
    version: root.version,
    description: `The ${target.name} binary of e2b-native: the napi addon${target.helper ? ' and its e2b-sandbox helper' : ''}`,
    main: binaryFile(target),
    files,
    license: root.license,
    engines: root.engines,
    os: [target.platform],
    cpu: [target.arch],
  }
  if (target.libc) manifest.libc = [target.libc]
  return manifest
}

function platformReadme(target) {
  const helper = target.helper
    ? `and the sandbox helper \`e2b-sandbox\`, which must sit beside it (the addon
looks for the helper in the folder of the \`.node\` file it was loaded from; the
helper is statically linked, so glibc and musl hosts run the same one), with
\`libe2b_fork_server.so\`, the same helper as a library, which Python's fork
server loads (linked against this target's libc).`
    : `(the e2b backend only: the local sandbox needs Linux).`
  const fields = target.libc ? '`os`, `cpu` and `libc`' : '`os` and `cpu`'
  return `# ${packageName(target)}

The \`${target.triple}\` binary of [e2b-native](https://www.npmjs.com/package/e2b-native):
the napi addon \`${binaryFile(target)}\` ${helper}

Install \`e2b-native\`, not this package: npm installs this one as an optional
dependency of \`e2b-native\` where ${fields} match, and e2b-native's loader
(\`platform.js\`) loads it.

\`npm run build:all\` (in the repository root) builds it and copies the files
here; \`npm run check:artifacts\` checks them; RELEASE.md says how it is published.
`
}

/** Every file this script owns, with the text it should have. */
function expectedFiles() {
  const rootFile = path.join(ROOT, 'package.json')
  const root = JSON.parse(fs.readFileSync(rootFile, 'utf8'))
  const files = new Map()
  for (const target of TARGETS) {
    const dir = path.join(ROOT, 'npm', target.name)
    files.set(path.join(dir, 'package.json'), json(platformManifest(target, root)))
    files.set(path.join(dir, 'README.md'), platformReadme(target))
  }
  const updated = { ...root }
  updated.napi = { ...root.napi, targets: TARGETS.map((t) => t.triple) }
  // Sorted by name, as npm writes them back on every `npm install`.
  const names = TARGETS.map(packageName).sort()
  updated.optionalDependencies = Object.fromEntries(names.map((name) => [name, root.version]))
  files.set(rootFile, json(updated))
  return files
}

function main() {
  const check = process.argv.includes('--check')
  const stale = []
  for (const [file, text] of expectedFiles()) {
    const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null
    if (current === text) continue
    stale.push(path.relative(ROOT, file))
    if (!check) {
      fs.mkdirSync(path.dirname(file), { recursive: true })
      fs.writeFileSync(file, text)
    }
  }
  const known = new Set(TARGETS.map((t) => t.name))
  const extra = fs.readdirSync(path.join(ROOT, 'npm')).filter((name) => !known.has(name))
  if (check && (stale.length || extra.length)) {
    const lines = [...stale.map((f) => `  ${f} differs`), ...extra.map((d) => `  npm/${d} is no target of platform.js`)]
    console.error(`sync-packages: out of step with platform.js and package.json:\n${lines.join('\n')}\nrun: npm run sync:packages`)
    process.exit(1)
  }
  if (!check) console.log(stale.length ? `sync-packages: wrote ${stale.join(', ')}` : 'sync-packages: nothing to change')
}

if (require.main === module) main()
module.exports = { expectedFiles, platformManifest }
