'use strict'
// `npm run bench`: what one execution costs, seen from JS. The local sandbox
// against a raw spawn of the same interpreter (no isolation) and against
// bubblewrap with comparable isolation, sequential and at concurrency 8; then
// the host's memory over many executions and under an output flood. Writes
// BENCHMARKS.md. Needs Debian's `bubblewrap` for the bwrap column (skipped
// without it).
const { execFile, execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { promisify } = require('node:util')
const { E2BService, startServer } = require('..')

const run = promisify(execFile)
const N = Number(process.env.BENCH_N || 200)
const MEMORY_RUNS = Number(process.env.BENCH_MEMORY_RUNS || 10000)
const PROGRAMS = [
  ['python', 'print(1)', '/usr/bin/python3', ['-u', '-c', 'print(1)']],
  ['node', 'console.log(1)', process.execPath, ['-e', 'console.log(1)']],
  ['bash', 'echo 1', '/bin/bash', ['-c', 'echo 1']],
]

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
  const svc = new E2BService({ backend: 'local' })
  const bwrap = hasBwrap()
  const rows = []
  for (const [language, code, binary, args] of PROGRAMS) {
    for (const concurrency of [1, 8]) {
      const ours = await measure(async () => {
        const r = await svc.executeCode(code, language)
        if (r.stdout !== '1\n') throw new Error(`unexpected output ${JSON.stringify(r)}`)
      }, concurrency)
      const raw = await measure(() => run(binary, args, { env: {} }), concurrency)
      const bw = bwrap ? await measure(() => run('bwrap', bwrapArgs(binary, args), { env: {} }), concurrency) : null
      rows.push({ language, code, concurrency, ours, raw, bw })
      console.error(language, concurrency, ours, raw, bw)
    }
  }
  const mem = await memory(svc)
  await svc.close()
  const e2b = await e2bRound()

  const f = (x) => (x == null ? '–' : x.toFixed(1))
  const mib = (b) => (b / 2 ** 20).toFixed(0)
  const table = [
    '| program | concurrency | local p50 ms | local p99 ms | local exec/s | raw p50 ms | raw exec/s | bwrap p50 ms | bwrap exec/s | p50 local/raw | p50 local/bwrap | exec/s local/raw |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      ({ language, code, concurrency, ours, raw, bw }) =>
        `| ${language} \`${code}\` | ${concurrency} | ${f(ours.p50)} | ${f(ours.p99)} | ${f(ours.perSecond)} | ${f(raw.p50)} | ${f(raw.perSecond)} | ${f(bw && bw.p50)} | ${f(bw && bw.perSecond)} | ${(ours.p50 / raw.p50).toFixed(2)} | ${bw ? (ours.p50 / bw.p50).toFixed(2) : '–'} | ${(ours.perSecond / raw.perSecond).toFixed(2)} |`,
    ),
  ].join('\n')
  const cpu = os.cpus()
  const header = `Measured ${new Date().toISOString().slice(0, 10)} on ${cpu.length} × ${cpu[0].model}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}, as ${os.userInfo().username}; ${N} executions per row; command: \`npm run bench\` (\`BENCH_N\`, \`BENCH_MEMORY_RUNS\` to change the counts).`
  const doc = `# Benchmarks

${header}

## Local backend against a raw spawn and bubblewrap

- local: \`executeCode\` through the public API, a fresh sandbox per execution (pool: none yet).
- raw: \`child_process.execFile\` of the same interpreter binary, empty environment, no isolation.
- bwrap: Debian's bubblewrap ${bwrap ? execFileSync('bwrap', ['--version']).toString().trim().split(' ')[1] : '(not installed)'} with all namespaces, read-only /usr, fresh /proc and /dev, tmpfs work dirs, a new session and a cleared environment (no seccomp, no limits).

${table}

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
  fs.writeFileSync(path.join(__dirname, '..', 'BENCHMARKS.md'), doc)
  console.log(doc)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
