/**
 * Super-seeding (BEP 16) for the source: instead of announcing every piece, the seed reveals a few pieces to
 * each peer, choosing the ones given out least and held by fewest, and reveals more as the peer reports
 * having them. Peers then fetch distinct pieces from the source and trade the rest among themselves, so the
 * source uploads about one copy. Pure bookkeeping; the swarm sends the `have` messages.
 */
/** Revealed pieces a peer always has, so that finishing one piece never leaves it nothing to ask for. */
const MIN_PER_PEER = 2

export class SuperSeeder {
  private readonly given: Uint32Array
  private readonly offered = new Map<string, Set<number>>()

  /**
   * `window` pieces are revealed and not yet held at once, shared by the peers (at least MIN_PER_PEER each):
   * one peer alone gets enough to keep its pipeline full, many peers a few each, so that few pieces are
   * still in flight, and given again, when every piece has been given once.
   */
  constructor(private readonly pieceCount: number, private readonly window: number, private readonly random: () => number = Math.random) {
    this.given = new Uint32Array(pieceCount)
  }

  /** Pieces to reveal now so that the peer has its share of the window revealed and not yet held. */
  reveal(peer: string, peerHas: (piece: number) => boolean, availability: (piece: number) => number): number[] {
    let set = this.offered.get(peer)
    if (!set) this.offered.set(peer, (set = new Set()))
    for (const p of set) if (peerHas(p)) set.delete(p)
    const perPeer = Math.max(MIN_PER_PEER, Math.ceil(this.window / this.offered.size))
    const out: number[] = []
    while (set.size < perPeer) {
      const piece = this.choose(set, peerHas, availability)
      if (piece < 0) break
      set.add(piece)
      this.given[piece]!++
      out.push(piece)
    }
    return out
  }

  forget(peer: string): void {
    this.offered.delete(peer)
  }

  /**
   * Pieces never given out first; after that only pieces no peer holds yet (in flight, or lost with a peer
   * that left), least given first: a piece some peer holds spreads without the source. Random among equals.
   */
  private choose(set: Set<number>, peerHas: (piece: number) => boolean, availability: (piece: number) => number): number {
    let best = -1
    let bestKey = Infinity
    let ties = 0
    for (let i = 0; i < this.pieceCount; i++) {
      if (set.has(i) || peerHas(i)) continue
      if (this.given[i]! > 0 && availability(i) > 0) continue
      const key = this.given[i]!
      if (key < bestKey) {
        best = i
        bestKey = key
        ties = 1
      } else if (key === bestKey && this.random() * ++ties < 1) best = i
    }
    return best
  }
}
