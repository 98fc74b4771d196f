import { readFileSync, writeFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { type ErrorCode, errorCodes, errorTable, httpStatusOf, isRetryableCode } from './errors.ts'

const docPath = new URL('../../../docs/ERRORS.md', import.meta.url)
const start = '<!-- error-table:start (generated from packages/contracts/src/errors.ts by errors.test.ts) -->'
const end = '<!-- error-table:end -->'

/** docs/ERRORS.md's table, rendered from errorTable (column widths as the formatter leaves them). */
function renderTable(): string {
  const rows = [
    ['code', 'HTTP', 'retried', 'meaning'],
    ...errorCodes.map((code) => {
      const spec = errorTable[code]
      return [`\`${code}\``, String(spec.status), spec.retryable ? 'yes' : 'no', spec.meaning]
    }),
  ]
  const widths = rows[0]!.map((_, column) => Math.max(3, ...rows.map((row) => row[column]!.length)))
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`
  const [head, ...body] = rows
  return [line(head!), line(widths.map((width) => '-'.repeat(width))), ...body.map(line)].join('\n')
}

/** The cells of a markdown table, trimmed, without the separator row. */
function cells(table: string): string[][] {
  return table
    .trim()
    .split('\n')
    .map((row) =>
      row
        .trim()
        .replace(/^\||\|$/g, '')
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim()),
    )
    .filter((row) => !row.every((cell) => /^:?-+:?$/.test(cell)))
}

describe('the error table', () => {
  test('gives every code a status and a retry decision, and the API and worker helpers read it', () => {
    expect(Object.keys(errorTable).sort()).toEqual([...errorCodes].sort())
    for (const code of errorCodes) {
      expect(httpStatusOf(code)).toBe(errorTable[code].status)
      expect(isRetryableCode(code)).toBe(errorTable[code].retryable)
    }
  })

  test('retries only what the infrastructure may fix by itself', () => {
    const retried = errorCodes.filter(isRetryableCode).sort()
    expect(retried).toEqual<ErrorCode[]>([
      'DEPENDENCY_UNAVAILABLE',
      'HOST_UNREACHABLE',
      'PULL_FAILED',
      'PUSH_FAILED',
      'RATE_LIMITED',
      'REGISTRY_UNREACHABLE',
      'TIMEOUT',
    ])
    // A precondition is its own code now, not a validation failure, and never retried.
    expect(errorTable.PRECONDITION_FAILED).toMatchObject({ status: 409, retryable: false })
  })

  test('docs/ERRORS.md shows the same table (SLIPWAY_WRITE_DOCS=1 rewrites it)', () => {
    const doc = readFileSync(docPath, 'utf8')
    const from = doc.indexOf(start)
    const to = doc.indexOf(end)
    expect(from, `docs/ERRORS.md has no ${start} marker`).toBeGreaterThan(-1)
    expect(to).toBeGreaterThan(from)
    const table = renderTable()
    if (process.env.SLIPWAY_WRITE_DOCS === '1') {
      writeFileSync(docPath, `${doc.slice(0, from + start.length)}\n\n${table}\n\n${doc.slice(to)}`)
      return
    }
    expect(cells(doc.slice(from + start.length, to))).toEqual(cells(table))
  })
})
