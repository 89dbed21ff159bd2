'use strict'
// What bundles for the Edge runtime, Cloudflare workerd or a browser get for
// `import 'e2b-native'` (package.json "exports": "edge-light", "workerd",
// "browser"): a module that throws when it is evaluated, saying why. It requires
// nothing, so the bundle builds and the error names the real problem.
const where =
  typeof EdgeRuntime !== 'undefined'
    ? `the Edge runtime (EdgeRuntime = ${JSON.stringify(EdgeRuntime)})`
    : 'an Edge, worker or browser bundle'
const error = new Error(
  `e2b-native cannot load in ${where}. ` +
    'e2b-native is a native addon that runs only in the Node.js runtime. ' +
    'In Next.js, import it only from server code (route handlers, server actions, server ' +
    "components) in the Node.js runtime (`export const runtime = 'nodejs'`, never 'edge'), " +
    "and list it in next.config: `serverExternalPackages: ['e2b-native']`.",
)
error.code = 'ERR_UNSUPPORTED_PLATFORM'
throw error
// The names index.js exports, for bundlers that check imports statically
// (Turbopack fails a build on an import of a name a module does not export).
// Never reached.
exports.E2BService = exports.e2bService = exports.liveSandboxes = exports.pooledSandboxPids = exports.startServer = undefined
