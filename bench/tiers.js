'use strict'
// `node bench/tiers.js`: cold and warm p50 of a trivial program per language
// in whichever tier this host gives, for comparing a bare host with a default
// container (`../shared/container/run -- node bench/tiers.js`, and with
// `--user 1000`). Prints one Markdown row per language.
//   BENCH_N (default 100) calls per measure.
const { E2BService } = require('..')

const N = Number(process.env.BENCH_N || 100)
const PROGRAMS = [
  ['python', 'print(1)'],
  ['node', 'console.log(1)'],
  ['bash', 'echo 1'],
]

const p50 = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function measure(svc, language, code, settle) {
  const times = []
  for (let i = 0; i < N; i++) {
    if (settle) await settle()
    const start = process.hrtime.bigint()
    const r = await svc.executeCode(code, language)
    times.push(Number(process.hrtime.bigint() - start) / 1e6)
    if (r.exitCode !== 0) throw new Error(`${language}: exit ${r.exitCode}: ${r.stderr}`)
  }
  return p50(times)
}

/** Waits (untimed) until the language's pool has a ready sandbox. */
function ready(svc, language) {
  return async () => {
    for (let i = 0; i < 500; i++) {
      const lane = svc.poolStats()[language]
      if (lane && lane.ready > 0) return
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }
}

async function main() {
  const cold = new E2BService({ backend: 'local', pool: false })
  const warm = new E2BService({ backend: 'local', pool: { size: 2 } })
  const tier = (await cold.executeCode('true', 'bash')).isolation
  const who = process.getuid() === 0 ? 'root' : `uid ${process.getuid()}`
  console.log(`| tier | user | program | cold p50 ms | warm p50 ms |\n|---|---|---|---|---|`)
  for (const [language, code] of PROGRAMS) {
    const c = await measure(cold, language, code)
    await warm.executeCode(code, language) // starts the lane
    const w = await measure(warm, language, code, ready(warm, language))
    console.log(`| ${tier} | ${who} | ${language} \`${code}\` | ${c.toFixed(1)} | ${w.toFixed(1)} |`)
  }
  await Promise.all([cold.close(), warm.close()])
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
