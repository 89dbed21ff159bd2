'use strict'
// The constructor's settings reach every sandbox, on every path a call can
// take (cold, warm pool, packages, serve); a timeout is a timeout whatever
// the code was doing; the CLI refuses numbers out of range.
const fs = require('node:fs')
const path = require('node:path')
const { execFile } = require('node:child_process')
const { E2BService, startServer } = require('..')
const { buildWheel, sharedTempDir } = require('./registry')

jest.setTimeout(120000)

const MIB = 1024 * 1024
const limits = { openFiles: 77, memoryBytes: 64 * MIB }
// What the sandbox itself reports of its bounds, and whether 200 MiB fit.
const probe = `
import resource
print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
try:
    block = bytearray(200 * 1024 * 1024)
    print("allocated")
except MemoryError:
    print("refused")
`

let wheels
let cacheDir
beforeAll(() => {
  wheels = sharedTempDir('e2bn-ctor-wheels-')
  cacheDir = sharedTempDir('e2bn-ctor-cache-')
  buildWheel(wheels, 'e2bn_ctor', '1.0')
})
afterAll(() => {
  for (const dir of [wheels, cacheDir]) fs.rmSync(dir, { recursive: true, force: true })
})

/** Runs `use` with a new service, closed afterwards. */
async function withService(options, use) {
  const svc = new E2BService(options)
  try {
    return await use(svc)
  } finally {
    await svc.close()
  }
}

function bounded(result) {
  const [openFiles, allocation] = result.stdout.trim().split('\n')
  return { openFiles: Number(openFiles), allocation, error: result.error }
}

describe('constructor limits reach the sandbox', () => {
  test('cold', async () => {
    await withService({ backend: 'local', pool: false, limits }, async (svc) => {
      const r = bounded(await svc.executePython(probe))
      expect(r.openFiles).toBe(77)
      // The cgroup kills the process (MemoryLimitError), or RLIMIT_AS refuses the allocation.
      expect(r.allocation === 'refused' || r.error === 'MemoryLimitError').toBe(true)
      expect(r.allocation).not.toBe('allocated')
    })
  })

  test('warm: the pool is built with them and serves the call', async () => {
    await withService({ backend: 'local', pool: { size: 1 }, limits }, async (svc) => {
      await svc.executePython('pass') // starts the lane
      for (let i = 0; i < 100 && svc.poolStats().python.ready < 1; i++) await new Promise((r) => setTimeout(r, 50))
      expect(svc.poolStats().python.ready).toBe(1)
      const r = bounded(await svc.executePython(probe))
      expect(svc.poolStats().python.served).toBe(1)
      expect(r.openFiles).toBe(77)
      expect(r.allocation).not.toBe('allocated')
    })
  })

  test('with packages', async () => {
    await withService({ backend: 'local', limits, packages: { cacheDir, pythonWheelDir: wheels } }, async (svc) => {
      const r = await svc.executeWithPackages(`import e2bn_ctor\n${probe}`, ['e2bn_ctor'])
      expect(r.exitCode === 0 || r.error === 'MemoryLimitError').toBe(true)
      expect(bounded(r).openFiles).toBe(77)
      expect(bounded(r).allocation).not.toBe('allocated')
    })
  })

  test('per-call limits still win over the constructor’s', async () => {
    await withService({ backend: 'local', pool: false, limits }, async (svc) => {
      const r = await svc.executeCode('ulimit -n', 'bash', { limits: { openFiles: 99 } })
      expect(r.stdout).toBe('99\n')
    })
  })

  test('serve: startServer({ limits }) bounds its sandboxes', async () => {
    const server = await startServer({ port: 0, limits })
    try {
      const out = await runSdk(server, 'sandboxLimits')
      expect(out.openFiles).toBe('77')
      expect(out.memory).not.toBe('allocated')
    } finally {
      await server.close()
    }
  })
})

function runSdk(server, scenario) {
  const env = {
    ...process.env,
    E2B_API_URL: server.url,
    E2B_SANDBOX_URL: server.url,
    E2B_API_KEY: server.apiKey,
  }
  delete env.E2B_DEBUG
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(__dirname, 'serve-sdk.js'), scenario], { env }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.message}\n${stderr}`))
      else resolve(JSON.parse(stdout))
    })
  })
}

describe('a timeout resolves as a timeout, whatever the code was doing', () => {
  const busy = {
    python: 'while True: pass',
    // Two threads burn CPU twice as fast as the wall clock runs.
    'python, two threads': 'import threading\ndef spin():\n    while True: pass\nthreading.Thread(target=spin, daemon=True).start()\nspin()',
    node: 'for (;;) {}',
    bash: 'while :; do :; done',
  }
  test.each(Object.entries(busy))('%s, cold and warm: exit 124, TimeoutError, limit "time"', async (name, code) => {
    const language = name.split(',')[0]
    for (const pool of [false, { size: 1 }]) {
      await withService({ backend: 'local', pool }, async (svc) => {
        for (let i = 0; i < 3; i++) {
          const r = await svc.executeCode(code, language, { timeoutMs: 1000 })
          expect(r).toMatchObject({ exitCode: 124, error: 'TimeoutError', limit: 'time', timedOut: true })
        }
      })
    }
  })

  test('a CPU limit below the timeout is what stops it: exit 152, limit "cpu"', async () => {
    await withService({ backend: 'local' }, async (svc) => {
      for (const language of ['python', 'node']) {
        const code = language === 'python' ? busy.python : busy.node
        const r = await svc.executeCode(code, language, { timeoutMs: 20000, limits: { cpuSeconds: 1 } })
        expect(r).toMatchObject({ exitCode: 152, error: 'TimeoutError', limit: 'cpu', timedOut: true })
      }
    })
  })
})

describe('`e2b-native serve` refuses numbers out of range', () => {
  const bin = path.join(__dirname, '..', 'bin', 'e2b-native.js')
  test.each([
    [['--port', '70000'], '--port must be a whole number from 0 to 65535, got "70000"'],
    [['--memory-mb', '1'], '--memory-mb must be a whole number from 32 to'],
    [['--max-sandboxes', '0'], '--max-sandboxes must be a whole number from 1 to'],
    [['--port'], '--port needs N'],
  ])('%j', async (args, message) => {
    const { code, stderr } = await new Promise((resolve) =>
      execFile(process.execPath, [bin, 'serve', ...args], (error, _stdout, stderr) => resolve({ code: error && error.code, stderr })),
    )
    expect(code).toBe(2)
    expect(stderr).toContain(message)
  })

  test('startServer refuses them too, with ERR_INVALID_ARG', async () => {
    await expect(startServer({ port: 70000 })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG',
      message: 'port must be a whole number from 0 to 65535, got number 70000',
    })
  })
})
