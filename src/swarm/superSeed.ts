/** Revealed pieces a peer always has, so that finishing one piece never leaves it nothing to ask for. */
const MIN_PER_PEER = 2
/**
 * A peer with nothing revealed that gained no piece for this long is starving: the pieces others hold may
 * be out of its reach (the tracker's site policy can leave the source as a remote site's only link). It is
 * then shown every piece, as a plain seed would: for such a peer the source is the only way in.
 */
export const STARVING_MS = 1000

interface PeerState {
  /** Revealed to the peer and not yet held by it. */
  readonly revealed: Set<number>
  /** Pieces it held when last seen, and since when that count has not grown. */
  held: number
  since: number
  /** Shown every piece after starving. */
  open: boolean
}

/**
 * Super-seeding (BEP 16) for the source: instead of announcing every piece, the seed reveals a few pieces to
 * each peer, choosing the ones given out least and held by fewest, and reveals more as the peer reports
 * having them. Peers then fetch distinct pieces from the source and trade the rest among themselves, so the
 * source uploads about one copy. Pure bookkeeping; the swarm sends the `have` messages.
 */
export class SuperSeeder {
  private readonly given: Uint32Array
  private readonly peers = new Map<string, PeerState>()

  /**
   * `window` pieces are revealed and not yet held at once, shared by the peers (at least MIN_PER_PEER each):
   * one peer alone gets enough to keep its pipeline full, many peers a few each, so that few pieces are
   * still in flight, and given again, when every piece has been given once.
   */
  constructor(private readonly pieceCount: number, private readonly window: number, private readonly random: () => number = Math.random) {
    this.given = new Uint32Array(pieceCount)
  }

  /**
   * Pieces to reveal now so that the peer has its share of the window revealed and not yet held. `held` is
   * how many pieces the peer has; call again every STARVING_MS / 2 so that a starving peer is noticed.
   */
  reveal(peer: string, peerHas: (piece: number) => boolean, availability: (piece: number) => number, held: number, now: number): number[] {
    let state = this.peers.get(peer)
    if (!state) this.peers.set(peer, (state = { revealed: new Set(), held, since: now, open: false }))
    if (state.open) return []
    if (held > state.held) {
      state.held = held
      state.since = now
    }
    for (const p of state.revealed) if (peerHas(p)) state.revealed.delete(p)
    if (state.revealed.size === 0 && now - state.since >= STARVING_MS) {
      state.open = true
      const all: number[] = []
      for (let i = 0; i < this.pieceCount; i++) if (!peerHas(i)) all.push(i)
      return all
    }
    const perPeer = Math.max(MIN_PER_PEER, Math.ceil(this.window / this.peers.size))
    const out: number[] = []
    while (state.revealed.size < perPeer) {
      const piece = this.choose(state.revealed, peerHas, availability)
      if (piece < 0) break
      state.revealed.add(piece)
      this.given[piece]!++
      out.push(piece)
    }
    if (out.length > 0) state.since = now
    return out
  }

  forget(peer: string): void {
    this.peers.delete(peer)
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
