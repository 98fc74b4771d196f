import { describe, expect, it } from 'vitest'
import { demoImage } from './images.ts'

describe('demoImage', () => {
  it('builds and pushes the demo by digest, with an overridden version', async () => {
    const built = await demoImage({ ref: 'v1.0.0', version: '9.9.9' })
    expect(built.version).toBe('9.9.9')
    expect(built.image).toMatch(/\/test\/demo@sha256:[a-f0-9]{64}$/)
    expect(await demoImage({ ref: 'v1.0.0', version: '9.9.9' })).toBe(
      await demoImage({ ref: 'v1.0.0', version: '9.9.9' }),
    )
  })
})
