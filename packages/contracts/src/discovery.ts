import { z } from 'zod'

/**
 * One running instance of a release, as the discovery registry and the gateway know it.
 * Registry key (article 001): `/{project}_{environment}/{host}-{port}`.
 */
export const Instance = z.object({
  /** Stable id; the container is named `<project>-<environment>-<id>`. */
  id: z.string(),
  project: z.string(),
  environment: z.string(),
  /** The release (deployment) this instance runs. */
  release: z.string(),
  /** Image by digest: registry/repo@sha256:... */
  image: z.string(),
  /** Docker host name. */
  host: z.string(),
  /**
   * The address the instance is reached at: its Docker host's address (another machine's,
   * never assumed to be this one's), an IPv4 or IPv6 literal.
   */
  address: z.string(),
  /** Port on `address`: the published port (bridge network) or the one it listens on (host). */
  port: z.number().int().min(1).max(65535),
  containerId: z.string(),
  /**
   * The gateway's weight for this instance against the site's others (HAProxy's server weight,
   * 0..256; absent: 1, an equal share). A canary gives the new and the old version theirs.
   */
  weight: z.number().int().min(0).max(256).optional(),
})
export type Instance = z.infer<typeof Instance>

/** `GET /api/discovery/:project/:environment`: live instances with their registry status. */
export const DiscoveryEntry = Instance.extend({
  registeredAt: z.iso.datetime(),
  lastHeartbeatAt: z.iso.datetime(),
  /** Seconds until the entry expires without a heartbeat. */
  ttlSeconds: z.number(),
})
export type DiscoveryEntry = z.infer<typeof DiscoveryEntry>
