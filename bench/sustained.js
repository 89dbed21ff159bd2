'use strict'
// `node bench/sustained.js` (part of `npm run bench`): what the local backend
// sustains, beside a raw spawn of the same interpreter, in one run:
// - warm: each call finds a ready sandbox (the benchmark waits, untimed, for
//   the pool to refill between calls): the best case;
// - pool on, back to back: calls without pauses, sequentially and 8 at a
//   time, so the refill (a full sandbox per call, and for Python a fork of
//   the fork server rather than an interpreter's start) competes with them:
//   what steady load gets; for Python also without the fork server;
// - cold: pool off, sequentially and 8 at a time.
// Each row: p50 ms, executions per second, and CPU per execution, ms, two
// ways: the whole machine's busy time (/proc/stat, all cores: includes the
// kernel's deferred work such as namespace teardown, and anything else the
// machine runs) and this process's own plus its reaped children's
// (/proc/self/stat utime + stime + cutime + cstime: helpers, inits and
// interpreters, whatever else runs). Prints a Markdown table and the command.
//   BENCH_N (default 200) executions per row; BENCH_POOL (default 8) pool size;
//   BENCH_LANGUAGES (default python,node,bash) which rows.
const { execFile } = require('node:child_process')
const os = require('node:os')
const { promisify } = require('node:util')
const { E2BService } = require('..')
const { N, PROGRAMS, measure, refilled } = require('./measure')

const run = promisify(execFile)
const POOL_SIZE = Number(process.env.BENCH_POOL || 8)
const LANGUAGES = (process.env.BENCH_LANGUAGES || 'python,node,bash').split(',')
const CHOSEN = PROGRAMS.filter(([language]) => LANGUAGES.includes(language))
const loadavg = () => os.loadavg().map((x) => x.toFixed(2)).join(' ')

async function main() {
  const cold = new E2BService({ backend: 'local', pool: false })
  const pooled = new E2BService({ backend: 'local', pool: { size: POOL_SIZE } })
  // Python's pool without its fork server: an interpreter started per sandbox.
  const spawned = new E2BService({ backend: 'local', pool: { size: POOL_SIZE, forkServer: false } })
  const probe = await cold.executeCode('echo 1', 'bash')
  const loadBefore = loadavg()
  const rows = []
  for (const [language, code, binary, args] of CHOSEN) {
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
    row.warm = await measure(call(pooled), 1, () => refilled(pooled, language, POOL_SIZE))
    row.pool1 = await measure(call(pooled), 1)
    row.pool8 = await measure(call(pooled), 8)
    await refilled(pooled, language, POOL_SIZE)
    if (language === 'python') {
      row.spawned1 = await measure(call(spawned), 1)
      row.spawned8 = await measure(call(spawned), 8)
      await refilled(spawned, language, POOL_SIZE)
    }
    rows.push(row)
    console.error(language, JSON.stringify(row))
  }
  await cold.close()
  await pooled.close()
  await spawned.close()
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
    ['pool on without the fork server, back to back', 'spawned1'],
    ['pool on without the fork server, 8 at a time', 'spawned8'],
  ]
  const cpu = os.cpus()
  const lines = [
    `Measured ${new Date().toISOString().slice(0, 16)}Z on ${cpu.length} × ${cpu[0].model.trim()}, Linux ${os.release()}, Node ${process.version}, as ${os.userInfo().username}, tier ${probe.isolation}; pool size ${POOL_SIZE}; ${N} executions per row; load average ${loadBefore} before, ${loadavg()} after. Command: \`${process.env.BENCH_COMMAND || `${process.env.BENCH_LANGUAGES ? `BENCH_LANGUAGES=${LANGUAGES} ` : ''}BENCH_N=${N} node bench/sustained.js`}\`.`,
    '',
  ]
  for (const row of rows) {
    lines.push(`${row.language} \`${row.code}\`:`, '', '| measure | p50 ms | exec/s | CPU ms per exec: machine / own + children |', '|---|---|---|---|')
    for (const [label, key] of kinds) if (row[key]) lines.push(`| ${label} | ${cell(row[key])} |`)
    if (row.spawned1) {
      lines.push('', "Python's pooled sandboxes are forked from the fork server, whose children they are: own + children leaves them out of the pool-on rows; the machine's figure counts them.")
    }
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
