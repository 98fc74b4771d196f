import { appendFile, mkdir } from 'node:fs/promises'
import path from 'node:path'

/**
 * One row of docs/RELIABILITY.md: a fault, load, hostile-input or access check, stated as
 * what was done, what was expected and what was seen. The test that makes the row asserts the
 * expectation first (a regression fails the test); it then records the row so `./slipway
 * report` can write the table. Outside a report run (no SLIPWAY_REPORT_DIR) recording is a
 * no-op, so the same tests run in CI unchanged.
 */
export interface ReliabilityRow {
  section: 'fault' | 'load' | 'hostile' | 'access'
  /** Stable key, one per row: `worker-killed-during-push`. A later record of the same id replaces the earlier. */
  id: string
  /** What was done, in a user's words. */
  done: string
  /** What must be true (the bound the test asserts). */
  expected: string
  /** What this run saw: states, counts, times. */
  observed: string
  /** Seconds from the fault to the pipeline or service being whole again, when that is the measure. */
  recoverySeconds?: number
  /** Kept-alive requests through the gateway during the row (failed of total). */
  requests?: { failed: number; total: number }
  /** Extra figures (load and fuzz rows): name -> value with its unit. */
  figures?: Record<string, string | number>
  /** The test file that makes the row, from the repository root. */
  test: string
  /** Whether the README's test command (CI) runs this row, or only `./slipway report`. */
  ci: boolean
}

/** Where rows go during `./slipway report`; undefined otherwise. */
export function reportDir(): string | undefined {
  const dir = process.env.SLIPWAY_REPORT_DIR
  return dir && dir.length > 0 ? dir : undefined
}

/** Appends the row to `$SLIPWAY_REPORT_DIR/rows.jsonl` (a no-op outside a report run). */
export async function recordRow(row: ReliabilityRow): Promise<void> {
  const dir = reportDir()
  if (!dir) return
  await mkdir(dir, { recursive: true })
  await appendFile(
    path.join(dir, 'rows.jsonl'),
    `${JSON.stringify({ ...row, at: new Date().toISOString() })}\n`,
  )
}

/** Seconds since `startMs`, to one decimal. */
export function secondsSince(startMs: number): number {
  return Math.round((Date.now() - startMs) / 100) / 10
}
