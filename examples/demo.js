'use strict'
// `npm run demo`: one Python, one Node.js and one Bash program, each in a fresh
// local sandbox, then a failing one, one that runs out of time, and one that
// needs a package from PyPI (installed in a sandbox, cached for the next call).
const { E2BService } = require('..')

async function main() {
  const svc = new E2BService({ backend: 'local' })
  const runs = [
    ['python', 'import platform, sys\nprint(f"Python {platform.python_version()} says hi")\nprint(sum(range(10)))'],
    ['node', 'console.log(`Node.js ${process.version} says hi`); console.log([1, 2, 3].map((x) => x * 2))'],
    ['bash', 'echo "Bash $BASH_VERSION says hi, as $(whoami) in $PWD"'],
    ['python', 'print("about to divide")\n1 / 0'],
    ['bash', 'echo "sleeping forever"; sleep 1000'],
  ]
  for (const [language, code] of runs) {
    const options = code.includes('sleep 1000') ? { timeoutMs: 1000 } : undefined
    const result = await svc.executeCode(code, language, options)
    console.log(`--- ${language}: ${code.split('\n').pop()}`)
    console.log(JSON.stringify(result, null, 2))
  }
  for (const round of ['first call: installs', 'second call: from the cache']) {
    const result = await svc.executeWithPackages('import six\nprint("six", six.__version__)', ['six==1.16.0'])
    console.log(`--- python with six==1.16.0 (${round})`)
    console.log(JSON.stringify(result, null, 2))
  }
  await svc.close()
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
