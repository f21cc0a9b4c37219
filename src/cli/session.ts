import { randomBytes } from 'node:crypto'
import type { Logger } from '../log.js'
import type { FileStorage } from '../storage/fileStorage.js'
import type { HashPool } from '../storage/hashPool.js'
import type { Metainfo } from '../torrent/metainfo.js'
import { Announcer } from '../swarm/announcer.js'
import type { Bitfield } from '../bitfield.js'
import type { Listener } from '../swarm/listener.js'
import { TokenBucket } from '../swarm/rateLimiter.js'
import { Swarm } from '../swarm/swarm.js'
import { transportFor, type PeerIdentity } from '../swarm/tls.js'
import { localSource } from '../swarm/socketInput.js'
import { socketDialer } from '../swarm/transport.js'
import { socketLink } from '../swarm/wire.js'
import { FilePieceStore } from '../storage/pieceStore.js'

/** Swarm settings shared by `seed` and `peer`, with their defaults. */
export interface SwarmSettings {
  maxPeers: number
  maxUploads: number
  memoryBudget: number
  /** Site name sent to the tracker and to peers. */
  site?: string
  /** BEP 16 for a complete source. */
  superSeed: boolean
  /** A complete source refuses pieces other peers hold or are being sent (see SpreadFirst). */
  spreadFirst: boolean
  /** Bytes per second; Infinity: unlimited. */
  maxUploadRate: number
  maxDownloadRate: number
}

export const DEFAULT_SWARM_SETTINGS: SwarmSettings = {
  maxPeers: 80,
  // A few fast uploads rather than many slow ones: a piece sent to 64 peers at once reaches none of them for a
  // while, so nobody can pass it on (see choker.ts).
  maxUploads: 8,
  memoryBudget: 16 * 1024 * 1024,
  superSeed: false,
  spreadFirst: false,
  maxUploadRate: Infinity,
  maxDownloadRate: Infinity,
}

/** Azureus-style peer id: client tag and version, then random bytes. */
export function newPeerId(): Uint8Array {
  return Buffer.concat([Buffer.from('-MU0100-'), randomBytes(12)])
}

export interface Session {
  swarm: Swarm
  announcer: Announcer
  /** The first announce: resolves once it succeeded, rejects (exit 5) if no tracker answered within the timeout. */
  announced: Promise<void>
}

/** Wires a swarm to its listener and its tracker, and starts announcing. */
export async function openSession(args: {
  meta: Metainfo
  storage: FileStorage
  have: Bitfield
  pool: HashPool
  listener: Listener
  peerId: Uint8Array
  ip: string
  timeoutMs: number
  settings: SwarmSettings
  logger: Logger
  /** --cert and --key, for an SSL torrent. */
  identity?: PeerIdentity
  /** --tracker-ca: what an https tracker's certificate must chain to (default: an SSL torrent's CA). */
  trackerCa?: string
}): Promise<Session> {
  const { meta, listener, logger } = args
  const transport = transportFor(meta, args.identity, logger)
  if (meta.ignored.length > 0) logger.debug({ ignored: meta.ignored.length, first: meta.ignored.slice(0, 5) }, 'ignored torrent attributes murder cannot use')
  const swarm = new Swarm({
    ...args,
    ...args.settings,
    store: new FilePieceStore(args.storage, args.pool, meta, args.settings.memoryBudget),
    dialer: socketDialer(transport, logger, await localSource(args.ip)),
    uploadLimit: new TokenBucket(args.settings.maxUploadRate),
    downloadLimit: new TokenBucket(args.settings.maxDownloadRate),
  })
  swarm.start()
  listener.onConnection((raw) => transport.accept(raw, (socket) => swarm.accept(socketLink(socket))))
  listener.onUtpSyn((ip, port) => swarm.dialBack(ip, port))
  const announcer = new Announcer({
    urls: meta.announce,
    trackerCa: args.trackerCa ?? meta.sslCert,
    infoHash: meta.infoHash,
    peerId: args.peerId,
    port: listener.port,
    ip: args.ip,
    site: args.settings.site,
    timeoutMs: args.timeoutMs,
    logger,
    transfer: () => {
      const s = swarm.stats
      return { uploaded: s.uploaded, downloaded: s.downloaded, left: s.left }
    },
    onPeers: (peers) => swarm.addPeers(peers),
    onSeeds: (complete) => swarm.learnSeeds(complete),
    // A site given with --site wins; otherwise the tracker's map decides.
    onSite: (site) => swarm.learnSite(site),
  })
  const announced = announcer.start()
  // Raced by the caller, possibly after it stopped caring (a peer that completed without the tracker).
  announced.catch(() => undefined)
  return { swarm, announcer, announced }
}

/** Resolves on SIGINT/SIGTERM with the signal's name. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => resolve(sig)
    process.once('SIGINT', on)
    process.once('SIGTERM', on)
  })
}
