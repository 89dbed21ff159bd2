'use client'
import { useActionState } from 'react'
import { runForm, type RunState } from './actions'

export function Runner() {
  const [state, action, pending] = useActionState<RunState, FormData>(runForm, null)
  return (
    <form action={action}>
      <textarea name="code" rows={6} cols={60} defaultValue="print(6 * 7)" />
      <div>
        <select name="language" defaultValue="python">
          <option value="python">Python</option>
          <option value="node">Node.js</option>
          <option value="bash">Bash</option>
        </select>{' '}
        <button type="submit" disabled={pending}>
          Run
        </button>
      </div>
      {state && <pre>{JSON.stringify(state, null, 2)}</pre>}
    </form>
  )
}
