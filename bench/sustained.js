'use strict'
// `node bench/sustained.js` (part of `npm run bench`): what the local backend
// sustains, beside a raw spawn of the same interpreter, in one run:
// - warm: each call finds a ready sandbox (the benchmark waits, untimed, for
//   the pool to refill between calls): the best case;
// - pool on, back to back: calls without pauses, sequentially and 8 at a
//   time, so the refill (a full sandbox and interpreter start per call)
//   competes with them: what steady load gets;
// - cold: pool off, sequentially and 8 at a time.
// Each row: p50 ms, executions per second, and CPU per execution, ms, two
// ways: the whole machine's busy time (/proc/stat, all cores: includes the
// kernel's deferred work such as namespace teardown, and anything else the
// machine runs) and this process's own plus its reaped children's
// (/proc/self/stat utime + stime + cutime + cstime: helpers, inits and
// interpreters, whatever else runs). Prints a Markdown table and the command.
//   BENCH_N (default 200) executions per row; BENCH_POOL (default 8) pool size;
//   BENCH_LANGUAGES (default python,node,bash) which rows.
const { execFile, execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const { promisify } = require('node:util')
const { E2BService } = require('..')

const run = promisify(execFile)
const N = Number(process.env.BENCH_N || 200)
const POOL_SIZE = Number(process.env.BENCH_POOL || 8)
const LANGUAGES = (process.env.BENCH_LANGUAGES || 'python,node,bash').split(',')
const PROGRAMS = [
  ['python', 'print(1)', '/usr/bin/python3', ['-u', '-c', 'print(1)']],
  ['node', 'console.log(1)', process.execPath, ['-e', 'console.log(1)']],
  ['bash', 'echo 1', '/bin/bash', ['-c', 'echo 1']],
].filter(([language]) => LANGUAGES.includes(language))
const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK']).toString())

function machineBusyMs() {
  const [user, nice, system, , , irq, softirq] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1).map(Number)
  return (user + nice + system + irq + softirq) * TICK_MS
}

function ownAndChildrenMs() {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8')
  const [utime, stime, cutime, cstime] = stat.slice(stat.lastIndexOf(')') + 2).split(' ').slice(11, 15).map(Number)
  return (utime + stime + cutime + cstime) * TICK_MS
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]

// `pace`, awaited before each call and not timed, lets the pool refill.
async function measure(fn, concurrency, pace) {
  for (let i = 0; i < 5; i++) await fn() // warm-up
  if (pace) await pace()
  const times = []
  let next = 0
  let paused = 0n
  const machine = machineBusyMs()
  const own = ownAndChildrenMs()
  const started = process.hrtime.bigint()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < N) {
        if (pace) {
          const p = process.hrtime.bigint()
          await pace()
          paused += process.hrtime.bigint() - p
        }
        const t = process.hrtime.bigint()
        await fn()
        times.push(Number(process.hrtime.bigint() - t) / 1e6)
      }
    }),
  )
  const seconds = Number(process.hrtime.bigint() - started - paused) / 1e9
  times.sort((a, b) => a - b)
  return {
    p50: percentile(times, 50),
    perSecond: N / seconds,
    // A paced row's CPU includes the refills it waited for: all the work.
    machineMs: (machineBusyMs() - machine) / N,
    ownMs: (ownAndChildrenMs() - own) / N,
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function refilled(svc, language) {
  for (;;) {
    const lane = svc.poolStats()[language]
    if (!lane || (lane.ready === POOL_SIZE && lane.starting === 0)) return
    await sleep(1)
  }
}

const loadavg = () => os.loadavg().map((x) => x.toFixed(2)).join(' ')

async function main() {
  const cold = new E2BService({ backend: 'local', pool: false })
  const pooled = new E2BService({ backend: 'local', pool: { size: POOL_SIZE } })
  const probe = await cold.executeCode('echo 1', 'bash')
  const loadBefore = loadavg()
  const rows = []
  for (const [language, code, binary, args] of PROGRAMS) {
    const call = (service) => async () => {
      const r = await service.executeCode(code, language)
      if (r.stdout !== '1\n') throw new Error(`unexpected output ${JSON.stringify(r)}`)
    }
    // Empty env, as latency.js: no rc file or shim in the way.
    const raw = () => run(binary, args, { env: {} })
    const row = { language, code }
    row.raw1 = await measure(raw, 1)
    row.raw8 = await measure(raw, 8)
    row.cold1 = await measure(call(cold), 1)
    row.cold8 = await measure(call(cold), 8)
    row.warm = await measure(call(pooled), 1, () => refilled(pooled, language))
    row.pool1 = await measure(call(pooled), 1)
    row.pool8 = await measure(call(pooled), 8)
    await refilled(pooled, language)
    rows.push(row)
    console.error(language, JSON.stringify(row))
  }
  await cold.close()
  await pooled.close()
  const f = (x) => x.toFixed(1)
  const r2 = (x) => x.toFixed(2)
  const cell = (m) => `${f(m.p50)} | ${f(m.perSecond)} | ${f(m.machineMs)} / ${f(m.ownMs)}`
  const kinds = [
    ['raw spawn, sequential', 'raw1'],
    ['raw spawn, 8 at a time', 'raw8'],
    ['cold (pool off), sequential', 'cold1'],
    ['cold (pool off), 8 at a time', 'cold8'],
    ['warm (a ready sandbox each call)', 'warm'],
    ['pool on, back to back', 'pool1'],
    ['pool on, 8 at a time', 'pool8'],
  ]
  const cpu = os.cpus()
  const lines = [
    `Measured ${new Date().toISOString().slice(0, 16)}Z on ${cpu.length} × ${cpu[0].model.trim()}, Linux ${os.release()}, Node ${process.version}, as ${os.userInfo().username}, tier ${probe.isolation}; pool size ${POOL_SIZE}; ${N} executions per row; load average ${loadBefore} before, ${loadavg()} after. Command: \`${process.env.BENCH_COMMAND || `${process.env.BENCH_LANGUAGES ? `BENCH_LANGUAGES=${LANGUAGES} ` : ''}BENCH_N=${N} node bench/sustained.js`}\`.`,
    '',
  ]
  for (const row of rows) {
    lines.push(`${row.language} \`${row.code}\`:`, '', '| measure | p50 ms | exec/s | CPU ms per exec: machine / own + children |', '|---|---|---|---|')
    for (const [label, key] of kinds) lines.push(`| ${label} | ${cell(row[key])} |`)
    lines.push('')
  }
  lines.push(
    'Ratios against the raw spawn of the same run:',
    '',
    '| program | warm p50 / raw | back to back p50 / raw | exec/s at 8, pool on / raw | exec/s at 8, cold / raw | CPU per exec at 8, pool on / raw (machine) |',
    '|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.language} | ${r2(r.warm.p50 / r.raw1.p50)} | ${r2(r.pool1.p50 / r.raw1.p50)} | ${r2(r.pool8.perSecond / r.raw8.perSecond)} | ${r2(r.cold8.perSecond / r.raw8.perSecond)} | ${r2(r.pool8.machineMs / r.raw8.machineMs)} |`,
    ),
  )
  console.log(lines.join('\n'))
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
