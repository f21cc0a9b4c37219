import type { Clock } from './clock.js'
import type { PeerConnection } from './peerConnection.js'

/** A fresh piece announced to one local peer is announced to the rest after this long at the latest. */
const SPREAD_TIMEOUT_MS = 2000

/**
 * Tells the peers we have a new piece. Every peer hears of it, even one that has it (a super-seeding source
 * reveals more on each `have`), except that a piece fresh across a WAN link is first told to one peer of our
 * site: if all of them fetched it from us at once, our uplink would carry it once per peer; the others hear
 * of it when a second peer of the site has it, or after SPREAD_TIMEOUT_MS.
 */
export class HaveAnnouncer {
  /** Fresh pieces from across a WAN link announced to one local peer so far: the flush tells the others. */
  private readonly deferred = new Map<number, () => void>()
  private turn = 0

  constructor(private readonly clock: Clock, private readonly connected: (conn: PeerConnection) => boolean) {}

  /** `live`: the handshaken connections; `fromWan`: every block of the piece came from outside our site. */
  announce(piece: number, live: PeerConnection[], fromWan: boolean): void {
    const local = fromWan ? live.filter((c) => c.local && !c.has(piece)) : []
    if (local.length < 2) {
      for (const c of live) c.wire.have(piece)
      return
    }
    // One we serve now: a choked peer could not fetch it before the timeout.
    const served = local.filter((c) => !c.wire.amChoking)
    const pool = served.length > 0 ? served : local
    const first = pool[this.turn++ % pool.length]!
    // Our site's other bridges hear of it at once: they would fetch it across again (see AcrossShare).
    const later = new Set(local.filter((c) => c !== first && !c.remoteBridge))
    for (const c of live) if (!later.has(c)) c.wire.have(piece)
    const flush = () => {
      if (!this.deferred.delete(piece)) return
      for (const c of later) if (this.connected(c)) c.wire.have(piece)
    }
    this.deferred.set(piece, flush)
    this.clock.after(SPREAD_TIMEOUT_MS, flush)
  }

  /** A second peer of our site holds the piece: now everyone may fetch it. */
  heldLocally(piece: number): void {
    this.deferred.get(piece)?.()
  }

  /**
   * Our site must now see everything we hold: the peer of ours that becomes the bridge once we leave would
   * otherwise pull the pieces we kept quiet about across the WAN again.
   */
  flushAll(): void {
    for (const flush of [...this.deferred.values()]) flush()
  }
}
