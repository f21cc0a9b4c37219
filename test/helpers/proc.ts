import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const MURDER = fileURLToPath(new URL('../../../bin/murder.js', import.meta.url))

export interface Proc {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  /** Resolves with the first JSON log line (stderr) for which `match` holds. */
  logLine: (match: (line: Record<string, unknown>) => boolean, timeoutMs?: number) => Promise<Record<string, unknown>>
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  kill: (sig?: NodeJS.Signals) => void
}

const live = new Set<ChildProcess>()
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL')
})

/** Starts a process and records its output; every process started here is killed when the test run exits. */
export function start(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Proc {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  live.add(child)
  let out = ''
  let err = ''
  let errLines: string[] = []
  const waiters: (() => void)[] = []
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString()
    errLines = err.split('\n')
    for (const w of [...waiters]) w()
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      live.delete(child)
      for (const w of [...waiters]) w()
      resolve({ code, signal })
    }))
  const logLine = (match: (line: Record<string, unknown>) => boolean, timeoutMs = 30_000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const check = () => {
        for (const l of errLines) {
          if (!l.startsWith('{')) continue
          try {
            const j = JSON.parse(l) as Record<string, unknown>
            if (match(j)) return done(() => resolve(j))
          } catch { /* a partial line: wait for more */ }
        }
        if (child.exitCode !== null || child.signalCode !== null) done(() => reject(new Error(`${cmd} ${args.join(' ')} exited before the expected log line:\n${err}`)))
      }
      const timer = setTimeout(() => done(() => reject(new Error(`timed out waiting for a log line from ${args[0] ?? cmd}:\n${err}`))), timeoutMs)
      const done = (f: () => void) => {
        clearTimeout(timer)
        const i = waiters.indexOf(check)
        if (i >= 0) waiters.splice(i, 1)
        f()
      }
      waiters.push(check)
      check()
    })
  return { child, stdout: () => out, stderr: () => err, logLine, exited, kill: (sig = 'SIGTERM') => child.kill(sig) }
}

export function murder(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Proc {
  return start(MURDER, args, opts)
}

/** Runs murder to completion, failing if it takes longer than `timeoutMs`. */
export async function runMurder(args: string[], timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = murder(args)
  const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs)
  const { code } = await p.exited
  clearTimeout(timer)
  return { code, stdout: p.stdout(), stderr: p.stderr() }
}
