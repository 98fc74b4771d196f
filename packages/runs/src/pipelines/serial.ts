/**
 * Runs tasks that share a key one after another in this process; other keys run in parallel.
 * Used where the database serializes anyway (a per-project advisory lock): waiting here, not
 * inside a transaction, keeps the connection pool free for everything else.
 */
export function keyedSerial(): <T>(key: string, task: () => Promise<T>) => Promise<T> {
  const tails = new Map<string, Promise<unknown>>()
  return async (key, task) => {
    const result = (tails.get(key) ?? Promise.resolve()).then(task)
    // The next task waits for this one to end, whatever its outcome; its caller gets the error.
    const tail = result.then(
      () => undefined,
      () => undefined,
    )
    tails.set(key, tail)
    try {
      return await result
    } finally {
      if (tails.get(key) === tail) tails.delete(key)
    }
  }
}
