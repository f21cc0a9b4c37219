import type { AnnounceRequest } from './announceRequest.js'
import { SiteIndex, type SitePolicy } from './sitePolicy.js'

/** A peer as the swarm holds it: one record per peer, updated in place, so the site index holds it too. */
interface Record {
  /** Peer id in hex: the swarm's key for it. */
  readonly key: string
  readonly peerId: Uint8Array
  ip: string
  port: number
  /** Bytes still missing; 0 means seeder. */
  left: number
  lastSeen: number
  /**
   * When this peer first announced: the earliest peers of a site stay its bridges. A bridge that stops
   * progressing is moved back, as if it had just arrived (see `upsert`).
   */
  firstSeen: number
  /** Whether its first announce said it held everything (a seed from the start, such as the source). */
  readonly arrivedComplete: boolean
  site: string | undefined
  /** Set once this peer's `completed` event has been counted, so a repeated event is not. */
  countedCompleted: boolean
  /** As last reported (this client session's totals). */
  downloaded: number
  uploaded: number
  /** Bytes/s over the last RATE_WINDOW_MS or more (from `rateFrom`). */
  downloadRate: number
  uploadRate: number
  /** Where the window of the next rates starts. */
  rateFrom: { at: number; downloaded: number; uploaded: number }
  /** When it last reported progress (less left, or more downloaded), or first announced. */
  lastProgress: number
  /** Since when the tracker has seen it as one of its site's fetching bridges. */
  bridgeSince: number | undefined
}

export type Peer = Readonly<Record>

/**
 * Rates are measured over at least this long: progress reports come every second, and one second of a
 * transfer (whole pieces counted once verified) swings between nothing and twice the real rate.
 */
const RATE_WINDOW_MS = 3000

/** The peers of one torrent, with seeder count and completed counter kept incrementally. */
export class Swarm {
  /** Peers that completed a download here, each counted once (scrape's `downloaded`). */
  completed = 0
  lastAnnounce: number
  /**
   * The most any peer had left: the torrent's size as soon as one peer started empty (the tracker never sees
   * the torrent itself), so that progress can be shown as a fraction.
   */
  largestLeft = 0
  private seeders = 0
  // Keyed by peer id (hex). Every announce re-inserts its peer, so iteration order is
  // least-recently-seen first: eviction and expiry only ever look at the front.
  private readonly peers = new Map<string, Record>()
  // ip:port → peer key, so a client restarted with a fresh peer_id replaces its stale entry.
  private readonly endpoints = new Map<string, string>()
  // The records themselves: a record changes site only through delete and add again.
  private readonly sites: SiteIndex<Record>

  /**
   * `bridgeStallMs`: a fetching bridge that reported no progress for this long (an announce interval) is taken
   * for dead, and the next arrival of its site bridges instead.
   */
  constructor(
    readonly infoHash: Uint8Array,
    now: number,
    policy: SitePolicy,
    private readonly bridgeStallMs = Infinity,
  ) {
    this.lastAnnounce = now
    this.sites = new SiteIndex(policy)
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
  upsert(key: string, req: AnnounceRequest, now: number, maxPeers: number): Peer {
    this.lastAnnounce = now
    const endpointHolder = this.endpoints.get(endpointKey(req))
    // The same client restarted with a fresh peer id: a completion it had counted stays counted.
    const restarted = endpointHolder !== undefined && endpointHolder !== key ? this.remove(endpointHolder) : undefined
    this.largestLeft = Math.max(this.largestLeft, req.left)
    let peer = this.peers.get(key)
    if (peer === undefined) {
      while (this.peers.size >= maxPeers) this.remove(this.peers.keys().next().value as string)
      peer = {
        key,
        // Copies: the request's bytes are views into a buffer as large as the whole URL.
        peerId: Uint8Array.from(req.peerId),
        ip: req.ip,
        port: req.port,
        left: req.left,
        lastSeen: now,
        firstSeen: now,
        arrivedComplete: req.left === 0,
        site: req.site,
        countedCompleted: restarted?.countedCompleted ?? false,
        downloaded: req.downloaded,
        uploaded: req.uploaded,
        downloadRate: 0,
        uploadRate: 0,
        rateFrom: { at: now, downloaded: req.downloaded, uploaded: req.uploaded },
        lastProgress: now,
        bridgeSince: undefined,
      }
      this.sites.add(peer)
      if (this.sites.isFetchingBridge(peer)) peer.bridgeSince = now
    } else {
      this.unlist(key, peer)
      if (peer.site !== req.site) {
        this.sites.delete(peer)
        peer.site = req.site
        this.sites.add(peer)
      }
      const from = peer.rateFrom
      const seconds = (now - from.at) / 1000
      // A client that restarted reports smaller totals: no rate from that gap.
      if (req.downloaded < from.downloaded || req.uploaded < from.uploaded) peer.rateFrom = { at: now, downloaded: req.downloaded, uploaded: req.uploaded }
      else if (now - from.at >= RATE_WINDOW_MS) {
        peer.downloadRate = (req.downloaded - from.downloaded) / seconds
        peer.uploadRate = (req.uploaded - from.uploaded) / seconds
        peer.rateFrom = { at: now, downloaded: req.downloaded, uploaded: req.uploaded }
      }
      if (req.left < peer.left || req.downloaded > peer.downloaded) peer.lastProgress = now
      peer.left = req.left
      // Its site's heir checks the bridges it would replace (see SiteIndex.isHeir).
      if (this.sites.isHeir(peer)) for (const bridge of this.sites.fetchingBridgesOf(peer)) this.demoteIfStalled(bridge, now)
      this.demoteIfStalled(peer, now)
      peer.ip = req.ip
      peer.port = req.port
      peer.lastSeen = now
      peer.downloaded = req.downloaded
      peer.uploaded = req.uploaded
    }
    // A peer complete at its first announce downloaded nothing here (a rerun over a tree already in place).
    if (req.event === 'completed' && !peer.countedCompleted && !peer.arrivedComplete) {
      peer.countedCompleted = true
      this.completed++
    }
    // Re-inserted: the map's order is least recently seen first.
    this.peers.set(key, peer)
    this.endpoints.set(endpointKey(peer), key)
    if (peer.left === 0) this.seeders++
    return peer
  }

  /**
   * A bridge that keeps announcing but gets nothing (a host that cannot reach the others or write its disk)
   * would hold its site's only way in for good: it goes to the back of the arrivals. A peer that just became a
   * bridge has a whole stall period from then: its cross-site peers come with this answer.
   */
  private demoteIfStalled(peer: Record, now: number): void {
    if (!this.sites.isFetchingBridge(peer)) peer.bridgeSince = undefined
    else if (peer.left > 0 && now - Math.max(peer.lastProgress, (peer.bridgeSince ??= now)) >= this.bridgeStallMs) {
      this.sites.delete(peer)
      peer.firstSeen = now
      peer.bridgeSince = undefined
      this.sites.add(peer)
    }
  }

  remove(key: string): Peer | undefined {
    const peer = this.peers.get(key)
    if (peer === undefined) return undefined
    this.unlist(key, peer)
    this.sites.delete(peer)
    return peer
  }

  /** Takes `peer` out of the map and the counts (not out of the site index). */
  private unlist(key: string, peer: Peer): void {
    this.peers.delete(key)
    this.endpoints.delete(endpointKey(peer))
    if (peer.left === 0) this.seeders--
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

  /** Every peer, least recently seen first. */
  peerList(): IterableIterator<Peer> {
    return this.peers.values()
  }

  /** Up to `numwant` peers for `requester` (as `upsert` returned it), chosen by the site policy. */
  select(requester: Peer, numwant: number, random: () => number): Peer[] {
    return this.sites.select(requester, numwant, random)
  }

  /** Whether `requester`, given `returned`, should re-announce soon (SiteIndex.comeBackSoon). */
  comeBackSoon(requester: Peer, returned: readonly Peer[], numwant: number): boolean {
    return this.sites.comeBackSoon(requester, returned, numwant)
  }
}

function endpointKey(peer: { ip: string; port: number }): string {
  return `${peer.ip} ${peer.port}`
}
