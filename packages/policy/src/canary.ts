/** Where a canary stands (as @slipway/contracts CanaryPhase). */
export type CanaryPhase = 'starting' | 'judging' | 'waiting' | 'promoted' | 'rolled-back'

/**
 * Whether a person's command can be given to a canary where it stands: abort at any step
 * until it has ended; promote only a step that passed and waits for a person. The reason for
 * a refusal, or null.
 */
export function canaryCommandRefusal(
  state: { phase: CanaryPhase; step: number },
  action: 'promote' | 'abort',
): string | null {
  if (state.phase === 'promoted') return 'the canary has ended: every step passed'
  if (state.phase === 'rolled-back') return 'the canary has ended: it was rolled back'
  if (action === 'promote' && state.phase !== 'waiting')
    return state.phase === 'starting'
      ? 'the canary is starting: promote once a step waiting for a person has passed'
      : `the canary is judging step ${state.step + 1}: promote once a step waiting for a person has passed`
  return null
}
