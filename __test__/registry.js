'use strict'
// Package sources built by the tests themselves, so that installs run offline:
// wheels made with Python's zipfile, and a minimal npm registry on loopback
// serving tarballs made by `npm pack` (a real peer for npm, with a log of
// every request it answers).
const { execFileSync } = require('node:child_process')
const crypto = require('node:crypto')
const fs = require('node:fs')
const http = require('node:http')
const os = require('node:os')
const path = require('node:path')

/** A new folder that root's sandboxes (user nobody) can read. */
function sharedTempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  fs.chmodSync(dir, 0o755)
  return dir
}

const WHEEL_SCRIPT = `
import base64, hashlib, json, sys, zipfile
name, version, requires, out = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
dist = f"{name}-{version}.dist-info"
metadata = f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n" + "".join(f"Requires-Dist: {r}\\n" for r in requires)
files = {
    f"{name}/__init__.py": f"VERSION = {version!r}\\ndef greet(who):\\n    return 'hello ' + who + ' from {name}'\\n",
    f"{dist}/METADATA": metadata,
    f"{dist}/WHEEL": "Wheel-Version: 1.0\\nGenerator: e2b-native-tests\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}
def digest(text):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
record = "".join(f"{p},{digest(c)},{len(c.encode())}\\n" for p, c in files.items()) + f"{dist}/RECORD,,\\n"
with zipfile.ZipFile(f"{out}/{name}-{version}-py3-none-any.whl", "w") as z:
    for p, c in files.items():
        z.writestr(p, c)
    z.writestr(f"{dist}/RECORD", record)
`

/** Writes a pure-Python wheel of `name` (an importable module of that name) into `dir`. */
function buildWheel(dir, name, version, requires = []) {
  execFileSync('/usr/bin/python3', ['-c', WHEEL_SCRIPT, name, version, JSON.stringify(requires), dir])
  return path.join(dir, `${name}-${version}-py3-none-any.whl`)
}

/**
 * Packs each `{ name, version, files, scripts, dependencies }` with `npm pack`
 * and serves them as an npm registry on 127.0.0.1. Optional `hang` names a
 * package whose metadata request never gets an answer.
 */
async function startRegistry(packages, { hang } = {}) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'e2bn-registry-'))
  const documents = new Map()
  const tarballs = new Map()
  const requests = []
  const server = http.createServer((req, res) => {
    const url = decodeURIComponent(req.url)
    requests.push(url)
    if (hang && url === `/${hang}`) return // never answered
    const tarball = tarballs.get(url)
    if (tarball) return res.end(tarball)
    const document = documents.get(url.slice(1))
    if (!document) {
      res.statusCode = 404
      return res.end('{"error":"not found"}')
    }
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify(document(server.address().port)))
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  for (const pkg of packages) {
    const dir = path.join(work, pkg.name.replace('/', '__'))
    fs.mkdirSync(dir, { recursive: true })
    const manifest = {
      name: pkg.name,
      version: pkg.version,
      main: 'index.js',
      scripts: pkg.scripts,
      dependencies: pkg.dependencies,
    }
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(manifest))
    for (const [file, content] of Object.entries(pkg.files)) fs.writeFileSync(path.join(dir, file), content)
    const packed = execFileSync('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', work], { cwd: dir })
      .toString()
      .trim()
      .split('\n')
      .pop()
    const bytes = fs.readFileSync(path.join(work, packed))
    const file = `/${pkg.name}/-/${packed}`
    tarballs.set(file, bytes)
    const integrity = 'sha512-' + crypto.createHash('sha512').update(bytes).digest('base64')
    documents.set(pkg.name, (port) => ({
      name: pkg.name,
      'dist-tags': { latest: pkg.version },
      versions: {
        [pkg.version]: {
          ...manifest,
          hasInstallScript: Boolean(pkg.scripts && pkg.scripts.install),
          dist: { tarball: `http://127.0.0.1:${port}${file}`, integrity },
        },
      },
    }))
  }
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(resolve)
        fs.rmSync(work, { recursive: true, force: true })
      }),
  }
}

module.exports = { buildWheel, sharedTempDir, startRegistry }
