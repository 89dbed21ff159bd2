'use strict'
// `npm run doctor`: what the local sandbox gets on this host, layer by layer.
const { E2BService } = require('..')

E2BService.diagnose().then(
  ({ ok, checks }) => {
    for (const c of checks) {
      console.log(`${c.status.padEnd(8)} ${c.layer.padEnd(22)} ${c.detail}`)
      if (c.fix) console.log(`${''.padEnd(31)}fix: ${c.fix}`)
    }
    const tier = checks.find((c) => c.layer === 'tier')
    const verdict = !ok
      ? 'The local sandbox cannot run here: see "missing" above.'
      : tier && tier.status === 'fallback'
        ? `The local sandbox runs here in the ${tier.detail.split(':')[0]} tier: see "fallback" above for what it cannot promise.`
        : 'The local sandbox can run here.'
    console.log(`\n${verdict}`)
    process.exitCode = ok ? 0 : 1
  },
  (error) => {
    console.error(error)
    process.exitCode = 1
  },
)
