/**
 * Positions in HAProxy's `slipway-traffic` ring. The ring has no sequence numbers, so a
 * position is the run of ring lines just before it (an "anchor"): the last `anchorLength`
 * lines already accounted for. Lines carry ms timestamps and timers, so the same run of 32
 * lines appearing twice is not expected; if it does, the last occurrence wins.
 */
export const anchorLength = 32

/** The last `length` lines: the anchor of the position after them. */
export function tailOf(lines: readonly string[], length = anchorLength): string[] {
  return lines.slice(Math.max(0, lines.length - length))
}

/**
 * The index just after the last occurrence of `anchor` in `lines`, or undefined when the
 * anchor is empty or not there (the ring wrapped past it, or it is another process's ring).
 */
export function indexAfter(lines: readonly string[], anchor: readonly string[]): number | undefined {
  const size = anchor.length
  if (size === 0) return undefined
  for (let end = lines.length; end >= size; end--) {
    let at = 0
    while (at < size && lines[end - size + at] === anchor[at]) at++
    if (at === size) return end
  }
  return undefined
}

/**
 * Finds, in a stream of lines, the end of a run already seen (`anchor`), within the first
 * `within` lines: `feed` answers false for lines up to and including the run, true after it
 * (at once when the anchor is empty). When the run has not ended by line `within`, the
 * skipper gives up (`gaveUp`) and answers true from then on.
 */
export class AnchorSkipper {
  readonly #anchor: readonly string[]
  readonly #within: number
  readonly #window: string[] = []
  #seen = 0
  #done: boolean
  gaveUp = false

  constructor(anchor: readonly string[], within: number) {
    this.#anchor = anchor
    this.#within = Math.max(within, anchor.length)
    this.#done = anchor.length === 0
  }

  /** Lines held back so far (re-reads of the anchor's side, or lost when it gave up). */
  get skipped(): number {
    return this.#seen
  }

  get matched(): boolean {
    return this.#done && !this.gaveUp
  }

  feed(line: string): boolean {
    if (this.#done) return true
    this.#seen++
    this.#window.push(line)
    if (this.#window.length > this.#anchor.length) this.#window.shift()
    if (this.#window.length === this.#anchor.length && this.#window.every((l, i) => l === this.#anchor[i])) {
      this.#done = true
      return false
    }
    if (this.#seen >= this.#within) {
      this.#done = true
      this.gaveUp = true
    }
    return false
  }
}
