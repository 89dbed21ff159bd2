'use strict'
// The public API keeps the replaced service's shape and rejects bad input clearly.
const { E2BService, e2bService } = require('..')

describe('drop-in shape', () => {
  test('the singleton is an E2BService, the same object on every import', () => {
    expect(e2bService).toBeInstanceOf(E2BService)
    expect(require('..').e2bService).toBe(e2bService)
  })

  test('the constructor needs no arguments and never throws', () => {
    expect(() => new E2BService()).not.toThrow()
  })

  test('executeCode defaults to python; the three entry points run their language', async () => {
    await expect(e2bService.executeCode('import sys; print(sys.version_info[0])')).resolves.toMatchObject({ stdout: '3\n' })
    await expect(e2bService.executePython('print("py")')).resolves.toMatchObject({ stdout: 'py\n' })
    await expect(e2bService.executeNode('console.log(typeof require)')).resolves.toMatchObject({ stdout: 'function\n' })
    await expect(e2bService.executeCode('echo $0', 'bash')).resolves.toMatchObject({ stdout: 'bash\n' })
  })

  test('executeWithPackages with no packages just runs the code', async () => {
    await expect(e2bService.executeWithPackages('print(2)', [])).resolves.toMatchObject({ stdout: '2\n', exitCode: 0 })
    await expect(e2bService.executeWithPackages('console.log(2)', [], 'node')).resolves.toMatchObject({ stdout: '2\n' })
  })

  test('per-call env reaches the code', async () => {
    const r = await e2bService.executePython('import os; print(os.environ["GREETING"])', { env: { GREETING: 'hé' } })
    expect(r.stdout).toBe('hé\n')
  })
})

describe('package specs are checked before anything runs, and never reach a shell', () => {
  test.each([
    ['python', 'six; rm -rf /'],
    ['python', '$(id)'],
    ['python', '../local/pkg'],
    ['python', '/abs/pkg.whl'],
    ['python', 'https://example.com/x.whl'],
    ['python', 'pkg @ https://example.com/x.whl'],
    ['python', 'git+https://github.com/a/b'],
    ['python', '-e .'],
    ['python', '--index-url=http://evil'],
    ['python', 'six==1.0 ; python_version<"3"'],
    ['node', '../x'],
    ['node', 'file:../x'],
    ['node', 'github:user/repo'],
    ['node', 'user/repo'],
    ['node', 'https://example.com/x.tgz'],
    ['node', '--registry=http://evil'],
    ['node', 'lodash; id'],
    ['node', 'npm:lodash@1'],
  ])('%s %p → ERR_INVALID_ARG naming the spec', async (language, spec) => {
    const call = e2bService.executeWithPackages('print(1)', ['six', spec], language)
    await expect(call).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' })
    await expect(call).rejects.toHaveProperty('message', expect.stringContaining(JSON.stringify(spec)))
  })
})

describe('bad input rejects with ERR_INVALID_ARG, as an Error of this realm', () => {
  test.each([
    ['non-string code', () => e2bService.executeCode(5)],
    ['undefined code', () => e2bService.executePython()],
    ['unknown language', () => e2bService.executeCode('x', 'ruby')],
    ['language with another case', () => e2bService.executeCode('x', 'Python')],
    ['bash with packages', () => e2bService.executeWithPackages('x', [], 'bash')],
    ['packages not an array', () => e2bService.executeWithPackages('x', 'numpy')],
    ['packages not strings', () => e2bService.executeWithPackages('x', [1])],
    ['options not an object', () => e2bService.executePython('x', 'fast')],
    ['negative timeout', () => e2bService.executePython('x', { timeoutMs: -1 })],
    ['fractional timeout', () => e2bService.executePython('x', { timeoutMs: 1.5 })],
    ['string timeout', () => e2bService.executePython('x', { timeoutMs: '100' })],
    ['huge timeout', () => e2bService.executePython('x', { timeoutMs: 1e12 })],
    ['env not an object', () => e2bService.executePython('x', { env: 'A=1' })],
    ['env value not a string', () => e2bService.executePython('x', { env: { A: 1 } })],
    ['env name invalid', () => e2bService.executePython('x', { env: { 'A-B': '1' } })],
    ['signal not a signal', () => e2bService.executePython('x', { signal: {} })],
    ['code with a NUL byte', () => e2bService.executePython('print(1)\0')],
    ['code over 128 KiB', () => e2bService.executePython('#'.repeat(200 * 1024))],
  ])('%s', async (_, call) => {
    const promise = call()
    await expect(promise).rejects.toBeInstanceOf(Error)
    await expect(promise).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' })
    await expect(promise).rejects.toHaveProperty('message', expect.stringMatching(/^.{20,}$/s))
  })

  test.each([
    [{ backend: 'docker' }],
    [{ timeoutMs: 0 }],
    [{ maxOutputBytes: -5 }],
    [{ interpreters: { ruby: '/usr/bin/ruby' } }],
    ['local'],
  ])('constructor options %p throw', (options) => {
    expect(() => new E2BService(options)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }))
  })
})

describe('backend selection', () => {
  const saved = { ...process.env }
  afterEach(() => {
    for (const k of ['E2B_BACKEND', 'E2B_API_KEY', 'E2B_API_URL', 'NODE_ENV']) {
      if (saved[k] === undefined) delete process.env[k]
      else process.env[k] = saved[k]
    }
  })

  test('no key in production: each call rejects with ERR_NOT_CONFIGURED and says how to choose local', async () => {
    delete process.env.E2B_API_KEY
    delete process.env.E2B_BACKEND
    process.env.NODE_ENV = 'production'
    const svc = new E2BService()
    const call = svc.executePython('print(1)')
    await expect(call).rejects.toMatchObject({ code: 'ERR_NOT_CONFIGURED' })
    await expect(call).rejects.toHaveProperty('message', expect.stringContaining('E2B_BACKEND=local'))
    process.env.E2B_BACKEND = 'local'
    await expect(new E2BService().executePython('print(1)')).resolves.toMatchObject({ backend: 'local' })
  })

  test('an API key selects the e2b backend; an unreachable API rejects clearly', async () => {
    process.env.E2B_API_KEY = 'e2b_123'
    process.env.E2B_API_URL = 'http://127.0.0.1:9'
    delete process.env.E2B_BACKEND
    const call = new E2BService().executePython('print(1)', { timeoutMs: 10000 })
    await expect(call).rejects.toMatchObject({ code: 'ERR_E2B_UNAVAILABLE' })
    await expect(call).rejects.toHaveProperty('message', expect.stringContaining('127.0.0.1:9'))
    delete process.env.E2B_API_URL
    await expect(new E2BService({ backend: 'local' }).executePython('print(1)')).resolves.toMatchObject({
      stdout: '1\n',
    })
  })

  test('the e2b backend without a key is not configured, and says how to fix it', async () => {
    delete process.env.E2B_API_KEY
    const call = new E2BService({ backend: 'e2b' }).executePython('print(1)')
    await expect(call).rejects.toMatchObject({ code: 'ERR_NOT_CONFIGURED' })
    await expect(call).rejects.toHaveProperty('message', expect.stringContaining('E2B_API_KEY'))
    expect(() => new E2BService({ backend: 'e2b', apiKey: 'e2b_1', apiUrl: 'ftp://x' })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG' }),
    )
  })

  test('a missing interpreter is reported with the fix', async () => {
    const svc = new E2BService({ backend: 'local', interpreters: { python: '/nonexistent/python3' } })
    const call = svc.executePython('print(1)')
    await expect(call).rejects.toMatchObject({ code: 'ERR_INTERPRETER_UNAVAILABLE' })
    await expect(call).rejects.toHaveProperty('message', expect.stringContaining('interpreters.python'))
  })
})
