import type { AnnounceRequest } from './announceRequest.js'

export interface Peer {
  readonly peerId: Uint8Array
  readonly ip: string
  readonly port: number
  /** Bytes still missing; 0 means seeder. */
  readonly left: number
  readonly lastSeen: number
  /** When this peer first announced: the earliest peers of a site stay its bridges. */
  readonly firstSeen: number
  /** Whether its first announce said it held everything (a seed from the start, such as the source). */
  readonly arrivedComplete: boolean
  readonly site: string | undefined
  /** Set once this peer's `completed` event has been counted, so a repeated event is not. */
  readonly countedCompleted: boolean
}

/** The peers of one torrent, with seeder count and completed counter kept incrementally. */
export class Swarm {
  /** Number of `completed` events seen (scrape's `downloaded`). */
  completed = 0
  lastAnnounce: number
  private seeders = 0
  /** Peers with a site, kept incrementally so announces without sites stay O(numwant). */
  private sited = 0
  // Keyed by peer id (hex). Every announce re-inserts its peer, so iteration order is
  // least-recently-seen first: eviction and expiry only ever look at the front.
  private readonly peers = new Map<string, Peer>()
  // ip:port → peer key, so a client restarted with a fresh peer_id replaces its stale entry.
  private readonly endpoints = new Map<string, string>()

  constructor(
    readonly infoHash: Uint8Array,
    now: number,
  ) {
    this.lastAnnounce = now
  }

  get size(): number {
    return this.peers.size
  }

  get complete(): number {
    return this.seeders
  }

  get incomplete(): number {
    return this.peers.size - this.seeders
  }

  /** Adds or refreshes the announcing peer, evicting the least recently seen if the swarm is full. */
  upsert(key: string, req: AnnounceRequest, now: number, maxPeers: number): void {
    this.lastAnnounce = now
    const previous = this.remove(key)
    const endpointHolder = this.endpoints.get(endpointKey(req))
    if (endpointHolder !== undefined) this.remove(endpointHolder)
    while (this.peers.size >= maxPeers) this.remove(this.peers.keys().next().value as string)

    const countNow = req.event === 'completed' && previous?.countedCompleted !== true
    if (countNow) this.completed++
    const peer: Peer = {
      // Copies: the request's bytes are views into a buffer as large as the whole URL.
      peerId: previous?.peerId ?? Uint8Array.from(req.peerId),
      ip: req.ip,
      port: req.port,
      left: req.left,
      lastSeen: now,
      firstSeen: previous?.firstSeen ?? now,
      arrivedComplete: previous?.arrivedComplete ?? req.left === 0,
      site: req.site,
      countedCompleted: countNow || previous?.countedCompleted === true,
    }
    this.peers.set(key, peer)
    this.endpoints.set(endpointKey(peer), key)
    if (peer.left === 0) this.seeders++
    if (peer.site !== undefined) this.sited++
  }

  remove(key: string): Peer | undefined {
    const peer = this.peers.get(key)
    if (peer === undefined) return undefined
    this.peers.delete(key)
    this.endpoints.delete(endpointKey(peer))
    if (peer.left === 0) this.seeders--
    if (peer.site !== undefined) this.sited--
    return peer
  }

  /** Drops peers last seen before `cutoff`; relies on callers passing a non-decreasing clock. */
  expire(cutoff: number): number {
    let removed = 0
    for (const [key, peer] of this.peers) {
      if (peer.lastSeen >= cutoff) break
      this.remove(key)
      removed++
    }
    return removed
  }

  /** Does any peer of this swarm say which site it is in? */
  get hasSites(): boolean {
    return this.sited > 0
  }

  /** Every peer with its key, for policies that look at the whole swarm. */
  list(): (Peer & { key: string })[] {
    return [...this.peers].map(([key, peer]) => ({ ...peer, key }))
  }

  /** Up to `count` peers other than `exclude`, uniformly at random and in random order. */
  sample(exclude: string, count: number, random: () => number): Peer[] {
    const chosen: Peer[] = []
    let seen = 0
    // Reservoir sampling: one pass, no copy of the whole swarm.
    for (const [key, peer] of this.peers) {
      if (key === exclude) continue
      seen++
      if (chosen.length < count) chosen.push(peer)
      else {
        const j = Math.floor(random() * seen)
        if (j < count) chosen[j] = peer
      }
    }
    // Shuffle too: otherwise small swarms hand every requester the same order and the first peer gets swamped.
    for (let i = chosen.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1))
      ;[chosen[i], chosen[j]] = [chosen[j] as Peer, chosen[i] as Peer]
    }
    return chosen
  }
}

function endpointKey(peer: { ip: string; port: number }): string {
  return `${peer.ip} ${peer.port}`
}
