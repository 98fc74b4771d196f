import { type ReadinessResponse, ReadinessResponse as ReadinessSchema } from '@slipway/contracts'
import { useEffect, useState } from 'react'

type Load =
  | { state: 'loading' }
  | { state: 'ready'; body: ReadinessResponse }
  | { state: 'error'; message: string }

/** The system status: what /readyz says about Postgres, Redis and each Docker host. */
export function App() {
  const [load, setLoad] = useState<Load>({ state: 'loading' })

  useEffect(() => {
    let cancelled = false
    const poll = async () => {
      try {
        const response = await fetch('/readyz')
        const body = ReadinessSchema.parse(await response.json())
        if (!cancelled) setLoad({ state: 'ready', body })
      } catch (error) {
        if (!cancelled) setLoad({ state: 'error', message: (error as Error).message })
      }
    }
    void poll()
    const timer = setInterval(poll, 5000)
    return () => {
      cancelled = true
      clearInterval(timer)
    }
  }, [])

  return (
    <main
      style={{ fontFamily: 'system-ui, sans-serif', maxWidth: 720, margin: '2rem auto', padding: '0 1rem' }}
    >
      <h1>Slipway</h1>
      <h2>System status</h2>
      {load.state === 'loading' && <p>Checking…</p>}
      {load.state === 'error' && <p role="alert">Cannot reach the API: {load.message}</p>}
      {load.state === 'ready' && (
        <table>
          <tbody>
            {load.body.checks.map((check) => (
              <tr key={check.name}>
                <td>{check.name}</td>
                <td>{check.ok ? 'up' : 'down'}</td>
                <td>{check.ok ? `${check.latencyMs} ms` : check.error}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  )
}
