/** How long the source keeps refusing one peer's requests for one piece, from its first refusal. */
export const REFUSE_WINDOW_MS = 300

/**
 * The source's uplink is the swarm's scarcest resource: it should carry each piece about once and leave the
 * rest to the peers. With this policy the source refuses (BEP 6 reject) a request for a piece that another
 * peer already holds or is being sent, while it has other requests to serve; the peer then fetches that
 * piece from the others. Unlike super-seeding the peers still choose what to ask for, so the source's uplink
 * never waits on a reveal. A peer is refused a piece only within one window after the first refusal: asked
 * again later, the source serves it, so no peer can starve (say, one that reaches no holder of the piece).
 * Pure bookkeeping; the swarm sends the rejects.
 */
export class SpreadFirst {
  /** The peer each piece was first served to, while it is connected. */
  private readonly firstServed = new Map<number, string>()
  private readonly refusing = new Map<string, Map<number, number>>()

  constructor(private readonly windowMs = REFUSE_WINDOW_MS) {}

  /**
   * Whether to refuse `peer` a block of `piece` now; when not, the piece counts as being sent to `peer`.
   * `heldElsewhere`: another connected peer has the piece; `busy`: other peers have requests waiting, so
   * refusing costs the uplink nothing.
   */
  refuse(peer: string, piece: number, heldElsewhere: boolean, busy: boolean, now: number): boolean {
    const first = this.firstServed.get(piece)
    if (!busy || (!heldElsewhere && (first === undefined || first === peer))) {
      if (first === undefined) this.firstServed.set(piece, peer)
      return false
    }
    let windows = this.refusing.get(peer)
    if (!windows) this.refusing.set(peer, (windows = new Map()))
    const until = windows.get(piece)
    if (until === undefined) {
      windows.set(piece, now + this.windowMs)
      return true
    }
    return now < until
  }

  /** A peer left: pieces it was being sent are free to send to another. */
  forget(peer: string): void {
    this.refusing.delete(peer)
    for (const [piece, p] of this.firstServed) if (p === peer) this.firstServed.delete(piece)
  }
}
