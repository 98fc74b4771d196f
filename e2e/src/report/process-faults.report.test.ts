import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { leaseMs } from '@slipway/runs'
import { failures, recordRow, secondsSince, startLoad } from '@slipway/testing/services'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Demo, eventually, pipelineIn, setupDemo, storedLog, viaGateway } from '../client.ts'
import { type Stack, startStack } from '../stack.ts'
import { registryTags, removeProjectFromFleet, siteMismatches } from './fleet-truth.ts'
import {
  followProjectEvents,
  followStageLog,
  type LogFollower,
  type LogLine,
  streamProblems,
} from './live-log.ts'

/**
 * Report rows (issue 15, fault table): a Slipway process SIGKILLed at the worst moment, on the
 * real fleet through a private stack with two workers (one takes over from the other).
 *
 * - a worker killed while it pushes a large image: the other takes the push over, the image
 *   is pushed once with the built image's digest, the log keeps every line;
 * - a worker killed during each batch of a 3-batch production rollout, with kept-alive
 *   clients on the gateway: the other takes the deploy over under the deploy lease and
 *   finishes; no request fails, no orphan container, the gateway routes to exactly the
 *   instances of one release;
 * - the API killed and started again while 20 clients follow a live log: each comes back with
 *   Last-Event-ID and ends with every line once, in order.
 *
 * A dead worker's stage is taken over once its lease ran out: the lease lives 30 s without a
 * renewal (@slipway/runs leaseMs, renewed every 10 s), the reaper releases it 5 s after that
 * (reapGraceMs) and runs every 5 s (apps/worker main.ts); the next attempt then claims it
 * (a redelivered job that finds the lease expired claims it at once).
 */
const testFile = 'e2e/src/report/process-faults.report.test.ts'
const reapGraceSeconds = 5
const reapIntervalSeconds = 5
/** Seconds from a kill to the next attempt's start: lease + grace + reaper period + 5 s to claim. */
const takeoverBound = leaseMs / 1000 + reapGraceSeconds + reapIntervalSeconds + 5
/** Bytes of the random layer that makes the push long enough to be killed in (~8 s here). */
const ballastBytes = 256 * 1024 * 1024
const run = promisify(execFile)

type StageRow = {
  id: string
  kind: string
  status: string
  attempt: number
  environment: { name: string } | null
}

/** `▶ kind · attempt n · worker id`, the first line of every attempt. */
const attemptLine = /^▶ (\w+) · attempt (\d+) · worker (\S+)$/

function workerOf(line: LogLine): string {
  const worker = attemptLine.exec(line[2])?.[3]
  if (!worker) throw new Error(`not an attempt line: ${line[2]}`)
  return worker
}

/** The lines of one attempt of a stage's log (from its `▶` line to the next attempt's). */
function attemptLines(lines: readonly LogLine[], attempt: number): LogLine[] {
  const starts = lines.map((line, i) => (attemptLine.test(line[2]) ? i : -1)).filter((i) => i >= 0)
  const from = starts.find((i) => attemptLine.exec(lines[i]![2])?.[2] === String(attempt))
  if (from === undefined) return []
  const to = starts.find((i) => i > from) ?? lines.length
  return lines.slice(from, to)
}

const round = (seconds: number) => Math.round(seconds * 10) / 10

describe('Slipway processes killed (report rows)', () => {
  let stack: Stack
  let demo: Demo
  let dockerfile: string
  let slowStart: string
  /** Every pipeline these rows started: none may disappear. */
  const pipelineIds: string[] = []

  beforeAll(async () => {
    stack = await startStack({ workers: 2 })
    demo = await setupDemo(stack, { prodHosts: ['prod-1', 'prod-2', 'prod-3'], prodReplicas: 3 })
    const show = async (file: string) =>
      (await run('git', ['--git-dir', demo.repo, 'show', `HEAD:${file}`])).stdout
    dockerfile = await show('Dockerfile')
    // Instances that take 3 s to listen: each rollout batch lasts long enough to be killed in.
    slowStart = (await show('start.sh')).replace(/^port=/m, 'sleep 3\nport=')
  })

  afterAll(async () => {
    await stack?.stop()
    if (demo) await removeProjectFromFleet(demo.project.slug, `e2e/${demo.project.slug}`)
  })

  const startPipeline = async (change: Parameters<Demo['commit']>[0]) => {
    const sha = await demo.commit(change)
    const started = await demo.developer.post(`/api/projects/${demo.project.slug}/pipelines`, {
      sha,
      ref: 'main',
    })
    expect(started.status).toBe(201)
    pipelineIds.push(started.body.id)
    return { sha, id: started.body.id as string, stages: started.body.stages as StageRow[] }
  }

  const approve = async (pipeline: { id: string; stages: StageRow[] }) => {
    const approval = pipeline.stages.find((s) => s.kind === 'approval')!
    const approved = await demo.tester.post(`/api/pipelines/${pipeline.id}/stages/${approval.id}/approve`, {
      comment: 'ok',
    })
    expect(approved.status).toBe(200)
  }

  /** Every pipeline started is still there, none left running. */
  const pipelinesAccountedFor = async () => {
    for (const id of pipelineIds) {
      const { status, body } = await demo.developer.get(`/api/pipelines/${id}`)
      expect(status).toBe(200)
      expect(body.status).not.toMatch(/^(queued|running)$/)
    }
  }

  /** The log kept every line seen before the kill (same number, same text), numbered 1..n. */
  const expectWholeLog = (stored: readonly LogLine[], beforeKill: readonly LogLine[]) => {
    expect(stored.map((line) => line[0])).toEqual(stored.map((_, i) => i + 1))
    const kept = new Map(stored.map((line) => [line[0], line[2]]))
    expect(beforeKill.filter((line) => kept.get(line[0]) !== line[2])).toEqual([])
  }

  /** Starts workers until two run again (after a row killed one). */
  const twoWorkers = async () => {
    const alive = [...stack.workers.values()].filter((c) => c.exitCode === null && c.signalCode === null)
    for (let i = alive.length; i < 2; i++) await stack.startWorker()
  }

  /** Waits until the stage's first attempt writes `moment`, then SIGKILLs the worker running it. */
  const killOwnerAt = async (follower: LogFollower, kind: string, moment: RegExp) => {
    const owner = workerOf(await follower.waitFor(new RegExp(`^▶ ${kind} · attempt 1 · `), 180_000))
    await follower.waitFor(moment)
    await stack.killWorker(owner)
    return { owner, killedAt: Date.now(), beforeKill: [...follower.lines] }
  }

  /** The second attempt ran on another worker, started within the bound: who and when. */
  const expectTakeover = (lines: readonly LogLine[], owner: string, killedAt: number) => {
    const second = attemptLines(lines, 2)
    const taker = workerOf(second[0]!)
    expect(taker).not.toBe(owner)
    const takeoverSeconds = round((second[0]![1] - killedAt) / 1000)
    expect(takeoverSeconds).toBeLessThanOrEqual(takeoverBound)
    return { taker, takeoverSeconds }
  }

  it('worker-killed-during-push', async () => {
    const pipeline = await startPipeline({
      version: '7.0.0',
      files: {
        // The slug makes the layer new in every run: no build cache, no blob the registry holds.
        Dockerfile: dockerfile.replace(
          /^COPY www/m,
          `RUN echo ballast for ${demo.project.slug} && head -c ${ballastBytes} /dev/urandom > /ballast\nCOPY www`,
        ),
      },
    })
    const push = pipeline.stages.find((s) => s.kind === 'push')!
    const follower = followStageLog(demo.developer, push.id)
    try {
      const { owner, killedAt, beforeKill } = await killOwnerAt(follower, 'push', /^docker push /)

      const done = await pipelineIn(demo.developer, pipeline.id, ['waiting', 'failed'], 240_000)
      const recoverySeconds = secondsSince(killedAt)
      await follower.ended
      expect(done.status).toBe('waiting')
      const pushed = done.stages.find((s: StageRow) => s.kind === 'push')
      expect(pushed).toMatchObject({ status: 'succeeded', attempt: 2 })

      const { lines } = await storedLog(demo.developer, push.id)
      expectWholeLog(lines, beforeKill)
      // The kill landed mid-push: the first attempt never finished it.
      const first = attemptLines(lines, 1)
      expect(first.some((line) => line[2].startsWith('docker push '))).toBe(true)
      expect(first.filter((line) => /^pushed |^✔ push/.test(line[2]))).toEqual([])
      const { taker, takeoverSeconds } = expectTakeover(lines, owner, killedAt)

      // Pushed once: the registry holds one tag, the commit's, naming the digest the
      // pipeline recorded, which the build host's image carries.
      const digest = /@(sha256:[a-f0-9]{64})$/.exec(done.imageDigest)?.[1]
      expect(digest).toBeDefined()
      expect(await registryTags(`e2e/${demo.project.slug}`)).toEqual({ [pipeline.sha]: digest })
      expect(lines.filter((line) => line[2].startsWith('pushed '))).toHaveLength(1)
      // The pipeline went on: pre-release runs the pushed image.
      expect(done.stages.find((s: StageRow) => s.kind === 'deploy').status).toBe('succeeded')
      expect((await viaGateway(demo.gatewayPorts['pre-release'])).text).toContain('demo 7.0.0')
      await pipelinesAccountedFor()

      await recordRow({
        section: 'fault',
        id: 'worker-killed-during-push',
        done: `SIGKILL of the worker (${owner}) pushing a ${ballastBytes / 1024 / 1024} MiB image to the registry, mid-push; a second worker running`,
        expected: `the other worker takes the push over within ${takeoverBound} s (30 s lease + 5 s reaper grace + 5 s reaper period + 5 s), the image is pushed once with the built image's digest, the pipeline goes on to pre-release, every log line written before the kill is kept (numbered without gaps), no pipeline lost`,
        observed: `${taker} started attempt 2 ${takeoverSeconds} s after the kill and pushed ${digest!.slice(0, 19)}…; the registry holds 1 tag naming it; the pipeline waited for approval ${recoverySeconds} s after the kill with pre-release on 7.0.0; ${lines.length} log lines, 1..${lines.length}, the ${beforeKill.length} seen before the kill among them`,
        recoverySeconds,
        figures: { takeoverSeconds, imageMiB: ballastBytes / 1024 / 1024 },
        test: testFile,
        ci: false,
      })
    } finally {
      follower.close()
      await twoWorkers()
    }
  })

  it('api-restarted-with-live-log-clients', async () => {
    const ticks = 200
    const pipeline = await startPipeline({
      version: '7.1.0',
      files: {
        Dockerfile: dockerfile.replace(
          /^COPY www/m,
          `RUN echo ticks for ${demo.project.slug} && for i in $(seq 1 ${ticks}); do echo tick $i; sleep 0.1; done\nCOPY www`,
        ),
        'start.sh': slowStart,
      },
    })
    const build = pipeline.stages.find((s) => s.kind === 'build')!
    // BuildKit's plain progress: `#7 1.234 tick 30`.
    const tickLine = /^#\d+ [\d.]+ tick \d+$/
    // 20 clients, 5 per user (a user may hold 20 streams).
    const users = [demo.admin, demo.developer, demo.tester, demo.viewer]
    const followers = Array.from({ length: 20 }, (_, i) => followStageLog(users[i % users.length]!, build.id))
    try {
      await Promise.all(followers.map((f) => f.waitFor(/ tick 30$/, 180_000)))
      const killedAt = Date.now()
      await stack.restartApi()
      const apiDownSeconds = secondsSince(killedAt)
      await Promise.all(followers.map((f) => f.ended))
      const { lines } = await storedLog(demo.developer, build.id)
      expect(lines.filter((line) => tickLine.test(line[2]))).toHaveLength(ticks)
      for (const follower of followers) {
        expect(streamProblems(follower.lines, lines)).toEqual([])
        expect(follower.outages).toHaveLength(1)
        expect(follower.connects()).toBe(2)
      }
      // The restart fell in the middle of the log: lines before and after it.
      const firstAfter = lines.findIndex((line) => line[1] > killedAt)
      expect(firstAfter).toBeGreaterThan(30)
      const without = followers.map((f) => (f.outages[0]!.backAt! - f.outages[0]!.brokeAt) / 1000)
      const longest = round(Math.max(...without))
      const shortest = round(Math.min(...without))

      // The pipeline goes on; its production release is the one the next rows roll over.
      const waiting = await pipelineIn(demo.developer, pipeline.id, ['waiting', 'failed'], 180_000)
      expect(waiting.status).toBe('waiting')
      await approve(waiting)
      const live = await pipelineIn(demo.developer, pipeline.id, ['succeeded', 'failed'], 180_000)
      expect(live.status).toBe('succeeded')
      await pipelinesAccountedFor()

      await recordRow({
        section: 'fault',
        id: 'api-restarted-with-live-log-clients',
        done: `SIGKILL of the API process, then started again, while ${followers.length} clients (4 users) followed a build's live log (SSE) printing ${ticks} lines`,
        expected:
          'every client reconnects by itself (the server’s retry delay, Last-Event-ID) and ends with every line of the stored log exactly once, in order; the build is not disturbed',
        observed: `the API answered again ${apiDownSeconds} s after the kill; each client was without the stream ${shortest}–${longest} s and reconnected once; all ${followers.length} ended with lines 1..${lines.length} once each, in order`,
        recoverySeconds: longest,
        figures: {
          clients: followers.length,
          apiDownSeconds,
          longestWithoutStreamSeconds: longest,
          lines: lines.length,
        },
        test: testFile,
        ci: false,
      })
    } finally {
      for (const follower of followers) follower.close()
    }
  })

  // Two API processes on one database and Redis (as behind a load balancer): clients on either
  // follow the same live log and the same project events; one API killed, its clients go on
  // on the other with Last-Event-ID, no line lost or repeated.
  it('two-apis-serve-one-live-log', async () => {
    const second = await stack.startApi()
    const ticks = 100
    const onFirst = followProjectEvents(stack.url, demo.developer, demo.project.slug)
    const onSecond = followProjectEvents(second, demo.developer, demo.project.slug)
    const pipeline = await startPipeline({
      version: '7.0.5',
      files: {
        Dockerfile: dockerfile.replace(
          /^COPY www/m,
          `RUN echo two apis ${demo.project.slug} && for i in $(seq 1 ${ticks}); do echo tick $i; sleep 0.1; done\nCOPY www`,
        ),
      },
    })
    const build = pipeline.stages.find((s) => s.kind === 'build')!
    const tickLine = /^#\d+ [\d.]+ tick \d+$/
    const first = Array.from({ length: 5 }, () => followStageLog(demo.developer, build.id))
    const moves = Array.from({ length: 5 }, () =>
      followStageLog(demo.developer, build.id, 300_000, [second, stack.url]),
    )
    const all = [...first, ...moves]
    try {
      await Promise.all(all.map((f) => f.waitFor(/ tick 30$/, 180_000)))
      // Both APIs told their clients the same project events, in the same order, with the same ids.
      const running = await eventually('the build running, on both APIs', async () =>
        [onFirst, onSecond].every((f) => f.events.some(([, e]) => JSON.stringify(e).includes(build.id)))
          ? true
          : undefined,
      )
      expect(running).toBe(true)
      const shared = Math.min(onFirst.events.length, onSecond.events.length)
      expect(onSecond.events.slice(0, shared)).toEqual(onFirst.events.slice(0, shared))
      const eventsBeforeKill = shared
      const killedAt = Date.now()
      await stack.killApi(second)
      await Promise.all(all.map((f) => f.ended))
      const { lines } = await storedLog(demo.developer, build.id)
      expect(lines.filter((line) => tickLine.test(line[2]))).toHaveLength(ticks)
      for (const follower of all) expect(streamProblems(follower.lines, lines)).toEqual([])
      for (const follower of first) expect(follower.connects()).toBe(1)
      // Clients of the killed API come back on the other one.
      for (const follower of moves) {
        expect(follower.outages).toHaveLength(1)
        expect(follower.connects()).toBe(2)
      }
      const firstAfter = lines.findIndex((line) => line[1] > killedAt)
      expect(firstAfter).toBeGreaterThan(30)
      const without = moves.map((f) => (f.outages[0]!.backAt! - f.outages[0]!.brokeAt) / 1000)
      expect((await demo.developer.post(`/api/pipelines/${pipeline.id}/cancel`, {})).status).toBe(200)
      await recordRow({
        section: 'fault',
        id: 'two-apis-serve-one-live-log',
        done: `two API processes on one database and Redis; 5 clients follow a build's live log on each; the second API SIGKILLed mid-build (${ticks} lines)`,
        expected:
          'clients on either API get the same lines and the same project events; the clients of the killed API that reconnect to the other (Last-Event-ID) end with every line exactly once, in order',
        observed: `${eventsBeforeKill} project events identical on both APIs before the kill; all 10 clients ended with lines 1..${lines.length} once each, in order; the 5 that moved were without the stream ${round(Math.min(...without))}–${round(Math.max(...without))} s`,
        recoverySeconds: round(Math.max(...without)),
        figures: { clients: all.length, lines: lines.length, events: eventsBeforeKill },
        test: testFile,
        ci: false,
      })
    } finally {
      for (const follower of all) follower.close()
      onFirst.close()
      onSecond.close()
    }
  })

  for (const batch of [1, 2, 3]) {
    it(`worker-killed-during-rollout-batch-${batch}`, async () => {
      const version = `7.${batch + 1}.0`
      const pipeline = await startPipeline({
        version,
        files: { Dockerfile: dockerfile, 'start.sh': slowStart },
      })
      const waiting = await pipelineIn(demo.developer, pipeline.id, ['waiting', 'failed'], 180_000)
      expect(waiting.status).toBe('waiting')
      const deploy = waiting.stages.find(
        (s: StageRow) => s.kind === 'deploy' && s.environment?.name === 'production',
      ) as StageRow
      const follower = followStageLog(demo.developer, deploy.id)
      const load = startLoad({
        port: demo.gatewayPorts.production,
        concurrency: 4,
        pauseMs: 20,
        maxRequests: 100_000,
        maxMs: 300_000,
      })
      let stopped = false
      try {
        await eventually('kept-alive requests under way', async () => (load.done() >= 20 ? true : undefined))
        await approve(waiting)
        const { owner, killedAt, beforeKill } = await killOwnerAt(
          follower,
          'deploy',
          new RegExp(`^rollout batch ${batch}/3: starting `),
        )

        const done = await pipelineIn(demo.developer, pipeline.id, ['succeeded', 'failed'], 240_000)
        const recoverySeconds = secondsSince(killedAt)
        await follower.ended
        expect(done.status).toBe('succeeded')
        expect(done.stages.at(-1)).toMatchObject({ kind: 'deploy', status: 'succeeded', attempt: 2 })
        // Nothing left behind: the hosts run exactly what Slipway lists, 3 instances of the
        // new release, and the gateway routes to exactly those.
        await eventually(
          'production whole: hosts, listing and gateway agree',
          async () => {
            const problems = await siteMismatches(
              demo.developer,
              stack.gatewayDir,
              demo.project.slug,
              'production',
              3,
            )
            if (problems.length) throw new Error(problems.join('; '))
            return true
          },
          30_000,
          1000,
        )
        const wholeSeconds = secondsSince(killedAt)
        expect(
          await siteMismatches(demo.developer, stack.gatewayDir, demo.project.slug, 'pre-release', 1),
        ).toEqual([])
        const samples = await load.stop()
        stopped = true
        const failed = failures(samples)
        expect(failed).toEqual([])
        expect((await viaGateway(demo.gatewayPorts.production)).text).toContain(`demo ${version}`)

        const { lines } = await storedLog(demo.developer, deploy.id)
        expectWholeLog(lines, beforeKill)
        // The kill landed in batch `batch`: the first attempt started it and nothing after it.
        const first = attemptLines(lines, 1).map((line) => line[2])
        const batches = first.filter((text) => /^rollout batch \d\/3: starting /.test(text))
        expect(batches.at(-1)).toMatch(new RegExp(`^rollout batch ${batch}/3: `))
        expect(first.filter((text) => /^rollout to .* done/.test(text))).toEqual([])
        const { taker, takeoverSeconds } = expectTakeover(lines, owner, killedAt)
        // The releases say what happened: the interrupted one failed, saying so; the new one is live.
        const releases = (
          await demo.developer.get(`/api/projects/${demo.project.slug}/environments/production/releases`)
        ).body as { status: string; error: string | null; pipeline: { id: string } | null }[]
        const ours = releases.filter((r) => r.pipeline?.id === pipeline.id)
        expect(ours.map((r) => r.status)).toEqual(['live', 'failed'])
        expect(ours[1]!.error).toMatch(/interrupted/)
        await pipelinesAccountedFor()

        await recordRow({
          section: 'fault',
          id: `worker-killed-during-rollout-batch-${batch}`,
          done: `SIGKILL of the worker (${owner}) running a production rollout (3 hosts, 3 instances, 3 batches of 1) while batch ${batch} started its instance; kept-alive clients on the gateway throughout; a second worker running`,
          expected: `the other worker takes the deploy over (deploy lease with fencing) within ${takeoverBound} s and finishes it; 0 failed kept-alive requests (the instances stay up); afterwards the labelled containers on the hosts are exactly the instances Slipway lists, all of the new release, and the gateway routes to exactly those; the interrupted release is marked failed`,
          observed: `${taker} started attempt 2 ${takeoverSeconds} s after the kill; the pipeline succeeded ${recoverySeconds} s after it and hosts, listing and gateway agreed at ${wholeSeconds} s (3 instances of ${version}); ${failed.length} of ${samples.length} requests failed; the interrupted release says "${ours[1]!.error}"`,
          recoverySeconds,
          requests: { failed: failed.length, total: samples.length },
          figures: { takeoverSeconds },
          test: testFile,
          ci: false,
        })
      } finally {
        follower.close()
        if (!stopped) await load.stop()
        await twoWorkers()
      }
    })
  }
})
