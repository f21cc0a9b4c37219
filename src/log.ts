import { pino, type Logger } from 'pino'

export type { Logger }
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

const LABELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' }
const COLOURS: Record<number, string> = { 40: '\x1b[33m', 50: '\x1b[31m', 60: '\x1b[31m' }
/** Keys every line has, or that a person does not need: the rest are shown as key=value. */
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name'])

function value(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v)
  // An error as pino serializes it: its message is what a person reads; the stack is for the JSON logs.
  if (v !== null && typeof v === 'object' && 'message' in v && 'stack' in v) return JSON.stringify((v as { message: unknown }).message)
  return JSON.stringify(v)
}

function clock(ms: number): string {
  const d = new Date(ms)
  const two = (n: number) => String(n).padStart(2, '0')
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`
}

/**
 * One of pino's JSON lines as a person reads it on a terminal: local time, level, message, then the other
 * fields as key=value. Pure (colour codes aside). pino-pretty would do it as a worker-thread transport,
 * which does not load from inside the bundle.
 */
export function humanLine(json: string, colour: boolean): string {
  let o: Record<string, unknown>
  try {
    o = JSON.parse(json) as Record<string, unknown>
  } catch {
    return json
  }
  const level = Number(o['level'])
  const label = LABELS[level] ?? String(o['level'])
  const fields = Object.entries(o).filter(([k]) => !HIDDEN.has(k)).map(([k, v]) => `${k}=${value(v)}`)
  const paint = colour && COLOURS[level] ? `${COLOURS[level]}${label}\x1b[0m` : label
  return `${clock(Number(o['time']))} ${paint} ${String(o['msg'] ?? '')}${fields.length ? '  ' + fields.join(' ') : ''}\n`
}

/**
 * pino JSON lines on stderr: stdout is reserved for results (`Done and done`, make-torrent's summary). On a
 * terminal, human lines instead; each first clears the updating progress line it may interrupt.
 */
export function createLogger(level: string, name: string): Logger {
  const options = { name, level, base: { pid: process.pid } }
  if (process.stderr.isTTY !== true) return pino(options, pino.destination({ fd: 2, sync: true }))
  return pino(options, { write: (line: string) => process.stderr.write(`\r\x1b[K${humanLine(line, true)}`) })
}
