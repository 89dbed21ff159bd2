// The ES module entry ("exports" → "import"). It re-exports the CommonJS module,
// so `import` and `require` share one module instance and one `e2bService`.
import e2bNative from './index.js'

export const { E2BService, e2bService, liveSandboxes, pooledSandboxPids, startServer } = e2bNative
export default e2bNative
