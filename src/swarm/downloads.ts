import { UserError, ExitCode } from '../errors.js'
import type { Logger } from '../log.js'
import type { PieceStore } from '../storage/pieceStore.js'
import { pieceSize } from '../torrent/layout.js'
import type { Bitfield } from '../bitfield.js'
import type { AcrossShare } from './acrossShare.js'
import type { Clock } from './clock.js'
import { blockKey, type PeerConnection } from './peerConnection.js'
import { PiecePicker, type BlockRef } from './piecePicker.js'
import { DEFAULT_PIPELINE, inBlocksOf, PipelineDepth, STANDARD_CLIENT_PIPELINE, type PipelineOptions } from './pipeline.js'
import type { TokenBucket } from './rateLimiter.js'
import { REFUSE_WINDOW_MS } from './spreadFirst.js'

/** How long a refused piece is asked of other peers: past the refusing source's window, so asking it again is served. */
export const REFUSED_MS = 2 * REFUSE_WINDOW_MS
/** Requests topped up at once, in bytes: 16 blocks of 16 KiB (one writev). */
const REQUEST_BATCH_BYTES = 16 * 16 * 1024
/** Cancelled requests remembered per connection, so a block that crosses our cancel is not taken for abuse. */
const MAX_CANCELLED = 1024

/**
 * A bridge that holds its whole share across waits this long before fetching the other bridges' share across
 * too: a healthy bridge finishes its own about as soon, and fetching what it has in flight would pull it twice.
 */
const SHARE_GRACE_MS = 5000

export interface DownloadsOptions {
  store: PieceStore
  /** Pieces held and verified; set here as pieces are. */
  have: Bitfield
  clock: Clock
  logger: Logger
  downloadLimit: TokenBucket
  /** Bytes asked per request. */
  blockLength: number
  /** Pieces being assembled or verified at once, at most (the picker's hard limit, twice its soft one). */
  maxActive: number
  /** For the picker's random choices. */
  random?: () => number
  /** Which pieces are ours to fetch across (our site's bridges share them out); all if unset. */
  share?: AcrossShare
  /** The swarm's connections, in the order they were made; only handshaken ones are asked for blocks. */
  conns: ReadonlySet<PeerConnection>
  closed: () => boolean
  /** Our site, once known: a peer outside it is asked only for what no peer of our site holds. */
  site: () => string | undefined
  /** A peer sent blocks of a piece that failed its hash; `lone`: nobody else did. */
  strike: (conn: PeerConnection, reason: string, lone: boolean) => void
  /** We hold every piece, and so does this peer. */
  bothComplete: (conn: PeerConnection) => void
  /** A piece was verified and written (`have` is set); `contributors` sent its blocks. */
  verified: (piece: number, data: Uint8Array, contributors: PeerConnection[]) => void
  /** Every piece is verified and written. */
  complete: () => void
  /** A piece could not be written (e.g. disk full). */
  fatal: (err: UserError) => void
}

/**
 * The download side of the swarm: what each peer holds (availability, also within our site), interest,
 * block requests kept in flight per connection (pipeline depth, download limit, refusals), assembling the
 * blocks into pieces, verifying each piece, and blaming the senders of one that fails its hash.
 */
export class Downloads {
  private readonly picker: PiecePicker
  private readonly assembling = new Map<number, Buffer>()
  /** Pieces being assembled that hold blocks from a peer that has since left: no lone culprit if they fail. */
  private readonly orphaned = new Set<number>()
  /** Per piece, how many same-site peers hold it. */
  private readonly localAvailability: Uint32Array
  /** Pipeline settings for murder peers and for other clients, in blocks of `blockLength`. */
  private readonly pipelines: { murder: PipelineOptions; standard: PipelineOptions }
  /** REQUEST_BATCH_BYTES in blocks. */
  private readonly requestBatch: number
  private verifying = 0
  private done: boolean
  private fillScheduled = false
  /** When we first held every piece of our share across (see shareDoneFor). */
  private shareDoneAt: number | null = null
  private bytesHeld = 0
  readonly counters = { downloaded: 0, received: 0, receivedCrossSite: 0, hashFailures: 0 }

  constructor(private readonly opts: DownloadsOptions) {
    const { store, have, blockLength } = opts
    const pieceCount = have.length
    this.pipelines = { murder: inBlocksOf(DEFAULT_PIPELINE, blockLength), standard: inBlocksOf(STANDARD_CLIENT_PIPELINE, blockLength) }
    this.requestBatch = Math.max(1, Math.round(REQUEST_BATCH_BYTES / blockLength))
    this.picker = new PiecePicker({
      pieceCount,
      blocksIn: (i) => Math.ceil(store.dataPrefix(i) / blockLength),
      maxActive: opts.maxActive,
      randomFirst: 4,
      random: opts.random,
    })
    for (let i = 0; i < pieceCount; i++) {
      if (have.get(i)) {
        this.picker.markHave(i)
        this.bytesHeld += store.dataBytes(i)
      }
    }
    this.done = have.complete
    this.localAvailability = new Uint32Array(pieceCount)
  }

  /** Every piece held (verified and written; the last may still be settling, see `complete`). */
  get finished(): boolean {
    return this.done
  }

  /** Data bytes still missing. */
  get left(): number {
    return this.opts.store.dataLength - this.bytesHeld
  }

  /** Does a connected peer hold a piece we still lack? While none does, the download cannot move. */
  missingHeld(): boolean {
    return this.picker.missingHeld()
  }

  missingPieces(): number[] {
    return this.picker.missingPieces()
  }

  /** Connected peers that hold the piece. */
  availabilityOf(piece: number): number {
    return this.picker.availabilityOf(piece)
  }

  /** Connected peers of our site that hold the piece. */
  localAvailabilityOf(piece: number): number {
    return this.localAvailability[piece]!
  }

  /** The request pipeline a new connection starts with: murder's, until the peer says what it is. */
  newPipeline(): PipelineDepth {
    return new PipelineDepth(this.pipelines.murder, this.opts.clock.now())
  }

  /** The peer's extended handshake: its request queue (`reqq`) and client (`v`) set the pipeline. */
  peerSettings(conn: PeerConnection, info: Record<string, unknown> | undefined): void {
    // A later extended handshake (a peer that learned its site) keeps the depth measured so far.
    const reqq = typeof info?.['reqq'] === 'number' ? Math.max(1, info['reqq']) : Infinity
    const v = info?.['v']
    const pipeline = v instanceof Uint8Array && Buffer.from(v).toString() === 'murder' ? this.pipelines.murder : this.pipelines.standard
    if (reqq !== conn.pipeline.peerLimit || pipeline !== conn.pipeline.opts) conn.pipeline = new PipelineDepth(pipeline, this.opts.clock.now(), reqq)
  }

  /** A peer's whole set of pieces (bitfield, have-all), replacing what it said before. */
  setPieces(conn: PeerConnection, pieces: Bitfield | 'all'): void {
    this.count(conn, -1)
    conn.pieces = pieces
    this.count(conn, 1)
    conn.wanted = this.picker.countWanted((i) => conn.has(i))
  }

  /** A peer's `have` (index in range); false if it was known already. */
  peerHas(conn: PeerConnection, piece: number): boolean {
    if (conn.pieces === 'all' || !conn.pieces.set(piece)) return false
    this.picker.peerHas(piece)
    if (!this.picker.has(piece)) conn.wanted++
    if (conn.local) this.localAvailability[piece]!++
    return true
  }

  /** The peer turned out to be in our site: its pieces count as held there. */
  markLocal(conn: PeerConnection): void {
    conn.local = true
    this.countLocal(conn, 1)
  }

  /** Adds (or removes) a peer's pieces to the availability counts. */
  private count(conn: PeerConnection, delta: 1 | -1): void {
    this.picker.peerHasAll((i) => conn.has(i), delta)
    if (conn.local) this.countLocal(conn, delta)
  }

  /** Adds (or removes) a peer of our site's pieces to the per-piece counts of what our site holds. */
  private countLocal(conn: PeerConnection, delta: 1 | -1): void {
    for (let i = 0; i < this.localAvailability.length; i++) if (conn.has(i)) this.localAvailability[i]! += delta
  }

  /** A peer's pieces changed: maybe we are now interested, maybe we can ask for more. */
  peerChanged(conn: PeerConnection): void {
    this.updateInterest(conn)
    this.fill(conn)
  }

  private updateInterest(conn: PeerConnection): void {
    const { wire } = conn
    if (this.done) {
      if (wire.amInterested) wire.uninterested()
      if (conn.isSeed) this.opts.bothComplete(conn)
      return
    }
    const want = conn.wanted > 0
    if (want && !wire.amInterested) wire.interested()
    else if (!want && wire.amInterested) wire.uninterested()
  }

  /** Keeps the connection's pipeline depth of block requests in flight. */
  fill(conn: PeerConnection): void {
    const { wire } = conn
    if (this.done || this.opts.closed() || !this.opts.conns.has(conn) || !conn.handshaken || wire.peerChoking || !wire.amInterested) return
    const depth = conn.pipeline.depth
    let room = depth - conn.asked.size
    // Top up in batches (one writev for many requests) rather than one request per block received; in the same
    // bytes whatever the block length, or larger blocks (the simulator's) waited for the pipeline to drain.
    if (room < Math.min(this.requestBatch, depth) && conn.asked.size > 0) return
    const limit = this.opts.downloadLimit
    if (!limit.unlimited) {
      const wait = limit.delayFor(this.opts.blockLength)
      if (wait > 0) return this.fillAll(wait)
      room = Math.min(room, this.requestBatch)
    }
    const crossSite = this.crossSite(conn)
    const now = this.opts.clock.now()
    const pick = (beyondShare: boolean) =>
      this.picker.pick((i) => this.offers(conn, i, now, beyondShare), room, (ref) => conn.asked.has(blockKey(ref)), crossSite, conn)
    let picks = pick(false)
    // Our share held for a while, the other bridges' is ours too: a bridge that stalls must not hold its share for ever.
    if (picks.length === 0 && crossSite && this.opts.share && !this.opts.share.alone && this.shareDoneFor(this.opts.share, now) >= SHARE_GRACE_MS) picks = pick(true)
    for (const ref of picks) {
      const size = this.blockSize(ref)
      limit.take(size)
      conn.asked.set(blockKey(ref), ref)
      wire.request(ref.piece, ref.block * this.opts.blockLength, size, (err, block) => this.onBlock(conn, ref, err, block))
    }
  }

  /** How long we have held every piece of our share across (ms; -1: not yet). */
  private shareDoneFor(share: AcrossShare, now: number): number {
    if (this.shareDoneAt === null) {
      for (let i = 0; i < this.opts.have.length; i++) if (!this.picker.has(i) && share.mine(i)) return -1
      this.shareDoneAt = now
      this.opts.clock.after(SHARE_GRACE_MS, () => this.fillAll())
    }
    return now - this.shareDoneAt
  }

  private crossSite(conn: PeerConnection): boolean {
    return !conn.local && !!this.opts.site()
  }

  /** Would we ask this peer for the piece now? */
  private offers(conn: PeerConnection, piece: number, now: number, beyondShare = false): boolean {
    return this.reachable(conn, piece, beyondShare) && !this.stillRefused(conn, piece, now)
  }

  /**
   * Would we ask this peer for the piece, refusals aside? Across a WAN link, only for what no peer of our own site
   * holds, and of that only our share (AcrossShare) unless `beyondShare`.
   */
  private reachable(conn: PeerConnection, piece: number, beyondShare = false): boolean {
    return conn.has(piece) && (!this.crossSite(conn) || (this.localAvailability[piece] === 0 && (beyondShare || (this.opts.share?.mine(piece) ?? true))))
  }

  /**
   * A piece a peer refused is asked of it again once the refusal lapses only if no other peer would give it:
   * with downloads rate-limited, a refused piece often waits longer than that for its turn elsewhere, and asking
   * the source again as soon as its refusal lapsed had it send 5.28 copies to 100 peers (1.36 with this).
   */
  private stillRefused(conn: PeerConnection, piece: number, now: number): boolean {
    const until = conn.refused.get(piece)
    if (until === undefined) return false
    if (until > now) return true
    // Only a peer we would ask: a complete peer across, which we never ask for what our site holds, kept the
    // source's site waiting on the source's refusals for ever in the simulator once bridges reached it.
    for (const c of this.opts.conns) if (c !== conn && c.handshaken && !c.wire.peerChoking && this.reachable(c, piece) && !c.refused.has(piece)) return true
    conn.refused.delete(piece)
    return false
  }

  /** The peer refused (BEP 6 reject) a piece: it is fetched from other peers for a while, then asked again. */
  refused(conn: PeerConnection, piece: number): void {
    conn.refused.set(piece, this.opts.clock.now() + REFUSED_MS)
    this.retryRefused(conn)
  }

  /**
   * Asks a peer again once a refusal lapses, for a piece no other peer would give us: that one waits on no
   * other event (three peers of a site waited for ever on the source's last piece in the simulator, refused
   * while the timer of an earlier refusal ran). A piece others offer comes from them: asking the refusing
   * source again as soon as its refusal lapsed made it send 1.78 copies instead of 1.2 in test/swarmSpread.
   */
  private retryRefused(conn: PeerConnection): void {
    if (conn.retryAfterRefusal) return
    const { clock } = this.opts
    const now = clock.now()
    let next = Infinity
    for (const [piece, until] of conn.refused) {
      if (until > now && until < next && !this.offeredElsewhere(conn, piece, now)) next = until
    }
    if (next === Infinity) return
    conn.retryAfterRefusal = clock.after(next - now + 1, () => {
      conn.retryAfterRefusal = null
      this.fill(conn)
      this.retryRefused(conn)
    })
  }

  private offeredElsewhere(conn: PeerConnection, piece: number, now: number): boolean {
    for (const c of this.opts.conns) if (c !== conn && c.handshaken && this.offers(c, piece, now)) return true
    return false
  }

  private blockSize(ref: BlockRef): number {
    return Math.min(this.opts.blockLength, this.opts.store.dataPrefix(ref.piece) - ref.block * this.opts.blockLength)
  }

  /** Tops up every connection soon (or after `delayMs`, when the download limit says so). */
  fillAll(delayMs = 0): void {
    if (this.fillScheduled) return
    this.fillScheduled = true
    const run = () => {
      this.fillScheduled = false
      for (const c of this.opts.conns) this.fill(c)
    }
    if (delayMs > 0) this.opts.clock.after(delayMs, run)
    else this.opts.clock.soon(run)
  }

  private onBlock(conn: PeerConnection, ref: BlockRef, err: Error | null, block: Uint8Array | null): void {
    conn.asked.delete(blockKey(ref))
    if (err || !block) {
      // Withdrawn (cancelled, timed out, choked): the block may still be on the wire and is not abuse.
      this.withdrawn(conn, ref)
      this.picker.requestFailed(ref)
      this.fillAll()
      return
    }
    this.counters.received += block.length
    conn.pipeline.received(block.length, this.opts.clock.now())
    if (this.crossSite(conn)) this.counters.receivedCrossSite += block.length
    conn.roundDown += block.length
    if (this.picker.isWanted(ref)) {
      const { store } = this.opts
      let buf = this.assembling.get(ref.piece)
      if (!buf) {
        buf = store.take(pieceSize(store.layout, ref.piece))
        // Trailing padding is zeros by definition: it is filled here, never requested.
        buf.fill(0, store.dataPrefix(ref.piece))
        this.assembling.set(ref.piece, buf)
      }
      buf.set(block, ref.block * this.opts.blockLength)
      conn.contributed.add(ref.piece)
      // Only the endgame asks two peers for a block: a scan of every connection per block cost the most of
      // all the engine's work with 100 peers in the simulator.
      const askedElsewhere = this.picker.requestsOf(ref) > 1
      const whole = this.picker.blockReceived(ref)
      if (askedElsewhere) this.cancelDuplicates(ref, conn)
      if (whole) void this.verify(ref.piece)
    }
    this.fill(conn)
  }

  private withdrawn(conn: PeerConnection, ref: BlockRef): void {
    conn.cancelled.add(blockKey(ref))
    if (conn.cancelled.size > MAX_CANCELLED) conn.cancelled.delete(conn.cancelled.values().next().value!)
  }

  /** A block the peer sent unasked: true if we had withdrawn its request (it crossed our cancel), not abuse. */
  wasCancelled(conn: PeerConnection, piece: number, offset: number): boolean {
    const { blockLength } = this.opts
    return offset % blockLength === 0 && conn.cancelled.delete(blockKey({ piece, block: offset / blockLength }))
  }

  /** Endgame asks several peers for one block: once it is in, the other requests are withdrawn. */
  private cancelDuplicates(ref: BlockRef, from: PeerConnection): void {
    const key = blockKey(ref)
    for (const c of this.opts.conns) {
      if (c === from || !c.asked.has(key)) continue
      c.wire.cancel(ref.piece, ref.block * this.opts.blockLength, this.blockSize(ref))
    }
  }

  private async verify(piece: number): Promise<void> {
    const { store, have, logger } = this.opts
    const buf = this.assembling.get(piece)!
    this.assembling.delete(piece)
    const contributors = [...this.opts.conns].filter((c) => c.contributed.delete(piece))
    const orphaned = this.orphaned.delete(piece)
    this.verifying++
    try {
      const { stored, data } = await store.verifyAndWrite(piece, buf)
      if (this.opts.closed()) return
      if (!stored) {
        store.give(data)
        this.counters.hashFailures++
        this.picker.pieceFailed(piece)
        this.blame(piece, contributors, orphaned)
        this.fillAll()
        return
      }
      have.set(piece)
      this.picker.markHave(piece)
      this.bytesHeld += store.dataBytes(piece)
      this.counters.downloaded += store.dataBytes(piece)
      if (have.complete) this.done = true
      this.opts.verified(piece, data, contributors)
      // Only a peer holding this piece can have stopped being interesting; at the end everyone is told.
      for (const c of [...this.opts.conns]) {
        if (c.has(piece)) c.wanted--
        if (c.handshaken && (this.done || c.has(piece))) this.updateInterest(c)
      }
      // The piece no longer counts against the active limit: with small pieces every request may have been
      // answered while pieces were verifying, and nothing else would ask for more.
      this.fillAll()
    } catch (err) {
      logger.debug({ piece, err: (err as Error).message }, 'piece not stored')
      this.opts.fatal(err instanceof UserError ? err : new UserError(`storing piece ${piece}: ${(err as Error).message}`, ExitCode.failure))
      return
    } finally {
      this.verifying--
    }
    if (this.done && this.verifying === 0 && this.picker.missingCount === 0) this.opts.complete()
  }

  /** Who sent a piece that failed its hash: a lone contributor is banned; several each get a strike. */
  private blame(piece: number, contributors: PeerConnection[], orphaned: boolean): void {
    this.opts.logger.warn({ piece, peers: contributors.map((c) => c.address) }, 'piece failed its hash check')
    const lone = contributors.length === 1 && !orphaned
    for (const c of contributors) this.opts.strike(c, `sent data that failed the hash of piece ${piece}`, lone)
  }

  /** A banned peer's blocks in unfinished pieces are suspect: those pieces start over rather than fail (and be blamed on whoever completes them). */
  discard(conn: PeerConnection): void {
    for (const piece of conn.contributed) {
      if (!this.assembling.delete(piece)) continue
      this.picker.pieceFailed(piece)
      this.orphaned.delete(piece)
      for (const c of this.opts.conns) c.contributed.delete(piece)
    }
    conn.contributed.clear()
  }

  /** A connection left: its requests go to others, its pieces no longer count, and what it sent has no lone culprit. */
  peerGone(conn: PeerConnection): void {
    for (const piece of conn.contributed) if (this.assembling.has(piece)) this.orphaned.add(piece)
    for (const ref of conn.asked.values()) this.picker.requestFailed(ref)
    conn.asked.clear()
    this.count(conn, -1)
    this.fillAll()
  }
}
