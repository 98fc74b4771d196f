import { execFile } from 'node:child_process'
import { AppError } from '@slipway/core'

/** Environment variables for git (PATH, HOME, proxies, an SSH agent...). */
export type GitEnv = Readonly<Record<string, string | undefined>>

export interface GitOptions {
  signal?: AbortSignal
  /** Default 60 s for fetches, 20 s for ls-remote. */
  timeoutMs?: number
  /**
   * The environment git runs in, handed over by the app from its env module (`gitEnvOf` in
   * @slipway/core picks what git needs). Absent, git inherits the process's own (tests).
   */
  env?: GitEnv
}

const sshCommand = 'ssh -o BatchMode=yes -o ConnectTimeout=10'

/** Git never prompts (no terminal, no password) and never waits on an SSH host-key question. */
const noPrompt = {
  GIT_TERMINAL_PROMPT: '0',
  GIT_SSH_COMMAND: sshCommand,
  GIT_ASKPASS: 'true',
  LC_ALL: 'C',
}

/** The same as settings, for a git that inherits an environment Slipway did not build. */
const noPromptArgs = ['-c', 'core.askPass=true', '-c', `core.sshCommand=${sshCommand}`]

/** Hides credentials embedded in a URL (https://user:token@host/...). */
export function maskUrl(text: string): string {
  return text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, '$1***@')
}

export function git(args: string[], options: GitOptions & { cwd?: string } = {}): Promise<string> {
  return gitRun(args, options).then(({ stdout }) => stdout)
}

/**
 * Runs git and answers with its exit code when it is one of `answers` (e.g. 1 for "no" from
 * `merge-base --is-ancestor`); any other failure rejects as `git` does.
 */
export async function gitAnswer(
  args: string[],
  answers: number[],
  options: GitOptions & { cwd?: string } = {},
): Promise<number> {
  return (await gitRun(args, { ...options, answers })).code
}

function gitRun(
  args: string[],
  options: GitOptions & { cwd?: string; answers?: number[] },
): Promise<{ stdout: string; code: number }> {
  const command = args.find((arg, index) => !arg.startsWith('-') && args[index - 1] !== '-c') ?? 'git'
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 60_000)
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      options.env ? args : [...noPromptArgs, ...args],
      {
        cwd: options.cwd,
        env: options.env ? { ...options.env, ...noPrompt } : undefined,
        signal,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (!error) return resolve({ stdout, code: 0 })
        if (typeof error.code === 'number' && options.answers?.includes(error.code) && !signal.aborted)
          return resolve({ stdout, code: error.code })
        if (signal.aborted) {
          const canceled = options.signal?.aborted && !timeout.aborted
          return reject(
            new AppError(
              canceled ? 'CANCELED' : 'TIMEOUT',
              `git ${command} ${canceled ? 'was canceled' : 'timed out'}`,
            ),
          )
        }
        const message = maskUrl((stderr || error.message).trim())
        // The raw error's message is the whole command line, credentials in the URL included:
        // the cause keeps the exit code and a masked message only (loggers print causes).
        const cause = Object.assign(new Error(maskUrl(error.message)), { code: error.code })
        reject(new AppError('DEPENDENCY_UNAVAILABLE', `git ${command} failed: ${message}`, { cause }))
      },
    )
  })
}
