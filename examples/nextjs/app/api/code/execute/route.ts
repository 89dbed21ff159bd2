// POST /api/code/execute  {code, language?, packages?}  →  CodeExecutionResult
// The route of the app e2b-native replaces, unchanged but for the import.
import { NextResponse } from 'next/server'
import { e2bService, type CodeExecutionResult, type Language } from 'e2b-native'

// A native addon: the Node.js runtime, never the Edge runtime.
export const runtime = 'nodejs'

interface ExecuteBody {
  code?: unknown
  language?: Language
  packages?: string[]
}

export async function POST(request: Request) {
  let body: ExecuteBody
  try {
    body = await request.json()
  } catch {
    return NextResponse.json({ error: 'the body must be JSON: {code, language, packages?}' }, { status: 400 })
  }
  if (typeof body !== 'object' || body === null || typeof body.code !== 'string') {
    return NextResponse.json({ error: 'code is required' }, { status: 400 })
  }
  const { code, language = 'python', packages } = body

  try {
    const result: CodeExecutionResult =
      packages && packages.length > 0
        ? await e2bService.executeWithPackages(code, packages, language as 'python' | 'node')
        : await e2bService.executeCode(code, language)
    return NextResponse.json(result)
  } catch (error) {
    // Failures of the system, not of the code: a stable `code` and a message.
    const { code: errorCode, message } = error as { code?: string; message: string }
    const status = errorCode === 'ERR_INVALID_ARG' ? 400 : errorCode === 'ERR_UNSUPPORTED' ? 501 : 500
    return NextResponse.json({ error: message, code: errorCode }, { status })
  }
}
