import { TokenBucket } from './rateLimiter.js'

/** The uplink's capacity is the most it sent in a window this long: long enough to smooth sockets' buffers filling. */
const WINDOW_MS = 1000

/**
 * WAN first: while a peer across a WAN link waits on our uploads, the peers of our own site get at most `share`
 * of our uplink (its capacity measured as the most we ever sent in a second). TCP shares a host's uplink by round
 * trip: in the two-site lab a bridge 80 ms away got 1.8 of the WAN's 6.25 MB/s while peers 0.02 ms away took the
 * rest, so the scarce link idled until the local site was done. Pure policy: bytes and time, no connections.
 */
export class WanFirst {
  private peak = 0
  private windowStart: number
  private windowBytes = 0
  /** Paces local uploads at `share` of the peak; remade when the peak grows. */
  private local: TokenBucket | null = null

  constructor(private readonly now: () => number, private readonly share = 0.5) {
    this.windowStart = now()
  }

  /** Bytes sent to anyone, for the uplink's capacity. */
  sent(bytes: number): void {
    this.roll()
    this.windowBytes += bytes
  }

  /** Bytes per second the uplink has carried at most (0 until a window has passed). */
  get capacity(): number {
    this.roll()
    return this.peak
  }

  /** The pace of uploads to local peers while a peer across waits on us (none until the capacity is known). */
  localPace(): TokenBucket | null {
    this.roll()
    const rate = this.peak * this.share
    if (rate <= 0) return null
    if (this.local?.rate !== rate) this.local = new TokenBucket(rate, undefined, this.now)
    return this.local
  }

  private roll(): void {
    const t = this.now()
    if (t - this.windowStart < WINDOW_MS) return
    const whole = Math.floor((t - this.windowStart) / WINDOW_MS)
    // A window with nothing after it ended counts in full; the idle windows that followed send nothing.
    this.peak = Math.max(this.peak, (this.windowBytes * 1000) / WINDOW_MS)
    this.windowBytes = 0
    this.windowStart += whole * WINDOW_MS
  }
}
