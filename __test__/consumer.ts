// A TypeScript consumer written as the Next.js app uses the replaced service;
// `tsc --noEmit --strict` must accept it (npm test runs it).
import { E2BService, e2bService, type CodeExecutionResult, type E2BNativeError } from 'e2b-native'

async function route(body: { code: string; language: 'python' | 'node' | 'bash'; packages?: string[] }) {
  const result: CodeExecutionResult = body.packages?.length
    ? await e2bService.executeWithPackages(body.code, body.packages, body.language === 'bash' ? 'python' : body.language)
    : await e2bService.executeCode(body.code, body.language)
  const { stdout, stderr, exitCode, error } = result
  const message: string | undefined = error
  return { stdout, stderr, exitCode, message, timedOut: result.timedOut === true }
}

async function withOptions(): Promise<number> {
  const svc = new E2BService({ backend: 'local', timeoutMs: 5000, maxOutputBytes: 1 << 20 })
  const ds = new E2BService({ dataScience: 'auto', isolation: 'namespaces' })
  void ds.close()
  const controller = new AbortController()
  const r = await svc.executePython('print(1)', {
    timeoutMs: 1000,
    env: { A: 'b' },
    signal: controller.signal,
    limits: { memoryBytes: 256 << 20, processes: 16 },
    onStdout: (chunk: string) => process.stdout.write(chunk),
    files: [{ path: 'in.txt', content: Buffer.from('x') }],
    readFiles: ['out.txt'],
  })
  const out: Uint8Array | undefined = r.files?.['out.txt']
  const report = await E2BService.diagnose()
  console.log(out, report.ok, report.checks[0].status)
  await svc.executeNode('console.log(1)')
  await svc.executeCode('echo 1')
  await svc[Symbol.asyncDispose]()
  await svc.close()
  return r.exitCode + (r.durationMs ?? 0)
}

/** Failures carry one of the documented codes. */
function describeFailure(error: E2BNativeError): string {
  switch (error.code) {
    case 'ERR_LISTEN':
      return 'the port is taken'
    case 'ERR_UNSUPPORTED_PLATFORM':
      return 'this platform cannot load the addon'
    default:
      return error.message
  }
}

export { route, withOptions, describeFailure }
