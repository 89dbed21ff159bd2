'use strict'
// The data-science environment (numpy, pandas, matplotlib, IPython, …): installed
// once per host (`npx e2b-native prepare`, or the first call of a service with
// `dataScience: true`), then shown read-only to Python sandboxes.
const { E2BService } = require('..')

const IMPORTS = 'import numpy, pandas, matplotlib, IPython\nprint(numpy.arange(4).sum(), pandas.__name__)'

test('dataScience is checked: "auto", true or false', () => {
  for (const bad of ['yes', 'true', 1, {}]) {
    let error
    try {
      new E2BService({ backend: 'local', dataScience: bad })
    } catch (e) {
      error = e
    }
    expect(error).toMatchObject({ code: 'ERR_INVALID_ARG', message: expect.stringMatching(/dataScience/) })
  }
})

describe('with the environment', () => {
  const svc = new E2BService({ backend: 'local', dataScience: true })
  let offline = false // offline, and not prepared for this user: nothing to install it from
  beforeAll(async () => {
    if (!process.env.E2B_TEST_OFFLINE) return
    const probe = new E2BService({ backend: 'local' })
    offline = (await probe.executePython('import numpy')).exitCode !== 0
    await probe.close()
    if (offline) console.log('skipped: E2B_TEST_OFFLINE and no data-science environment prepared for this user')
  })
  afterAll(() => svc.close())

  test('one-shot Python has numpy, pandas, matplotlib and IPython without an install', async () => {
    if (offline) return
    const r = await svc.executePython(IMPORTS, { timeoutMs: 600000 })
    expect(r).toMatchObject({ stdout: '6 pandas\n', exitCode: 0 })
  }, 600000)

  test('it is read-only to the code', async () => {
    if (offline) return
    const r = await svc.executePython(
      'import numpy, os\nd = os.path.dirname(numpy.__file__)\ntry:\n    open(os.path.join(d, "x"), "w")\nexcept OSError as e:\n    print(type(e).__name__)',
    )
    expect(r.stdout).toMatch(/^(PermissionError|OSError)\n$/)
  })

  test('an installed environment serves a service on "auto" too', async () => {
    if (offline) return
    const auto = new E2BService({ backend: 'local' })
    try {
      expect((await auto.executePython(IMPORTS)).stdout).toBe('6 pandas\n')
    } finally {
      await auto.close()
    }
  })
})

test('dataScience: false keeps Python bare', async () => {
  const bare = new E2BService({ backend: 'local', dataScience: false })
  try {
    const r = await bare.executePython('import numpy')
    expect(r).toMatchObject({ exitCode: 1, error: 'ModuleNotFoundError' })
  } finally {
    await bare.close()
  }
})

test('E2B_NATIVE_DATA_SCIENCE is checked too', () => {
  const before = process.env.E2B_NATIVE_DATA_SCIENCE
  process.env.E2B_NATIVE_DATA_SCIENCE = 'sometimes'
  try {
    expect(() => new E2BService({ backend: 'local' })).toThrow(/E2B_NATIVE_DATA_SCIENCE must be/)
  } finally {
    if (before === undefined) delete process.env.E2B_NATIVE_DATA_SCIENCE
    else process.env.E2B_NATIVE_DATA_SCIENCE = before
  }
})
