/** How long the source keeps refusing one peer's requests for one piece, from its first refusal. */
export const REFUSE_WINDOW_MS = 300

/**
 * The source's uplink is the swarm's scarcest resource: it should carry each piece about once and leave the
 * rest to the peers. With this policy the source refuses (BEP 6 reject) a request for a piece that another
 * peer already holds or is being sent, while it has other requests to serve; the peer then fetches that
 * piece from the others. Unlike super-seeding the peers still choose what to ask for, so the source's uplink
 * never waits on a reveal. A peer is refused a piece only within one window after the first refusal: asked
 * again later, the source serves it, so no peer can starve (say, one that reaches no holder of the piece).
 * A peer that asks again for a block it was just refused does not go elsewhere for it (aria2c asks again at
 * once: 78,916 rejects in 6 s): refusing it only delays it, so it is never refused again, and a standard
 * client costs a refusal per block it had in flight, once. Pure bookkeeping; the swarm sends the rejects.
 */
export class SpreadFirst {
  /** The peer each piece was first served to, while it is connected. */
  private readonly firstServed = new Map<number, string>()
  private readonly refusing = new Map<string, Map<number, number>>()
  /** Blocks refused to each peer within their piece's window, as `piece:offset`. */
  private readonly refusedBlocks = new Map<string, Set<string>>()
  /** Peers that asked again for a block they were refused: served whatever they ask. */
  private readonly persistent = new Set<string>()

  constructor(private readonly windowMs = REFUSE_WINDOW_MS) {}

  /**
   * Whether to refuse `peer` a block of `piece` now; when not, the piece counts as being sent to `peer`.
   * `heldElsewhere`: another connected peer has the piece; `busy`: other peers have requests waiting, so
   * refusing costs the uplink nothing.
   */
  refuse(peer: string, piece: number, offset: number, heldElsewhere: boolean, busy: boolean, now: number): boolean {
    const first = this.firstServed.get(piece)
    if (this.persistent.has(peer) || !busy || (!heldElsewhere && (first === undefined || first === peer))) {
      if (first === undefined) this.firstServed.set(piece, peer)
      return false
    }
    let windows = this.refusing.get(peer)
    if (!windows) this.refusing.set(peer, (windows = new Map()))
    let blocks = this.refusedBlocks.get(peer)
    if (!blocks) this.refusedBlocks.set(peer, (blocks = new Set()))
    const block = `${piece}:${offset}`
    const until = windows.get(piece)
    if (until !== undefined && now >= until) return false
    if (until === undefined) windows.set(piece, now + this.windowMs)
    if (blocks.has(block)) {
      this.persistent.add(peer)
      this.refusedBlocks.delete(peer)
      return false
    }
    blocks.add(block)
    return true
  }

  /** A peer left: pieces it was being sent are free to send to another. */
  forget(peer: string): void {
    this.refusing.delete(peer)
    this.refusedBlocks.delete(peer)
    this.persistent.delete(peer)
    for (const [piece, p] of this.firstServed) if (p === peer) this.firstServed.delete(piece)
  }
}
