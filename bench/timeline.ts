// Where a scenario's time goes (`--timeline`): every half second, the bytes the source has sent, what each
// target has received, what crossed the WAN, and the share of the 2 cores busy. Interface counters are read
// from /proc/<pid>/net/dev of one idle process per namespace: spawning `ip` for every sample would load the
// 2 cores whose contention is part of what is measured.
import { readFileSync, statSync } from 'node:fs'
import type { Lab } from './netns.js'
import { start, type Proc } from './proc.js'

export interface TimelineSample {
  /** Seconds since the clock started. */
  t: number
  /** Share of the 2 cores busy since the previous sample. */
  busy: number
  /** Cumulative bytes since the clock started, by column (`source tx`, a target's name for its rx, `WAN A→B`). */
  bytes: Record<string, number>
}

/** Busy and total jiffies of all cores, from /proc/stat. */
export function cpuTimes(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
  const total = line.reduce((a, b) => a + b, 0)
  const idle = (line[3] ?? 0) + (line[4] ?? 0)
  return { busy: total - idle, total }
}

/** One idle process per namespace whose interfaces the timeline reads, started once per lab. */
export type Probes = Map<string, Proc>

/** Starts the probes and waits until each runs inside its namespace (before that it would read the root's). */
export async function startProbes(lab: Lab): Promise<Probes> {
  const namespaces = new Set([lab.source.ns, ...lab.targets.map((h) => h.ns), ...(lab.wan ? [lab.wan.aNs] : [])])
  const probes: Probes = new Map([...namespaces].map((ns) => [ns, start(`probe/${ns}`, 'sleep', ['86400'], { ns })]))
  const deadline = performance.now() + 5000
  for (const [ns, p] of probes) {
    const want = statSync(`/run/netns/${ns}`).ino
    while (inode(p.pid) !== want) {
      if (performance.now() > deadline) throw new Error(`timeline probe for ${ns} did not enter its namespace`)
      await new Promise((r) => setTimeout(r, 10))
    }
  }
  return probes
}

function inode(pid: number): number | null {
  try {
    return statSync(`/proc/${pid}/ns/net`).ino
  } catch {
    return null
  }
}

interface Column {
  name: string
  pid: number
  dev: string
  field: 'rx' | 'tx'
  base: number
}

function devBytes(pid: number, dev: string, field: 'rx' | 'tx'): number | null {
  try {
    for (const line of readFileSync(`/proc/${pid}/net/dev`, 'utf8').split('\n')) {
      const [name, rest] = line.split(':')
      if (name?.trim() !== dev || rest === undefined) continue
      const f = rest.trim().split(/\s+/)
      return Number(field === 'rx' ? f[0] : f[8])
    }
  } catch { /* the probe is gone */ }
  return null
}

export interface TimelineReport {
  columns: string[]
  samples: TimelineSample[]
}

/** Samples from its construction (the start of a scenario's clock) until `stop`. */
export class Timeline {
  private readonly samples: TimelineSample[] = []
  private readonly columns: Column[] = []
  private readonly timer: NodeJS.Timeout
  private cpu = cpuTimes()

  constructor(lab: Lab, probes: Probes, private readonly t0: number, everyMs = 500) {
    const add = (name: string, ns: string, dev: string, field: 'rx' | 'tx') => {
      const pid = probes.get(ns)!.pid
      this.columns.push({ name, pid, dev, field, base: devBytes(pid, dev, field) ?? 0 })
    }
    add('source tx', lab.source.ns, lab.source.dev, 'tx')
    for (const h of lab.targets) add(h.name, h.ns, h.dev, 'rx')
    if (lab.wan) add('WAN A→B', lab.wan.aNs, lab.wan.aDev, 'tx')
    this.timer = setInterval(() => this.sample(), everyMs)
    this.timer.unref()
  }

  private sample(): void {
    const cpu = cpuTimes()
    const busy = (cpu.busy - this.cpu.busy) / Math.max(1, cpu.total - this.cpu.total)
    this.cpu = cpu
    const bytes: Record<string, number> = {}
    for (const c of this.columns) {
      const v = devBytes(c.pid, c.dev, c.field)
      if (v !== null) bytes[c.name] = v - c.base
    }
    this.samples.push({ t: (performance.now() - this.t0) / 1000, busy, bytes })
  }

  stop(): TimelineReport {
    clearInterval(this.timer)
    this.sample()
    return { columns: this.columns.map((c) => c.name), samples: this.samples }
  }
}
