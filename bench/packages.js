'use strict'
// executeWithPackages on the local backend: the first call (install in a
// sandbox, through the registry proxy) against later calls with the same set
// (from the cache). Each round starts from an empty cache. Writes its section
// into bench/latest.md (after `bench/latency.js`, which rewrites the file).
//   node bench/packages.js      (BENCH_ROUNDS, BENCH_CACHED to change counts)
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { E2BService } = require('..')

const ROUNDS = Number(process.env.BENCH_ROUNDS || 5)
const CACHED = Number(process.env.BENCH_CACHED || 20)
const CASES = [
  { label: 'python `six==1.16.0` (PyPI)', language: 'python', packages: ['six==1.16.0'], code: 'import six; print(six.__version__)' },
  { label: 'node `is-number@7.0.0` (npm registry)', language: 'node', packages: ['is-number@7.0.0'], code: "console.log(require('is-number')(1))" },
]

const p50 = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function timed(svc, c) {
  const started = process.hrtime.bigint()
  const result = await svc.executeWithPackages(c.code, c.packages, c.language)
  if (result.exitCode !== 0) throw new Error(`${c.label}: ${result.error}\n${result.stderr}`)
  return Number(process.hrtime.bigint() - started) / 1e6
}

async function main() {
  const rows = []
  for (const c of CASES) {
    const first = []
    const cached = []
    for (let round = 0; round < ROUNDS; round++) {
      const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'e2bn-bench-cache-'))
      fs.chmodSync(cacheDir, 0o755)
      const svc = new E2BService({ backend: 'local', packages: { cacheDir } })
      first.push(await timed(svc, c))
      for (let i = 0; i < CACHED; i++) cached.push(await timed(svc, c))
      await svc.close()
      fs.rmSync(cacheDir, { recursive: true, force: true })
    }
    const row = { label: c.label, first: p50(first), cached: p50(cached) }
    console.log(row)
    rows.push(row)
  }
  const f = (x) => x.toFixed(1)
  const section = [
    '<!-- packages -->',
    '## executeWithPackages: first call against the cached set (local backend)',
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} on the same machine; command: \`node bench/packages.js\` (part of \`npm run bench\`). ` +
      `${ROUNDS} rounds, each from an empty cache: the first call installs (pip or npm in an install sandbox, through the registry proxy, over this machine's network), ` +
      `then ${CACHED} calls reuse the set. Wall time seen from JS, install and run included.`,
    '',
    '| packages | first call p50 ms | cached call p50 ms | first / cached |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${r.label} | ${f(r.first)} | ${f(r.cached)} | ${f(r.first / r.cached)}× |`),
    '',
  ].join('\n')
  const file = path.join(__dirname, 'latest.md')
  const doc = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Benchmarks\n'
  const at = doc.indexOf('<!-- packages -->')
  fs.writeFileSync(file, (at >= 0 ? doc.slice(0, at) : doc.trimEnd() + '\n\n') + section)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
