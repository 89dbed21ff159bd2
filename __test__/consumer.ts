// A TypeScript consumer written as the Next.js app uses the replaced service;
// `tsc --noEmit --strict` must accept it (npm test runs it).
import {
  E2BService,
  e2bService,
  type CodeExecutionResult,
  type E2BNativeError,
  type Execution,
  type Result,
  type Session,
} from 'e2b-native'

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
  const figure: string | undefined = r.results?.find((x) => x.chart)?.png
  console.log(figure, new E2BService({ dataScience: 'auto' }), new E2BService({ dataScience: true }))
  const report = await E2BService.diagnose()
  console.log(out, report.ok, report.checks[0].status)
  await svc.executeNode('console.log(1)')
  await svc.executeCode('echo 1')
  await svc[Symbol.asyncDispose]()
  await svc.close()
  return r.exitCode + (r.durationMs ?? 0)
}

/** A session, as code written for @e2b/code-interpreter uses a sandbox. */
async function withSession(): Promise<string | undefined> {
  const svc = new E2BService({ backend: 'local' })
  const session: Session = await svc.createSession({ language: 'python', idleTimeoutMs: 60_000, limits: { memoryBytes: 1 << 30 } })
  const charts: Result[] = []
  await session.runCode('x = 41')
  const execution: Execution = await session.runCode('x + 1', {
    timeoutMs: 5000,
    onStdout: (out) => console.log(out.line, out.timestamp),
    onResult: (result) => charts.push(result),
    signal: AbortSignal.timeout(10_000),
  })
  const js = await session.runCode('await Promise.resolve(1)', { language: 'js' })
  const png: string | undefined = execution.results[0]?.png
  const main: boolean = execution.results.some((r) => r.isMainResult && r.formats().includes('data'))
  const error: string | undefined = execution.error?.traceback
  console.log(main, error, execution.executionCount, execution.logs.stderr.join(''))
  await session.files.write('data.csv', 'a,b\n1,2\n')
  const text: string = await session.files.read('data.csv')
  const bytes: Uint8Array = await session.files.read('data.csv', { format: 'bytes' })
  const names = (await session.files.list()).map((e) => `${e.type} ${e.name} ${e.size}`)
  console.log(session.id, session.isolation, session.backend, png, text, bytes.length, names, js.logs.stdout.join(''))
  await session.restart()
  await session[Symbol.asyncDispose]()
  await svc.close()
  return execution.error ? execution.error.name : execution.text
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

export { route, withOptions, withSession, describeFailure }
