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
  /** Order among equals (lower first); then the id. */
  readonly tie?: number
  /** Pieces the peer holds, as far as it told us. */
  readonly held?: number
}

export interface ChokeDecision {
  unchoke: Set<string>
  /** The rotating slot's holder, to be passed back in on the next round. */
  optimistic: string | null
}

/**
 * `rotate`: the rotating slot moves on to the next peer (a choke round); otherwise (a peer's interest changed)
 * its holder keeps it while still interested. Moving it on every such change, many times a second in a large
 * swarm, choked the holder before its requests came back: peers outside everyone's fastest few were starved and
 * finished last (250 targets on 64 MiB in the simulator, seeds 1-3: all done 11.56, 9.64, 10.14 s, against
 * 8.66, 9.04, 8.72 s when kept, the median unchanged at 8.4 s).
 */
export function chooseUnchoked(peers: readonly ChokeCandidate[], maxUploads: number, lastOptimistic: string | null, rotate = true, lagBehind = Infinity): ChokeDecision {
  if (peers.length <= maxUploads) return { unchoke: new Set(peers.map((p) => p.id)), optimistic: null }
  const interested = peers.filter((p) => p.interested)
  if (interested.length <= maxUploads) return { unchoke: new Set(interested.map((p) => p.id)), optimistic: null }
  // The best maxUploads - 1 by rate (served-first ones ahead), picked rather than sorted: this runs whenever a peer's
  // interest changes, and sorting every interested peer each time was a tenth of the simulator's run time.
  const regular: ChokeCandidate[] = []
  const slots = Math.max(0, maxUploads - 1)
  for (const p of interested) {
    if (slots === 0 || (regular.length === slots && !better(p, regular[slots - 1]!))) continue
    let i = Math.min(regular.length, slots - 1)
    regular[i] = p
    for (; i > 0 && better(p, regular[i - 1]!); i--) [regular[i], regular[i - 1]] = [regular[i - 1]!, p]
  }
  const unchoke = new Set(regular.map((p) => p.id))
  // Rotate: the next candidate after the previous optimistic one, in id order (or the first).
  let next: ChokeCandidate | null = null
  let first: ChokeCandidate | null = null
  let kept: ChokeCandidate | null = null
  for (const p of interested) {
    if (unchoke.has(p.id)) continue
    if (p.id === lastOptimistic) kept = p
    if (first === null || p.id < first.id) first = p
    if (lastOptimistic !== null && p.id <= lastOptimistic) continue
    if (next === null || p.id < next.id) next = p
  }
  next = (!rotate && kept) || next || first
  if (rotate) next = lagging(interested, unchoke, lagBehind) ?? next
  if (next && maxUploads > 0) unchoke.add(next.id)
  return { unchoke, optimistic: next?.id ?? null }
}

/**
 * The interested peer without a regular slot that holds the fewest pieces, if it holds `lagBehind` fewer than the
 * median interested peer: a round's rotating slot goes to it first. Slots are kept by rate, and a peer that came
 * late, or whose uploaders all served others from the start, was unchoked by 2-3 of its connections for a whole run
 * (against 5-12 for the others) and finished 6 s after its site. Only one that far behind: with every rotating
 * slot to whoever held least, everyone went at the pace of the slowest (see README, "Idle uplinks and late peers").
 */
function lagging(interested: readonly ChokeCandidate[], regular: ReadonlySet<string>, lagBehind: number): ChokeCandidate | null {
  if (lagBehind === Infinity) return null
  const held = interested.map((p) => p.held ?? 0).sort((a, b) => a - b)
  const median = held[held.length >> 1]!
  let least: ChokeCandidate | null = null
  for (const p of interested) if (!regular.has(p.id) && (least === null || (p.held ?? 0) < (least.held ?? 0))) least = p
  return least && (least.held ?? 0) < median - lagBehind ? least : null
}

/** Ranks for a regular slot: served first, then by rate, then by the caller's order among equals, then by id (ids are unique). */
function better(a: ChokeCandidate, b: ChokeCandidate): boolean {
  return (Number(b.first ?? false) - Number(a.first ?? false) || b.rate - a.rate || (a.tie ?? 0) - (b.tie ?? 0) || (a.id < b.id ? -1 : 1)) < 0
}
