import type { ApiEnv } from './env.ts'

/** The API's security and capacity settings, from the environment (env.ts) or a test. */
export interface ApiSettings {
  /** Where people reach Slipway; https marks the session cookie Secure. */
  publicUrl: string
  /** Proxies whose X-Forwarded-* headers are believed (Fastify's `trustProxy`); [] = none. */
  trustedProxies: string[]
  /** A session ends this long after sign-in, however active. */
  sessionLifetimeMs: number
  /** A session ends after this long without a request. */
  sessionIdleMs: number
  /** Live streams (SSE) open at once in this process: per user and in total. */
  streamsPerUser: number
  streamsTotal: number
  /** How often an open live stream re-checks that its reader may still read it. */
  streamAccessCheckMs: number
}

const hour = 60 * 60 * 1000

export const defaultSettings: ApiSettings = {
  publicUrl: 'http://127.0.0.1:3000',
  trustedProxies: [],
  sessionLifetimeMs: 168 * hour,
  sessionIdleMs: 24 * hour,
  streamsPerUser: 20,
  streamsTotal: 1000,
  streamAccessCheckMs: 2000,
}

export function settingsFromEnv(env: ApiEnv): ApiSettings {
  return {
    ...defaultSettings,
    publicUrl: env.SLIPWAY_PUBLIC_URL,
    trustedProxies: env.SLIPWAY_TRUSTED_PROXIES,
    sessionLifetimeMs: env.SLIPWAY_SESSION_LIFETIME_HOURS * hour,
    sessionIdleMs: env.SLIPWAY_SESSION_IDLE_HOURS * hour,
    streamsPerUser: env.SLIPWAY_STREAMS_PER_USER,
    streamsTotal: env.SLIPWAY_STREAMS_TOTAL,
  }
}
