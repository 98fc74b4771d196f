/**
 * Runs tasks that share a key one after another in this process; other keys run in parallel.
 * Used where the database serializes anyway (a per-project advisory lock): waiting here, not
 * inside a transaction, keeps the connection pool free for everything else.
 */
export function keyedSerial(): <T>(key: string, task: () => Promise<T>) => Promise<T> {
  const tails = new Map<string, Promise<unknown>>()
  return async (key, task) => {
    const result = (tails.get(key) ?? Promise.resolve()).then(task)
    // The next task waits for this one to settle either way; a failure is its caller's, who
    // gets it from `await result` below.
    const tail = Promise.allSettled([result])
    tails.set(key, tail)
    try {
      return await result
    } finally {
      if (tails.get(key) === tail) tails.delete(key)
    }
  }
}
