'use strict'
// `npm run bench`: what one execution costs, seen from JS. The local sandbox,
// cold (pool off) and warm (pool on), against a raw spawn of the same
// interpreter (no isolation) and against bubblewrap with comparable
// isolation, sequential and at concurrency 8; then
// the host's memory over many executions and under an output flood. Writes
// bench/latest.md (BENCHMARKS.md quotes and explains it). Needs Debian's `bubblewrap` for the bwrap column (skipped
// without it).
const { execFile, execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { promisify } = require('node:util')
const { E2BService, startServer } = require('..')
const { N, PROGRAMS, measure, refilled } = require('./measure')

const run = promisify(execFile)
const MEMORY_RUNS = Number(process.env.BENCH_MEMORY_RUNS || 10000)
const POOL_SIZE = 8

function hasBwrap() {
  try {
    execFileSync('bwrap', ['--version'])
    return true
  } catch {
    return false
  }
}

// bubblewrap with what our sandbox has: all namespaces, read-only /usr, fresh
// /proc, /dev, tmpfs work dirs, a new session, a cleared environment.
function bwrapArgs(binary, args) {
  return [
    '--unshare-all', '--die-with-parent', '--new-session', '--clearenv',
    '--ro-bind', '/usr', '/usr', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64',
    '--symlink', 'usr/bin', '/bin', '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp',
    '--tmpfs', '/home/user', '--chdir', '/home/user', '--uid', '1000', '--gid', '1000',
    '--setenv', 'HOME', '/home/user', '--setenv', 'PATH', '/usr/bin:/bin',
    binary, ...args,
  ]
}

async function memory(svc) {
  const before = process.memoryUsage().rss
  for (let i = 0; i < MEMORY_RUNS; i++) await svc.executeCode('echo 1', 'bash')
  global.gc && global.gc()
  const after = process.memoryUsage().rss
  let peak = process.memoryUsage().rss
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5)
  const floodBase = process.memoryUsage().rss
  const flood = await svc.executePython('import sys\nchunk = b"x" * 65536\nfor _ in range(16384): sys.stdout.buffer.write(chunk)')
  clearInterval(sampler)
  return { before, after, floodBase, peak, floodError: flood.error }
}

// Our e2b backend and the official SDK, each doing create → run print(1) →
// kill against the same `e2b-native serve`.
async function e2bRound() {
  const server = await startServer({ port: 0, logLevel: 'silent' })
  Object.assign(process.env, { E2B_API_URL: server.url, E2B_SANDBOX_URL: server.url, E2B_API_KEY: server.apiKey })
  const { Sandbox } = require('@e2b/code-interpreter')
  const ours = new E2BService({ backend: 'e2b', apiKey: server.apiKey, apiUrl: server.url, sandboxUrl: server.url })
  const saved = N
  const result = {}
  result.ours = await measure(async () => {
    const r = await ours.executePython('print(1)')
    if (r.stdout !== '1\n') throw new Error(`unexpected output ${JSON.stringify(r)}`)
  }, 1)
  result.official = await measure(async () => {
    const sbx = await Sandbox.create()
    const execution = await sbx.runCode('print(1)')
    if (execution.logs.stdout.join('') !== '1\n') throw new Error('unexpected output')
    await sbx.kill()
  }, 1)
  await ours.close()
  await server.close()
  return { ...result, n: saved }
}

async function main() {
  const svc = new E2BService({ backend: 'local', pool: false })
  const pooled = new E2BService({ backend: 'local', pool: { size: POOL_SIZE } })
  const bwrap = hasBwrap()
  const rows = []
  const f = (x) => (x == null ? '–' : x.toFixed(1))
  for (const [language, code, binary, args] of PROGRAMS) {
    const call = (service) => async () => {
      const r = await service.executeCode(code, language)
      if (r.stdout !== '1\n') throw new Error(`unexpected output ${JSON.stringify(r)}`)
    }
    const row = { language, code }
    row.raw = [await measure(() => run(binary, args, { env: {} }), 1), await measure(() => run(binary, args, { env: {} }), 8)]
    row.bw = bwrap
      ? [await measure(() => run('bwrap', bwrapArgs(binary, args), { env: {} }), 1), await measure(() => run('bwrap', bwrapArgs(binary, args), { env: {} }), 8)]
      : null
    row.cold = [await measure(call(svc), 1), await measure(call(svc), 8)]
    // Warm: each call finds a ready sandbox (the refill between calls is not timed).
    row.warm = await measure(call(pooled), 1, () => refilled(pooled, language, POOL_SIZE))
    // Pool on, back to back: calls outrun the refill, as under sustained load.
    row.pooled = [await measure(call(pooled), 1), await measure(call(pooled), 8)]
    await refilled(pooled, language, POOL_SIZE)
    rows.push(row)
    console.error(language, JSON.stringify(row))
  }
  const mem = await memory(svc)
  await svc.close()
  await pooled.close()
  const e2b = await e2bRound()

  const mib = (b) => (b / 2 ** 20).toFixed(0)
  const ratio = (a, b) => (a / b).toFixed(2)
  const table = [
    '| program | raw p50 ms | raw exec/s c=8 | bwrap p50 ms | bwrap exec/s c=8 | cold p50 ms | cold p99 ms | cold exec/s c=8 | warm p50 ms | warm p99 ms | pool on, back to back: p50 ms | pool on: exec/s c=8 |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      ({ language, code, raw, bw, cold, warm, pooled }) =>
        `| ${language} \`${code}\` | ${f(raw[0].p50)} | ${f(raw[1].perSecond)} | ${f(bw && bw[0].p50)} | ${f(bw && bw[1].perSecond)} | ${f(cold[0].p50)} | ${f(cold[0].p99)} | ${f(cold[1].perSecond)} | ${f(warm.p50)} | ${f(warm.p99)} | ${f(pooled[0].p50)} | ${f(pooled[1].perSecond)} |`,
    ),
  ].join('\n')
  const ratios = [
    '| program | cold p50 / raw p50 (target ≤ 1.1) | warm p50 / raw p50 (target ≤ 0.25) | pool on exec/s c=8 / raw (target ≥ 3) | cold exec/s c=8 / raw | cold p50 / bwrap p50 |',
    '|---|---|---|---|---|---|',
    ...rows.map(
      ({ language, code, raw, bw, cold, warm, pooled }) =>
        `| ${language} \`${code}\` | ${ratio(cold[0].p50, raw[0].p50)} | ${ratio(warm.p50, raw[0].p50)} | ${ratio(pooled[1].perSecond, raw[1].perSecond)} | ${ratio(cold[1].perSecond, raw[1].perSecond)} | ${bw ? ratio(cold[0].p50, bw[0].p50) : '–'} |`,
    ),
  ].join('\n')
  const cpuTable = [
    '| program | raw | cold | pool on | cold − raw |',
    '|---|---|---|---|---|',
    ...rows.map(
      ({ language, code, raw, cold, pooled }) =>
        `| ${language} \`${code}\` | ${f(raw[1].machineMs)} | ${f(cold[1].machineMs)} | ${f(pooled[1].machineMs)} | ${f(cold[1].machineMs - raw[1].machineMs)} |`,
    ),
  ].join('\n')
  const cpu = os.cpus()
  const header = `Measured ${new Date().toISOString().slice(0, 10)} on ${cpu.length} × ${cpu[0].model}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}, as ${os.userInfo().username}; ${N} executions per row; command: \`npm run bench\` (\`BENCH_N\`, \`BENCH_MEMORY_RUNS\` to change the counts).`
  const doc = `# Benchmarks

${header}

## Local backend against a raw spawn and bubblewrap

- cold: \`executeCode\` through the public API with \`pool: false\`: the sandbox is built, the interpreter started, the code run, the sandbox destroyed, all within the call.
- warm: the same with \`pool: { size: ${POOL_SIZE} }\`, each call finding a ready sandbox (namespaces, root, cgroups, limits, interpreter started and waiting): the call hands over its code, the interpreter runs it and exits, the sandbox is destroyed. Between calls the benchmark waits, untimed, for the pool to refill.
- pool on, back to back: the pooled service called without pauses (sequentially, and 8 at a time): calls outrun the refill, which competes with them for the CPU, so this is what sustained load gets.
- raw: \`child_process.execFile\` of the same interpreter binary, empty environment, no isolation.
- bwrap: Debian's bubblewrap ${bwrap ? execFileSync('bwrap', ['--version']).toString().trim().split(' ')[1] : '(not installed)'} with all namespaces, read-only /usr, fresh /proc and /dev, tmpfs work dirs, a new session and a cleared environment (no seccomp, no limits).

${table}

Ratios (sequential p50; exec/s at concurrency 8):

${ratios}

CPU per execution at concurrency 8, ms (busy time of all ${cpu.length} cores from \`/proc/stat\`, divided by the executions; the raw spawn's includes Node's own spawning):

${cpuTable}

## Host memory

| measure | value |
|---|---|
| Node RSS before ${MEMORY_RUNS} executions of \`echo 1\` | ${mib(mem.before)} MiB |
| Node RSS after them | ${mib(mem.after)} MiB |
| Node RSS before a 1 GiB output flood (Python, default 10 MiB cap) | ${mib(mem.floodBase)} MiB |
| peak RSS during the flood (sampled every 5 ms) | ${mib(mem.peak)} MiB (the flood ended with \`${mem.floodError}\`) |

## e2b backend against the official SDK, both on \`e2b-native serve\`

Create a sandbox → run \`print(1)\` → kill, sequentially, against one loopback
\`e2b-native serve\`: our e2b backend (\`executePython\`) beside
\`@e2b/code-interpreter\` (\`Sandbox.create\`, \`runCode\`, \`kill\`).

| client | p50 ms | p99 ms | calls/s |
|---|---|---|---|
| e2b-native, e2b backend | ${f(e2b.ours.p50)} | ${f(e2b.ours.p99)} | ${f(e2b.ours.perSecond)} |
| official SDK | ${f(e2b.official.p50)} | ${f(e2b.official.p99)} | ${f(e2b.official.perSecond)} |
| ratio ours/official (p50) | ${(e2b.ours.p50 / e2b.official.p50).toFixed(2)} | | |
`
  fs.writeFileSync(path.join(__dirname, 'latest.md'), doc)
  console.log(doc)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
