import { AppError } from '@slipway/core'

/**
 * Counts the live streams this process holds open, per user and in total, and refuses one
 * more past either cap with 429 RATE_LIMITED (details say which cap).
 */
export class StreamGate {
  private readonly perUser = new Map<string, number>()
  private total = 0

  constructor(private readonly limits: { perUser: number; total: number }) {}

  /** Admits a stream of `userId`; the returned function releases it (once). */
  admit(userId: string): () => void {
    const mine = this.perUser.get(userId) ?? 0
    if (mine >= this.limits.perUser) {
      throw new AppError(
        'RATE_LIMITED',
        `you already have ${mine} live streams open (at most ${this.limits.perUser}); close a tab or wait`,
        { details: { reason: 'streams-per-user', limit: this.limits.perUser } },
      )
    }
    if (this.total >= this.limits.total) {
      throw new AppError(
        'RATE_LIMITED',
        `this server holds its maximum of ${this.limits.total} live streams; try again shortly`,
        { details: { reason: 'streams-total', limit: this.limits.total } },
      )
    }
    this.perUser.set(userId, mine + 1)
    this.total++
    let released = false
    return () => {
      if (released) return
      released = true
      this.total--
      const left = (this.perUser.get(userId) ?? 1) - 1
      if (left > 0) this.perUser.set(userId, left)
      else this.perUser.delete(userId)
    }
  }
}
