'use strict'
// `node bench/sessions.js`: sessions (createSession / runCode), p50 and p90 of
// BENCH_N runs (default 30) each:
// - session start on the local backend (createSession + first Python cell),
//   and createSession alone (kernels start on first use);
// - `x = x + 1` in a warm Python session: local; e2b backend against a local
//   `e2b-native serve`; the official SDK (@e2b/code-interpreter) against it;
// - a matplotlib chart round trip (plt.show() to a png + chart result) in a
//   warm local session;
// and the memory of an idle local Python session: RSS and PSS summed over
// the processes of its sandbox (helper, init, kernel). Needs the
// data-science environment (`node bin/e2b-native.js prepare`) for the chart.
// Prints a Markdown table.
const fs = require('node:fs')
const os = require('node:os')
const { E2BService, startServer } = require('..')

const N = Number(process.env.BENCH_N || 30)

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]

/** p50 and p90 (ms) of `n` runs of `once`, after one untimed warm-up. */
async function time(once, n = N) {
  await once()
  const runs = []
  for (let i = 0; i < n; i++) {
    const start = process.hrtime.bigint()
    await once()
    runs.push(Number(process.hrtime.bigint() - start) / 1e6)
  }
  runs.sort((a, b) => a - b)
  return { p50: quantile(runs, 0.5), p90: quantile(runs, 0.9) }
}

function check(execution) {
  if (execution.error) throw new Error(`${execution.error.name}: ${execution.error.value}`)
  return execution
}

/** Pids of this process's descendants. */
function children() {
  const byParent = new Map()
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (!byParent.has(ppid)) byParent.set(ppid, [])
      byParent.get(ppid).push(Number(entry))
    } catch {
      // gone
    }
  }
  const found = []
  const queue = [process.pid]
  while (queue.length) for (const child of byParent.get(queue.pop()) || []) found.push(child), queue.push(child)
  return found
}

/** RSS and PSS (KiB) summed over `pids`. */
function memory(pids) {
  let rss = 0
  let pss = 0
  for (const pid of pids) {
    try {
      const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8')
      rss += Number((/^Rss:\s+(\d+)/m.exec(rollup) || [])[1] || 0)
      pss += Number((/^Pss:\s+(\d+)/m.exec(rollup) || [])[1] || 0)
    } catch {
      // gone, or a kernel thread
    }
  }
  return { rss, pss }
}

async function local(rows) {
  const svc = new E2BService({ backend: 'local' })
  const start = await time(async () => {
    const s = await svc.createSession()
    check(await s.runCode('x = 0'))
    await s.close()
  })
  rows.push(['session start, local (createSession + first Python cell, IPython kernel start included, + close)', start])
  const sandbox = await time(async () => {
    const s = await svc.createSession()
    await s.close()
  })
  rows.push(['createSession + close alone, local (the sandbox; kernels start on first use)', sandbox])
  const before = new Set(children())
  const s = await svc.createSession()
  check(await s.runCode('x = 0'))
  rows.push(['`x = x + 1`, warm local session', await time(async () => check(await s.runCode('x = x + 1')))])
  await new Promise((r) => setTimeout(r, 1000))
  const idle = memory(children().filter((pid) => !before.has(pid)))
  const chartCode = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [3, 1, 2])\nplt.title('t')\nplt.show()"
  const chart = await time(async () => {
    const e = check(await s.runCode(chartCode))
    if (!e.results.some((r) => r.png && r.chart)) throw new Error('no chart: run node bin/e2b-native.js prepare')
  })
  rows.push(['matplotlib chart round trip (png + chart), warm local session', chart])
  await s.close()
  await svc.close()
  return idle
}

async function remote(rows) {
  const server = await startServer({ port: 0, logLevel: 'error' })
  const svc = new E2BService({ backend: 'e2b', apiKey: server.apiKey, apiUrl: server.url, sandboxUrl: server.url })
  const s = await svc.createSession()
  check(await s.runCode('x = 0'))
  rows.push(['`x = x + 1`, warm e2b-backend session against serve', await time(async () => check(await s.runCode('x = x + 1')))])
  await s.close()
  await svc.close()
  Object.assign(process.env, { E2B_API_URL: server.url, E2B_SANDBOX_URL: server.url, E2B_API_KEY: server.apiKey })
  const { Sandbox } = require('@e2b/code-interpreter')
  const sbx = await Sandbox.create()
  check(await sbx.runCode('x = 0'))
  rows.push(['`x = x + 1`, official SDK (@e2b/code-interpreter) against serve', await time(async () => check(await sbx.runCode('x = x + 1')))])
  await sbx.kill()
  await server.close()
}

async function main() {
  const rows = []
  const idle = await local(rows)
  await remote(rows)
  console.log(`Sessions (${os.cpus().length} cores, ${N} runs each after one warm-up)\n`)
  console.log('| measure | p50 (ms) | p90 (ms) |')
  console.log('|---|---|---|')
  for (const [name, { p50, p90 }] of rows) console.log(`| ${name} | ${p50.toFixed(1)} | ${p90.toFixed(1)} |`)
  console.log(`\nIdle local Python session (data-science environment, after its first cell), summed over its sandbox's processes: RSS ${(idle.rss / 1024).toFixed(1)} MiB, PSS ${(idle.pss / 1024).toFixed(1)} MiB`)
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  },
)
