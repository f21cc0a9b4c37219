import { pino, type Logger } from 'pino'

export type { Logger }
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/** JSON lines on stderr: stdout is reserved for results (`Done and done`, make-torrent's summary). */
export function createLogger(level: string, name: string): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }))
}
