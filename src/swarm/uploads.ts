import type { UserError } from '../errors.js'
import type { Logger } from '../log.js'
import type { PieceStore } from '../storage/pieceStore.js'
import { pieceSize } from '../torrent/layout.js'
import type { Bitfield } from '../bitfield.js'
import { ChokeRounds, type SlotPriority } from './chokeRounds.js'
import type { Clock } from './clock.js'
import type { PeerConnection } from './peerConnection.js'
import { PieceCache } from './pieceCache.js'
import type { TokenBucket } from './rateLimiter.js'
import { SpreadFirst } from './spreadFirst.js'
import { Uploader } from './uploader.js'
import { WanFirst } from './wanFirst.js'

/** A peer across a WAN link that asked us for a block this recently is still fetching (a bridge asks every few milliseconds). */
const ACROSS_FETCHING_MS = 500

export interface UploadsOptions {
  store: PieceStore
  /** Pieces held and verified: what may be served. */
  have: Bitfield
  /** Pieces the upload cache holds. */
  cachedPieces: number
  limit: TokenBucket
  clock: Clock
  logger: Logger
  maxUploads: number
  /** Breaks the choker's ties: seeded in the simulator. */
  random?: () => number
  /** Refuse pieces other peers hold or are being sent, while others wait (SpreadFirst): for a complete source. */
  spreadFirst: boolean
  /** Hold back uploads to our site while a peer across a WAN waits on us (WanFirst): not for a complete source. */
  wanFirst: boolean
  /** The swarm's connections, in the order they were made. */
  conns: ReadonlySet<PeerConnection>
  /** Those in another site (both sites known). */
  across: ReadonlySet<PeerConnection>
  site: () => string | undefined
  /** Connected peers holding the piece. */
  availabilityOf: (piece: number) => number
  /** Those of them in our site. */
  localAvailabilityOf: (piece: number) => number
  closed: () => boolean
  drop: (conn: PeerConnection, reason: string, ban?: boolean) => void
  fatal: (err: UserError) => void
}

/**
 * The upload side of the swarm: who is served (choke rounds, a peer across a WAN link first), what is refused
 * (spreading first) and at what pace (the upload limit, WAN first), over the uploader and its piece cache.
 */
export class Uploads {
  readonly counters = { uploaded: 0, refused: 0 }
  private readonly cache: PieceCache
  private readonly uploader: Uploader
  private readonly choking: ChokeRounds
  private readonly spread: SpreadFirst | null
  /** Spreading first within our site, while we are its way in (see siteSpreads). */
  private readonly siteSpread = new SpreadFirst()
  private readonly wanFirst: WanFirst | null
  /** Complete peers besides this one, as the tracker last counted them. */
  private seedsElsewhere = 0

  constructor(private readonly opts: UploadsOptions) {
    const { store, clock, across } = opts
    // The page cache serves re-reads too, this only saves the read calls.
    this.cache = new PieceCache({ size: (i) => pieceSize(store.layout, i), read: (i, buf) => store.read(i, buf) }, opts.cachedPieces, store)
    this.uploader = new Uploader({
      layout: store.layout,
      have: opts.have,
      cache: this.cache,
      limit: opts.limit,
      clock,
      closed: opts.closed,
      drop: opts.drop,
      sent: (conn, bytes) => {
        this.counters.uploaded += bytes
        conn.roundUp += bytes
        this.wanFirst?.sent(bytes, across.has(conn))
      },
      pace: (conn) => (this.wanFirst && conn.local && this.acrossFetching() ? this.wanFirst : null),
      // A remote bridge too: what other peers hold it fetches from its feeders (the source's site's peers, other
      // sites' bridges), or from us once the window lapses. Serving it whatever it asked, the source sent 1.63
      // copies in 10 sites of 50 (64 MiB, two bridges each), 1.52 refusing.
      refuse: (conn, piece, offset) => {
        const refused = this.spread !== null
          ? this.spread.refuse(conn.id, piece, offset, this.holders(piece), this.othersWaiting(conn), clock.now())
          : conn.local && this.siteSpreads() && this.siteSpread.refuse(conn.id, piece, offset, this.localHolders(conn, piece), this.othersWaiting(conn), clock.now())
        if (refused) this.counters.refused++
        return refused
      },
      fatal: (err) => {
        opts.logger.error({ err: err.message }, 'upload failed')
        opts.fatal(err)
      },
    })
    this.choking = new ChokeRounds(clock, opts.maxUploads, opts.conns, opts.random ?? Math.random, () => this.slotPriority(), opts.have)
    this.wanFirst = opts.wanFirst ? new WanFirst(() => clock.now()) : null
    this.spread = opts.spreadFirst ? new SpreadFirst() : null
  }

  /** A peer asked us for a block. */
  request(conn: PeerConnection, index: number, offset: number, length: number, respond: (err: Error | null, block?: Uint8Array) => void): void {
    this.uploader.request(conn, index, offset, length, respond)
  }

  /** A piece just verified: kept to be passed on without a disk read. */
  put(piece: number, data: Uint8Array): void {
    this.cache.put(piece, data)
  }

  start(): void {
    this.choking.start()
  }

  stop(): void {
    this.choking.stop()
  }

  /** Who wants what changed (a peer came, left, became interested or not): choose whom to serve soon. */
  rechoke(): void {
    this.choking.schedule()
  }

  /** A connection left: its requests are dropped; `lastOfPeer`: its peer is gone, refusals to it are forgotten. */
  peerGone(conn: PeerConnection, lastOfPeer: boolean): void {
    if (lastOfPeer) {
      this.spread?.forget(conn.id)
      this.siteSpread.forget(conn.id)
    }
    conn.uploads.length = 0
    this.choking.schedule()
  }

  /** The tracker's count of complete peers, this one included if `complete`. */
  learnSeeds(count: number, complete: boolean): void {
    this.seedsElsewhere = Math.max(0, count - (complete ? 1 : 0))
  }

  /**
   * Other peers that hold a piece: connected ones, and the complete peers the tracker counts (they close their
   * connections to a complete source). Only without sites: the tracker's count spans every site.
   */
  private holders(piece: number): number {
    return this.opts.availabilityOf(piece) + (this.opts.site() ? 0 : this.seedsElsewhere)
  }

  /**
   * We are our site's way in: peers across serve us and no complete peer of our site is connected. Our uplink
   * then carries what the site gets: each piece should go into it once and spread there, as from the source.
   * Without this a remote bridge sent its site 1.9 copies (simulator, 5 sites of 50), and the site's peers got
   * new pieces at two thirds of the bridge's intake.
   */
  private siteSpreads(): boolean {
    return this.opts.across.size > 0 && !this.seedInSite()
  }

  /** Peers of our site besides `conn` that hold the piece. */
  private localHolders(conn: PeerConnection, piece: number): number {
    return this.opts.localAvailabilityOf(piece) - Number(conn.local && conn.has(piece))
  }

  /**
   * The uplink has other work: requests of other peers wait in their queues or in their sockets, so it has
   * better use than a piece the asker can get elsewhere. Interest alone is not enough: once the swarm holds a
   * copy, every peer is interested in us and holds what the others ask, and refusing them all left the
   * uplink idle for the last tenth of the lab's transfer.
   */
  private othersWaiting(conn: PeerConnection): boolean {
    for (const c of this.opts.conns) if (c !== conn && c.backlogged) return true
    return false
  }

  /**
   * A peer across a WAN link is fetching from us: it asked for a block lately, or its blocks wait. Over TCP the
   * socket takes what we send at once, so neither our queue nor its backlog shows that it would take more.
   */
  private acrossFetching(): boolean {
    const lately = this.opts.clock.now() - ACROSS_FETCHING_MS
    for (const c of this.opts.across) if (c.lastAskedAt > lately || c.backlogged) return this.seedInSite()
    return false
  }

  /**
   * WAN first also in who is served, judged once a choice (not once a connection): with a seed of our site
   * connected, a peer across gets a slot before our own site's fastest; at our site's way in, which serves its own
   * site first, a few other sites' bridges do.
   */
  private slotPriority(): (c: PeerConnection) => SlotPriority {
    if (this.wanFirst === null) return () => undefined
    const { across } = this.opts
    const seed = this.seedInSite()
    return (c) => (!across.has(c) ? undefined : seed ? 'first' : c.remoteBridge ? 'few' : undefined)
  }

  /**
   * A complete peer of our site is connected (the source, in its site): it can serve our site what we hold back.
   * A remote site's bridge is its site's only way in, and holding it back for other sites' bridges made the last
   * of three sites finish 30% later in the simulator.
   */
  private seedInSite(): boolean {
    for (const c of this.opts.conns) if (c.local && c.isSeed) return true
    return false
  }
}
