/**
 * A small mergeable latency histogram with log-spaced buckets (HdrHistogram's idea at a
 * fixed, coarse precision): bucket `i >= 1` holds [minMs·g^(i-1), minMs·g^i) with g = 1.1 and
 * answers with its geometric middle, so a percentile is within ~5% (sqrt(1.1) - 1 = 4.9%) of
 * the exact one for values in [minMs, maxMs]. Bucket 0 holds what is below `minMs` (HAProxy's
 * 0 ms) and answers 0; values from `maxMs` up land in the last bucket and answer `maxMs`.
 * 148 buckets cover 0.1 ms..120 s; merging adds counts, so the histogram of two merged ones
 * is exactly the histogram of the two samples together.
 */
export const histogramMinMs = 0.1
export const histogramMaxMs = 120_000
const growth = 1.1
const logGrowth = Math.log(growth)
const rangeBuckets = Math.ceil(Math.log(histogramMaxMs / histogramMinMs) / logGrowth)
const overflowBucket = rangeBuckets + 1

/** The largest relative error of a percentile for values in [minMs, maxMs]. */
export const histogramRelativeError = Math.sqrt(growth) - 1

/** Sparse counts as `[bucket, count]` pairs sorted by bucket: how a histogram is stored. */
export type HistogramPairs = [number, number][]

function bucketOf(ms: number): number {
  if (!(ms >= histogramMinMs)) return 0
  if (ms >= histogramMaxMs) return overflowBucket
  return Math.min(rangeBuckets, Math.floor(Math.log(ms / histogramMinMs) / logGrowth) + 1)
}

function bucketValue(bucket: number): number {
  if (bucket <= 0) return 0
  if (bucket >= overflowBucket) return histogramMaxMs
  return histogramMinMs * growth ** (bucket - 1) * Math.sqrt(growth)
}

export class LatencyHistogram {
  readonly #counts = new Map<number, number>()
  #total = 0

  /** Builds one from stored pairs; pairs that are not `[bucket, count]` are rejected. */
  static fromPairs(pairs: unknown): LatencyHistogram {
    const histogram = new LatencyHistogram()
    if (!Array.isArray(pairs)) throw new TypeError('a histogram is an array of [bucket, count] pairs')
    for (const pair of pairs) {
      const [bucket, count] = Array.isArray(pair) ? pair : []
      if (!isCount(bucket) || bucket > overflowBucket || !isCount(count))
        throw new TypeError(`invalid histogram pair ${JSON.stringify(pair)}`)
      histogram.#addToBucket(bucket, count)
    }
    return histogram
  }

  get count(): number {
    return this.#total
  }

  /** Records one latency (ms). */
  add(ms: number, times = 1): this {
    this.#addToBucket(bucketOf(ms), times)
    return this
  }

  /** Adds every count of `other` into this one. */
  merge(other: LatencyHistogram): this {
    for (const [bucket, count] of other.#counts) this.#addToBucket(bucket, count)
    return this
  }

  /**
   * The `q` quantile (0 < q <= 1) by nearest rank: the value of the bucket holding the
   * ceil(q·n)-th smallest sample. Undefined when empty.
   */
  percentile(q: number): number | undefined {
    if (this.#total === 0) return undefined
    const rank = Math.min(this.#total, Math.max(1, Math.ceil(q * this.#total)))
    let seen = 0
    for (const bucket of [...this.#counts.keys()].sort((a, b) => a - b)) {
      seen += this.#counts.get(bucket) ?? 0
      if (seen >= rank) return bucketValue(bucket)
    }
    return undefined
  }

  toPairs(): HistogramPairs {
    return [...this.#counts.entries()].sort((a, b) => a[0] - b[0])
  }

  #addToBucket(bucket: number, count: number): void {
    if (count <= 0) return
    this.#counts.set(bucket, (this.#counts.get(bucket) ?? 0) + count)
    this.#total += count
  }
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0
}
