// What every lab scenario gets and returns, and the parts they share: the clock, counters, verification.
import { mkdir, rm } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { counters, qdiscDrops, type HostSpec, type Lab } from '../netns.js'
import type { Payload } from '../payload.js'
import { treeDigestOrNull } from '../payload.js'
import { cpuSecondsOf, murder, murderCommand, run, start, type Proc } from '../proc.js'
import { cpuTimes, Timeline, type Probes, type TimelineReport } from '../timeline.js'

export type ScenarioName = 'rsync' | 'murder' | 'aria2c' | 'libtorrent' | 'murder-ssl'
/**
 * The default scenarios; `libtorrent` (Debian's python3-libtorrent) and `murder-ssl` (an SSL torrent: TLS
 * between all peers) run when named.
 */
export const SCENARIOS: readonly ScenarioName[] = ['rsync', 'murder', 'aria2c']
export const ALL_SCENARIOS: readonly ScenarioName[] = [...SCENARIOS, 'libtorrent', 'murder-ssl']

export interface LabContext {
  lab: Lab
  payload: Payload
  /** Scratch space of this run: destinations, torrent, configs. */
  runDir: string
  logDir: string
  timeoutMs: number
  trackerPort: number
  /** Tracker announce interval (s); omitted: murder's default. */
  trackerInterval?: number
  linger: number
  /** Extra make-torrent options (e.g. --align none). */
  makeTorrentArgs: string[]
  /** Extra options for `murder seed` (e.g. --super-seed) and `murder peer`. */
  seedArgs: string[]
  peerArgs: string[]
  /** Two-site lab: give murder's tracker `--sites <file>` (the murder scenario only; aria2c gets a plain tracker). */
  sitesFile?: string
  /** Two-site lab: run murder's seed and peers with `--site <their site>`. */
  siteFlags?: boolean
  /** `--timeline`: the lab's probes, from which each scenario samples its counters every half second. */
  probes?: Probes
  log: (s: string) => void
}

export interface HostResult {
  host: string
  ip: string
  /** Two-site lab: "a" or "b". */
  site?: string
  /** Seconds from the start of the clock to this host's verified copy (null: never). */
  seconds: number | null
  /** The tree digest of the copy matches the source's. */
  verified: boolean
  /** Bytes received on the host's interface during the scenario. */
  rxBytes: number
  txBytes: number
  exitCode: number | null
  note?: string
  extra?: Record<string, unknown>
}

export interface ScenarioResult {
  scenario: ScenarioName
  ok: boolean
  error?: string
  /** Work before the clock starts (daemon start, make-torrent, seed check), seconds by step. */
  prep: Record<string, number>
  /** From starting the N target processes to the last verified copy; null if any target failed. */
  seconds: number | null
  hosts: HostResult[]
  sourceTxBytes: number
  sourceRxBytes: number
  /** Packets dropped by the shapers (all veth ends, the WAN's included) during the scenario. */
  shaperDrops: number
  /** Two-site lab: bytes through the WAN veth during the scenario (tx of each end, L2 framing included). */
  wan?: { aToB: number; bToA: number; drops: number }
  /** Share of the 2 cores busy between the start of the clock and the last copy (from /proc/stat). */
  cpuBusy: number | null
  /** CPU seconds the delay relay used over the same span (labs with a delay only). */
  relayCpuSeconds?: number
  /** `--timeline`: counters every half second from the start of the clock. */
  timeline?: TimelineReport
  notes: string[]
  extra: Record<string, unknown>
}

export function targetDest(ctx: LabContext, scenario: ScenarioName, h: HostSpec): string {
  return join(ctx.runDir, 'hosts', h.name, scenario)
}

/** Counters and CPU at the start of the clock; `finish` turns them into the scenario's totals. */
export class Meter {
  readonly t0 = performance.now()
  readonly epoch0 = Date.now()
  private readonly cpu0 = cpuTimes()
  private cpuAtDone: number | null = null
  private readonly relay0: number | null
  private relayAtDone: number | null = null
  private readonly c0: Map<string, ReturnType<typeof counters>>
  private readonly drops0: number
  private readonly wan0: { aToB: number; bToA: number; drops: number } | null
  private readonly timeline: Timeline | null
  private timelineAtDone: TimelineReport | null = null

  constructor(private readonly lab: Lab, probes?: Probes) {
    this.c0 = new Map(lab.hosts.map((h) => [h.name, counters(h.ns, h.dev)]))
    this.drops0 = this.drops()
    this.wan0 = this.wanNow()
    this.relay0 = this.relayCpu()
    this.timeline = probes ? new Timeline(lab, probes, this.t0) : null
  }

  private relayCpu(): number | null {
    return this.lab.relayPid === undefined ? null : cpuSecondsOf(this.lab.relayPid)
  }

  private drops(): number {
    let d = 0
    for (const h of this.lab.hosts) d += qdiscDrops(h.ns, h.dev) + qdiscDrops(h.switchNs ?? this.lab.switchNs, h.swDev)
    return d + (this.wanNow()?.drops ?? 0)
  }

  /** tx of each WAN end: what crossed in that direction (its rx is the other end's tx). */
  private wanNow(): { aToB: number; bToA: number; drops: number } | null {
    const w = this.lab.wan
    if (!w) return null
    return { aToB: counters(w.aNs, w.aDev).txBytes, bToA: counters(w.bNs, w.bDev).txBytes, drops: qdiscDrops(w.aNs, w.aDev) + qdiscDrops(w.bNs, w.bDev) }
  }

  seconds(at: number): number {
    return (at - this.t0) / 1000
  }

  /** Call when the last copy is done: the CPU share covers the transfer only. */
  markDone(): void {
    this.timelineAtDone = this.timeline?.stop() ?? null
    const c = cpuTimes()
    this.cpuAtDone = (c.busy - this.cpu0.busy) / Math.max(1, c.total - this.cpu0.total)
    const relay = this.relayCpu()
    this.relayAtDone = relay === null || this.relay0 === null ? null : relay - this.relay0
  }

  finish(): { source: { tx: number; rx: number }; perHost: Map<string, { tx: number; rx: number }>; drops: number; cpuBusy: number | null; relayCpu: number | null; wan: { aToB: number; bToA: number; drops: number } | null; timeline: TimelineReport | null } {
    const timeline = this.timelineAtDone ?? this.timeline?.stop() ?? null
    const perHost = new Map<string, { tx: number; rx: number }>()
    for (const h of this.lab.hosts) {
      const c = counters(h.ns, h.dev)
      const b = this.c0.get(h.name)!
      perHost.set(h.name, { tx: c.txBytes - b.txBytes, rx: c.rxBytes - b.rxBytes })
    }
    const w = this.wanNow()
    const wan = w && this.wan0 ? { aToB: w.aToB - this.wan0.aToB, bToA: w.bToA - this.wan0.bToA, drops: w.drops - this.wan0.drops } : null
    return { source: perHost.get(this.lab.source.name)!, perHost, drops: this.drops() - this.drops0, cpuBusy: this.cpuAtDone, relayCpu: this.relayAtDone, wan, timeline }
  }
}

export async function prepareDestinations(ctx: LabContext, scenario: ScenarioName): Promise<void> {
  await rm(join(ctx.runDir, 'hosts'), { recursive: true, force: true })
  for (const h of ctx.lab.targets) await mkdir(targetDest(ctx, scenario, h), { recursive: true })
}

/** Digests every copy (two at a time) and compares with the payload's digest. */
export async function verifyCopies(ctx: LabContext, roots: Map<string, string>): Promise<Map<string, boolean>> {
  const out = new Map<string, boolean>()
  const queue = [...roots]
  const worker = async () => {
    for (let e = queue.shift(); e; e = queue.shift()) {
      const d = await treeDigestOrNull(e[1])
      out.set(e[0], d !== null && d.digest === ctx.payload.digest && d.files === ctx.payload.files)
    }
  }
  await Promise.all([worker(), worker()])
  return out
}

/** Fills in totals, verification and the overall time once the per-host finish times are known. */
export async function conclude(
  ctx: LabContext,
  meter: Meter,
  r: Omit<ScenarioResult, 'hosts' | 'sourceTxBytes' | 'sourceRxBytes' | 'shaperDrops' | 'cpuBusy' | 'relayCpuSeconds' | 'seconds' | 'ok' | 'wan' | 'timeline'>,
  finish: Map<string, { seconds: number | null; exitCode: number | null; note?: string; extra?: Record<string, unknown> }>,
  roots: Map<string, string>,
): Promise<ScenarioResult> {
  const totals = meter.finish()
  ctx.log(`  verifying ${roots.size} copies`)
  const verified = await verifyCopies(ctx, roots)
  const hosts: HostResult[] = ctx.lab.targets.map((h) => {
    const f = finish.get(h.name)
    const c = totals.perHost.get(h.name)!
    return {
      host: h.name,
      ip: h.ip,
      ...(h.site ? { site: h.site } : {}),
      seconds: f?.seconds ?? null,
      verified: verified.get(h.name) ?? false,
      rxBytes: c.rx,
      txBytes: c.tx,
      exitCode: f?.exitCode ?? null,
      ...(f?.note ? { note: f.note } : {}),
      ...(f?.extra ? { extra: f.extra } : {}),
    }
  })
  const all = hosts.every((h) => h.verified && h.seconds !== null)
  const seconds = all ? Math.max(...hosts.map((h) => h.seconds!)) : null
  return {
    ...r,
    ok: all && !r.error,
    seconds,
    hosts,
    sourceTxBytes: totals.source.tx,
    sourceRxBytes: totals.source.rx,
    shaperDrops: totals.drops,
    cpuBusy: totals.cpuBusy,
    ...(totals.relayCpu !== null ? { relayCpuSeconds: totals.relayCpu } : {}),
    ...(totals.wan ? { wan: totals.wan } : {}),
    ...(totals.timeline ? { timeline: totals.timeline } : {}),
  }
}

/** Waits on several promises until all settle or the deadline passes. */
export async function allSettledBy<T>(ps: Promise<T>[], deadline: number): Promise<void> {
  await Promise.race([Promise.allSettled(ps), new Promise((r) => setTimeout(r, Math.max(0, deadline - performance.now())).unref())])
}

export interface Torrent {
  path: string
  infoHash: string
  pieces: number
  pieceLength: number
  seconds: number
  /** As make-torrent counts them (padding included, if any). */
  bytes: number
  files: number
  /** BEP 47 padding in the piece stream (make-torrent --align). */
  paddingBytes: number
}

/** make-torrent on the source (its time is a prep step of both BitTorrent scenarios). */
export async function makeTorrent(ctx: LabContext, extraArgs: string[] = [], file = 'lab.torrent'): Promise<Torrent> {
  const path = join(ctx.runDir, file)
  const r = await run('make-torrent', ...murderCommand(['make-torrent', ctx.payload.dir, `${ctx.lab.source.ip}:${ctx.trackerPort}`, path, '--json', ...ctx.makeTorrentArgs, ...extraArgs]), {
    ns: ctx.lab.source.ns,
    log: join(ctx.logDir, 'make-torrent.log'),
    timeoutMs: ctx.timeoutMs,
  })
  const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as { infoHash: string; pieces: number; pieceLength: number; bytes: number; files: number; paddingBytes?: number }
  // The copies are checked by digest; the torrent's own counts may include BEP 47 padding files.
  return { path, infoHash: j.infoHash, pieces: j.pieces, pieceLength: j.pieceLength, seconds: r.ms / 1000, bytes: j.bytes, files: j.files, paddingBytes: j.paddingBytes ?? 0 }
}

/** murder's tracker on the source, logging every announce (debug) so the bench can wait on them. */
export async function startTracker(ctx: LabContext, scenario: ScenarioName, extra: string[] = []): Promise<Proc> {
  const args = ['tracker', '--port', String(ctx.trackerPort), '--host', ctx.lab.source.ip, '--log-level', 'debug', ...extra]
  if (ctx.trackerInterval) args.push('--interval', String(ctx.trackerInterval))
  const p = murder(`${scenario}/tracker`, args, { ns: ctx.lab.source.ns, log: join(ctx.logDir, `${scenario}-tracker.log`) })
  await p.waitLine((l) => l.json?.['msg'] === 'tracker listening', 15_000)
  return p
}

export function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1)
}

/**
 * Another client's tracker (murder's) and seeder: the seeder seeds a hard-linked copy of the source tree (aria2c
 * writes into the tree it seeds when it finds something missing), passed to `command` as the folder holding it
 * under the torrent's name; it is ready when the tracker has its first announce, which must say left=0 (the
 * client checked the tree and took it as complete). Both go into `procs`.
 */
export async function startSeeder(ctx: LabContext, scenario: ScenarioName, procs: Proc[], command: (root: string) => [string, string[]]): Promise<{ tracker: Proc; seeder: Proc; trackerS: number; seedCheckS: number }> {
  const root = join(ctx.runDir, `${scenario}-source`)
  await rm(root, { recursive: true, force: true })
  await mkdir(root, { recursive: true })
  await run('cp -al', 'cp', ['-al', ctx.payload.dir, join(root, basename(ctx.payload.dir))])
  let t = performance.now()
  const tracker = await startTracker(ctx, scenario)
  procs.push(tracker)
  const trackerS = (performance.now() - t) / 1000
  t = performance.now()
  const seeder = start(`${scenario}/seed`, ...command(root), { ns: ctx.lab.source.ns, log: join(ctx.logDir, `${scenario}-seed.log`) })
  procs.push(seeder)
  const first = await tracker.waitLine((l) => l.json?.['msg'] === 'announce' && l.json['ip'] === ctx.lab.source.ip, ctx.timeoutMs)
  if (first.json!['left'] !== 0) {
    throw new Error(`the ${scenario} seeder checked the source and announced left=${String(first.json!['left'])}: it cannot seed this torrent (BEP 47 padding files it looks for on disk?)`)
  }
  return { tracker, seeder, trackerS, seedCheckS: (performance.now() - t) / 1000 }
}

/** Each target's finish for `conclude` (seconds from the clock's start), for clients that keep seeding until stopped: time, CPU, peak memory. */
export function clientFinish(tool: string, clients: { h: HostSpec; p: Proc }[], doneSeconds: Map<string, number>): Map<string, { seconds: number | null; exitCode: number | null; note?: string; extra: Record<string, unknown> }> {
  return new Map(clients.map(({ h, p }) => {
    const at = doneSeconds.get(h.name)
    const early = p.exit ? `${tool} exited early (code ${p.exit.code}): ${p.tail(3)}` : undefined
    return [h.name, {
      seconds: at ?? null,
      exitCode: p.exit?.code ?? null,
      extra: { cpuSeconds: p.cpuSeconds(), peakMemory: p.peakMemory() },
      ...(at === undefined ? { note: early ?? 'not complete before the timeout' } : {}),
    }] as const
  }))
}
