import type { Target } from './hostsFile.js'
import type { PeerProgress, SessionEnd } from './hostSession.js'

export type HostStatus = 'waiting' | 'connecting' | 'running' | 'done' | 'failed' | 'unreachable' | 'deadline' | 'interrupted'
export type StopReason = 'deadline' | 'interrupted'

const FINAL: ReadonlySet<HostStatus> = new Set(['done', 'failed', 'unreachable', 'deadline', 'interrupted'])
/** How long ended sessions get to close before their ssh clients are killed. */
const CLOSE_GRACE_MS = 10_000

export interface HostReport {
  target: Target
  status: HostStatus
  attempts: number
  /** ms (the fleet's clock) when the first attempt started, and when the host reached its final status. */
  startedAt?: number
  endedAt?: number
  progress: PeerProgress
  /** ms of the last change of `progress.pieces` (or of the start): a host with none for long is stalled. */
  progressAt?: number
  reason?: string
  /** Whether the executable was pushed to it (not found in its cache). */
  pushed: boolean
}

/** What the fleet needs of a session (HostSession; a fake in the unit tests). */
export interface SessionHandle {
  readonly ended: Promise<SessionEnd>
  stop(): void
  kill(): void
}

export interface SessionHooks {
  onStarted: () => void
  onProgress: (p: PeerProgress) => void
}

export interface FleetOptions {
  targets: readonly Target[]
  /** ssh sessions being set up (connecting, pushing) at once. */
  parallel: number
  /** Further attempts for a host whose ssh or peer failed. */
  retries: number
  now: () => number
  open: (report: HostReport, hooks: SessionHooks) => SessionHandle
}

export const isFinal = (s: HostStatus): boolean => FINAL.has(s)

/**
 * Runs one session per target: at most `parallel` being set up at a time (a peer that runs frees its slot,
 * since every target must run at once for the swarm to work), a failed host retried up to `retries` times,
 * every session ended once every host is done or failed (lingering peers then serve nobody), or on stop().
 */
export class Fleet {
  readonly reports: HostReport[]
  private readonly queue: HostReport[]
  private readonly live = new Map<HostReport, SessionHandle>()
  private setting = 0
  private stopReason: StopReason | null = null
  private closing = false
  private resolveFinished!: (r: HostReport[]) => void
  readonly finished = new Promise<HostReport[]>((r) => (this.resolveFinished = r))

  constructor(private readonly o: FleetOptions) {
    this.reports = o.targets.map((target) => ({ target, status: 'waiting', attempts: 0, progress: {}, pushed: false }))
    this.queue = [...this.reports]
  }

  start(): void {
    this.fill()
  }

  /** Ends every session and gives the hosts not done `reason` as their status. */
  stop(reason: StopReason): void {
    if (this.stopReason) return
    this.stopReason = reason
    for (const r of this.queue.splice(0)) this.finish(r, reason)
    this.closeAll()
  }

  private fill(): void {
    while (!this.stopReason && this.setting < this.o.parallel && this.queue.length > 0) this.open(this.queue.shift()!)
    this.checkAllFinal()
  }

  private open(r: HostReport): void {
    r.attempts++
    r.status = 'connecting'
    r.startedAt ??= this.o.now()
    r.progressAt = this.o.now()
    this.setting++
    let freed = false
    const free = () => {
      if (freed) return
      freed = true
      this.setting--
      this.fill()
    }
    const session = this.o.open(r, {
      onStarted: () => {
        if (r.status === 'connecting') r.status = 'running'
        free()
      },
      onProgress: (p) => {
        if (p.pieces !== undefined && p.pieces !== r.progress.pieces) r.progressAt = this.o.now()
        Object.assign(r.progress, p)
        if (p.done && !isFinal(r.status)) this.finish(r, 'done')
        this.checkAllFinal()
      },
    })
    this.live.set(r, session)
    void session.ended.then((end) => {
      this.live.delete(r)
      this.ended(r, end)
      free()
      // A retry waits in the queue: fill() starts it (free() does only if the session had not started).
      this.fill()
    })
  }

  private ended(r: HostReport, end: SessionEnd): void {
    if (isFinal(r.status)) return
    if (end.kind === 'done') return this.finish(r, 'done')
    if (end.kind === 'stopped') return this.finish(r, this.stopReason ?? 'interrupted')
    r.reason = end.reason
    if (!this.stopReason && r.attempts <= this.o.retries) {
      r.status = 'waiting'
      this.queue.push(r)
      return
    }
    this.finish(r, end.kind)
  }

  private finish(r: HostReport, status: HostStatus): void {
    r.status = status
    r.endedAt = this.o.now()
    if (status === 'done') r.reason = undefined
  }

  private checkAllFinal(): void {
    if (this.reports.every((r) => isFinal(r.status))) this.closeAll()
  }

  /** Ends every live session, waits for them (killing the ssh clients after a grace period), then resolves. */
  private closeAll(): void {
    if (this.closing) return
    this.closing = true
    const sessions = [...this.live.values()]
    for (const s of sessions) s.stop()
    const grace = setTimeout(() => sessions.forEach((s) => s.kill()), CLOSE_GRACE_MS)
    void Promise.all(sessions.map((s) => s.ended)).then(() => {
      clearTimeout(grace)
      this.resolveFinished(this.reports)
    })
  }
}
