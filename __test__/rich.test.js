'use strict'
// Rich results with the data-science environment (numpy, pandas, matplotlib,
// IPython, e2b_charts): figures as png and E2B's typed charts, DataFrames as
// html and data, display(), in sessions and in one-shot executePython.
// `dataScience: true` installs the environment on first use (from PyPI) if
// `e2b-native prepare` has not; offline (E2B_TEST_OFFLINE) without it, the
// suite says so and skips.
const { E2BService } = require('..')

jest.setTimeout(300000)

const svc = new E2BService({ backend: 'local', dataScience: true })
let session
let unavailable

beforeAll(async () => {
  try {
    session = await svc.createSession()
    const probe = await session.runCode('import matplotlib, pandas, IPython')
    if (probe.error) throw new Error(`${probe.error.name}: ${probe.error.value}`)
  } catch (error) {
    if (!process.env.E2B_TEST_OFFLINE) throw error
    unavailable = `the data-science environment could not be had offline (${error.message}): run node bin/e2b-native.js prepare`
  }
})
afterAll(() => svc.close())

/** Runs `code` in the session; fails the test on an error. */
async function run(code, options) {
  const execution = await session.runCode(code, options)
  expect(execution.error).toBeUndefined()
  return execution
}

/** The one chart `code` shows with plt.show(), after a fresh figure. */
async function chartOf(code) {
  const execution = await run(`import matplotlib.pyplot as plt\nimport numpy as np\nplt.close('all')\n${code}\nplt.show()`)
  const figures = execution.results.filter((r) => r.png)
  expect(figures).toHaveLength(1)
  expect(figures[0].chart).toBeDefined()
  return figures[0].chart
}

const skip = () => {
  if (unavailable) console.warn(`skipped: ${unavailable}`)
  return Boolean(unavailable)
}

describe('sessions', () => {
  test('plt.show() gives a png result with a line chart: elements, labels, scales', async () => {
    if (skip()) return
    const chart = await chartOf(
      "x = np.arange(5)\nplt.plot(x, x ** 2, label='square')\nplt.plot(x, x, label='same')\nplt.xlabel('Time (s)')\nplt.ylabel('Size (m)')\nplt.title('Growth')",
    )
    expect(chart).toMatchObject({ type: 'line', title: 'Growth', x_label: 'Time (s)', y_label: 'Size (m)', x_unit: 's', y_unit: 'm' })
    expect(chart).toMatchObject({ x_scale: 'linear', y_scale: 'linear' })
    expect(chart.elements.map((e) => e.label)).toEqual(['square', 'same'])
    expect(chart.elements[0].points).toEqual([[0, 0], [1, 1], [2, 4], [3, 9], [4, 16]])
  })

  test('bar, scatter, pie and box-and-whisker charts', async () => {
    if (skip()) return
    const bar = await chartOf("plt.bar(['north', 'south'], [12, 7], label='units')\nplt.title('Sales')")
    expect(bar).toMatchObject({ type: 'bar', title: 'Sales' })
    expect(bar.elements.map((b) => [b.label, b.value, b.group])).toEqual([
      ['north', 12, 'units'],
      ['south', 7, 'units'],
    ])
    const scatter = await chartOf("plt.scatter([1, 2, 3], [4, 5, 6], label='dots')\nplt.xlabel('u')")
    expect(scatter).toMatchObject({ type: 'scatter', x_label: 'u' })
    expect(scatter.elements[0]).toMatchObject({ label: 'dots', points: [[1, 4], [2, 5], [3, 6]] })
    const pie = await chartOf("plt.pie([75, 25], labels=['yes', 'no'], startangle=90)\nplt.title('Votes')")
    expect(pie).toMatchObject({ type: 'pie', title: 'Votes' })
    expect(pie.elements.map((s) => [s.label, s.angle])).toEqual([
      ['yes', 270],
      ['no', 90],
    ])
    // Boxes drawn as patches, as E2B's chart extractor reads them.
    const box = await chartOf(
      "fig, ax = plt.subplots()\nax.boxplot([[3, 5, 6, 7, 9], [10, 12, 14, 16, 19, 40]], tick_labels=['low', 'high'], patch_artist=True)\nax.set_title('Spread')",
    )
    expect(box).toMatchObject({ type: 'box_and_whisker', title: 'Spread' })
    expect(box.elements[0]).toMatchObject({ label: 'low', min: 3, first_quartile: 5, median: 6, third_quartile: 7, max: 9 })
    expect(box.elements[1].outliers).toEqual([40])
  })

  test('several axes make a superchart, and a log scale is named', async () => {
    if (skip()) return
    const chart = await chartOf(
      "fig, (a, b) = plt.subplots(1, 2)\nfig.suptitle('Both')\na.plot([0, 1, 2], [2, 1, 0])\na.set_title('Down')\nb.plot([1, 2, 3], [10, 100, 1000])\nb.set_yscale('log')\nb.set_title('Up')",
    )
    expect(chart).toMatchObject({ type: 'superchart', title: 'Both' })
    expect(chart.elements.map((c) => [c.type, c.title])).toEqual([
      ['line', 'Down'],
      ['line', 'Up'],
    ])
    expect(chart.elements[1].y_scale).toBe('log')
  })

  test('a DataFrame as the last expression gives html and data; display() gives results; isMainResult', async () => {
    if (skip()) return
    const seen = []
    const execution = await run(
      "import pandas as pd\nfrom IPython.display import display, Markdown\ndf = pd.DataFrame({'city': ['Oslo', 'Rome'], 'temp': [3, 18]})\ndisplay(Markdown('**hot**'))\ndf",
      { onResult: (r) => seen.push(r) },
    )
    expect(execution.results).toHaveLength(2)
    const [shown, main] = execution.results
    expect(shown).toMatchObject({ markdown: '**hot**', isMainResult: false })
    expect(main.isMainResult).toBe(true)
    expect(main.html).toContain('<table')
    expect(main.data).toEqual({ city: ['Oslo', 'Rome'], temp: [3, 18] })
    expect(main.formats()).toEqual(expect.arrayContaining(['text', 'html', 'data']))
    expect(execution.text).toBe(main.text)
    expect(seen.map((r) => r.isMainResult)).toEqual([false, true])
  })

  test('state and figures persist across runs: a figure drawn in one run is shown in the next', async () => {
    if (skip()) return
    await run("import matplotlib.pyplot as plt\nplt.close('all')\nfig, ax = plt.subplots()\nax.plot([1, 2], [3, 4])\nax.set_title('Later')")
    const execution = await run('fig')
    const main = execution.results.find((r) => r.isMainResult)
    expect(main.png).toMatch(/^iVBOR/)
    expect(main.chart).toMatchObject({ type: 'line', title: 'Later' })
  })
})

describe('one-shot executePython', () => {
  test('a figure shown with plt.show() is in results, and nothing else of the result changes', async () => {
    if (skip()) return
    const r = await svc.executePython(
      "import matplotlib.pyplot as plt\nplt.bar(['a', 'b'], [1, 2])\nplt.title('One shot')\nplt.show()\nprint('done')",
    )
    expect(r).toMatchObject({ stdout: 'done\n', exitCode: 0, timedOut: false, backend: 'local' })
    expect(r.results).toHaveLength(1)
    expect(r.results[0].png).toMatch(/^iVBOR/)
    expect(r.results[0].chart).toMatchObject({ type: 'bar', title: 'One shot' })
    expect(r.results[0].isMainResult).toBe(false)
    expect(r.files).toBeUndefined()
  })

  test('without a figure there is no results field; readFiles are as before', async () => {
    if (skip()) return
    const r = await svc.executePython("open('out.txt', 'w').write('x')\nprint(1)", { readFiles: ['out.txt'] })
    expect(r).not.toHaveProperty('results')
    expect(Object.keys(r.files)).toEqual(['out.txt'])
    expect(r.files['out.txt'].toString()).toBe('x')
  })

  test('a call that sets MPLBACKEND keeps it (no results)', async () => {
    if (skip()) return
    const r = await svc.executePython("import matplotlib\nprint(matplotlib.get_backend())\nimport matplotlib.pyplot as plt\nplt.plot([1])\nplt.show()", {
      env: { MPLBACKEND: 'agg' },
    })
    expect(r.stdout).toBe('agg\n')
    expect(r).not.toHaveProperty('results')
  })
})
