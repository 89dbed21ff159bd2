import { Runner } from './runner'

export default function Home() {
  return (
    <main>
      <h1>e2b-native</h1>
      <p>
        Runs through a server action; <code>POST /api/code/execute</code> does the same over JSON.
      </p>
      <Runner />
    </main>
  )
}
