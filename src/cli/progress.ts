import { human } from '../format.js'
import type { Logger } from '../log.js'
import type { SwarmStats } from '../swarm/swarm.js'

const INTERVAL_MS = 1000
const LOG_EVERY_MS = 5000

function duration(s: number): string {
  if (!Number.isFinite(s)) return '--'
  if (s < 60) return `${Math.ceil(s)}s`
  return `${Math.floor(s / 60)}m${String(Math.ceil(s % 60)).padStart(2, '0')}s`
}

export function formatProgress(s: SwarmStats, rate: number): string {
  const pct = s.pieceCount ? (100 * s.pieces) / s.pieceCount : 100
  const eta = rate > 0 ? s.left / rate : Infinity
  return `${pct.toFixed(1)}%  ${human(rate)}/s  ${s.peers} peer${s.peers === 1 ? '' : 's'}  up ${human(s.uploaded)}  ETA ${duration(eta)}`
}

/**
 * A person at a terminal gets one updating line on stderr; scripts and log collectors get a pino line
 * every few seconds instead. stdout stays free for `Done and done`.
 */
export function startProgress(stats: () => SwarmStats, logger: Logger): () => void {
  const tty = process.stderr.isTTY === true
  let last = stats()
  let lastAt = Date.now()
  let lastLog = 0
  const timer = setInterval(() => {
    const now = Date.now()
    const s = stats()
    const rate = ((s.downloaded - last.downloaded) * 1000) / Math.max(1, now - lastAt)
    last = s
    lastAt = now
    if (tty) process.stderr.write(`\r\x1b[K${formatProgress(s, rate)}`)
    else if (now - lastLog >= LOG_EVERY_MS) {
      lastLog = now
      logger.info({ ...s, rate: Math.round(rate) }, 'progress')
    }
  }, INTERVAL_MS)
  timer.unref()
  return () => {
    clearInterval(timer)
    if (tty) process.stderr.write('\r\x1b[K')
  }
}
