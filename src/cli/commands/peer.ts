import { access, constants, mkdir } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { UserError, ExitCode, fsError } from '../../errors.js'
import type { Logger } from '../../log.js'
import { checkExisting } from '../../storage/checkExisting.js'
import { findExtraneous } from '../../storage/destinationTree.js'
import { flushFileSystem } from '../../storage/flush.js'
import { reuseLocalCopies } from '../../storage/reuseLocal.js'
import { DirectoryListings, removeEntry } from '../../storage/safePath.js'
import { assertDeletable, assertMaxDelete, firstPaths } from '../../storage/deletion.js'
import { HashPool } from '../../storage/hashPool.js'
import { applyMetadata } from '../../storage/applyMetadata.js'
import { storageFor } from '../../torrent/build.js'
import type { Metainfo } from '../../torrent/metainfo.js'
import { parseTorrentSource, readTorrentFile } from '../../torrent/source.js'
import { Listener } from '../../swarm/listener.js'
import { fetchMetadata } from '../../swarm/metadataFetch.js'
import { assertIdentityFits, type PeerIdentity } from '../../swarm/tls.js'
import { StallWatch, stallMessage } from '../../swarm/stall.js'
import type { Swarm } from '../../swarm/swarm.js'
import type { Session } from '../session.js'
import { startProgress } from '../progress.js'
import { newPeerId, openSession, untilSignal, type SwarmSettings } from '../session.js'
import { localSource } from '../../swarm/socketInput.js'

export interface PeerOptions {
  port: number
  timeout: number
  linger: number
  fsync: boolean
  /** Remove what the torrent does not name, like `rsync --delete`. */
  delete: boolean
  /** With `delete`: stop, removing nothing, when there is more than this to remove. */
  maxDelete: number
  /** Apply numeric owners (as root). */
  owner: boolean
  tracker: string[]
  /** Seconds without a verified piece or a peer holding a missing one before giving up; 0: never. */
  stallTimeout: number
  settings: SwarmSettings
  /** --cert and --key, for an SSL torrent (and the TLS metadata fetch of its magnet link). */
  identity?: PeerIdentity
  /** --tracker-ca, as PEM. */
  trackerCa?: string
}

const LINGER_POLL_MS = 1000
const STALL_CHECK_MS = 1000

/** Rejects once the download has stalled for `timeoutS` (see StallWatch); `stop` ends the watch. */
function watchStall(swarm: Swarm, timeoutS: number): { stalled: Promise<never>; stop: () => void } {
  let timer: NodeJS.Timeout | undefined
  const stalled = new Promise<never>((_, reject) => {
    if (timeoutS === 0) return
    const watch = new StallWatch(timeoutS * 1000, Date.now(), swarm.stats.pieces)
    timer = setInterval(() => {
      const s = swarm.stats
      if (!watch.stalled(Date.now(), s.pieces, swarm.missingHeld())) return
      clearInterval(timer)
      reject(new UserError(stallMessage(timeoutS, s.peers, swarm.missingPieces(), s.pieceCount), ExitCode.stalled))
    }, STALL_CHECK_MS)
  })
  return { stalled, stop: () => clearInterval(timer) }
}

async function prepareDestination(meta: Metainfo, destination: string): Promise<void> {
  const dir = meta.singleFile ? dirname(resolve(destination)) : resolve(destination)
  try {
    await mkdir(dir, { recursive: true })
    await access(dir, constants.W_OK)
  } catch (err) {
    const e = fsError(err, dir)
    throw new UserError(`destination not writable: ${e.message}`, e.exitCode === ExitCode.diskFull ? ExitCode.diskFull : ExitCode.destination)
  }
}

/** Serves the others while the tracker still counts incomplete peers, for at most `lingerS` seconds. */
async function linger({ announcer }: Session, lingerS: number, logger: Logger): Promise<void> {
  const deadline = Date.now() + lingerS * 1000
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, Math.min(LINGER_POLL_MS, deadline - Date.now())))
    if ((await announcer.announceNow()) && announcer.incomplete === 0) return
  }
  logger.info({ linger: lingerS }, 'linger time over')
}

/**
 * Brings `destination` to the torrent's content: hashes what is there, downloads only missing or wrong
 * pieces from the seed and the other peers while serving them, prints `Done and done`, lingers, exits.
 */
export async function peerCommand(torrent: string, destination: string, ip: string, opts: PeerOptions, logger: Logger): Promise<void> {
  const source = parseTorrentSource(torrent, opts.tracker)
  if (opts.delete) assertDeletable(destination)
  const peerId = newPeerId()
  const listener = await Listener.open(opts.port)
  // Checking what is on disk goes to workers (all cores when there is much); the download's pieces are hashed
  // and written on the event loop (see HashPool).
  const pool = new HashPool(new Set(['store', 'read']))
  let session: Session | null = null
  const interrupted = untilSignal().then((sig) => {
    throw new UserError(`interrupted by ${sig}`, ExitCode.failure)
  })
  interrupted.catch(() => undefined) // raced below; handled here so an early signal is not an unhandled rejection
  try {
    const meta = await Promise.race([
      source.kind === 'file'
        ? readTorrentFile(source.path)
        : fetchMetadata({ infoHash: source.infoHash, trackers: source.trackers, peerId, port: listener.port, ip, localAddress: await localSource(ip), timeoutMs: opts.timeout * 1000, logger, identity: opts.identity, trackerCa: opts.trackerCa }),
      interrupted,
    ])
    assertIdentityFits(meta, opts.identity)
    await prepareDestination(meta, destination)
    const storage = storageFor(meta, destination)
    try {
      const fileRoot = storage.root
      // One listing of the destination serves the check and the search for renamed content.
      const listings = new DirectoryListings(fileRoot)
      const check = await checkExisting(meta, storage, pool, listings)
      const extra = meta.singleFile ? null : await findExtraneous(fileRoot, meta, listings)
      // Before any download: a destination typo is found in a second, not after the transfer.
      if (extra && opts.delete) assertMaxDelete(fileRoot, extra, opts.maxDelete)
      if (extra && !check.have.complete) {
        const reused = await reuseLocalCopies(meta, storage, check.have, extra.files, pool)
        if (reused.pieces > 0) logger.info(reused, 'copied renamed content locally')
      }
      await storage.allocate(check.sizes)
      logger.info({ infoHash: meta.infoHashHex, have: check.have.count, pieces: meta.pieceCount, port: listener.port, ...(meta.sslCert === undefined ? {} : { ssl: true }) }, 'destination checked')
      session = await Promise.race([openSession({
        meta, storage, have: check.have, pool, listener, peerId, ip, timeoutMs: opts.timeout * 1000, settings: opts.settings, logger, identity: opts.identity, trackerCa: opts.trackerCa,
      }), interrupted])
      const { swarm, announcer, announced } = session
      const stopProgress = startProgress(() => swarm.stats, logger)
      const fatal = new Promise<never>((_, reject) => swarm.once('fatal', reject))
      let known = false
      announced.then(() => { known = true }, () => undefined)
      const complete = swarm.complete ? Promise.resolve() : new Promise<void>((r) => swarm.once('complete', r))
      // A destination that holds everything (or gets it from peers that dialed us) is done without the tracker;
      // one that still lacks pieces needs it (exit 5 after --timeout).
      await Promise.race([announced, complete, fatal, interrupted]).catch((err: unknown) => {
        if (!swarm.complete) {
          stopProgress()
          throw err
        }
      })
      if (!swarm.complete) {
        const stall = watchStall(swarm, opts.stallTimeout)
        await Promise.race([complete, fatal, interrupted, stall.stalled]).finally(() => {
          stall.stop()
          stopProgress()
        })
      } else stopProgress()
      if (opts.delete && extra) {
        const now = await findExtraneous(fileRoot, meta)
        assertMaxDelete(fileRoot, now, opts.maxDelete)
        for (const e of now.entries) await removeEntry(e)
        if (now.count > 0) logger.info({ removed: now.count, paths: firstPaths(fileRoot, now.entries) }, 'deleted entries the torrent does not name')
      } else if (extra && extra.count > 0) {
        // rsync's default too, but a deploy that leaves stale files behind should say so.
        logger.warn({ entries: extra.count, paths: firstPaths(fileRoot, extra.entries) }, 'kept entries the torrent does not name (--delete removes them)')
      }
      await applyMetadata(meta, fileRoot, meta.singleFile ? resolve(destination) : null, { owner: opts.owner })
      if (opts.fsync) await flushFileSystem(fileRoot)
      logger.info({ ...swarm.stats }, 'complete')
      await new Promise<void>((r) => process.stdout.write('Done and done\n', () => r()))
      const told = await announcer.announceNow('completed')
      // Lingering serves peers that the tracker told about us: with no tracker ever answering, there are none.
      if (opts.linger > 0 && (told || known)) await Promise.race([linger(session, opts.linger, logger), fatal, interrupted.catch(() => undefined)])
    } finally {
      // The totals of the whole run, uploads while lingering included (the `complete` line has them up to then).
      if (session) logger.info({ ...session.swarm.stats }, 'peer stopping')
      session?.swarm.close()
    }
  } finally {
    await session?.announcer.stop()
    await listener.close()
    await pool.close()
  }
}
