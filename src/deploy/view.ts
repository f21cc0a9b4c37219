import { human } from '../format.js'
import type { HostReport, HostStatus } from './fleet.js'

/** After this long without a new piece, a running host is shown stalled. */
export const STALL_MS = 30_000
const SLOWEST = 5

export interface SiteTotals {
  site: string
  hosts: number
  done: number
  running: number
  failed: number
  waiting: number
  /** Verified bytes the hosts hold of the torrent, and what they lack (a host not yet checked lacks everything). */
  have: number
  left: number
}

export interface FleetTotals extends SiteTotals {
  sites: SiteTotals[]
  /** Running hosts, least progress first (stalled ones first of all). */
  slowest: { host: string; percent: number; stalledS: number | null }[]
}

const FAILED: ReadonlySet<HostStatus> = new Set(['failed', 'unreachable', 'deadline', 'interrupted'])

function empty(site: string): SiteTotals {
  return { site, hosts: 0, done: 0, running: 0, failed: 0, waiting: 0, have: 0, left: 0 }
}

function fraction(r: HostReport): number {
  const { pieces, pieceCount } = r.progress
  if (r.status === 'done') return 1
  return pieces !== undefined && pieceCount ? pieces / pieceCount : 0
}

function add(t: SiteTotals, r: HostReport, torrentBytes: number): void {
  t.hosts++
  if (r.status === 'done') t.done++
  else if (FAILED.has(r.status)) t.failed++
  else if (r.status === 'waiting') t.waiting++
  else t.running++
  const left = r.status === 'done' ? 0 : r.progress.left ?? torrentBytes
  t.have += torrentBytes - left
  t.left += FAILED.has(r.status) ? 0 : left
}

/** Totals of the fleet and of each site, and the hosts that hold the deploy back. */
export function fleetTotals(reports: readonly HostReport[], torrentBytes: number, now: number): FleetTotals {
  const all = empty('')
  const sites = new Map<string, SiteTotals>()
  for (const r of reports) {
    add(all, r, torrentBytes)
    const name = r.target.site ?? '-'
    if (!sites.has(name)) sites.set(name, empty(name))
    add(sites.get(name)!, r, torrentBytes)
  }
  const stalled = (r: HostReport) => (r.progressAt !== undefined && now - r.progressAt >= STALL_MS ? Math.floor((now - r.progressAt) / 1000) : null)
  const slowest = reports
    .filter((r) => r.status === 'running' || r.status === 'connecting')
    .map((r) => ({ host: r.target.name, percent: Math.floor(fraction(r) * 100), stalledS: stalled(r) }))
    .sort((a, b) => (b.stalledS ?? -1) - (a.stalledS ?? -1) || a.percent - b.percent)
    .slice(0, SLOWEST)
  return { ...all, sites: sites.size > 1 ? [...sites.values()] : [], slowest }
}

function counts(t: SiteTotals): string {
  return `${t.done}/${t.hosts} done, ${t.running} running, ${t.failed} failed${t.waiting ? `, ${t.waiting} waiting` : ''}`
}

/** The live view's lines (a terminal redraws them in place): totals, one line per site, the slowest hosts. */
export function liveView(t: FleetTotals, rate: number): string[] {
  const eta = rate > 0 && t.left > 0 ? `ETA ${Math.ceil(t.left / rate)}s` : ''
  const lines = [`${counts(t)}  ${human(t.have)} in place, ${human(t.left)} to go  ${human(rate)}/s  ${eta}`.trimEnd()]
  for (const s of t.sites) lines.push(`  ${s.site.padEnd(12)} ${counts(s)}  ${human(s.left)} to go`)
  if (t.slowest.length) lines.push(`  slowest: ${t.slowest.map((h) => `${h.host} ${h.percent}%${h.stalledS !== null ? ` (stalled ${h.stalledS}s)` : ''}`).join(', ')}`)
  return lines
}

export interface SummaryRow {
  host: string
  site: string | null
  status: HostStatus
  seconds: number | null
  /** Block bytes received on the wire. */
  received: number
  attempts: number
  pushed: boolean
  reason: string | null
}

export function summaryRows(reports: readonly HostReport[], now: number): SummaryRow[] {
  return reports.map((r) => ({
    host: r.target.name,
    site: r.target.site ?? null,
    status: r.status,
    seconds: r.startedAt === undefined ? null : Math.round(((r.endedAt ?? now) - r.startedAt) / 100) / 10,
    received: r.progress.received ?? 0,
    attempts: r.attempts,
    pushed: r.pushed,
    reason: r.reason ?? null,
  }))
}

/** The summary as a table, failures last so they stay on screen. */
export function summaryTable(rows: readonly SummaryRow[]): string {
  const sorted = [...rows].sort((a, b) => Number(a.status !== 'done') - Number(b.status !== 'done'))
  const cells = [['HOST', 'SITE', 'STATUS', 'SECONDS', 'RECEIVED', 'REASON'], ...sorted.map((r) => [r.host, r.site ?? '-', r.status, r.seconds === null ? '-' : r.seconds.toFixed(1), human(r.received), r.reason ?? ''])]
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)))
  return cells.map((c) => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n'
}
