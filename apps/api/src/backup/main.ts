/**
 * `slipway backup [file]` and `slipway restore <file> [--replace]`: see backup.ts. Reads
 * DATABASE_URL and SLIPWAY_SECRET_KEYS (apps/api/src/env.ts loadOpsEnv). Exit 0 on success,
 * 1 with the reason on one line otherwise.
 */
import path from 'node:path'
import { isAppError, parseKeyring } from '@slipway/core'
import { loadOpsEnv } from '../env.ts'
import { backup, restore } from './backup.ts'

function say(line: string): void {
  process.stdout.write(`${line}\n`)
}

const keysLine = (keys: Record<string, number>) =>
  Object.keys(keys).length === 0
    ? 'no stored secrets'
    : Object.entries(keys)
        .map(([id, count]) => `key "${id}" sealed ${count}`)
        .join(', ')

async function main(argv: string[]): Promise<void> {
  const [command, file, ...rest] = argv
  const env = loadOpsEnv()
  if (command === 'backup') {
    const target = path.resolve(file ?? `slipway-${new Date().toISOString().replace(/[:.]/g, '-')}.dump`)
    const summary = await backup({ databaseUrl: env.DATABASE_URL, file: target })
    say(
      `backup: ${summary.file} (${(summary.bytes / 1024).toFixed(0)} KiB, migration ${summary.migration ?? 'unknown'})`,
    )
    say(
      `secrets: ${keysLine(summary.keys)}; the keyring is not in the backup: keep SLIPWAY_SECRET_KEYS apart`,
    )
    return
  }
  if (command === 'restore' && file) {
    const replace = rest.includes('--replace')
    const summary = await restore({
      databaseUrl: env.DATABASE_URL,
      file: path.resolve(file),
      keyIds: [...parseKeyring(env.SLIPWAY_SECRET_KEYS).keys()],
      replace,
    })
    say(
      `restored ${file} (migration ${summary.migration ?? 'unknown'}); secrets: ${keysLine(summary.keys)}, all openable`,
    )
    return
  }
  throw new Error('usage: backup [file] | restore <file> [--replace]')
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`${isAppError(error) ? `${error.code}: ` : ''}${(error as Error).message}\n`)
  process.exit(1)
})
