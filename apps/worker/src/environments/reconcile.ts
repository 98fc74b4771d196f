import { DeployLeaseLost } from '@slipway/runs'
import type { WorkerDeps } from '../deps.ts'
import type { Processor } from '../runtime.ts'
import { containerEnv, siteInclude, siteRequest } from './site.ts'
import { secretKeysOf, targetFor } from './target.ts'

/**
 * `environment.reconcile`: self-healing for one environment. Holds the environment's deploy
 * lease while it works (a running deploy wins: the reconcile is skipped and runs next time),
 * then heals it through its deploy target (docker-hosts: converges the hosts on the live release
 * through the health-checked rollout path; swarm: keeps the gateway on the running tasks). A
 * change is recorded in the audit log as done by the system.
 */
export function reconcileEnvironment(deps: WorkerDeps): Processor<'environment.reconcile'> {
  return async ({ environmentId }, { signal, log }) => {
    const holder = `reconcile:${environmentId}`
    const lease = await deps.runs.takeDeployLease(environmentId, holder, deps.workerId)
    if (!('token' in lease)) return { skipped: 'a deploy holds the environment' }
    const { token } = lease
    // A lost lease (a deploy took the environment after a renewal failed) stops the work.
    const lost = new AbortController()
    const renew = setInterval(() => {
      deps.runs
        .renewDeployLease(environmentId, token)
        .then((ours) => {
          if (!ours) {
            log.warn({ environmentId }, 'the deploy lease was lost: reconcile stops')
            lost.abort(new DeployLeaseLost())
          }
        })
        .catch((error: unknown) =>
          log.warn({ err: error }, 'could not renew the deploy lease; tried again in 10 s'),
        )
    }, 10_000)
    try {
      const site = await deps.db.environment.findUnique({
        where: { id: environmentId },
        include: siteInclude,
      })
      const live = site?.releases[0]
      if (!site || !live || !site.hosts.length) return { skipped: 'nothing live' }
      const lines: string[] = []
      const env = await containerEnv(deps, site.id, live.configVersionId, {
        environment: site.name,
        project: site.project.slug,
      })
      const request = await siteRequest(deps, site)
      const result = await targetFor(deps, site, request).heal({
        ...request,
        release: { id: live.id, image: live.image },
        replicas: site.replicas,
        env,
        secretKeys: await secretKeysOf(deps, live.configVersionId),
        registry: deps.registry,
        traffic: deps.traffic,
        signal: AbortSignal.any([signal, lost.signal]),
        log: (line) => lines.push(line),
      })
      if (result.changed) {
        log.info({ environment: `${site.project.slug}/${site.name}`, lines }, 'environment reconciled')
        // Written under the lease (fenced by its token): a reconcile that lost it records nothing.
        await deps.runs.underDeployLease(environmentId, token, (tx) =>
          tx.auditEvent.create({
            data: {
              actorLabel: `system (worker ${deps.workerId})`,
              action: 'environment.reconcile',
              targetType: 'environment',
              targetId: site.id,
              projectId: site.projectId,
              after: {
                release: live.number,
                status: result.status,
                lines: result.lines.slice(0, 50),
                instances: result.instances.length,
                error: result.error ?? null,
              },
            },
          }),
        )
        await deps.runs.releaseReconciled({ id: live.id, environmentId: site.id, projectId: site.projectId })
      }
      return { changed: result.changed, status: result.status, error: result.error }
    } finally {
      clearInterval(renew)
      await deps.runs
        .dropDeployLease(environmentId, token)
        .catch((error: unknown) =>
          log.warn({ err: error }, 'could not release the deploy lease; it expires by itself'),
        )
    }
  }
}
