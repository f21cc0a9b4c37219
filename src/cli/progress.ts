import { duration, human } from '../format.js'
import type { Logger } from '../log.js'
import type { SwarmStats } from '../swarm/swarm.js'

const INTERVAL_MS = 1000
const LOG_EVERY_MS = 5000

export function formatProgress(s: SwarmStats, rate: number): string {
  const pct = s.pieceCount ? (100 * s.pieces) / s.pieceCount : 100
  const eta = rate > 0 ? s.left / rate : Infinity
  return `${pct.toFixed(1)}%  ${human(rate)}/s  ${s.peers} peer${s.peers === 1 ? '' : 's'}  up ${human(s.uploaded)}  ETA ${duration(eta)}`
}

/** Log lines of progress: at most one per 5 s, and none while nothing changed (an idle seed logs none). Pure. */
export class ProgressLog {
  private lastAt = -Infinity
  private logged: SwarmStats

  constructor(initial: SwarmStats) {
    this.logged = initial
  }

  /** True when `s` is worth a line now. */
  due(now: number, s: SwarmStats): boolean {
    if (now - this.lastAt < LOG_EVERY_MS) return false
    if ((Object.keys(s) as (keyof SwarmStats)[]).every((k) => s[k] === this.logged[k])) return false
    this.lastAt = now
    this.logged = s
    return true
  }
}

/**
 * A person at a terminal gets one updating line on stderr; scripts and log collectors get a pino line when
 * something changed, every 5 s at most. stdout stays free for `Done and done`.
 */
export function startProgress(stats: () => SwarmStats, logger: Logger): () => void {
  const tty = process.stderr.isTTY === true
  let last = stats()
  let lastAt = Date.now()
  const log = new ProgressLog(last)
  const timer = setInterval(() => {
    const now = Date.now()
    const s = stats()
    const rate = ((s.downloaded - last.downloaded) * 1000) / Math.max(1, now - lastAt)
    last = s
    lastAt = now
    // Redrawn every second: a log line in between clears it (see createLogger).
    if (tty) process.stderr.write(`\r\x1b[K${formatProgress(s, rate)}`)
    else if (log.due(now, s)) logger.info({ ...s, rate: Math.round(rate) }, 'progress')
  }, INTERVAL_MS)
  timer.unref()
  return () => {
    clearInterval(timer)
    if (tty) process.stderr.write('\r\x1b[K')
  }
}
