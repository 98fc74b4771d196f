import { CanaryCommandRecord, type CanaryState } from '@slipway/contracts'
import type { CanaryHooks, CanaryProgress } from '@slipway/deploy'
import { readReleaseFigures } from '@slipway/gateway'
import type { StageContext } from './runner.ts'

/** The most chart samples a canary keeps (one a second: 20 min). */
const maxSamples = 1200

/**
 * What a deploy stage's canary reads and writes: the gateway's per-release figures (the traffic
 * recorder's, in Redis), a person's command (the release row's `canaryCommand`, written by the
 * API) and its state for the pipeline page (the release row's `canary`). State writes go one
 * after another; `flush` waits for the last.
 */
export function canaryHooks(
  context: Pick<StageContext, 'deps'>,
  site: { project: string; environment: string; releaseId: string; plan: CanaryState['plan'] },
): CanaryHooks & { flush(): Promise<void> } {
  const { deps } = context
  const samples: CanaryState['samples'] = []
  let handled: string | undefined
  let step = 0
  let writes: Promise<void> = Promise.resolve()

  const write = (state: CanaryState) => {
    writes = writes.then(async () => {
      try {
        await deps.db.release.update({ where: { id: site.releaseId }, data: { canary: state } })
      } catch (error) {
        deps.logger.warn({ err: error, releaseId: site.releaseId }, 'could not store a canary state')
      }
    })
  }

  return {
    figures: (fromMs, signal) => readReleaseFigures(deps.redis, deps.prefix, site, fromMs, { signal }),

    async command() {
      const row = await deps.db.release.findUnique({
        where: { id: site.releaseId },
        select: { canaryCommand: true },
      })
      const parsed = CanaryCommandRecord.safeParse(row?.canaryCommand)
      if (!parsed.success) return null
      const command = parsed.data
      const key = `${command.action}@${String(command.at)}`
      // Each command acts once; a promote given for another step than the one waiting is stale.
      if (key === handled || (command.action === 'promote' && command.step !== step)) return null
      handled = key
      return { action: command.action, by: command.by }
    },

    progress(state: CanaryProgress) {
      step = state.step
      if (state.current) {
        samples.push({ t: Date.now(), step: state.step, ...state.current })
        if (samples.length > maxSamples) samples.splice(0, samples.length - maxSamples)
      }
      write({
        phase: state.phase,
        step: state.step,
        weight: state.weight,
        weights: state.weights,
        plan: site.plan,
        steps: state.steps,
        holding: state.holding ?? null,
        reason: state.reason ?? null,
        samples: [...samples],
        command: null,
        updatedAt: new Date(),
      })
    },

    flush: () => writes,
  }
}
