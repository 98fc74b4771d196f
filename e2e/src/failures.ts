import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'

/**
 * Whether a test of the running file failed (set by setup.ts), so the stack it ran on can
 * print what its processes complained about and keep their logs: a CI run shows only its
 * output. Kept out of vitest's reach: the benchmarks start stacks too.
 */
const failed = Symbol.for('slipway.e2e.failed')
type Flagged = typeof globalThis & { [failed]?: boolean }

export function setTestFailed(value: boolean): void {
  ;(globalThis as Flagged)[failed] = value
}

export function aTestFailed(): boolean {
  return (globalThis as Flagged)[failed] === true
}

/** The warnings and errors of every process log in `dir` (the last `count` of each). */
export async function complaints(dir: string, count = 40): Promise<string> {
  const files = (await readdir(dir)).filter((name) => name.endsWith('.log')).sort()
  const sections = await Promise.all(
    files.map(async (name) => {
      const lines = (await readFile(path.join(dir, name), 'utf8')).split('\n').filter((line) => {
        if (!line.trim()) return false
        const level = /^\{.*"level":(\d+)/.exec(line)?.[1]
        return level === undefined || Number(level) >= 40
      })
      return `--- ${name}: ${lines.length} warnings and errors, the last ${Math.min(count, lines.length)}:\n${lines
        .slice(-count)
        .map((line) => line.slice(0, 2000))
        .join('\n')}`
    }),
  )
  return sections.join('\n')
}
