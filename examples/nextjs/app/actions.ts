'use server'
// Server actions: the same service, called from a form instead of a route.
import { e2bService, type CodeExecutionResult, type Language } from 'e2b-native'

export async function runCode(code: string, language: Language = 'python'): Promise<CodeExecutionResult> {
  return e2bService.executeCode(code, language)
}

export type RunState = CodeExecutionResult | { failure: string } | null

/** For `useActionState`: reads the form, runs the code, never throws. */
export async function runForm(_previous: RunState, form: FormData): Promise<RunState> {
  const language = String(form.get('language') ?? 'python') as Language
  try {
    return await runCode(String(form.get('code') ?? ''), language)
  } catch (error) {
    return { failure: (error as Error).message }
  }
}
