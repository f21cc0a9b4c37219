/**
 * A token bucket shared by every connection of a swarm, like BitTornado's max_upload_rate and
 * max_download_rate. Callers reserve bytes and wait the returned delay; the balance may go negative, so a
 * block larger than the burst still passes and the average rate holds.
 */
export class TokenBucket {
  private tokens: number
  private last: number

  /** `rate` in bytes per second (0 or Infinity: unlimited); `burst` defaults to a tenth of a second's worth. */
  constructor(private rateBps: number, private readonly burst = Math.max(64 * 1024, rateBps / 10), private readonly now: () => number = () => performance.now()) {
    this.tokens = this.burst
    this.last = this.now()
  }

  get rate(): number {
    return this.rateBps
  }

  /** A new rate from now on, keeping the balance (a fresh bucket would start with a full burst). */
  retune(rate: number): void {
    this.refill()
    this.rateBps = rate
  }

  get unlimited(): boolean {
    return !(this.rate > 0 && Number.isFinite(this.rate))
  }

  private refill(): void {
    const t = this.now()
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.rateBps) / 1000)
    this.last = t
  }

  /** Milliseconds to wait before `bytes` may go, without taking them. */
  delayFor(bytes: number): number {
    if (this.unlimited) return 0
    this.refill()
    return this.tokens >= Math.min(bytes, this.burst) ? 0 : Math.ceil(((Math.min(bytes, this.burst) - this.tokens) * 1000) / this.rate)
  }

  /** Takes `bytes` now (possibly into debt). */
  take(bytes: number): void {
    if (this.unlimited) return
    this.refill()
    this.tokens -= bytes
  }
}

/** Parses a rate in bytes per second: `500k`, `12.5M`, `1Gi` (powers of 1024 with `i`), or bits with `bit`/`bps` (`100mbit`). */
export function parseRate(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)(i?)(b|bit|bps)?(?:\/s)?$/i.exec(text.trim())
  if (!m) return null
  const base = m[3] ? 1024 : 1000
  const scale = { '': 1, k: base, m: base ** 2, g: base ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g']
  const bits = /^(bit|bps)$/i.test(m[4] ?? '')
  const value = Number(m[1]) * scale
  return bits ? value / 8 : value
}
