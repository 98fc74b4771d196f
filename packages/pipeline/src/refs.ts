import { minimatch } from 'minimatch'

/**
 * Minimatch's glob syntax without the parts that make no sense for ref names: no brace
 * expansion, no extglobs (`+(a|b)`), no comments or negation; dots are ordinary characters.
 * Minimatch (11) matches each path segment with a state machine that never backtracks
 * (@isaacs/nonrecursive-glob-match), not a regular expression built from the pattern, so no
 * pattern a maintainer writes can make a delivery run without end.
 */
const globOptions = {
  dot: true,
  nobrace: true,
  noext: true,
  nocomment: true,
  nonegate: true,
  platform: 'linux',
} as const

/**
 * Ref rules: which pushed branches and tags start a pipeline. Patterns are globs over the
 * short ref name: `*` matches within one path segment, `**` as a whole segment matches any
 * number of segments ("main", "release/*", "v*", "hotfix/**"). The project contract admits
 * only letters, digits, `. _ - /` and `*` in a rule; the matcher also knows `?` and `[...]`.
 */
export function refMatches(pattern: string, ref: string): boolean {
  return minimatch(ref, pattern, globOptions)
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
