'use strict'
// `npm run doctor`: what the local sandbox gets on this host, layer by layer.
const { E2BService } = require('..')

E2BService.diagnose().then(
  ({ ok, checks }) => {
    for (const c of checks) {
      console.log(`${c.status.padEnd(8)} ${c.layer.padEnd(22)} ${c.detail}`)
      if (c.fix) console.log(`${''.padEnd(31)}fix: ${c.fix}`)
    }
    console.log(ok ? '\nThe local sandbox can run here.' : '\nThe local sandbox cannot run here: see "missing" above.')
    process.exitCode = ok ? 0 : 1
  },
  (error) => {
    console.error(error)
    process.exitCode = 1
  },
)
