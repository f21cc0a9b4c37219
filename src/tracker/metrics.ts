import type { TorrentView } from './fleet.js'

/** Request latency buckets (seconds): an announce takes tens of microseconds, the page of 5000 hosts tens of ms. */
const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]

export type RequestKind = 'announce' | 'scrape' | 'stats' | 'metrics' | 'page' | 'other'

interface Histogram {
  counts: number[]
  sum: number
  count: number
}

/** Counters kept as the tracker works, rendered with the swarms' state in Prometheus' text format (0.0.4). */
export class TrackerMetrics {
  private readonly announces = new Map<string, number>()
  private readonly failures = new Map<string, number>()
  private readonly latency = new Map<RequestKind, Histogram>()

  announced(event: string | undefined): void {
    const key = event ?? 'none'
    this.announces.set(key, (this.announces.get(key) ?? 0) + 1)
  }

  /** `reason`: a failure reason as sent to the client; only the part before a colon is kept, so labels stay few. */
  failed(reason: string): void {
    const key = reason.split(':')[0]!
    this.failures.set(key, (this.failures.get(key) ?? 0) + 1)
  }

  observe(kind: RequestKind, seconds: number): void {
    let h = this.latency.get(kind)
    if (h === undefined) {
      h = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 }
      this.latency.set(kind, h)
    }
    for (let i = BUCKETS.length - 1; i >= 0 && seconds <= BUCKETS[i]!; i--) h.counts[i]!++
    h.sum += seconds
    h.count++
  }

  render(torrents: readonly TorrentView[]): string {
    const out: string[] = []
    const family = (name: string, type: string, help: string, samples: [Record<string, string>, number][]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
      for (const [labels, value] of samples) out.push(`${name}${labelText(labels)} ${value}`)
    }
    family('murder_tracker_announces_total', 'counter', 'Announces answered with peers, by event (none: a regular announce).',
      [...this.announces].map(([event, n]) => [{ event }, n]))
    family('murder_tracker_announce_failures_total', 'counter', 'Announces refused, by reason.',
      [...this.failures].map(([reason, n]) => [{ reason }, n]))
    family('murder_tracker_swarms', 'gauge', 'Torrents tracked.', [[{}, torrents.length]])
    const peers = new Map<string, { state: string; site: string; n: number }>()
    const bytes = { downloaded: 0, uploaded: 0, left: 0 }
    for (const t of torrents) {
      for (const h of t.hosts) {
        const key = `${h.state}\n${h.site ?? ''}`
        const entry = peers.get(key) ?? { state: h.state, site: h.site ?? '', n: 0 }
        entry.n++
        peers.set(key, entry)
        bytes.downloaded += h.downloaded
        bytes.uploaded += h.uploaded
        bytes.left += h.left
      }
    }
    family('murder_tracker_peers', 'gauge', 'Peers by state (done, downloading, stalled: no progress for two intervals) and site.',
      [...peers.values()].map(({ state, site, n }) => [{ state, site }, n]))
    family('murder_tracker_reported_bytes', 'gauge', 'Bytes the peers tracked reported in their last announce, summed: downloaded and uploaded this session, left.',
      Object.entries(bytes).map(([kind, n]) => [{ kind }, n]))
    out.push('# HELP murder_tracker_request_duration_seconds Time to answer an HTTP request, by kind.', '# TYPE murder_tracker_request_duration_seconds histogram')
    for (const [kind, h] of this.latency) {
      BUCKETS.forEach((le, i) => out.push(`murder_tracker_request_duration_seconds_bucket${labelText({ kind, le: String(le) })} ${h.counts[i]}`))
      out.push(`murder_tracker_request_duration_seconds_bucket${labelText({ kind, le: '+Inf' })} ${h.count}`)
      out.push(`murder_tracker_request_duration_seconds_sum${labelText({ kind })} ${h.sum}`)
      out.push(`murder_tracker_request_duration_seconds_count${labelText({ kind })} ${h.count}`)
    }
    return `${out.join('\n')}\n`
  }
}

function labelText(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
  return parts.length === 0 ? '' : `{${parts.join(',')}}`
}
