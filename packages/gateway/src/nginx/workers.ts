import { readdir, readFile, readlink } from 'node:fs/promises'

/**
 * After a reload the nginx master starts new workers, waits ~100 ms, and only then tells the
 * old ones to stop accepting. A fresh connection in that window may still be served with the
 * old config. These helpers let the applier wait until no old worker holds a site's listening
 * socket (Linux /proc; elsewhere they report "unknown" and the applier does not wait).
 */

/**
 * Pids of the master's children (its workers and cache processes): from the kernel's list of
 * the master's children when it keeps one (one read), else by scanning every process.
 */
export async function childPids(masterPid: number): Promise<number[] | undefined> {
  // nginx's master is single-threaded: its main thread's children are all of them.
  const list = `/proc/${masterPid}/task/${masterPid}/children`
  const listed = await readFile(list, 'utf8').catch(() => undefined)
  if (listed !== undefined)
    return listed
      .split(' ')
      .filter((pid) => /^\d+$/.test(pid))
      .map(Number)
      .sort((a, b) => a - b)
  let entries: string[]
  try {
    entries = await readdir('/proc')
  } catch {
    return undefined
  }
  const children: number[] = []
  await Promise.all(
    entries
      .filter((name) => /^\d+$/.test(name))
      .map(async (name) => {
        if ((await parentOf(Number(name))) === masterPid) children.push(Number(name))
      }),
  )
  return children.sort((a, b) => a - b)
}

/** Inode of the socket listening on 127.0.0.1:port, from /proc/net/tcp. */
export async function listeningInode(port: number): Promise<string | undefined> {
  const table = await readFile('/proc/net/tcp', 'utf8').catch(() => '')
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`
  for (const line of table.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/)
    if (fields[1] === local && fields[3] === '0A') return fields[9]
  }
  return undefined
}

/** Whether the process has the socket open: false once it exited or closed it. */
export async function holdsSocket(pid: number, inode: string): Promise<boolean | undefined> {
  let fds: string[]
  try {
    fds = await readdir(`/proc/${pid}/fd`)
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? false : undefined
  }
  const wanted = `socket:[${inode}]`
  const links = await Promise.all(fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')))
  return links.includes(wanted)
}

/** The parent pid of `pid`, undefined once it is gone. */
async function parentOf(pid: number): Promise<number | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
  // pid (comm) state ppid ...: comm may hold spaces and parentheses, the last ")" ends it.
  return stat ? Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) : undefined
}

/**
 * Waits until none of `pids` (workers of an earlier config generation) is a child of
 * `master` any more: nginx lets such a worker finish the requests it accepted, then it
 * exits. True once they are gone, false when `limitMs` passed first or `signal` aborted.
 */
export async function workersExited(
  master: number,
  pids: readonly number[],
  options: { limitMs: number; pollMs?: number; signal?: AbortSignal },
): Promise<boolean> {
  const deadline = performance.now() + options.limitMs
  let left = [...pids]
  for (;;) {
    const alive = await Promise.all(left.map(async (pid) => (await parentOf(pid)) === master))
    left = left.filter((_, i) => alive[i])
    if (left.length === 0) return true
    if (performance.now() > deadline || options.signal?.aborted) return false
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 20))
  }
}
