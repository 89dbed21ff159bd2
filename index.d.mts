// Types of the ES module entry (index.mjs): the same API as index.d.ts.
import * as e2bNative from './index.js'

export * from './index.js'
export default e2bNative
