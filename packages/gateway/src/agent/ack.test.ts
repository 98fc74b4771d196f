import { integrationTest as test } from '@slipway/testing'
import { describe, expect } from 'vitest'
import { ackChannel, type GatewayAck, readAck, writeAck } from './ack.ts'

const ack = (agentId: string, generation: number, drained: number): GatewayAck => ({
  project: 'demo',
  environment: 'pre-release',
  listenPort: 8080,
  version: 'v3',
  instances: [{ id: 'three', host: 'pre-1', address: '127.0.0.1', port: 3003 }],
  failStatic: false,
  appliedAt: new Date().toISOString(),
  agentId,
  generation,
  drained,
})

describe('gateway acks', () => {
  test('an agent behind never writes its older ack over a newer one; the same generation may rise', async ({
    redis,
    redisPrefix,
  }) => {
    const subscriber = redis.duplicate()
    const messages: string[] = []
    subscriber.on('message', (_channel: string, message: string) => messages.push(message))
    await subscriber.subscribe(ackChannel(redisPrefix))
    try {
      expect(await writeAck(redis, redisPrefix, ack('w2', 6, 3))).toBe(true)
      expect(await writeAck(redis, redisPrefix, ack('w1', 7, 3))).toBe(true)
      expect(await writeAck(redis, redisPrefix, ack('w1', 7, 7))).toBe(true)
      // w2 saw its generation 6 drained: the ack of 7 stays, drained 7 included.
      expect(await writeAck(redis, redisPrefix, ack('w2', 6, 6))).toBe(false)
      expect(await readAck(redis, redisPrefix, 'demo', 'pre-release')).toMatchObject({
        agentId: 'w1',
        generation: 7,
        drained: 7,
      })
      // Announced when written only: the marker published after the dropped write comes next.
      await redis.publish(ackChannel(redisPrefix), 'marker')
      await expect.poll(() => messages.at(-1)).toBe('marker')
      expect(messages).toEqual(['demo_pre-release', 'demo_pre-release', 'demo_pre-release', 'marker'])
    } finally {
      subscriber.disconnect()
    }
  })
})
