import { type JobName, jobCatalog } from '@slipway/contracts'
import type { Prisma } from '@slipway/db'
import { describe, expect, test } from 'vitest'
import { enqueueInTx } from './outbox.ts'
import type { Queues } from './queues.ts'

/**
 * Producers are typed by the job catalog. Each `@ts-expect-error` below is checked by
 * `pnpm typecheck`: if a wrong payload ever compiled again, the directive itself would be the
 * error. The function is never called; the test beside it shows the catalog refuses the same
 * payloads at pickup, so the compiler and the worker agree.
 */
async function producers(tx: Prisma.TransactionClient, queues: Queues): Promise<void> {
  await enqueueInTx(tx, 'pipeline.advance', { pipelineId: 'p' })
  await enqueueInTx(tx, 'stage.run', { stageId: 's', attempt: 2 }, { delayMs: 1000 })
  await enqueueInTx(tx, 'gitlab.commitStatus', { pipelineId: 'p', state: 'success' })
  await queues.add('environment.reconcile', { environmentId: 'e' })
  await queues.every('stages.reap', 1000, {})

  // @ts-expect-error a stage.run needs its attempt
  await enqueueInTx(tx, 'stage.run', { stageId: 's' })
  // @ts-expect-error the payload of another job (pipeline.advance's) is not a stage.run's
  await enqueueInTx(tx, 'stage.run', { pipelineId: 'p' })
  // @ts-expect-error the attempt is a number
  await enqueueInTx(tx, 'stage.run', { stageId: 's', attempt: '2' })
  // @ts-expect-error a field the catalog does not know
  await enqueueInTx(tx, 'pipeline.advance', { pipelineId: 'p', force: true })
  // @ts-expect-error GitLab's states are an enum
  await enqueueInTx(tx, 'gitlab.commitStatus', { pipelineId: 'p', state: 'done' })
  // @ts-expect-error no such job
  await enqueueInTx(tx, 'pipeline.rewind', { pipelineId: 'p' })
  // @ts-expect-error the queues take the same payloads
  await queues.add('environment.reconcile', { environment: 'e' })
  // @ts-expect-error so do the schedulers: a stage.run is never periodic without its stage
  await queues.every('stage.run', 1000, {})
  // @ts-expect-error and a periodic job's payload is its catalog's too
  await queues.every('stages.reap', 1000, { stageId: 's' })
}

const refused: [JobName, unknown][] = [
  ['stage.run', { stageId: '0b7c6f2e-9d8a-4c3b-8e1f-2a3b4c5d6e7f' }],
  ['stage.run', { pipelineId: '0b7c6f2e-9d8a-4c3b-8e1f-2a3b4c5d6e7f' }],
  ['stage.run', { stageId: '0b7c6f2e-9d8a-4c3b-8e1f-2a3b4c5d6e7f', attempt: '2' }],
  ['pipeline.advance', { pipelineId: '0b7c6f2e-9d8a-4c3b-8e1f-2a3b4c5d6e7f', force: true }],
  ['gitlab.commitStatus', { pipelineId: '0b7c6f2e-9d8a-4c3b-8e1f-2a3b4c5d6e7f', state: 'done' }],
  ['environment.reconcile', { environment: '0b7c6f2e-9d8a-4c3b-8e1f-2a3b4c5d6e7f' }],
]

describe('job producers', () => {
  test('the payloads that do not compile are the ones the worker refuses at pickup', () => {
    expect(producers).toBeTypeOf('function')
    for (const [name, payload] of refused) {
      expect(jobCatalog[name].payload.safeParse(payload).success, `${name} ${JSON.stringify(payload)}`).toBe(
        false,
      )
    }
    expect(
      jobCatalog['stage.run'].payload.safeParse({
        stageId: '0b7c6f2e-9d8a-4c3b-8e1f-2a3b4c5d6e7f',
        attempt: 2,
      }).success,
    ).toBe(true)
  })
})
