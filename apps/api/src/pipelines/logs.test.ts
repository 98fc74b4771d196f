import type { Prisma } from '@slipway/db'
import { describe, expect } from 'vitest'
import { makeProject, makeUser, apiTest as test } from '../../test/support/test-app.ts'
import { pageBytes } from './logs.ts'

/** A finished build stage whose stored log is `count` lines of `text(seq)`, in chunks of 500. */
async function storedLog(
  db: Parameters<typeof makeUser>[0],
  projectId: string,
  count: number,
  text: (seq: number) => string,
) {
  const pipeline = await db.pipeline.create({
    data: {
      projectId,
      number: 1,
      ref: 'main',
      commitSha: 'a'.repeat(40),
      trigger: 'manual',
      status: 'failed',
      stages: { create: [{ position: 0, kind: 'build', status: 'failed' }] },
    },
    include: { stages: true },
  })
  const stageId = pipeline.stages[0]!.id
  for (let first = 1; first <= count; first += 500) {
    const lines = []
    for (let seq = first; seq < Math.min(first + 500, count + 1); seq++) lines.push([seq, 0, text(seq)])
    await db.stageLogChunk.create({
      data: {
        stageId,
        firstSeq: first,
        lastSeq: lines.length + first - 1,
        lines: lines as Prisma.InputJsonValue,
      },
    })
  }
  return stageId
}

describe('GET /api/stages/:id/logs page sizes', () => {
  test('a limit above 10,000 lines is a 400 naming the field; 10,000 is served', async ({ app, db }) => {
    const project = await makeProject(db)
    const viewer = await makeUser(db, { projectId: project.id, role: 'viewer' })
    const stageId = await storedLog(db, project.id, 12_000, (seq) => `line ${seq}`)
    for (const limit of [10_001, 50_000]) {
      const response = await app.inject({
        method: 'GET',
        url: `/api/stages/${stageId}/logs?limit=${limit}`,
        headers: viewer.headers,
      })
      expect(response.statusCode, String(limit)).toBe(400)
      expect(response.json().error).toMatchObject({
        code: 'VALIDATION_FAILED',
        details: { fields: [{ path: 'querystring.limit' }] },
      })
    }
    const page = await app.inject({
      method: 'GET',
      url: `/api/stages/${stageId}/logs?limit=10000`,
      headers: viewer.headers,
    })
    expect(page.statusCode).toBe(200)
    expect(page.json()).toMatchObject({ lastSeq: 10_000, complete: false })
    expect(page.json().lines).toHaveLength(10_000)
  })

  test('a page of long lines stops at about 2 MiB; paging on from lastSeq reads the rest', async ({
    app,
    db,
  }) => {
    const project = await makeProject(db)
    const viewer = await makeUser(db, { projectId: project.id, role: 'viewer' })
    const long = 'x'.repeat(16 * 1024)
    const stageId = await storedLog(db, project.id, 400, (seq) => `${seq} ${long}`)
    const seen: number[] = []
    let after = 0
    for (;;) {
      const response = await app.inject({
        method: 'GET',
        url: `/api/stages/${stageId}/logs?after=${after}&limit=10000`,
        headers: viewer.headers,
      })
      expect(response.statusCode).toBe(200)
      const page = response.json() as {
        lines: [number, number, string][]
        lastSeq: number
        complete: boolean
      }
      const bytes = page.lines.reduce((sum, line) => sum + Buffer.byteLength(line[2]), 0)
      expect(bytes).toBeLessThanOrEqual(pageBytes)
      seen.push(...page.lines.map((line) => line[0]))
      after = page.lastSeq
      if (page.complete) break
      expect(page.lines.length).toBeGreaterThan(0)
    }
    // 16 KiB lines: 127 a page, four pages, every line once and in order.
    expect(seen).toEqual(Array.from({ length: 400 }, (_, i) => i + 1))
  })
})
