import type { AnnounceRequest } from './announceRequest.js'
import { DEFAULT_SITE_POLICY, type SitePolicy } from './sitePolicy.js'
import { Swarm, type Peer } from './swarm.js'

export interface SwarmRegistryOptions {
  /** A peer that has not announced for this long is dropped by `sweep`. */
  peerTtlMs: number
  /** Swarms kept at most; the least recently announced is evicted. */
  maxTorrents?: number
  /** Peers kept per swarm at most; the least recently seen is evicted. */
  maxPeersPerSwarm?: number
  /** Injectable for deterministic tests. */
  random?: () => number
  /** How peers of different sites are put in touch. */
  sitePolicy?: SitePolicy
  /** A fetching bridge with no progress for this long is replaced (the announce interval; default never). */
  bridgeStallMs?: number
}

export interface AnnounceResult {
  peers: Peer[]
  complete: number
  incomplete: number
  /** Re-announce after a fifth of the interval (announceInterval; see SiteIndex.comeBackSoon). */
  soon?: boolean
}

/** The interval to give with `result`, in seconds: a fifth of the regular one to a peer told to come back soon. */
export function announceInterval(result: Pick<AnnounceResult, 'soon'>, intervalS: number): number {
  return result.soon ? Math.max(1, Math.ceil(intervalS / 5)) : intervalS
}

export interface TorrentStats {
  infoHash: Uint8Array
  complete: number
  incomplete: number
  /** Completed downloads counted from `completed` events. */
  downloaded: number
}

/**
 * How long a fetching bridge may go without progress before the next arrival of its site bridges instead: an
 * announce interval, ten seconds at least (a standard client's first pieces can take that long: aria2c bridging
 * a site in a test with --interval 1 was replaced before it had any, and the site pulled 1.82 copies across).
 */
export function bridgeStallFor(intervalMs: number): number {
  return Math.max(intervalMs, 10_000)
}

export const DEFAULT_MAX_TORRENTS = 10_000
export const DEFAULT_MAX_PEERS_PER_SWARM = 5_000

/**
 * All swarms, bounded in memory. Pure state: every time-dependent method takes `now` (ms from
 * any non-decreasing clock), so tests drive time explicitly.
 */
export class SwarmRegistry {
  // Keyed by info hash (hex); re-inserted on every announce, so the front is least recently announced.
  private readonly swarms = new Map<string, Swarm>()
  private readonly peerTtlMs: number
  private readonly maxTorrents: number
  private readonly maxPeersPerSwarm: number
  private readonly random: () => number
  private readonly sitePolicy: SitePolicy
  private readonly bridgeStallMs: number | undefined
  /** Bumped by every change to the swarms (announces, expiry, forgetting): what was shown of them is stale. */
  version = 0

  constructor(opts: SwarmRegistryOptions) {
    this.peerTtlMs = opts.peerTtlMs
    this.maxTorrents = atLeastOne('maxTorrents', opts.maxTorrents ?? DEFAULT_MAX_TORRENTS)
    this.maxPeersPerSwarm = atLeastOne('maxPeersPerSwarm', opts.maxPeersPerSwarm ?? DEFAULT_MAX_PEERS_PER_SWARM)
    this.random = opts.random ?? Math.random
    this.sitePolicy = opts.sitePolicy ?? DEFAULT_SITE_POLICY
    this.bridgeStallMs = opts.bridgeStallMs
  }

  get torrentCount(): number {
    return this.swarms.size
  }

  announce(req: AnnounceRequest, now: number): AnnounceResult {
    this.version++
    const hashKey = hex(req.infoHash)
    const peerKey = hex(req.peerId)
    if (req.event === 'stopped') {
      // A departing peer neither creates a swarm nor needs peers.
      const swarm = this.swarms.get(hashKey)
      swarm?.remove(peerKey)
      return { peers: [], complete: swarm?.complete ?? 0, incomplete: swarm?.incomplete ?? 0 }
    }
    const swarm = this.touch(hashKey, req.infoHash, now)
    const peer = swarm.upsert(peerKey, req, now, this.maxPeersPerSwarm)
    const peers = swarm.select(peer, req.numwant, this.random)
    return { peers, complete: swarm.complete, incomplete: swarm.incomplete, soon: swarm.comeBackSoon(peer, peers, req.numwant) }
  }

  /** Stats for the given info hashes (zeros for unknown ones), or for every swarm when none are given. */
  scrape(infoHashes: Uint8Array[] = []): TorrentStats[] {
    if (infoHashes.length === 0) return [...this.swarms.values()].map(stats)
    return infoHashes.map((infoHash) => {
      const swarm = this.swarms.get(hex(infoHash))
      return swarm ? stats(swarm) : { infoHash, complete: 0, incomplete: 0, downloaded: 0 }
    })
  }

  /** Every swarm, least recently announced first. */
  swarmList(): IterableIterator<Swarm> {
    return this.swarms.values()
  }

  /** Drops peers that stopped announcing, then swarms left empty and idle. Call periodically. */
  sweep(now: number): { peers: number; torrents: number } {
    const cutoff = now - this.peerTtlMs
    let peers = 0
    let torrents = 0
    for (const [key, swarm] of this.swarms) {
      peers += swarm.expire(cutoff)
      if (swarm.size === 0 && swarm.lastAnnounce < cutoff) {
        this.swarms.delete(key)
        torrents++
      }
    }
    if (peers > 0 || torrents > 0) this.version++
    return { peers, torrents }
  }

  /** Forgets every swarm whose info hash `keep` rejects; returns how many were forgotten. */
  retain(keep: (infoHash: Uint8Array) => boolean): number {
    let removed = 0
    for (const [key, swarm] of this.swarms) {
      if (keep(swarm.infoHash)) continue
      this.swarms.delete(key)
      removed++
    }
    if (removed > 0) this.version++
    return removed
  }

  private touch(key: string, infoHash: Uint8Array, now: number): Swarm {
    let swarm = this.swarms.get(key)
    if (swarm) {
      this.swarms.delete(key)
    } else {
      if (this.swarms.size >= this.maxTorrents) this.swarms.delete(this.swarms.keys().next().value as string)
      // Copy: the request's bytes are a view into a buffer as large as the whole URL.
      swarm = new Swarm(Uint8Array.from(infoHash), now, this.sitePolicy, this.bridgeStallMs)
    }
    this.swarms.set(key, swarm)
    return swarm
  }
}

function stats(swarm: Swarm): TorrentStats {
  return { infoHash: swarm.infoHash, complete: swarm.complete, incomplete: swarm.incomplete, downloaded: swarm.completed }
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

function atLeastOne(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`)
  return value
}
