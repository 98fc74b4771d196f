/**
 * Ref rules: which pushed branches and tags start a pipeline. Patterns are globs over the
 * short ref name: `*` matches within one path segment, `**` across segments, everything
 * else literally ("main", "release/*", "v*", "hotfix/**").
 */
export function refMatches(pattern: string, ref: string): boolean {
  let regex = '^'
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i] as string
    if (char === '*') {
      if (pattern[i + 1] === '*') {
        regex += '.*'
        i++
      } else {
        regex += '[^/]*'
      }
    } else {
      regex += char.replace(/[.+?^${}()|[\]\\]/g, '\\$&')
    }
  }
  return new RegExp(`${regex}$`).test(ref)
}

export type PushedRef = { kind: 'branch' | 'tag'; name: string }

/** `refs/heads/x` -> branch x, `refs/tags/v1` -> tag v1, anything else -> undefined. */
export function parsePushedRef(fullRef: string): PushedRef | undefined {
  if (fullRef.startsWith('refs/heads/')) return { kind: 'branch', name: fullRef.slice('refs/heads/'.length) }
  if (fullRef.startsWith('refs/tags/')) return { kind: 'tag', name: fullRef.slice('refs/tags/'.length) }
  return undefined
}

export function refSelected(
  ref: PushedRef,
  rules: { branchRules: readonly string[]; tagRules: readonly string[] },
) {
  const patterns = ref.kind === 'branch' ? rules.branchRules : rules.tagRules
  return patterns.some((pattern) => refMatches(pattern, ref.name))
}
