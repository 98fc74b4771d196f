import { createLogger } from '@slipway/core'
import { integrationTest as test } from '@slipway/testing'
import { describe, expect } from 'vitest'
import { type Entry, StreamHub, type Subscription } from './hub.ts'

const logger = createLogger({ name: 'hub-test', level: 'silent' })

/** Reads until `count` entries came (the test's timeout bounds it). */
async function take(subscription: Subscription, count: number): Promise<string[]> {
  const seen: Entry[] = []
  while (seen.length < count && !subscription.closed) seen.push(...(await subscription.next(500)))
  return seen.map((entry) => entry[1][1] ?? '')
}

describe('the live stream hub', () => {
  test('readers at different positions each get every entry after theirs, once, in order', async ({
    redis,
    redisPrefix,
  }) => {
    const hub = new StreamHub(redis, logger, `${redisPrefix}:live`)
    const key = `${redisPrefix}:logs:s1`
    try {
      for (let seq = 1; seq <= 5; seq++) await redis.xadd(key, `0-${seq}`, 'l', `line ${seq}`)
      const fromStart = await hub.subscribe(key, '0-0')
      const fromThree = await hub.subscribe(key, '0-3')
      const fromNow = await hub.subscribe(key, '$')
      for (let seq = 6; seq <= 8; seq++) await redis.xadd(key, `0-${seq}`, 'l', `line ${seq}`)
      expect(await take(fromStart, 8)).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((n) => `line ${n}`))
      expect(await take(fromThree, 5)).toEqual([4, 5, 6, 7, 8].map((n) => `line ${n}`))
      expect(await take(fromNow, 3)).toEqual([6, 7, 8].map((n) => `line ${n}`))
      // A reader joining after the hub has moved on catches up from where it asks.
      const late = await hub.subscribe(key, '0-7')
      await redis.xadd(key, '0-9', 'l', 'line 9')
      expect(await take(late, 2)).toEqual(['line 8', 'line 9'])
      expect(await take(fromStart, 1)).toEqual(['line 9'])
    } finally {
      await hub.close()
    }
  })

  test('a reader whose catch-up is read while the hub reads newer entries gets them all once, in order', async ({
    redis,
    redisPrefix,
  }) => {
    const key = `${redisPrefix}:logs:s2`
    // The catch-up read (XRANGE) answers late: meanwhile two newer entries are added and the
    // hub's loop, on its own connection, reads them and hands them to the reader first.
    const commands = redis.duplicate()
    const xrange = commands.xrange.bind(commands) as (...args: unknown[]) => Promise<Entry[]>
    commands.xrange = (async (...args: unknown[]) => {
      const entries = await xrange(...args)
      for (let seq = 6; seq <= 7; seq++) await redis.xadd(key, `0-${seq}`, 'l', `line ${seq}`)
      await new Promise((resolve) => setTimeout(resolve, 1500))
      return entries
    }) as unknown as typeof commands.xrange
    const hub = new StreamHub(commands, logger, `${redisPrefix}:live`)
    try {
      for (let seq = 1; seq <= 5; seq++) await redis.xadd(key, `0-${seq}`, 'l', `line ${seq}`)
      const first = await hub.subscribe(key, '$')
      const late = await hub.subscribe(key, '0-2')
      expect(await take(late, 5)).toEqual([3, 4, 5, 6, 7].map((n) => `line ${n}`))
      expect(await take(first, 2)).toEqual(['line 6', 'line 7'])
    } finally {
      await hub.close()
      commands.disconnect()
    }
  })

  test('close ends every reader', async ({ redis, redisPrefix }) => {
    const hub = new StreamHub(redis, logger, `${redisPrefix}:live`)
    const reader = await hub.subscribe(`${redisPrefix}:events:p1`, '$')
    const waiting = reader.next(60_000)
    await hub.close()
    expect(await waiting).toEqual([])
    expect(reader.closed).toBe(true)
  })
})
