import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { startExtraDaemon } from '@slipway/deploy/testing'
import { DockerodeHost } from '@slipway/docker'
import { describe, expect, it } from 'vitest'
import { hostSideFailureAsDown } from './build.ts'

/** A build context whose one step takes `seconds` (or fails when `fail`). */
async function context(step: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'slipway-build-'))
  await writeFile(path.join(dir, 'Dockerfile'), `FROM slipway/busybox:1\nRUN ${step}\n`)
  return dir
}

describe('a build whose host goes down', () => {
  it('is the host’s failure (HOST_UNREACHABLE, tried again), a broken step stays BUILD_FAILED', async () => {
    const daemon = await startExtraDaemon('build-down')
    const host = new DockerodeHost(daemon.name, daemon)
    const slow = await context('sleep 20')
    const broken = await context('exit 3')
    try {
      const signal = AbortSignal.timeout(60_000)
      await expect(
        hostSideFailureAsDown(host, signal, () =>
          host.build({ contextDir: broken, tags: ['slipway-test/broken:1'], signal }),
        ),
      ).rejects.toMatchObject({ code: 'BUILD_FAILED' })

      const building = hostSideFailureAsDown(host, signal, () =>
        host.build({ contextDir: slow, tags: ['slipway-test/slow:1'], signal }),
      )
      const outcome = building.then(
        () => undefined,
        (error: unknown) => error,
      )
      await sleep(1500)
      await daemon.stop()
      expect(await outcome).toMatchObject({ code: 'HOST_UNREACHABLE' })
    } finally {
      await daemon.cleanup()
      await rm(slow, { recursive: true, force: true })
      await rm(broken, { recursive: true, force: true })
    }
  })
})
