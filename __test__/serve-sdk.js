'use strict'
// Runs one scenario of the official E2B SDK (@e2b/code-interpreter) against
// `e2b-native serve`, in a plain Node process as users run it (Jest cannot
// load the SDK: it requires an ES-only package), configured only through
// E2B_API_URL, E2B_SANDBOX_URL, E2B_API_KEY and E2B_DEBUG. Prints what it saw
// as one JSON object; serve.test.js asserts on it.
//
//   node __test__/serve-sdk.js <scenario>

const sdk = require('@e2b/code-interpreter')
const { Sandbox } = sdk

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** The SDK's error class name and message, or the value. */
async function outcome(promise) {
  try {
    return { ok: await promise }
  } catch (error) {
    return { error: error.constructor.name, message: String(error.message), exitCode: error.exitCode, stderr: error.stderr }
  }
}

async function until(probe, ms = 20000) {
  const end = Date.now() + ms
  let value = await probe()
  while (!value && Date.now() < end) {
    await sleep(100)
    value = await probe()
  }
  return value
}

const scenarios = {
  async basics() {
    const seen = {}
    const sbx = await Sandbox.create({ metadata: { suite: 'serve-basics', owner: 'jest' } })
    seen.id = sbx.sandboxId
    const info = await sbx.getInfo()
    seen.info = { metadata: info.metadata, state: info.state, envdVersion: info.envdVersion }

    // Python: state across calls, output, the last expression, an exception.
    await sbx.runCode('x = 40\nnames = ["a"]')
    const r = await sbx.runCode('print("hello", flush=True)\nnames.append("b")\nx + 2')
    seen.python = { text: r.text, stdout: r.logs.stdout.join(''), error: r.error, count: r.executionCount }
    const s = await sbx.runCode("'-'.join(names)")
    seen.pythonString = s.text
    const e = await sbx.runCode('def f():\n    return 1 / 0\nf()')
    seen.pythonError = { name: e.error && e.error.name, value: e.error && e.error.value, traceback: e.error && e.error.traceback }
    seen.afterError = (await sbx.runCode('x')).text
    const stderr = await sbx.runCode('import sys\nsys.stderr.write("warn\\n")\nNone')
    seen.pythonStderr = { stderr: stderr.logs.stderr.join(''), results: stderr.results.length }

    // JavaScript, in its own persistent context.
    await sbx.runCode('const items = [1, 2, 3]; globalThis.total = 10', { language: 'javascript' })
    const js = await sbx.runCode('console.log("js says hi"); items.length + total', { language: 'js' })
    seen.javascript = { text: js.text, stdout: js.logs.stdout.join('') }
    const jsError = await sbx.runCode('undefinedThing.x', { language: 'javascript' })
    seen.javascriptError = jsError.error && jsError.error.name
    const ctx = await sbx.createCodeContext({ language: 'python' })
    await sbx.runCode('x = "other"', { context: ctx })
    seen.contexts = {
      own: (await sbx.runCode('x', { context: ctx })).text,
      default: (await sbx.runCode('x')).text,
      listed: (await sbx.listCodeContexts()).some((c) => c.id === ctx.id),
    }

    // Commands: output, exit codes, the sandbox user and home.
    const ok = await sbx.commands.run('echo out; echo err >&2; whoami; pwd')
    seen.command = { exitCode: ok.exitCode, stdout: ok.stdout, stderr: ok.stderr }
    seen.failing = await outcome(sbx.commands.run('echo oops >&2; exit 3'))
    seen.envs = (await sbx.commands.run('echo $GREETING', { envs: { GREETING: 'hi there' } })).stdout

    // Files, shared with commands and code.
    await sbx.files.write('/home/user/data/note.txt', 'written by files.write\n')
    seen.read = await sbx.files.read('/home/user/data/note.txt')
    seen.cat = (await sbx.commands.run('cat data/note.txt')).stdout
    seen.fromPython = (await sbx.runCode('open("data/note.txt").read().strip()')).text
    await sbx.commands.run('echo from bash > made.txt')
    seen.readBack = await sbx.files.read('made.txt')
    seen.missing = await outcome(sbx.files.read('/home/user/nope.txt'))
    seen.exists = [await sbx.files.exists('/home/user/made.txt'), await sbx.files.exists('/home/user/nope.txt')]

    // Listing by metadata, timeout, kill.
    const page = await Sandbox.list({ query: { metadata: { suite: 'serve-basics' } } }).nextItems()
    seen.listed = page.map((p) => p.sandboxId)
    const other = await Sandbox.list({ query: { metadata: { suite: 'no-such-suite' } } }).nextItems()
    seen.listedOther = other.length
    await sbx.setTimeout(120000)
    seen.endAfterSetTimeout = (await sbx.getInfo()).endAt.getTime() - Date.now()
    seen.killed = await sbx.kill()
    seen.runningAfterKill = await sbx.isRunning()
    seen.killedAgain = await Sandbox.kill(sbx.sandboxId)
    return seen
  },

  async commandTimeout() {
    const sbx = await Sandbox.create()
    const timedOut = await outcome(sbx.commands.run('sleep 30', { timeoutMs: 1000 }))
    const gone = await until(async () => (await sbx.commands.list()).length === 0)
    const background = await sbx.commands.run('sleep 30', { background: true })
    const killed = await sbx.commands.kill(background.pid)
    const waited = await outcome(background.wait())
    const after = (await sbx.runCode('1 + 1')).text
    await sbx.kill()
    return { timedOut, gone, killed, waited, after }
  },

  async ttl() {
    const short = await Sandbox.create({ timeoutMs: 2000 })
    const extended = await Sandbox.create({ timeoutMs: 2000 })
    await extended.setTimeout(60000)
    const expired = await until(async () => !(await short.isRunning()))
    const listed = (await Sandbox.list().nextItems()).map((s) => s.sandboxId)
    const result = {
      expired,
      shortListed: listed.includes(short.sandboxId),
      extendedRunning: await extended.isRunning(),
      extendedWorks: (await extended.commands.run('echo alive')).stdout,
      afterExpiry: await outcome(short.runCode('1')),
      infoAfterExpiry: await outcome(Sandbox.getInfo(short.sandboxId)),
    }
    await extended.kill()
    return result
  },

  async disconnect() {
    const sbx = await Sandbox.create()
    const code = 'import time\nn = 0\nfor i in range(400):\n    n += 1\n    time.sleep(0.05)\nfinished = True'
    const aborted = await outcome(sbx.runCode(code, { timeoutMs: 1000 }))
    const first = (await sbx.runCode('n')).text
    await sleep(500)
    const second = (await sbx.runCode('n')).text
    const finished = (await sbx.runCode('"finished" in globals()')).text
    const js = await outcome(sbx.runCode('let spins = 0; while (true) { spins++ }', { language: 'javascript', timeoutMs: 1000 }))
    const jsAfter = (await sbx.runCode('spins > 0', { language: 'javascript' })).text
    await sbx.kill()
    return { aborted, first, second, finished, js, jsAfter }
  },

  async many() {
    const sandboxes = await Promise.all(
      Array.from({ length: 10 }, (_, i) => Sandbox.create({ metadata: { suite: 'serve-many', index: String(i) } })),
    )
    const values = await Promise.all(sandboxes.map((s, i) => s.runCode(`secret = ${i}\nsecret * 10`)))
    await Promise.all(sandboxes.map((s, i) => s.files.write(`/home/user/mine-${i}.txt`, String(i))))
    const homes = await Promise.all(sandboxes.map((s) => s.commands.run('ls "$HOME"')))
    const pids = await Promise.all(sandboxes.map((s) => s.commands.run('ls /proc | grep -E "^[0-9]+$" | wc -l')))
    const listed = []
    const paginator = Sandbox.list({ query: { metadata: { suite: 'serve-many' } }, limit: 4 })
    let pages = 0
    while (paginator.hasNext) {
      listed.push(...(await paginator.nextItems()).map((s) => s.sandboxId))
      pages += 1
    }
    const killed = await Promise.all(sandboxes.map((s) => s.kill()))
    return {
      ids: sandboxes.map((s) => s.sandboxId),
      values: values.map((v) => v.text),
      homes: homes.map((h) => h.stdout.trim()),
      processCounts: pids.map((p) => Number(p.stdout.trim())),
      listed,
      pages,
      killed,
    }
  },

  async errors() {
    const wrongKey = { apiKey: 'e2b_0000000000000000000000000000000000000000' }
    const unknown = 'iaaaaaaaaaaaaaaaaaaaa'
    const sbx = await Sandbox.create()
    await sbx.kill()
    const victim = await Sandbox.create()
    // Killed once the code runs (the kernel has started and printed).
    let started
    const printed = new Promise((resolve) => (started = resolve))
    const code = "import time\nprint('started', flush=True)\ntime.sleep(30)"
    const running = outcome(victim.runCode(code, { timeoutMs: 0, onStdout: started }))
    await printed
    await Sandbox.kill(victim.sandboxId)
    return {
      killedMidRun: await running,
      createWrongKey: await outcome(Sandbox.create(wrongKey)),
      listWrongKey: await outcome(Sandbox.list(wrongKey).nextItems()),
      connectUnknown: await outcome(Sandbox.connect(unknown)),
      infoUnknown: await outcome(Sandbox.getInfo(unknown)),
      setTimeoutUnknown: await outcome(Sandbox.setTimeout(unknown, 10000)),
      killUnknown: await Sandbox.kill(unknown),
      runCodeKilled: await outcome(sbx.runCode('1')),
      commandKilled: await outcome(sbx.commands.run('true')),
      classes: {
        AuthenticationError: typeof sdk.AuthenticationError,
        SandboxNotFoundError: typeof sdk.SandboxNotFoundError,
      },
    }
  },

  async limits() {
    const opts = { timeoutMs: 30000 }
    const first = await Sandbox.create(opts)
    const second = await Sandbox.create(opts)
    const third = await outcome(Sandbox.create(opts))
    await first.kill()
    const again = await Sandbox.create(opts)
    const tooLong = await outcome(Sandbox.create({ timeoutMs: 3600 * 1000 * 24 }))
    await Promise.all([second.kill(), again.kill()])
    return { third, again: again.sandboxId.length, tooLong }
  },

  async debug() {
    const sbx = await Sandbox.create()
    await sbx.runCode('counter = 1')
    const python = await sbx.runCode('counter += 1\nprint("debug mode")\ncounter')
    const javascript = await sbx.runCode('[1, 2].map((n) => n * 2)', { language: 'javascript' })
    const command = await sbx.commands.run('echo from debug; echo to stderr >&2')
    const failing = await outcome(sbx.commands.run('exit 7'))
    return {
      id: sbx.sandboxId,
      python: { text: python.text, stdout: python.logs.stdout.join('') },
      javascript: javascript.text,
      command: { exitCode: command.exitCode, stdout: command.stdout, stderr: command.stderr },
      failing,
      killed: await sbx.kill(),
    }
  },

  async sandboxLimits() {
    const sbx = await Sandbox.create()
    const openFiles = (await sbx.commands.run('ulimit -n')).stdout.trim()
    const allocation = await sbx.runCode('block = bytearray(200 * 1024 * 1024)\nprint("allocated")')
    await sbx.kill()
    return { openFiles, memory: allocation.logs.stdout.join('').trim() || (allocation.error && allocation.error.name) }
  },

  // What works in every tier (namespaces or not): relative paths, E2B's
  // /home/user in the files API, state, commands.
  async portable() {
    const sbx = await Sandbox.create()
    await sbx.runCode('x = 41')
    const python = (await sbx.runCode('x + 1')).text
    const javascript = (await sbx.runCode('[1, 2].length', { language: 'javascript' })).text
    await sbx.files.write('/home/user/note.txt', 'written\n')
    const cat = await sbx.commands.run('cat note.txt; echo $GREETING', { envs: { GREETING: 'hi' } })
    await sbx.commands.run('echo from bash > made.txt')
    const read = await sbx.files.read('made.txt')
    const failing = await outcome(sbx.commands.run('exit 3'))
    await sbx.kill()
    return { python, javascript, cat: { stdout: cat.stdout, stderr: cat.stderr }, read, failing: failing.exitCode }
  },

  async languages() {
    const sbx = await Sandbox.create({ envs: { TEST_ENV_VAR: 'supertest' } })
    const seen = {}
    const stdout = (execution) => execution.logs.stdout
    const text = (execution) => execution.text

    // TypeScript, ESM imports and top-level await on the JavaScript kernel.
    seen.ts = stdout(await sbx.runCode('const message: string = "Hello World!"; console.log(message)', { language: 'ts' }))
    seen.tsTypes = text(
      await sbx.runCode('interface P { x: number }\nenum E { A, B }\nconst p: P = { x: 2 };\n[p.x, E.B]', { language: 'typescript' }),
    )
    seen.esm = stdout(await sbx.runCode("\n    import { readFileSync } from 'fs'\n    console.log(typeof readFileSync)\n    ", { language: 'js' }))
    seen.await = text(await sbx.runCode("\n    await Promise.resolve('Hello World!')\n    ", { language: 'js' }))
    await sbx.runCode('const items = [1, 2]', { language: 'js' })
    seen.redeclared = text(await sbx.runCode('const items = [3]; items', { language: 'js' }))
    const syntax = await sbx.runCode('const = 1', { language: 'js' })
    seen.syntaxError = syntax.error && { name: syntax.error.name, value: syntax.error.value }

    // Bash: state, cwd, a failing status.
    await sbx.runCode('x=5; greet() { echo "hi $1"; }; cd /tmp', { language: 'bash' })
    seen.bash = stdout(await sbx.runCode('greet $x; pwd', { language: 'bash' }))
    const failed = await sbx.runCode('false', { language: 'bash' })
    seen.bashError = failed.error && { name: failed.error.name, value: failed.error.value }

    // Env vars: the sandbox's in every language; per execution, then gone.
    seen.sandboxEnv = [
      text(await sbx.runCode('import os; os.getenv("TEST_ENV_VAR")')),
      text(await sbx.runCode('process.env.TEST_ENV_VAR', { language: 'js' })),
      stdout(await sbx.runCode('echo $TEST_ENV_VAR', { language: 'bash' })).join(''),
    ]
    const envs = { FOO: 'bar', TEST_ENV_VAR: 'overwrite' }
    seen.perExecution = [
      text(await sbx.runCode('import os; os.getenv("FOO") + os.getenv("TEST_ENV_VAR")', { envs })),
      text(await sbx.runCode('process.env.FOO + process.env.TEST_ENV_VAR', { language: 'js', envs })),
      text(await sbx.runCode('process.env.FOO + process.env.TEST_ENV_VAR', { language: 'ts', envs })),
      stdout(await sbx.runCode('echo $FOO$TEST_ENV_VAR', { language: 'bash', envs })).join(''),
    ]
    seen.afterwards = [
      text(await sbx.runCode("import os; os.getenv('FOO', 'default') + os.getenv('TEST_ENV_VAR')")),
      text(await sbx.runCode("(process.env.FOO || 'default') + process.env.TEST_ENV_VAR", { language: 'js' })),
      stdout(await sbx.runCode('echo ${FOO:-default}$TEST_ENV_VAR', { language: 'bash' })).join(''),
    ]

    // Contexts created with a cwd start there, in every language.
    const cwds = {}
    for (const [language, code] of [
      ['python', 'import os; os.getcwd()'],
      ['javascript', 'process.cwd()'],
      ['typescript', 'process.cwd() as string'],
      ['bash', 'pwd'],
    ]) {
      const context = await sbx.createCodeContext({ language, cwd: '/tmp' })
      const execution = await sbx.runCode(code, { context })
      cwds[language] = { context: context.cwd, language: context.language, seen: execution.text || stdout(execution).join('').trim() }
    }
    seen.cwds = cwds
    seen.listed = (await sbx.listCodeContexts()).map((c) => c.language).sort()

    // Callbacks, as each event arrives.
    const calls = { results: [], stdout: [], stderr: [], errors: [] }
    const callbacks = {
      onResult: (r) => calls.results.push(r.text),
      onStdout: (m) => calls.stdout.push(m.line),
      onStderr: (m) => calls.stderr.push(m.line),
      onError: (e) => calls.errors.push(e.name),
    }
    await sbx.runCode('import sys\nprint("out")\nprint("err", file=sys.stderr)\n7', callbacks)
    await sbx.runCode('xyz', callbacks)
    await sbx.runCode('console.log("js"); 8', { language: 'js', ...callbacks })
    seen.callbacks = calls
    const fresh = await sbx.createCodeContext({ language: 'bash' })
    await sbx.runCode('true', { context: fresh })
    seen.executionCount = (await sbx.runCode('true', { context: fresh })).executionCount
    await sbx.kill()
    return seen
  },

  /** Rich results: run against a server whose sandboxes' Python has the
   * data-science environment. */
  async richResults() {
    const sbx = await Sandbox.create()
    const seen = {}
    const plot = 'import matplotlib.pyplot as plt\nimport numpy as np\nx = np.linspace(0, 20, 100)\nplt.plot(x, np.sin(x))\nplt.show()'
    const shown = await sbx.runCode(plot)
    const image = shown.results[0]
    seen.display = { png: image && image.png.slice(0, 5), text: image && image.text, extra: image && image.extra, main: image && image.isMainResult }
    const streamed = []
    await sbx.runCode(`${plot}\nlen(x)`, { onResult: (r) => streamed.push({ main: r.isMainResult, formats: r.formats(), chart: Boolean(r.chart), text: r.text }) })
    seen.streamed = streamed
    const bars = await sbx.runCode(
      "import matplotlib.pyplot as plt\nplt.bar(['a', 'b', 'c'], [3, 1, 2], label='n')\nplt.title('Counts')\nplt.xlabel('letter')\nplt.show()",
    )
    const chart = bars.results[0].chart
    seen.chart = chart && { type: chart.type, title: chart.title, xLabel: chart.x_label, elements: chart.elements }
    const frame = await sbx.runCode('import pandas as pd\npd.DataFrame({"a": [1, 2, 3]})')
    seen.data = { data: frame.results[0].data, html: /<table/.test(frame.results[0].html || '') }
    seen.shell = (await sbx.runCode('!pwd')).logs.stdout.join('')
    seen.latex = (await sbx.runCode("from IPython.display import display\ndisplay({'text/latex': r'\\alpha'}, raw=True)")).results[0].formats()
    await sbx.kill()
    return seen
  },

  async cli() {
    const sbx = await Sandbox.create()
    const code = await sbx.runCode('6 * 7')
    const command = await sbx.commands.run('echo cli')
    await sbx.kill()
    return { text: code.text, stdout: command.stdout }
  },
}

const name = process.argv[2]
if (!scenarios[name]) {
  process.stderr.write(`unknown scenario ${name}\n`)
  process.exit(2)
}
scenarios[name]().then(
  (seen) => {
    process.stdout.write(JSON.stringify(seen))
    process.exit(0)
  },
  (error) => {
    process.stderr.write(`${error && error.stack}\n`)
    process.exit(1)
  },
)
