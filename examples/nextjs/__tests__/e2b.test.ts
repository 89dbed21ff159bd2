// The app's own tests: e2b-native imported by its package name, as app code does.
import { e2bService, E2BService, type CodeExecutionResult } from 'e2b-native'
import { POST } from '../app/api/code/execute/route'
import { runCode } from '../app/actions'

test('the shared service runs Python', async () => {
  const result: CodeExecutionResult = await e2bService.executePython('print(1)')
  expect(result).toMatchObject({ stdout: '1\n', stderr: '', exitCode: 0 })
})

test('a service of its own runs Node.js and Bash', async () => {
  const service = new E2BService({ timeoutMs: 10_000 })
  try {
    expect(await service.executeNode('console.log(2 + 2)')).toMatchObject({ stdout: '4\n', exitCode: 0 })
    expect(await service.executeCode('echo "$((6 * 7))"; exit 3', 'bash')).toMatchObject({ stdout: '42\n', exitCode: 3 })
  } finally {
    await service.close()
  }
})

test('the route handler answers with the CodeExecutionResult', async () => {
  const request = new Request('http://localhost/api/code/execute', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code: '1 / 0', language: 'python' }),
  })
  const response = await POST(request)
  expect(response.status).toBe(200)
  const result = await response.json()
  expect(result).toMatchObject({ exitCode: 1, error: 'ZeroDivisionError' })
  expect(result.stderr).toContain('ZeroDivisionError')
})

test('the server action runs code', async () => {
  expect(await runCode('print("from an action")')).toMatchObject({ stdout: 'from an action\n', exitCode: 0 })
})
