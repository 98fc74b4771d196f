import { randomUUID } from 'node:crypto'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { seededRandom } from '@slipway/testing/services'
import { gitlabHeaders, pushHook, tagPushHook } from '../../../../apps/api/test/support/gitlab-fixtures.ts'
import { type Answer, exchange, keptAlive } from './http.ts'
import { ms, now, quantile } from './measure.ts'
import type { LoadProject } from './projects.ts'

/**
 * What a second of deliveries holds (50 in all), as GitLab sends them for busy projects:
 * - `main`: a push to main (the project's branch rule) of a commit on main: starts a pipeline;
 * - `feature`: a push to a feature branch no rule selects: ignored;
 * - `deleted`: a branch deletion (`after` all zeros): ignored;
 * - `tag`: a tag push of a tag no rule selects (`nightly-N`; the rule is v*): ignored;
 * - `redelivery`: an earlier delivery sent again with its X-Gitlab-Event-UUID (GitLab retries
 *   after a timeout, people press "Resend"), picked at random among those sent 2 s or more
 *   before: duplicate. The first two seconds have feature pushes in their place.
 */
export const mixPerSecond = { main: 1, feature: 19, deleted: 5, tag: 5, redelivery: 20 } as const
const perSecond = Object.values(mixPerSecond).reduce((a, b) => a + b, 0)
/** Every fifth delivery opens a connection of its own (and closes it); the rest share kept-alive ones. */
export const closeEvery = 5

type Kind = keyof typeof mixPerSecond

export interface Planned {
  index: number
  /** When to send, in ms after the start. */
  atMs: number
  kind: Kind
  project: LoadProject
  uuid: string
  event: 'Push Hook' | 'Tag Push Hook'
  body: string
  /** What the event's first recorded delivery must answer. */
  expected: 'started' | 'ignored'
  connection: 'keep-alive' | 'close'
  /** The delivery this one repeats. */
  original?: number
}

/** `seconds` of deliveries over `projects`, `perSecond` a second, evenly spaced. */
export function planDeliveries(options: {
  seconds: number
  projects: readonly LoadProject[]
  /** A commit on main (every main push names it: builds are cache hits). */
  sha: string
  seed?: number
}): Planned[] {
  const rand = seededRandom(options.seed ?? 15)
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T
  const projects = options.projects
  const plan: Planned[] = []
  const zero = '0'.repeat(40)
  for (let second = 0; second < options.seconds; second++) {
    const slots = Object.entries(mixPerSecond).flatMap(([kind, n]) => Array<Kind>(n).fill(kind as Kind))
    for (let i = slots.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1))
      ;[slots[i], slots[j]] = [slots[j] as Kind, slots[i] as Kind]
    }
    for (const [slot, planned] of slots.entries()) {
      const index = plan.length
      const atMs = (index * 1000) / perSecond
      const connection = index % closeEvery === closeEvery - 1 ? 'close' : 'keep-alive'
      const kind: Kind = planned === 'redelivery' && second < 2 ? 'feature' : planned
      if (kind === 'redelivery') {
        const original = pick(plan.filter((p) => p.kind !== 'redelivery' && p.atMs <= atMs - 2000))
        plan.push({ ...original, index, atMs, kind, connection, original: original.index })
        continue
      }
      const project = kind === 'main' ? (projects[second % projects.length] as LoadProject) : pick(projects)
      const uuid = randomUUID()
      const base = { index, atMs, kind, project, uuid, connection } as const
      switch (kind) {
        case 'main':
          plan.push({
            ...base,
            event: 'Push Hook',
            expected: 'started',
            body: JSON.stringify(
              pushHook({ ref: 'refs/heads/main', after: options.sha, title: `load ${index}` }),
            ),
          })
          break
        case 'feature':
          plan.push({
            ...base,
            event: 'Push Hook',
            expected: 'ignored',
            body: JSON.stringify(pushHook({ ref: `refs/heads/feature/load-${slot}`, after: options.sha })),
          })
          break
        case 'deleted':
          plan.push({
            ...base,
            event: 'Push Hook',
            expected: 'ignored',
            // A deletion names no commit: checkout_sha null, no commits.
            body: JSON.stringify({
              ...pushHook({ ref: `refs/heads/feature/old-${index}`, before: options.sha, after: zero }),
              checkout_sha: null,
              commits: [],
              total_commits_count: 0,
            }),
          })
          break
        case 'tag':
          plan.push({
            ...base,
            event: 'Tag Push Hook',
            expected: 'ignored',
            body: JSON.stringify(tagPushHook({ tag: `nightly-${index}`, after: options.sha })),
          })
          break
      }
    }
  }
  return plan
}

export interface Delivered extends Planned, Answer {
  scheduledAt: number
  reply?: { outcome: string; pipelineId?: string; reason?: string }
}

/**
 * Sends `plan` on its schedule whatever the answers (an open loop, as GitLab does: a slow
 * answer does not slow the sender; time waiting for a free pooled connection counts in the
 * latency, which runs from the scheduled time). GitLab gives up on an answer after 10 s;
 * this sender waits up to `timeoutMs` so that a late answer is still seen and counted.
 */
export async function deliver(
  url: string,
  plan: readonly Planned[],
  options: { sockets: number; secret: string; timeoutMs: number },
) {
  const agent = keptAlive(options.sockets)
  const loopDelay = monitorEventLoopDelay({ resolution: 5 })
  loopDelay.enable()
  const startAt = now() + 50
  const pending: Promise<Delivered>[] = []
  for (const planned of plan) {
    const scheduledAt = startAt + planned.atMs
    const wait = scheduledAt - now()
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait))
    pending.push(
      exchange(`${url}/api/webhooks/gitlab/${planned.project.id}`, {
        method: 'POST',
        headers: gitlabHeaders(planned.event, options.secret, planned.uuid),
        body: planned.body,
        agent: planned.connection === 'close' ? false : agent,
        timeoutMs: options.timeoutMs,
      }).then((answer) => {
        let reply: Delivered['reply']
        try {
          reply = answer.status === 200 ? JSON.parse(answer.body) : undefined
        } catch (error) {
          answer.error = `not JSON: ${String(error)}`
        }
        return { ...planned, ...answer, scheduledAt, reply }
      }),
    )
  }
  const issuedAt = now()
  const delivered = await Promise.all(pending)
  loopDelay.disable()
  agent.destroy()
  const sent = delivered.map((d) => d.sentAt)
  const lag = delivered.map((d) => d.sentAt - d.scheduledAt)
  const first = Math.min(...sent)
  const last = Math.max(...sent)
  return {
    delivered,
    /** The generator's own figures: whether it sent at the planned rate. */
    generator: {
      plannedPerSecond: perSecond,
      sentPerSecond: Math.round(((delivered.length - 1) / (last - first)) * 1000 * 10) / 10,
      sendingSeconds: Math.round((issuedAt - startAt) / 100) / 10,
      lagP99Ms: ms(quantile(lag, 0.99)),
      lagMaxMs: ms(Math.max(...lag)),
      eventLoopDelayP99Ms: ms(loopDelay.percentile(99) / 1e6),
      eventLoopDelayMaxMs: ms(loopDelay.max / 1e6),
    },
  }
}

/**
 * Reads as the dashboard makes them, one after another with `pauseMs` between, on a
 * kept-alive connection, until stopped: each read's route, status and latency (`onAnswer`
 * sees each answer's body first).
 */
export function readWhile(
  url: string,
  token: string,
  route: () => string,
  pauseMs: number,
  onAnswer: (answer: Answer) => void = () => undefined,
) {
  const agent = keptAlive(1)
  const reads: (Answer & { route: string })[] = []
  let stopped = false
  const loop = (async () => {
    while (!stopped) {
      const path = route()
      const answer = await exchange(`${url}${path}`, {
        agent,
        headers: { authorization: `Bearer ${token}` },
        timeoutMs: 30_000,
      })
      onAnswer(answer)
      reads.push({ ...answer, route: path, body: answer.status === 200 ? '' : answer.body.slice(0, 300) })
      await new Promise((resolve) => setTimeout(resolve, pauseMs))
    }
  })()
  return {
    async stop() {
      stopped = true
      await loop
      agent.destroy()
      return reads
    },
  }
}
