import { TokenBucket } from './rateLimiter.js'

/** The uplink's capacity is the most it sent in a window this long: long enough to smooth sockets' buffers filling. */
const WINDOW_MS = 1000
/** Share of the uplink left to local peers while a peer across fetches from us. */
const LOCAL_SHARE = 0.5
/** A window that sent less than this part of the capacity while local peers were held back left the uplink idle. */
const USED = 0.7
/** Then local peers get more: the capacity estimate grows by this factor per window until the uplink is used or nothing is held. */
const PROBE = 1.5

/**
 * WAN first: while a peer across a WAN link fetches from us, the peers of our own site get at most half of our
 * uplink. TCP shares a host's uplink by round trip: in the two-site lab a bridge 80 ms away got 1.8 of the WAN's
 * 6.25 MB/s while peers 0.02 ms away took the rest, so the scarce link idled until the local site was done.
 *
 * The uplink's capacity is what it carried in its busiest second. A peer's first seconds understate it (it holds
 * little to send), and holding local peers to half of an understated capacity kept the estimate there whenever
 * the WAN did not take its half: in the lab the site's bridge then served its site at 1-2 MB/s and the source sent
 * the site a second copy. So a window in which local uploads were held back and the uplink was underused raises
 * the estimate: the WAN did not take what was left to it, whether the estimate was low or the WAN slower than
 * half the uplink, and local peers should have it. Pure policy: bytes and time, no connections.
 */
export class WanFirst {
  private peak = 0
  private windowStart: number
  private windowBytes = 0
  /** Local uploads waited on the pace during this window. */
  private held = false
  private local: TokenBucket | null = null

  constructor(private readonly now: () => number) {
    this.windowStart = now()
  }

  /** Bytes sent to anyone. */
  sent(bytes: number): void {
    this.roll()
    this.windowBytes += bytes
  }

  /** Bytes per second the uplink carries at most, as far as measured (0 until a window has passed). */
  get capacity(): number {
    this.roll()
    return this.peak
  }

  /** Milliseconds before `bytes` may go to a local peer while a peer across fetches from us. */
  delayFor(bytes: number): number {
    const wait = this.bucket()?.delayFor(bytes) ?? 0
    if (wait > 0) this.held = true
    return wait
  }

  take(bytes: number): void {
    this.bucket()?.take(bytes)
  }

  private bucket(): TokenBucket | null {
    this.roll()
    const rate = this.peak * LOCAL_SHARE
    if (rate <= 0) return null
    if (this.local === null) this.local = new TokenBucket(rate, undefined, this.now)
    else if (this.local.rate !== rate) this.local.retune(rate)
    return this.local
  }

  private roll(): void {
    const t = this.now()
    if (t - this.windowStart < WINDOW_MS) return
    const sent = (this.windowBytes * 1000) / WINDOW_MS
    const idle = this.held && sent < USED * this.peak
    this.peak = Math.max(this.peak, sent) * (idle ? PROBE : 1)
    this.windowBytes = 0
    this.held = false
    // Idle windows after it send nothing and count for nothing.
    this.windowStart += Math.floor((t - this.windowStart) / WINDOW_MS) * WINDOW_MS
  }
}
