/**
 * How many block requests to keep in flight on one connection: enough to cover what the link delivers in
 * `targetQueueMs` (so the pipe never drains between a block's arrival and the next request, whatever the
 * bandwidth-delay product), measured per connection, within the peer's advertised `reqq`. Pure: the swarm
 * feeds it bytes and a clock.
 */
export interface PipelineOptions {
  initial: number
  min: number
  max: number
  targetQueueMs: number
  blockLength: number
}

/**
 * At least 32 (512 KiB): with 16, three lab runs in five had one peer finish 2 s after the others, its whole
 * download slower (likely a shallow pipeline from a low early rate, so a small share of its senders' uplinks,
 * so a low rate); with 32, none in five.
 */
export const DEFAULT_PIPELINE: PipelineOptions = { initial: 64, min: 32, max: 128, targetQueueMs: 500, blockLength: 16 * 1024 }

/**
 * For other clients, a second of blocks. A peer that sends in bursts answers what is in flight once per burst,
 * so its measured rate is the depth per burst period: with the target equal to that period (Transmission's half
 * second) the depth stayed where it started (1 MiB/s at 32 blocks); with twice the period it doubles each
 * window up to the link's rate. Not for murder peers, which send as soon as asked: deeper pipelines to a source
 * spreading first made it send 1.16-1.18 copies instead of 1.03 in test/swarmSpread.
 */
export const STANDARD_CLIENT_PIPELINE: PipelineOptions = { ...DEFAULT_PIPELINE, targetQueueMs: 1000 }

/** The same settings for requests of `blockLength` bytes: as many bytes in flight, in fewer, larger blocks. */
export function inBlocksOf(opts: PipelineOptions, blockLength: number): PipelineOptions {
  if (blockLength === opts.blockLength) return opts
  const blocks = (n: number) => Math.max(1, Math.round((n * opts.blockLength) / blockLength))
  return { ...opts, initial: blocks(opts.initial), min: blocks(opts.min), max: Math.max(2, blocks(opts.max)), blockLength }
}

const WINDOW_MS = 500

export class PipelineDepth {
  private windowStart: number
  private windowBytes = 0
  private current: number

  constructor(readonly opts: PipelineOptions, now: number, readonly peerLimit = Infinity) {
    this.windowStart = now
    this.current = Math.min(opts.initial, peerLimit)
  }

  get depth(): number {
    return this.current
  }

  /** Records a received block; every half second the depth follows the measured rate. */
  received(bytes: number, now: number): void {
    this.windowBytes += bytes
    const elapsed = now - this.windowStart
    if (elapsed < WINDOW_MS) return
    const rate = (this.windowBytes * 1000) / elapsed
    const want = Math.ceil((rate * this.opts.targetQueueMs) / 1000 / this.opts.blockLength)
    this.current = Math.min(this.peerLimit, Math.max(this.opts.min, Math.min(this.opts.max, want)))
    this.windowStart = now
    this.windowBytes = 0
  }
}
