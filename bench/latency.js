'use strict'
// `npm run bench`: latency of one execution seen from JS, local sandbox against
// a raw spawn of the same interpreter (no sandbox), sequential and at
// concurrency 8. Writes the table into BENCHMARKS.md.
const { execFile } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { promisify } = require('node:util')
const { E2BService } = require('..')

const run = promisify(execFile)
const N = Number(process.env.BENCH_N || 200)
const PROGRAMS = [
  ['python', 'print(1)', ['/usr/bin/python3', ['-u', '-c', 'print(1)']]],
  ['node', 'console.log(1)', [process.execPath, ['-e', 'console.log(1)']]],
  ['bash', 'echo 1', ['/bin/bash', ['-c', 'echo 1']]],
]

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

async function measure(fn, concurrency) {
  for (let i = 0; i < 5; i++) await fn() // warm-up
  const times = []
  let next = 0
  const started = process.hrtime.bigint()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < N) {
        const t = process.hrtime.bigint()
        await fn()
        times.push(Number(process.hrtime.bigint() - t) / 1e6)
      }
    }),
  )
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  times.sort((a, b) => a - b)
  return { p50: percentile(times, 50), p99: percentile(times, 99), perSecond: N / seconds }
}

async function main() {
  const svc = new E2BService({ backend: 'local' })
  const rows = []
  for (const [language, code, [binary, args]] of PROGRAMS) {
    for (const concurrency of [1, 8]) {
      const ours = await measure(async () => {
        const r = await svc.executeCode(code, language)
        if (r.stdout !== '1\n') throw new Error(`unexpected output ${JSON.stringify(r)}`)
      }, concurrency)
      const raw = await measure(() => run(binary, args, { env: {} }), concurrency)
      rows.push({ language, concurrency, ours, raw })
      console.error(language, concurrency, ours, raw)
    }
  }
  await svc.close()
  const f = (x) => x.toFixed(1)
  const table = [
    '| program | concurrency | local p50 ms | local p99 ms | local exec/s | raw spawn p50 ms | raw p99 ms | raw exec/s | p50 ours/raw |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      ({ language, concurrency, ours, raw }) =>
        `| ${language} \`${PROGRAMS.find((p) => p[0] === language)[1]}\` | ${concurrency} | ${f(ours.p50)} | ${f(ours.p99)} | ${f(ours.perSecond)} | ${f(raw.p50)} | ${f(raw.p99)} | ${f(raw.perSecond)} | ${(ours.p50 / raw.p50).toFixed(2)} |`,
    ),
  ].join('\n')
  const header = `Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} × ${os.cpus()[0].model}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}, as ${os.userInfo().username}; ${N} executions per row; command: \`npm run bench\`.`
  const doc = `# Benchmarks\n\n${header}\n\n## Local backend against a raw spawn (no sandbox)\n\nRaw spawn: \`child_process.execFile\` of the same interpreter binary with an empty environment.\n\n${table}\n`
  fs.writeFileSync(path.join(__dirname, '..', 'BENCHMARKS.md'), doc)
  console.log(doc)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
