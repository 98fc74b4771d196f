import { memberKey, siteKey } from '../names.ts'

/**
 * Redis layout of the discovery registry, after article 001's etcd scheme:
 *
 *   {prefix}/{project}_{environment}/{host}-{port}   hash, one instance, expires (TTL)
 *   {prefix}/{project}_{environment}                 sorted set: every member registered and
 *                                                    not deregistered, scored by expiry (ms)
 *   {prefix}/{project}_{environment}/events          pub/sub channel: register/deregister
 *
 * An entry whose hash has expired but whose member is still in the index has lost its
 * heartbeats; a member missing from the index was deregistered on purpose.
 */
export function discoveryKeys(prefix: string, project: string, environment: string) {
  const site = `${prefix}/${siteKey(project, environment)}`
  return {
    index: site,
    channel: `${site}/events`,
    entry: (host: string, port: number) => `${site}/${memberKey(host, port)}`,
    entryOf: (member: string) => `${site}/${member}`,
  }
}
