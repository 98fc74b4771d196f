import { randomBytes } from 'node:crypto'
import { copyFile, link, mkdtemp, open, readdir, readFile, rename, rm, unlink } from 'node:fs/promises'
import path from 'node:path'
import { AppError } from '@slipway/core'

export async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

/**
 * Atomically puts `text` at `file` (or removes it when undefined): written and synced under a
 * hidden name next to it (HAProxy loads no hidden file from a folder), then renamed.
 */
export async function replaceFile(file: string, text: string | undefined): Promise<void> {
  if (text === undefined) {
    await unlink(file).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error
    })
    return
  }
  const candidate = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(4).toString('hex')}`)
  const handle = await open(candidate, 'w', 0o644)
  try {
    await handle.writeFile(text, 'utf8')
    await handle.sync()
  } finally {
    await handle.close()
  }
  await rename(candidate, file)
}

/**
 * The secret kept in `file` (64 hex digits), made when missing: written under a hidden name
 * (mode 600) and linked in, so of two processes making it at once one wins and both read it.
 */
export async function readOrCreateSecret(file: string): Promise<string> {
  const existing = await readOptional(file)
  if (existing === undefined) {
    const candidate = path.join(
      path.dirname(file),
      `.${path.basename(file)}.${randomBytes(4).toString('hex')}`,
    )
    const handle = await open(candidate, 'wx', 0o600)
    try {
      await handle.writeFile(`${randomBytes(32).toString('hex')}\n`, 'utf8')
      await handle.sync()
    } finally {
      await handle.close()
    }
    try {
      await link(candidate, file)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    } finally {
      await unlink(candidate)
    }
  }
  const secret = (existing ?? (await readFile(file, 'utf8'))).trim()
  if (!/^[0-9a-f]{64}$/.test(secret))
    throw new AppError(
      'VALIDATION_FAILED',
      `${file} does not hold a secret (64 hex digits); remove it to make one`,
      {
        details: { file },
      },
    )
  return secret
}

/** The site files HAProxy loads from a folder: `*.cfg`, not hidden. */
export async function siteFiles(sitesDir: string): Promise<string[]> {
  return (await readdir(sitesDir)).filter((name) => name.endsWith('.cfg') && !name.startsWith('.')).sort()
}

/**
 * Runs `work` on a temporary copy of the sites folder (under `parent`) in which `fileName`
 * holds `text`, or is left out when `text` is undefined; the copy is removed afterwards.
 */
export async function withCandidateSites<T>(
  parent: string,
  sitesDir: string,
  fileName: string,
  text: string | undefined,
  work: (dir: string) => Promise<T>,
): Promise<T> {
  const dir = await mkdtemp(path.join(parent, '.check-'))
  try {
    for (const name of await siteFiles(sitesDir))
      if (name !== fileName) await copyFile(path.join(sitesDir, name), path.join(dir, name))
    if (text !== undefined) await replaceFile(path.join(dir, fileName), text)
    return await work(dir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
