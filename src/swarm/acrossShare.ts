/**
 * How a site's bridges share out what they fetch across the WAN: each piece is fetched across by one of them,
 * the one whose id scores highest for it (rendezvous hashing), so that two bridges bring a site twice the
 * intake but each piece once. Bridges know each other from the extended handshake (`murder_bridge`); a peer
 * that knows no other bridge of its site fetches everything. Pure: the swarm tells it who bridges.
 */
export class AcrossShare {
  private readonly others = new Map<string, number>()
  private readonly own: number

  constructor(ownId: string) {
    this.own = seedOf(ownId)
  }

  /** Another bridge of our site (by peer id, hex) joined or left. */
  set(id: string, bridging: boolean): void {
    if (bridging) this.others.set(id, seedOf(id))
    else this.others.delete(id)
  }

  get alone(): boolean {
    return this.others.size === 0
  }

  /** Is the piece ours to fetch across? */
  mine(piece: number): boolean {
    if (this.others.size === 0) return true
    const own = score(this.own, piece)
    for (const seed of this.others.values()) {
      const s = score(seed, piece)
      if (s > own || (s === own && seed > this.own)) return false
    }
    return true
  }
}

/** A peer id's last 32 bits (the random part of an Azureus-style id). */
function seedOf(idHex: string): number {
  return Number.parseInt(idHex.slice(-8), 16) >>> 0
}

/** A 32-bit mix of a seed and a piece (murmur3's finalizer). */
function score(seed: number, piece: number): number {
  let h = (seed ^ Math.imul(piece + 1, 0x9e3779b1)) >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}
