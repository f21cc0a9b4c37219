import { TokenBucket } from './rateLimiter.js'

/** The uplink's capacity is the most it sent in a window this long: long enough to smooth sockets' buffers filling. */
const WINDOW_MS = 1000
/** Share of the uplink always left to local peers while a peer across fetches from us. */
const LOCAL_SHARE = 0.5
/**
 * Room kept for the WAN above what it took in the last second, in multiples of it: its flows grow into it. Twice
 * was right while a remote bridge reached two or three peers of the source's site; once it reached all of them,
 * each keeping room for twice its share of the WAN held site a back past 1.2 x its own bound (13.0-14.2 s
 * against 12.9 in the simulator's two-site lab; 11.6-12.0 s with 1.25).
 */
const HEADROOM = 1.25
/** A window in which the WAN took less than this part of the capacity while local peers were held back left it idle. */
const WAN_IDLE = 0.1
/** Then the capacity was underestimated or the WAN is slow: the estimate grows by this factor per window, until the WAN takes more or nothing is held. */
const PROBE = 1.5

/**
 * WAN first: while a peer across a WAN link fetches from us, the peers of our own site leave room for it: twice
 * what the WAN took in the last second and a quarter, but never more than half our uplink. TCP shares a host's uplink by round
 * trip: in the two-site lab a bridge 80 ms away got 1.8 of the WAN's 6.25 MB/s while peers 0.02 ms away took the
 * rest, so the scarce link idled until the local site was done. The room follows the WAN's take, so that several
 * peers of the site serving one bridge do not each give up half (in the simulator, site a then finished 30% later
 * in one run of three); growing by a quarter each second as its flows fill it, it reaches the WAN's line rate within
 * seconds.
 *
 * The uplink's capacity is what it carried in its busiest second. A peer's first seconds understate it (it holds
 * little to send), and local peers held to an understated capacity would keep it there whenever the WAN takes
 * little. So a window in which local uploads were held back while the WAN took under a tenth of the capacity
 * raises the estimate: whether it was low or the WAN wants little, local peers should have the uplink. Pure
 * policy: bytes and time, no connections.
 */
export class WanFirst {
  private peak = 0
  private windowStart: number
  private windowBytes = 0
  private windowAcross = 0
  /** Bytes per second sent across in the last whole window. */
  private acrossRate = 0
  /** Local uploads waited on the pace during this window. */
  private held = false
  private local: TokenBucket | null = null

  constructor(private readonly now: () => number) {
    this.windowStart = now()
  }

  /** Bytes sent, `across` a WAN link or not. */
  sent(bytes: number, across: boolean): void {
    this.roll()
    this.windowBytes += bytes
    if (across) this.windowAcross += bytes
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
    const rate = Math.max(this.peak * LOCAL_SHARE, this.peak - HEADROOM * this.acrossRate)
    if (rate <= 0) return null
    if (this.local === null) this.local = new TokenBucket(rate, undefined, this.now)
    else if (this.local.rate !== rate) this.local.retune(rate)
    return this.local
  }

  private roll(): void {
    const t = this.now()
    if (t - this.windowStart < WINDOW_MS) return
    const whole = Math.floor((t - this.windowStart) / WINDOW_MS)
    const sent = (this.windowBytes * 1000) / WINDOW_MS
    const across = (this.windowAcross * 1000) / WINDOW_MS
    const idle = this.held && across < WAN_IDLE * this.peak
    this.peak = Math.max(this.peak, sent) * (idle ? PROBE : 1)
    this.acrossRate = whole === 1 ? across : 0
    this.windowBytes = this.windowAcross = 0
    this.held = false
    // Idle windows after it send nothing and count for nothing.
    this.windowStart += whole * WINDOW_MS
  }
}
