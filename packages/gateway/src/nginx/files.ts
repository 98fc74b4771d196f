import { randomBytes } from 'node:crypto'
import { open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises'
import path from 'node:path'
import { AppError } from '@slipway/core'
import type { NginxTarget } from './target.ts'

const safePath = /^\/[A-Za-z0-9_./-]*$/

/** Paths go into nginx directives: only plain absolute paths are accepted. */
export function assertTargetPaths(target: NginxTarget): void {
  for (const field of ['prefix', 'config', 'pidFile', 'sitesDir', 'errorLog'] as const) {
    if (!safePath.test(target[field]))
      throw new AppError('VALIDATION_FAILED', `nginx ${field} ${JSON.stringify(target[field])} is invalid`, {
        details: { field },
      })
  }
}

export async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

/** Writes a file durably under a temporary name next to `file`; returns that name. */
export async function writeCandidate(file: string, text: string): Promise<string> {
  const candidate = path.join(
    path.dirname(file),
    `.${path.basename(file)}.candidate-${randomBytes(4).toString('hex')}`,
  )
  const handle = await open(candidate, 'w', 0o644)
  try {
    await handle.writeFile(text, 'utf8')
    await handle.sync()
  } finally {
    await handle.close()
  }
  return candidate
}

/** Atomically puts `text` at `file` (or removes it when undefined). */
export async function replaceFile(file: string, text: string | undefined): Promise<void> {
  if (text === undefined) {
    await unlink(file).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error
    })
    return
  }
  await rename(await writeCandidate(file, text), file)
}

export async function removeQuietly(file: string): Promise<void> {
  await unlink(file).catch(() => undefined)
}

/**
 * The main config with its `include <sitesDir>/*.conf;` replaced by the site files it would
 * include, one of them swapped for a candidate (or left out): what `nginx -t` checks before
 * anything in the sites folder changes.
 */
export async function testConfigText(
  target: NginxTarget,
  fileName: string,
  candidate: string | undefined,
): Promise<string> {
  const main = await readFile(target.config, 'utf8')
  const escaped = target.sitesDir.replaceAll(/[.*+?^${}()|[\]\\/]/g, '\\$&')
  const include = new RegExp(`include\\s+["']?${escaped}/\\*\\.conf["']?\\s*;`)
  if (!include.test(main))
    throw new AppError(
      'VALIDATION_FAILED',
      `${target.config} does not include ${target.sitesDir}/*.conf; the gateway cannot test its sites`,
    )
  const names = new Set((await readdir(target.sitesDir)).filter((name) => name.endsWith('.conf')))
  names.delete(fileName)
  const files = [...names].map((name) => ({ name, file: path.join(target.sitesDir, name) }))
  if (candidate) files.push({ name: fileName, file: candidate })
  files.sort((a, b) => (a.name < b.name ? -1 : 1))
  return main.replace(include, files.map(({ file }) => `include ${file};`).join('\n  '))
}

export async function fileSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size
  } catch {
    return 0
  }
}

/** Error lines nginx appended to its log since `offset` (at most 16 KiB read). */
export async function errorsSince(file: string, offset: number): Promise<string[]> {
  const handle = await open(file, 'r').catch(() => undefined)
  if (!handle) return []
  try {
    const size = (await handle.stat()).size
    if (size <= offset) return []
    const length = Math.min(size - offset, 16 * 1024)
    const buffer = Buffer.alloc(length)
    await handle.read(buffer, 0, length, size - length)
    return buffer
      .toString('utf8')
      .split('\n')
      .filter((line) => /\[(emerg|alert|crit)\]/.test(line))
  } finally {
    await handle.close()
  }
}
