import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { describe, expect, it } from 'vitest'
import { childPids, workersExited } from './workers.ts'

/** A shell with two children (like an nginx master with two workers); prints their pids. */
async function parentWithTwoChildren() {
  const shell = spawn('sh', ['-c', 'sleep 30 & a=$!; sleep 30 & b=$!; echo "$a $b"; wait'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const [line] = (await once(shell.stdout, 'data')) as [Buffer]
  const children = line.toString().trim().split(' ').map(Number)
  return { shell, children: children.sort((a, b) => a - b) }
}

/** Kills `pid` if it still runs. */
function stop(pid: number): void {
  try {
    process.kill(pid)
  } catch {
    // already gone
  }
}

describe('nginx worker tracking', () => {
  it('lists the children of a process, and sees them exit', async () => {
    const { shell, children } = await parentWithTwoChildren()
    try {
      expect(await childPids(shell.pid ?? 0)).toEqual(children)
      expect(await workersExited(shell.pid ?? 0, children, { limitMs: 100 })).toBe(false)
      for (const pid of children) process.kill(pid)
      expect(await workersExited(shell.pid ?? 0, children, { limitMs: 5000 })).toBe(true)
    } finally {
      for (const pid of children) stop(pid)
      shell.kill()
    }
  })

  it('lists no child for a process that is gone', async () => {
    const { shell, children } = await parentWithTwoChildren()
    for (const pid of children) process.kill(pid)
    shell.kill()
    await once(shell, 'exit')
    expect(await childPids(shell.pid ?? 0)).toEqual([])
  })
})
