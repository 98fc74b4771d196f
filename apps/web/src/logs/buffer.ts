import { stripAnsi } from './ansi.ts'

/** [seq, epoch ms, text], as the API sends log lines. */
export type Line = readonly [number, number, string]

/**
 * A stage's log in the browser: columns of plain arrays (100k lines stay cheap), appended
 * in sequence order. Lines at or below the last sequence are dropped, so a resumed stream
 * or a page fetched twice never shows a line twice.
 */
export class LogBuffer {
  readonly seqs: number[] = []
  readonly times: number[] = []
  readonly texts: string[] = []
  private plain: string[] = []

  get length(): number {
    return this.seqs.length
  }

  get lastSeq(): number {
    return this.seqs.at(-1) ?? 0
  }

  /** Appends the lines newer than what is held; returns how many were new. */
  append(lines: readonly Line[]): number {
    let added = 0
    for (const [seq, ms, text] of lines) {
      if (seq <= this.lastSeq) continue
      this.seqs.push(seq)
      this.times.push(ms)
      this.texts.push(text)
      added++
    }
    return added
  }

  /** The line without colour codes, lower-cased (for search), cached. */
  private plainLower(index: number): string {
    let text = this.plain[index]
    if (text === undefined) {
      text = stripAnsi(this.texts[index]!).toLowerCase()
      this.plain[index] = text
    }
    return text
  }

  /** Indexes of the lines containing `query` (case-insensitive), in order. */
  search(query: string): number[] {
    const needle = query.toLowerCase()
    if (!needle) return []
    const found: number[] = []
    for (let i = 0; i < this.texts.length; i++) if (this.plainLower(i).includes(needle)) found.push(i)
    return found
  }

  /** The whole log as text, one line each, with times formatted by `time`. */
  toText(time: ((ms: number) => string) | null): string {
    const out: string[] = new Array(this.texts.length)
    for (let i = 0; i < this.texts.length; i++) {
      const text = stripAnsi(this.texts[i]!)
      out[i] = time && Number.isFinite(this.times[i]) ? `${time(this.times[i]!)}  ${text}` : text
    }
    return `${out.join('\n')}\n`
  }
}

/** Rows to render for a scroll position: the visible ones plus `overscan` each side. */
export function visibleRange(
  scrollTop: number,
  viewportHeight: number,
  rowHeight: number,
  count: number,
  overscan = 20,
): { start: number; end: number } {
  const first = Math.floor(Math.max(0, scrollTop) / rowHeight)
  const shown = Math.ceil(viewportHeight / rowHeight) + 1
  return {
    start: Math.max(0, first - overscan),
    end: Math.min(count, first + shown + overscan),
  }
}
