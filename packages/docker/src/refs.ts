/** Image references: `registry/repo:tag` and `registry/repo@sha256:...`. */

const digestPattern = /^sha256:[a-f0-9]{64}$/

export function isDigest(value: string): boolean {
  return digestPattern.test(value)
}

export function imageTagRef(registry: string, repository: string, tag: string): string {
  return `${registry}/${repository}:${tag}`
}

export function imageDigestRef(registry: string, repository: string, digest: string): string {
  if (!isDigest(digest)) throw new Error(`not a sha256 digest: ${digest}`)
  return `${registry}/${repository}@${digest}`
}

/** Splits `host:port/path/name:tag` into the name and the tag (default latest). */
export function splitTag(reference: string): { name: string; tag: string } {
  const at = reference.indexOf('@')
  if (at >= 0) return { name: reference.slice(0, at), tag: reference.slice(at + 1) }
  const colon = reference.lastIndexOf(':')
  if (colon > reference.lastIndexOf('/'))
    return { name: reference.slice(0, colon), tag: reference.slice(colon + 1) }
  return { name: reference, tag: 'latest' }
}
