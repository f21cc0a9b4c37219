import { BLOCK_LENGTH } from '../torrent/layout.js'
import type { Bitfield } from '../bitfield.js'
import type { Clock, Timer } from './clock.js'
import { HaveAnnouncer } from './haveAnnouncer.js'
import type { PeerConnection } from './peerConnection.js'
import { DEFAULT_PIPELINE } from './pipeline.js'
import { STARVING_MS, SuperSeeder } from './superSeed.js'

export interface AnnouncementsOptions {
  /** Pieces held and verified. */
  have: Bitfield
  pieceLength: number
  /** Reveal pieces a few at a time (BEP 16) instead of announcing them all: for a complete source. */
  superSeed: boolean
  clock: Clock
  /** The swarm's connections, in the order they were made. */
  conns: ReadonlySet<PeerConnection>
  site: () => string | undefined
  /** Connected peers holding the piece. */
  availabilityOf: (piece: number) => number
  /** For the super-seeder's tie-breaks (seeded in the simulator). */
  random?: () => number
}

/**
 * What we tell the peers we hold: everything when a peer connects, each piece once verified (to one peer of our
 * site first when it came across a WAN link, see HaveAnnouncer), or, super-seeding, a few pieces at a time.
 */
export class Announcements {
  private readonly haves: HaveAnnouncer
  private readonly superSeeder: SuperSeeder | null
  private revealTimer: Timer | null = null

  constructor(private readonly opts: AnnouncementsOptions) {
    const { have, clock, conns } = opts
    this.haves = new HaveAnnouncer(clock, (c) => conns.has(c))
    // Revealed pieces not yet held, at once: four full request pipelines (8 MiB) for a lone peer, since a
    // revealed piece also waits on its hash check and the `have` round trip.
    const window = Math.ceil((4 * DEFAULT_PIPELINE.max * BLOCK_LENGTH) / opts.pieceLength)
    this.superSeeder = opts.superSeed ? new SuperSeeder(have.length, window, opts.random) : null
  }

  start(): void {
    // A starving peer sends no message that would make us look again.
    if (this.superSeeder) this.revealTimer = this.opts.clock.every(STARVING_MS / 2, () => { for (const c of this.opts.conns) if (c.handshaken) this.reveal(c) })
  }

  stop(): void {
    this.revealTimer?.cancel()
  }

  /** A peer's handshake was accepted: what we hold, as the fast extension allows saying it. */
  greet(conn: PeerConnection): void {
    const { wire } = conn
    const { have } = this.opts
    if (this.superSeeder) {
      if (wire.hasFast) wire.haveNone()
    } else if (wire.hasFast && have.complete) wire.haveAll()
    else if (wire.hasFast && have.count === 0) wire.haveNone()
    else if (have.count > 0) wire.bitfield(have.bytes)
  }

  /** Super-seeding, the peer's pieces changed: reveal it more. False if not super-seeding. */
  reveal(conn: PeerConnection): boolean {
    if (!this.superSeeder) return false
    const held = conn.pieces === 'all' ? this.opts.have.length : conn.pieces.count
    for (const piece of this.superSeeder.reveal(conn.id, (i) => conn.has(i), this.opts.availabilityOf, held, this.opts.clock.now())) conn.wire.have(piece)
    return true
  }

  /** A piece was verified: tell the peers (`contributors` sent it). */
  verified(piece: number, contributors: PeerConnection[]): void {
    const live = [...this.opts.conns].filter((c) => c.handshaken)
    this.haves.announce(piece, live, this.opts.site() !== undefined && contributors.length > 0 && contributors.every((c) => !c.local))
    // The last piece: our site must now hear of every piece we held back (see flushAll).
    if (this.opts.have.complete) this.haves.flushAll()
  }

  /** A peer of our site announced the piece. */
  heldLocally(piece: number): void {
    this.haves.heldLocally(piece)
  }

  /** The peer left. */
  forget(id: string): void {
    this.superSeeder?.forget(id)
  }
}
