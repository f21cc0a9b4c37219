import type { Network } from './network.js'
import type { SimHost } from './simFleet.js'

/** One sample of the run: the source's uplink and, per site, how far its targets are and what crosses into it. */
export interface TimelineRow {
  atS: number
  /** What the source sent in the period, as a share of its line rate. */
  sourceUp: number
  sites: {
    name: string
    /** Pieces held by the site's median and least advanced targets, as shares of the tree. */
    median: number
    least: number
    /** Bytes that crossed into the site in the period, in targets' line rates (a bridge's downlink is 1). */
    intake: number
    /**
     * What the site's targets sent and received in the period, as shares of their links (done ones included):
     * uplinks below 1 while the median lags the source are uploads that no peer could take or ask for.
     */
    up: number
    down: number
    done: number
  }[]
}

/**
 * Samples a run every `periodMs` of simulated time. A site's median can run no faster than what enters it (its
 * intake across, the source's uplink in the source's site), so the two side by side show which one holds it.
 */
export class Timeline {
  readonly rows: TimelineRow[] = []
  private sourceSent = 0
  private readonly into = new Map<string, number>()
  /** Each site's targets' bytes sent and received, at the last sample. */
  private readonly moved = new Map<string, { up: number; down: number }>()
  /** Each site's targets, in the order the sites were given. */
  private readonly bySite = new Map<string, SimHost[]>()

  constructor(
    private readonly net: Network, private readonly source: SimHost, targets: readonly SimHost[],
    sites: readonly string[], private readonly pieceCount: number,
    private readonly rates: { source: number; host: number }, private readonly periodMs: number,
  ) {
    for (const name of sites) this.bySite.set(name, targets.filter((t) => t.site === name))
  }

  sample(nowMs: number): void {
    const seconds = this.periodMs / 1000
    const sent = this.net.sentBy(this.source)
    const row: TimelineRow = { atS: nowMs / 1000, sourceUp: (sent - this.sourceSent) / (this.rates.source * seconds), sites: [] }
    this.sourceSent = sent
    for (const [name, targets] of this.bySite) {
      const held = targets.map((t) => (t.swarm?.stats.pieces ?? 0) / this.pieceCount).sort((a, b) => a - b)
      const into = this.net.wanInto(name)
      const moved = { up: 0, down: 0 }
      for (const t of targets) {
        moved.up += this.net.sentBy(t)
        moved.down += this.net.receivedBy(t)
      }
      const before = this.moved.get(name) ?? { up: 0, down: 0 }
      const links = this.rates.host * seconds * Math.max(1, targets.length)
      row.sites.push({
        name,
        median: held[held.length >> 1] ?? 0,
        least: held[0] ?? 0,
        intake: (into - (this.into.get(name) ?? 0)) / (this.rates.host * seconds),
        up: (moved.up - before.up) / links,
        down: (moved.down - before.down) / links,
        done: targets.filter((t) => t.doneAt !== null).length,
      })
      this.into.set(name, into)
      this.moved.set(name, moved)
    }
    this.rows.push(row)
  }
}

/** The rows as text: one line per sample, a column group per site. */
export function formatTimeline(rows: readonly TimelineRow[]): string {
  const pct = (x: number) => `${Math.round(x * 100)}%`.padStart(4)
  return rows
    .map((r) => `  ${r.atS.toFixed(1).padStart(6)} s  source up ${r.sourceUp.toFixed(2)}  ` +
      r.sites.map((s) => `${s.name}: median ${pct(s.median)} least ${pct(s.least)} in ${s.intake.toFixed(2)} up ${s.up.toFixed(2)} down ${s.down.toFixed(2)} done ${s.done}`).join(' | '))
    .join('\n')
}
