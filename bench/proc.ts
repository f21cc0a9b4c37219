// Child processes for the bench: optionally inside a network namespace, output teed to a log file, waits on
// log lines or exit, and one registry so that every process the bench started is killed on the way out.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** bin/murder.js of this checkout (this file compiles to dist/bench/proc.js). */
const MURDER = fileURLToPath(new URL('../../bin/murder.js', import.meta.url))

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
  /** performance.now() at exit. */
  at: number
}

export interface Line {
  stream: 'stdout' | 'stderr'
  text: string
  /** performance.now() when the line arrived. */
  at: number
  json?: Record<string, unknown>
}

export interface Proc {
  name: string
  child: ChildProcess
  pid: number
  startedAt: number
  lines: Line[]
  exited: Promise<Exit>
  exit: Exit | null
  /** First line (already seen or future) matching `match`; rejects on exit first or timeout. */
  waitLine(match: (l: Line) => boolean, timeoutMs: number): Promise<Line>
  /** Exit, or SIGKILL after `timeoutMs`. */
  waitExit(timeoutMs: number): Promise<Exit>
  kill(sig?: NodeJS.Signals): void
  /** SIGTERM, then SIGKILL after `graceMs` if still alive. */
  stop(graceMs?: number): Promise<Exit>
  tail(n?: number): string
  /** CPU seconds (user + system, with reaped children's) of the process, sampled every 250 ms while it runs. */
  cpuSeconds(): number
  /** Peak memory of the process, MB, sampled as the CPU is: resident (VmHWM) and anonymous (RssAnon, the part not shared with other processes of the same executable). */
  peakMemory(): { rssMB: number; anonMB: number }
  /** stderr lines that are not JSON log lines (Node warnings, stack traces). */
  strayStderr(): string[]
}

const live = new Set<Proc>()
/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const CLK_TCK = 100
const MAX_LINES = 20_000

export interface StartOptions {
  /** Network namespace to run in (`ip netns exec`, which execs: the pid is the command's). */
  ns?: string
  log?: string
  cwd?: string
  env?: NodeJS.ProcessEnv
}

/** VmHWM and RssAnon (KiB) of a live process; null once it is gone. */
function memoryOf(pid: number): { hwm: number; anon: number } | null {
  try {
    const st = readFileSync(`/proc/${pid}/status`, 'utf8')
    return { hwm: Number(/VmHWM:\s+(\d+)/.exec(st)?.[1] ?? 0), anon: Number(/RssAnon:\s+(\d+)/.exec(st)?.[1] ?? 0) }
  } catch {
    return null
  }
}

/** CPU seconds (user + system, with reaped children's) a live process has used; null once it is gone. */
export function cpuSecondsOf(pid: number): number | null {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / CLK_TCK
  } catch {
    return null
  }
}

export function start(name: string, cmd: string, args: string[], opts: StartOptions = {}): Proc {
  const argv = opts.ns ? ['ip', ['netns', 'exec', opts.ns, cmd, ...args]] as const : [cmd, args] as const
  const child = spawn(argv[0], argv[1], { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const log: WriteStream | null = opts.log ? createWriteStream(opts.log, { flags: 'a' }) : null
  log?.write(`# ${new Date().toISOString()} ${opts.ns ? `[ns ${opts.ns}] ` : ''}${cmd} ${args.join(' ')}\n`)
  const lines: Line[] = []
  const waiters = new Set<() => void>()
  const notify = () => { for (const w of [...waiters]) w() }
  const partial = { stdout: '', stderr: '' }
  const onData = (stream: 'stdout' | 'stderr') => (d: Buffer) => {
    log?.write(stream === 'stdout' ? d.toString().replace(/^(?=.)/gm, 'OUT ') : d)
    const text = partial[stream] + d.toString()
    const parts = text.split('\n')
    partial[stream] = parts.pop() ?? ''
    const at = performance.now()
    for (const t of parts) {
      const l: Line = { stream, text: t, at }
      if (t.startsWith('{')) {
        try { l.json = JSON.parse(t) as Record<string, unknown> } catch { /* not JSON after all */ }
      }
      lines.push(l)
      if (lines.length > MAX_LINES) lines.splice(0, lines.length - MAX_LINES)
    }
    if (parts.length) notify()
  }
  child.stdout!.on('data', onData('stdout'))
  child.stderr!.on('data', onData('stderr'))
  let cpu = 0
  const peak = { hwm: 0, anon: 0 }
  const sampleCpu = () => {
    cpu = Math.max(cpu, cpuSecondsOf(child.pid ?? -1) ?? 0)
    const m = memoryOf(child.pid ?? -1)
    if (m) {
      peak.hwm = Math.max(peak.hwm, m.hwm)
      peak.anon = Math.max(peak.anon, m.anon)
    }
  }
  const cpuTimer = setInterval(sampleCpu, 250)
  cpuTimer.unref()
  let proc: Proc
  const exited = new Promise<Exit>((resolve) => {
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      clearInterval(cpuTimer)
      const e: Exit = { code, signal, at: performance.now() }
      proc.exit = e
      live.delete(proc)
      log?.end(`# exit code=${code} signal=${signal}\n`)
      notify()
      resolve(e)
    }
    child.once('error', (err) => {
      lines.push({ stream: 'stderr', text: `spawn failed: ${err.message}`, at: performance.now() })
      once(127, null)
    })
    let finished = false
    const once = (code: number | null, signal: NodeJS.Signals | null) => {
      if (finished) return
      finished = true
      finish(code, signal)
    }
    // 'close' comes after the output is drained; a grandchild holding the pipes open must not hold us up.
    child.once('close', once)
    child.once('exit', (code, signal) => setTimeout(() => once(code, signal), 2000).unref())
  })
  proc = {
    name,
    child,
    pid: child.pid ?? -1,
    startedAt: performance.now(),
    lines,
    exited,
    exit: null,
    waitLine(match, timeoutMs) {
      return new Promise<Line>((resolve, reject) => {
        let i = 0
        const check = () => {
          for (; i < lines.length; i++) if (match(lines[i]!)) return done(() => resolve(lines[i]!))
          if (proc.exit) done(() => reject(new Error(`${name} exited (code ${proc.exit!.code}, signal ${proc.exit!.signal}) before the expected line:\n${proc.tail()}`)))
        }
        const timer = setTimeout(() => done(() => reject(new Error(`${name}: timed out after ${timeoutMs / 1000}s waiting for a line:\n${proc.tail()}`))), timeoutMs)
        const done = (f: () => void) => {
          clearTimeout(timer)
          waiters.delete(check)
          f()
        }
        waiters.add(check)
        check()
      })
    },
    async waitExit(timeoutMs) {
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs)
      try { return await exited } finally { clearTimeout(timer) }
    },
    kill(sig = 'SIGTERM') {
      if (!proc.exit) {
        try { child.kill(sig) } catch { /* already gone */ }
      }
    },
    async stop(graceMs = 5000) {
      proc.kill('SIGTERM')
      return proc.waitExit(graceMs)
    },
    cpuSeconds: () => cpu,
    peakMemory: () => ({ rssMB: (peak.hwm * 1024) / 1e6, anonMB: (peak.anon * 1024) / 1e6 }),
    strayStderr: () => lines.filter((l) => l.stream === 'stderr' && !l.json && l.text.trim() !== '').map((l) => l.text),
    tail(n = 15) {
      return lines.slice(-n).map((l) => `  ${l.text}`).join('\n')
    },
  }
  live.add(proc)
  return proc
}

/** The node options on bin/murder.js's `#!/usr/bin/env -S node …` line. */
export const SHEBANG_NODE_ARGS = readFileSync(MURDER, 'utf8').split('\n', 1)[0]!.split(/\s+/).slice(3)
/** Extra node options for every murder process the bench starts, e.g. MURDER_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof'. */
const EXTRA_NODE_ARGS = (process.env['MURDER_NODE_ARGS'] ?? '').split(/\s+/).filter(Boolean)

/** The single executable to run instead of bin/murder.js, e.g. MURDER_BINARY=dist/murder (`npm run binary`). */
const BINARY = process.env['MURDER_BINARY']

/**
 * The command line of murder as users run it: the executable, whose #! line carries its node options, or the
 * single executable named by MURDER_BINARY. With MURDER_NODE_ARGS, node runs bin/murder.js with those options
 * added: NODE_OPTIONS refuses most profiling options.
 */
export function murderCommand(args: string[]): [string, string[]] {
  if (BINARY) return [BINARY, args]
  return EXTRA_NODE_ARGS.length ? [process.execPath, [...SHEBANG_NODE_ARGS, ...EXTRA_NODE_ARGS, MURDER, ...args]] : [MURDER, args]
}

export function murder(name: string, args: string[], opts: StartOptions = {}): Proc {
  return start(name, ...murderCommand(args), opts)
}

/** Runs to completion; throws with the output if the exit code is not 0. */
export async function run(name: string, cmd: string, args: string[], opts: StartOptions & { timeoutMs?: number } = {}): Promise<{ stdout: string; stderr: string; ms: number }> {
  const p = start(name, cmd, args, opts)
  const e = await p.waitExit(opts.timeoutMs ?? 600_000)
  const stdout = p.lines.filter((l) => l.stream === 'stdout').map((l) => l.text).join('\n')
  const stderr = p.lines.filter((l) => l.stream === 'stderr').map((l) => l.text).join('\n')
  if (e.code !== 0) throw new Error(`${name}: ${cmd} ${args.join(' ')} failed (code ${e.code}, signal ${e.signal}):\n${p.tail(30)}`)
  return { stdout, stderr, ms: e.at - p.startedAt }
}

/** Short synchronous command (ip, tc): throws with its stderr on failure. */
export function sh(cmd: string, args: string[], opts: { allowFail?: boolean } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' })
  if ((r.status !== 0 || r.error) && !opts.allowFail) {
    throw new Error(`${cmd} ${args.join(' ')} failed: ${r.error?.message ?? r.stderr.trim()}`)
  }
  return r.stdout ?? ''
}

/** SIGKILLs every process the bench started that is still alive. */
export async function killAll(): Promise<void> {
  const procs = [...live]
  for (const p of procs) p.kill('SIGKILL')
  await Promise.race([Promise.all(procs.map((p) => p.exited)), new Promise((r) => setTimeout(r, 3000))])
}

export function liveCount(): number {
  return live.size
}

/** Samples VmHWM (peak resident memory, KiB) of a pid until it exits; the last value read. */
export function watchPeakMemory(pid: number, everyMs = 100): { stop: () => number; peakKiB: () => number } {
  let peak = 0
  const read = async () => {
    try {
      const { readFile } = await import('node:fs/promises')
      const s = await readFile(`/proc/${pid}/status`, 'utf8')
      const m = /VmHWM:\s+(\d+) kB/.exec(s)
      if (m) peak = Math.max(peak, Number(m[1]))
    } catch { /* gone */ }
  }
  void read()
  const t = setInterval(() => void read(), everyMs)
  t.unref()
  return { stop: () => { clearInterval(t); return peak }, peakKiB: () => peak }
}

/**
 * Calls `onStall` once when a murder seed/peer's `progress` log lines show no new bytes received for
 * `stallMs` (progress lines come every 5 s). Returns a function that stops watching.
 */
export function watchStall(p: Proc, stallMs: number, onStall: (description: string) => void): () => void {
  let last = -1
  let changedAt = performance.now()
  const timer = setInterval(() => {
    const prog = [...p.lines].reverse().find((l) => l.json?.['msg'] === 'progress')?.json
    if (!prog) return
    const received = Number(prog['received'])
    if (received !== last) {
      last = received
      changedAt = performance.now()
    } else if (performance.now() - changedAt > stallMs) {
      clearInterval(timer)
      onStall(`stalled: no bytes received for ${stallMs / 1000} s at ${String(prog['pieces'])}/${String(prog['pieceCount'])} pieces with ${String(prog['peers'])} peer(s) connected`)
    }
  }, 1000)
  timer.unref()
  return () => clearInterval(timer)
}
