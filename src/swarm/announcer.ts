import type { Logger } from '../log.js'
import { announce, announceWithRetry, type AnnounceResponse } from '../tracker/client.js'
import { shownTrackerUrl } from '../tracker/announceUrl.js'

export interface AnnouncerOptions {
  urls: readonly string[]
  /** The CA an https tracker's certificate must chain to: an SSL torrent's own (default: the system's). */
  trackerCa?: string
  infoHash: Uint8Array
  peerId: Uint8Array
  port: number
  /** The address other peers should dial, as murder passes it on the command line. */
  ip?: string
  /** Site label for the tracker's site-aware peer selection. */
  site?: string
  /** How long the first announce may keep retrying before the command gives up. */
  timeoutMs: number
  logger: Logger
  transfer: () => { uploaded: number; downloaded: number; left: number }
  onPeers: (peers: { ip: string; port: number }[]) => void
  /** The tracker's count of complete peers, when it gives one. */
  onSeeds?: (complete: number) => void
  /** The site the tracker placed us in, when it says (murder's tracker with a --sites map). */
  onSite?: (site: string) => void
}

type Event = 'started' | 'completed' | 'stopped' | undefined

const MIN_INTERVAL_S = 1
const MAX_INTERVAL_S = 300
const STOP_TIMEOUT_MS = 2000

/**
 * Keeps the tracker informed and feeds its peer lists to the swarm. After the first announce, a tracker
 * outage is not fatal: the swarm keeps trading with the peers it knows, and announces resume when the
 * tracker is back (even one that lost its state).
 */
export class Announcer {
  private timer: NodeJS.Timeout | null = null
  private progressTimer: NodeJS.Timeout | null = null
  private intervalMs = 10_000
  private stopped = false
  /** Incomplete peers in the swarm, as last reported by the tracker. */
  incomplete: number | undefined

  constructor(private readonly opts: AnnouncerOptions) {}

  private params(event: Event, numwant = 200) {
    const { infoHash, peerId, port, ip, site } = this.opts
    return { infoHash, peerId, port, ip, site, ...this.opts.transfer(), event, numwant }
  }

  private accept(res: AnnounceResponse, url: string): void {
    this.intervalMs = Math.min(MAX_INTERVAL_S, Math.max(MIN_INTERVAL_S, res.interval || 10)) * 1000
    this.incomplete = res.incomplete
    if (res.complete !== undefined) this.opts.onSeeds?.(res.complete)
    // Before the peers: connections opened from this list already carry the site.
    if (res.site !== undefined) this.opts.onSite?.(res.site)
    this.opts.onPeers(res.peers)
    this.scheduleProgress(url, res.progressInterval)
  }

  /**
   * murder's tracker asks for progress in between announces (for its live page): a plain announce with
   * numwant=0, so it costs the tracker no peer selection, and any tracker would understand it. Only while
   * there is something left to fetch; the next regular announce starts the count again.
   */
  private scheduleProgress(url: string, seconds: number | undefined): void {
    if (this.progressTimer) clearTimeout(this.progressTimer)
    this.progressTimer = null
    if (seconds === undefined || this.stopped || this.opts.transfer().left === 0) return
    this.progressTimer = setTimeout(() => {
      // Completed meanwhile: its `completed` announce is on its way and says more.
      if (this.opts.transfer().left === 0) return
      this.send(url, undefined, 0).then(
        (res) => this.scheduleProgress(url, res.progressInterval),
        (err: Error) => this.opts.logger.debug({ tracker: shownTrackerUrl(url), err: err.message }, 'progress report failed'),
      )
    }, seconds * 1000)
    this.progressTimer.unref()
  }

  /** What the tracker was told, for whoever compares the tracker's view with the peer's. */
  private sent(url: string, p: ReturnType<Announcer['params']>): void {
    this.opts.logger.debug({ tracker: shownTrackerUrl(url), event: p.event, left: p.left, downloaded: p.downloaded, uploaded: p.uploaded, numwant: p.numwant }, 'announced')
  }

  private async send(url: string, event: Event, numwant?: number): Promise<AnnounceResponse> {
    const p = this.params(event, numwant)
    const res = await announce(url, p, { timeoutMs: 5000, ca: this.opts.trackerCa })
    this.sent(url, p)
    return res
  }

  async start(): Promise<void> {
    const p = this.params('started')
    const res = await announceWithRetry([...this.opts.urls], p, { deadlineMs: this.opts.timeoutMs, logger: this.opts.logger, ca: this.opts.trackerCa })
    this.sent(res.url, p)
    this.accept(res, res.url)
    this.schedule(this.intervalMs)
  }

  /** Announces now, outside the regular schedule (the event, if any, is sent to every tracker in turn). */
  async announceNow(event?: Event): Promise<boolean> {
    for (const url of this.opts.urls) {
      try {
        this.accept(await this.send(url, event), url)
        return true
      } catch (err) {
        this.opts.logger.warn({ tracker: shownTrackerUrl(url), err: (err as Error).message }, 'announce failed')
      }
    }
    return false
  }

  private schedule(ms: number): void {
    if (this.stopped) return
    this.timer = setTimeout(async () => {
      const ok = await this.announceNow()
      // A tracker that is down is retried sooner than the interval, so a restarted tracker relearns us quickly.
      this.schedule(ok ? this.intervalMs : Math.min(this.intervalMs, 2000))
    }, ms)
    this.timer.unref()
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    if (this.progressTimer) clearTimeout(this.progressTimer)
    await Promise.any(this.opts.urls.map((url) => announce(url, this.params('stopped'), { timeoutMs: STOP_TIMEOUT_MS, ca: this.opts.trackerCa }))).catch(() => undefined)
  }
}
