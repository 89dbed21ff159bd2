'use strict'
// Where e2b-native can load. index.js calls assertSupported() before it loads
// the native binding, so that importing the package where it cannot work
// (another OS or CPU, musl, the Edge runtime, a browser bundle) throws an Error
// that says why and what to do, instead of napi's "Cannot find native binding".

const HELP =
  'e2b-native is a native addon that runs only in the Node.js runtime on Linux x64 with glibc. ' +
  'In Next.js, import it only from server code (route handlers, server actions, server ' +
  "components) in the Node.js runtime (`export const runtime = 'nodejs'`, never 'edge'), " +
  "and list it in next.config: `serverExternalPackages: ['e2b-native']`. " +
  'On macOS or Windows, run the server in a Linux x64 container or VM.'

/** The Error thrown where e2b-native cannot load; `reason` says where that is. */
function unsupportedError(reason) {
  const error = new Error(`e2b-native cannot load in ${reason}. ${HELP}`)
  error.code = 'ERR_UNSUPPORTED_PLATFORM'
  return error
}

function isMusl() {
  try {
    return require('fs').readFileSync('/usr/bin/ldd', 'utf8').includes('musl')
  } catch {
    const report = process.report && typeof process.report.getReport === 'function' && process.report.getReport()
    return Boolean(report && report.header && !report.header.glibcVersionRuntime)
  }
}

/** Why e2b-native cannot load here, or null when it can. */
function unsupportedReason() {
  if (typeof EdgeRuntime !== 'undefined') return `the Edge runtime (EdgeRuntime = ${JSON.stringify(EdgeRuntime)})`
  if (typeof process === 'undefined' || !process.versions || !process.versions.node) {
    return 'a runtime that is not Node.js (a browser or worker bundle)'
  }
  const here = `${process.platform} ${process.arch}`
  if (process.platform !== 'linux' || process.arch !== 'x64') return `Node.js on ${here}`
  if (isMusl()) return `Node.js on ${here} with musl libc`
  return null
}

/** Throws `ERR_UNSUPPORTED_PLATFORM` unless this is Node.js on Linux x64 with glibc. */
function assertSupported() {
  const reason = unsupportedReason()
  if (reason !== null) throw unsupportedError(reason)
}

module.exports = { assertSupported, unsupportedReason, unsupportedError }
