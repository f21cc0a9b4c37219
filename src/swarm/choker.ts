/**
 * Who gets to download from us. The swarm is a set of trusted hosts, so there is no tit-for-tat: every
 * interested peer is served up to `maxUploads` slots (murder's BitTornado default of 1 upload slot was its
 * known bottleneck). While there is a slot for every peer, all are unchoked, interested or not: a new peer
 * can then ask for blocks in the same flight as its `interested` instead of a round trip later (80 ms across
 * the lab's WAN). Past the cap, the fastest interested peers keep their slots and one slot rotates so that
 * nobody starves. The cap is a few slots, not one per peer: an uplink shared by 64 downloads delivers each
 * piece 64 times slower, nobody holds it soon enough to pass it on, and the waiting peers went back to the
 * source. In the simulator, 100 targets on 16 MiB were done in 3.31 s with 8 slots against 5.88 s with 64, the
 * source sending 1.20 copies against 4.11.
 */

export interface ChokeCandidate {
  readonly id: string
  readonly interested: boolean
  /** Bytes/s recently exchanged with this peer, the measure of how useful a slot given to it is. */
  readonly rate: number
  /** Served before the others, whatever its rate (a bridge across a WAN link, see WanFirst). */
  readonly first?: boolean
}

export interface ChokeDecision {
  unchoke: Set<string>
  /** The rotating slot's holder, to be passed back in on the next round. */
  optimistic: string | null
}

export function chooseUnchoked(peers: readonly ChokeCandidate[], maxUploads: number, lastOptimistic: string | null): ChokeDecision {
  if (peers.length <= maxUploads) return { unchoke: new Set(peers.map((p) => p.id)), optimistic: null }
  const interested = peers.filter((p) => p.interested)
  if (interested.length <= maxUploads) return { unchoke: new Set(interested.map((p) => p.id)), optimistic: null }
  const byRate = [...interested].sort((a, b) => Number(b.first ?? false) - Number(a.first ?? false) || b.rate - a.rate || (a.id < b.id ? -1 : 1))
  const regular = byRate.slice(0, Math.max(0, maxUploads - 1))
  const rest = byRate.slice(regular.length)
  // Rotate: the next candidate after the previous optimistic one, in a stable order.
  rest.sort((a, b) => (a.id < b.id ? -1 : 1))
  const after = rest.findIndex((p) => lastOptimistic === null || p.id > lastOptimistic)
  const next = rest[after >= 0 ? after : 0] ?? null
  const unchoke = new Set(regular.map((p) => p.id))
  if (next && maxUploads > 0) unchoke.add(next.id)
  return { unchoke, optimistic: next?.id ?? null }
}
