import { AuthStatus, type Me, Me as MeSchema } from '@slipway/contracts'
import { createContext, type ReactNode, useCallback, useContext, useEffect, useState } from 'react'
import { ApiError, api, onUnauthenticated, setCsrfToken } from '../api/client.ts'

export type SessionState =
  | { status: 'loading' }
  | { status: 'setup' }
  | { status: 'signed-out'; reason?: string }
  | { status: 'signed-in'; me: Me }
  | { status: 'error'; error: Error }

interface SessionApi {
  state: SessionState
  signIn(email: string, password: string): Promise<void>
  setup(body: { email: string; name: string; password: string }): Promise<void>
  signOut(): Promise<void>
  refresh(): Promise<void>
}

const SessionContext = createContext<SessionApi | null>(null)

export function SessionProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<SessionState>({ status: 'loading' })

  const accept = useCallback((me: Me) => {
    setCsrfToken(me.csrfToken)
    setState({ status: 'signed-in', me })
  }, [])

  const refresh = useCallback(async () => {
    try {
      const status = await api.get('/api/auth/status', AuthStatus)
      if (status.setupRequired) return setState({ status: 'setup' })
      accept(await api.get('/api/auth/me', MeSchema))
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) setState({ status: 'signed-out' })
      else setState({ status: 'error', error: error as Error })
    }
  }, [accept])

  useEffect(() => {
    onUnauthenticated(() => {
      setCsrfToken(null)
      setState({ status: 'signed-out', reason: 'Your session ended; sign in again.' })
    })
    void refresh()
  }, [refresh])

  const value: SessionApi = {
    state,
    refresh,
    async signIn(email, password) {
      accept(await api.post('/api/auth/login', { email, password }, MeSchema))
    },
    async setup(body) {
      accept(await api.post('/api/auth/setup', body, MeSchema))
    },
    async signOut() {
      // Signed out here either way; a session the server did not end expires there by itself.
      await api
        .post('/api/auth/logout', undefined, { parse: () => undefined })
        .catch((error: unknown) => console.warn('the sign-out request failed', error))
      setCsrfToken(null)
      setState({ status: 'signed-out' })
    },
  }
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>
}

export function useSession(): SessionApi {
  const session = useContext(SessionContext)
  if (!session) throw new Error('useSession outside SessionProvider')
  return session
}

/** The signed-in person (only inside the signed-in part of the app). */
export function useMe(): Me {
  const { state } = useSession()
  if (state.status !== 'signed-in') throw new Error('useMe needs a signed-in session')
  return state.me
}
