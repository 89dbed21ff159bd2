'use strict'
// `node bench/kernels.js`: the code-interpreter kernels through
// `e2b-native serve` and the official SDK, per language: how long a new
// context takes to give its first result (kernel start included), and a
// trivial cell on a warm context (p50, p90). Python twice: basic mode
// (`dataScience: false`), and IPython on the data-science environment (serve's
// default; `npx e2b-native prepare` installs it ahead). Prints a Markdown table.
const { startServer } = require('..')

const N = Number(process.env.BENCH_N || 100)
const COLD = Number(process.env.BENCH_COLD || 5)

const CELLS = [
  ['python', '1 + 1'],
  ['javascript', '1 + 1'],
  ['typescript', 'const n: number = 1; n + 1'],
  ['bash', 'echo 2'],
]

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
const ms = (ns) => (Number(ns) / 1e6).toFixed(1)

async function measure(Sandbox, language, code) {
  const sbx = await Sandbox.create()
  const cold = []
  let context
  for (let i = 0; i < COLD; i++) {
    const start = process.hrtime.bigint()
    context = await sbx.createCodeContext({ language })
    await sbx.runCode(code, { context })
    cold.push(process.hrtime.bigint() - start)
  }
  const warm = []
  for (let i = 0; i < N; i++) {
    const start = process.hrtime.bigint()
    const execution = await sbx.runCode(code, { context })
    warm.push(process.hrtime.bigint() - start)
    if (execution.error) throw new Error(`${language}: ${execution.error.name}: ${execution.error.value}`)
  }
  await sbx.kill()
  const sort = (a) => [...a].sort((x, y) => (x < y ? -1 : 1))
  return { cold: sort(cold), warm: sort(warm) }
}

async function main() {
  const servers = [
    [' (basic)', { dataScience: false }],
    [' (IPython)', {}],
  ]
  const rows = []
  for (const [label, options] of servers) {
    const server = await startServer({ port: 0, logLevel: 'error', ...options })
    Object.assign(process.env, { E2B_API_URL: server.url, E2B_SANDBOX_URL: server.url, E2B_API_KEY: server.apiKey })
    const { Sandbox } = require('@e2b/code-interpreter')
    for (const [language, code] of label ? CELLS.slice(0, 1) : CELLS) {
      const { cold, warm } = await measure(Sandbox, language, code)
      rows.push(`| ${language}${label} | ${ms(quantile(cold, 0.5))} | ${ms(quantile(warm, 0.5))} | ${ms(quantile(warm, 0.9))} |`)
    }
    await server.close()
  }
  console.log(`Kernels through \`e2b-native serve\` and @e2b/code-interpreter (${os.cpus().length} cores; new context: median of ${COLD}, warm: ${N} cells)\n`)
  console.log('| language | new context, first result (ms) | warm cell p50 (ms) | warm cell p90 (ms) |')
  console.log('|---|---|---|---|')
  for (const row of rows) console.log(row)
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  },
)
