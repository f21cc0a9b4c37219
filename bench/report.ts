// The lower bound of a distribution time, and the lab's results as a table or JSON.
import type { ScenarioResult } from './scenarios/common.js'
import type { TimelineReport, TimelineSample } from './timeline.js'

export interface Bound {
  /** Seconds: max(F/u_s, F/d_min, N·F/(u_s + Σu_i)) (Kumar & Ross, the fluid bound for P2P file distribution). */
  tMin: number
  sourceUpload: number
  slowestDownload: number
  aggregateUpload: number
}

/** `bytes` F; rates in bit/s; 0 means unshaped (infinite). */
export function lowerBound(bytes: number, n: number, sourceUpBps: number, targetUpBps: number[], targetDownBps: number[]): Bound {
  const inf = (bps: number) => (bps > 0 ? bps / 8 : Infinity)
  const us = inf(sourceUpBps)
  const dMin = Math.min(...targetDownBps.map(inf))
  const sumU = us + targetUpBps.map(inf).reduce((a, b) => a + b, 0)
  const sourceUpload = bytes / us
  const slowestDownload = bytes / dMin
  const aggregateUpload = (n * bytes) / sumU
  return { tMin: Math.max(sourceUpload, slowestDownload, aggregateUpload), sourceUpload, slowestDownload, aggregateUpload }
}

export interface LabReport {
  kind: 'lab'
  params: {
    n: number
    rateMbit: number
    sourceRateMbit: number
    delayMs: number
    payloadBytes: number
    payloadFiles: number
    smallFiles: number
    shaper: string
    trackerInterval: number | null
    linger: number
    align: string | null
  }
  payloadDigest: string
  bound: Bound
  scenarios: (ScenarioResult & { ratio: number | null })[]
  logDir: string
}

const f2 = (x: number | null | undefined, d = 2) => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(d))
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : NaN
}

export function table(rows: string[][], header: string[]): string {
  const all = [header, ...rows]
  const w = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)))
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ').trimEnd()
  return [line(header), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n')
}

/** The single-site delay as `--delay` means it: one way between two hosts, half of it on each host's link. */
function delayText(ms: number): string {
  return ms > 0 ? `delay ${ms} ms one way host to host (${ms / 2} ms on each host's link, RTT ${2 * ms} ms)` : 'no delay'
}

export function formatLab(r: LabReport): string {
  const p = r.params
  const F = p.payloadBytes
  const out: string[] = []
  out.push(`N=${p.n} targets, ${p.rateMbit} Mbit/s up/down per target, source ${p.sourceRateMbit} Mbit/s, ${delayText(p.delayMs)}, shaper ${p.shaper}${p.align ? `, make-torrent --align ${p.align}` : ''}`)
  out.push(`payload F=${(F / 1e6).toFixed(1)} MB (${(F / 2 ** 20).toFixed(0)} MiB), ${p.payloadFiles} files (${p.smallFiles} small), digest ${r.payloadDigest.slice(0, 16)}…`)
  out.push(`T_min = max(F/u_s=${f2(r.bound.sourceUpload)}, F/d=${f2(r.bound.slowestDownload)}, N·F/(u_s+Σu_i)=${f2(r.bound.aggregateUpload)}) = ${f2(r.bound.tMin)} s`)
  out.push('')
  const rows = r.scenarios.map((s) => {
    const times = s.hosts.map((h) => h.seconds).filter((x): x is number => x !== null)
    const verified = s.hosts.filter((h) => h.verified).length
    const prep = Object.values(s.prep).reduce((a, b) => a + b, 0)
    return [
      s.scenario,
      s.seconds === null ? 'FAILED' : f2(s.seconds),
      f2(r.bound.tMin),
      f2(s.ratio),
      f2(times.length ? Math.min(...times) : null),
      f2(times.length ? median(times) : null),
      f2(times.length ? Math.max(...times) : null),
      (s.sourceTxBytes / 1e6).toFixed(1),
      f2(s.sourceTxBytes / F),
      f2(prep),
      s.cpuBusy === null ? '—' : `${Math.round(s.cpuBusy * 100)}%`,
      String(s.shaperDrops),
      `${verified}/${s.hosts.length}`,
    ]
  })
  out.push(table(rows, ['scenario', 'time s', 'T_min s', 'time/T_min', 'first s', 'median s', 'last s', 'src tx MB', 'src tx/F', 'prep s', 'CPU', 'drops', 'verified']))
  out.push('')
  out.push(formatDetails(r.scenarios, F, p.payloadFiles))
  out.push('')
  out.push(`logs: ${r.logDir}`)
  return out.join('\n')
}

/** Per-host finish times and each scenario's prep, CPU, murder's counters and notes. */
function formatDetails(scenarios: ScenarioResult[], F: number, payloadFiles: number): string {
  const out: string[] = []
  const names = [...new Set(scenarios.flatMap((s) => s.hosts.map((h) => h.host)))]
  const hostRows = names.map((name) => [name, ...scenarios.map((s) => {
    const h = s.hosts.find((x) => x.host === name)
    if (!h) return '—'
    return `${f2(h.seconds)}${h.verified ? '' : ' ✗'}`
  })])
  out.push('per-host finish (s from start; ✗ = copy not verified):')
  out.push(table(hostRows, ['host', ...scenarios.map((s) => s.scenario)]))
  for (const s of scenarios) {
    const prep = Object.entries(s.prep).map(([k, v]) => `${k} ${f2(v)} s`).join(', ')
    const cpu = s.hosts.map((h) => Number(h.extra?.['cpuSeconds'] ?? 0))
    out.push('')
    out.push(`${s.scenario}: prep ${prep || '—'}${s.error ? `; ERROR: ${s.error}` : ''}`)
    if (s.hosts.length) {
      const relay = s.relayCpuSeconds === undefined ? '' : `; delay relay ${f2(s.relayCpuSeconds)} (${s.seconds ? Math.round((100 * s.relayCpuSeconds) / s.seconds) : '—'}% of one core over the transfer)`
      out.push(`  CPU seconds: source ${f2(Number(s.extra['sourceCpuSeconds'] ?? NaN))}, targets ${f2(cpu.reduce((a, b) => a + b, 0))} in all (max ${f2(Math.max(...cpu))} per host)${relay}`)
      const mem = s.hosts.map((h) => h.extra?.['peakMemory'] as { rssMB: number; anonMB: number } | undefined).filter((m) => m !== undefined)
      if (mem.length) {
        const range = (xs: number[]) => `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}`
        out.push(`  targets' peak memory (MB): resident ${range(mem.map((m) => m.rssMB))}, anonymous ${range(mem.map((m) => m.anonMB))}`)
      }
    }
    if (s.scenario === 'murder' || s.scenario === 'murder-ssl') {
      // A fresh destination needs exactly F bytes of file data; anything received beyond that is duplicate or rejected.
      const wasted = s.hosts.map((h) => Number(h.extra?.['received'] ?? 0) - F)
      const exits = s.hosts.map((h) => h.extra?.['exitSecondsAfterLastCopy']).filter((x): x is number => typeof x === 'number')
      out.push(`  peers' exit after the last copy: max ${f2(exits.length ? Math.max(...exits) : null)} s; bytes received beyond N·F (duplicates, rejects): ${wasted.reduce((a, b) => a + b, 0)}; seed uploaded ${(Number(s.extra['seedUploaded'] ?? 0) / 1e6).toFixed(1)} MB, refused ${s.extra['seedRefused'] ?? '—'} requests (spreading first)`)
      out.push(`  torrent: ${s.extra['torrentFiles']} files, ${s.extra['torrentBytes']} bytes (payload: ${payloadFiles} files, ${F} bytes), ${s.extra['pieces']} pieces of ${s.extra['pieceLength']} B`)
      const up = s.hosts.map((h) => `${h.host} ${(Number(h.extra?.['uploaded'] ?? 0) / 1e6).toFixed(0)}`).join(', ')
      out.push(`  uploaded by peers (MB): ${up}`)
      const st = s.hosts.map((h) => h.extra?.['startupSeconds']).filter((x): x is number => typeof x === 'number')
      if (st.length) out.push(`  peers' start-up (spawn -> "destination checked"): ${f2(Math.min(...st))}–${f2(Math.max(...st))} s`)
    }
    for (const h of s.hosts) if (h.note) out.push(`  ${h.host}: ${h.note}`)
    for (const n of s.notes) out.push(`  note: ${n}`)
  }
  for (const s of scenarios) if (s.timeline) out.push('', formatTimeline(s.scenario, s.timeline))
  return out.join('\n')
}

/**
 * The timeline as a table: per interval, the cores busy and the rate of what the source sent (and of what
 * crossed the WAN); per target, the MB received since the start, so a late start or a lagging host shows.
 */
function formatTimeline(scenario: string, tl: TimelineReport): string {
  const rates: string[] = tl.columns.filter((c) => c === 'source tx' || c === 'WAN A→B')
  const targets = tl.columns.filter((c) => !rates.includes(c))
  let prev: TimelineSample = { t: 0, busy: 0, bytes: {} }
  const rows = tl.samples.map((s) => {
    const dt = Math.max(1e-3, s.t - prev.t)
    const rate = (c: string) => (((s.bytes[c] ?? 0) - (prev.bytes[c] ?? 0)) / dt / 1e6).toFixed(1)
    const row = [s.t.toFixed(1), `${Math.round(s.busy * 100)}%`, ...rates.map(rate), ...targets.map((c) => ((s.bytes[c] ?? 0) / 1e6).toFixed(1))]
    prev = s
    return row
  })
  return [
    `${scenario} timeline (--timeline): cores busy and MB/s sent over each interval; MB received by each target since the start`,
    table(rows, ['t s', 'busy', ...rates.map((c) => `${c} MB/s`), ...targets]),
  ].join('\n')
}

/** The two-site lab's bound: the single-site bound over all targets, and the WAN carrying one copy to site B. */
export interface SitesBound extends Bound {
  /** F / WAN rate: site B needs at least one copy through the WAN. */
  wan: number
  /** The single-site T_min (Kumar & Ross over all targets, as if on one switch). */
  singleSite: number
}

export function sitesLowerBound(bytes: number, n: number, sourceUpBps: number, targetUpBps: number[], targetDownBps: number[], wanBps: number): SitesBound {
  const b = lowerBound(bytes, n, sourceUpBps, targetUpBps, targetDownBps)
  const wan = bytes / (wanBps / 8)
  return { ...b, singleSite: b.tMin, wan, tMin: Math.max(b.tMin, wan) }
}

export interface SitesReport {
  kind: 'sites'
  params: {
    nA: number
    nB: number
    rateMbit: number
    sourceRateMbit: number
    wanRateMbit: number
    /** One-way delay the WAN adds, ms. */
    wanDelayMs: number
    /** One-way delay between two hosts of a site, ms, as `delayMs` of the single-site lab. */
    delayMs: number
    payloadBytes: number
    payloadFiles: number
    smallFiles: number
    shaper: string
    sites: { name: string; cidr: string }[]
    /** How murder learnt the sites: the tracker's --sites map, and --site on the seed and peers if "flags". */
    murderSites: 'map' | 'map+flags'
    trackerInterval: number | null
    linger: number
    align: string | null
  }
  payloadDigest: string
  bound: SitesBound
  scenarios: (ScenarioResult & { ratio: number | null })[]
  logDir: string
}

export function formatSites(r: SitesReport): string {
  const p = r.params
  const F = p.payloadBytes
  const out: string[] = []
  out.push(`two sites: A = source + ${p.nA} targets (${p.sites[0]?.cidr}), B = ${p.nB} targets (${p.sites[1]?.cidr}); ${p.rateMbit} Mbit/s up/down per target, source ${p.sourceRateMbit} Mbit/s; ${delayText(p.delayMs)} inside a site; WAN ${p.wanRateMbit} Mbit/s each way, ${p.wanDelayMs > 0 ? `${p.wanDelayMs} ms one way (RTT across: ${2 * (p.wanDelayMs + p.delayMs)} ms)` : 'no delay'}; shaper ${p.shaper}${p.align ? `, make-torrent --align ${p.align}` : ''}`)
  out.push(`murder: tracker --sites (${p.murderSites === 'map+flags' ? 'and --site on the seed and peers' : 'map only, no --site flags'}); aria2c: the same tracker without --sites; rsync: every target from the source`)
  out.push(`payload F=${(F / 1e6).toFixed(1)} MB (${(F / 2 ** 20).toFixed(0)} MiB), ${p.payloadFiles} files (${p.smallFiles} small), digest ${r.payloadDigest.slice(0, 16)}…`)
  out.push(`T_min = max(single-site T_min=${f2(r.bound.singleSite)} [F/u_s=${f2(r.bound.sourceUpload)}, F/d=${f2(r.bound.slowestDownload)}, N·F/(u_s+Σu_i)=${f2(r.bound.aggregateUpload)}], F/WAN=${f2(r.bound.wan)}) = ${f2(r.bound.tMin)} s`)
  out.push('')
  const last = (s: ScenarioResult, site: string) => {
    const hs = s.hosts.filter((h) => h.site === site)
    if (!hs.length) return null
    return hs.every((h) => h.seconds !== null) ? Math.max(...hs.map((h) => h.seconds!)) : NaN
  }
  const rows = r.scenarios.map((s) => {
    const verified = s.hosts.filter((h) => h.verified).length
    const crossB = s.hosts.filter((h) => h.site === 'b').map((h) => h.extra?.['receivedCrossSite'])
    // Peers count bytes by site only when they know their own (--site): with the map alone they report 0.
    const cross = p.murderSites === 'map+flags' && crossB.length && crossB.every((x) => typeof x === 'number') ? (crossB as number[]).reduce((a, b) => a + b, 0) / F : null
    return [
      s.scenario,
      s.seconds === null ? 'FAILED' : f2(s.seconds),
      f2(r.bound.tMin),
      f2(s.ratio),
      f2(last(s, 'a')),
      f2(last(s, 'b')),
      s.wan ? (s.wan.aToB / 1e6).toFixed(1) : '—',
      s.wan ? f2(s.wan.aToB / F) : '—',
      s.wan ? (s.wan.bToA / 1e6).toFixed(1) : '—',
      s.wan ? f2(s.wan.bToA / F, 3) : '—',
      f2(cross),
      f2(s.sourceTxBytes / F),
      String(s.shaperDrops),
      `${verified}/${s.hosts.length}`,
    ]
  })
  out.push(table(rows, ['scenario', 'time s', 'T_min s', 'time/T_min', 'last A s', 'last B s', 'WAN A→B MB', 'A→B/F', 'WAN B→A MB', 'B→A/F', 'B recv cross/F', 'src tx/F', 'drops', 'verified']))
  out.push('A→B/F: bytes through the WAN toward site B (the only remote site; L2 framing included) per payload; B recv cross/F: what')
  out.push("site B's murder peers counted as received from another site (only with --site flags).")
  out.push('')
  out.push(formatDetails(r.scenarios, F, p.payloadFiles))
  out.push('')
  out.push(`logs: ${r.logDir}`)
  return out.join('\n')
}
