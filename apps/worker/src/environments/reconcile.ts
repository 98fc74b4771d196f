import { reconcile } from '@slipway/deploy'
import type { WorkerDeps } from '../deps.ts'
import type { Processor } from '../runtime.ts'
import { containerEnv, siteInclude, siteRequest } from './site.ts'

/**
 * `environment.reconcile`: self-healing for one environment. Holds the environment's deploy
 * lease while it works (a running deploy wins: the reconcile is skipped and runs next time),
 * then converges the hosts on the live release through the health-checked rollout path. A
 * change is recorded in the audit log as done by the system.
 */
export function reconcileEnvironment(deps: WorkerDeps): Processor<'environment.reconcile'> {
  return async ({ environmentId }, { signal, log }) => {
    const holder = `reconcile:${environmentId}`
    const busy = await deps.runs.takeDeployLease(environmentId, holder, deps.workerId)
    if (busy) return { skipped: 'a deploy holds the environment' }
    const renew = setInterval(() => {
      void deps.db.deployLease
        .updateMany({ where: { environmentId, holder }, data: { expiresAt: new Date(Date.now() + 30_000) } })
        .catch(() => undefined)
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
      const result = await reconcile({
        ...(await siteRequest(deps, site)),
        release: { id: live.id, image: live.image },
        replicas: site.replicas,
        env,
        traffic: deps.traffic,
        signal,
        log: (line) => lines.push(line),
      })
      if (result.changed) {
        log.info({ environment: `${site.project.slug}/${site.name}`, lines }, 'environment reconciled')
        await deps.db.auditEvent.create({
          data: {
            actorLabel: `system (worker ${deps.workerId})`,
            action: 'environment.reconcile',
            targetType: 'environment',
            targetId: site.id,
            projectId: site.projectId,
            after: {
              release: live.number,
              status: result.status,
              replacedUnhealthy: result.replacedUnhealthy,
              instances: result.instances.length,
              error: result.error?.message ?? null,
            },
          },
        })
        await deps.runs.releaseReconciled({ id: live.id, environmentId: site.id, projectId: site.projectId })
      }
      return { changed: result.changed, status: result.status, error: result.error?.message }
    } finally {
      clearInterval(renew)
      await deps.db.deployLease.deleteMany({ where: { environmentId, holder } }).catch(() => undefined)
    }
  }
}
