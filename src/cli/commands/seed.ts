import { stat } from 'node:fs/promises'
import { ExitCode, UserError, fsError } from '../../errors.js'
import type { Logger } from '../../log.js'
import { assertMatches, checkExisting } from '../../storage/checkExisting.js'
import type { FileStorage } from '../../storage/fileStorage.js'
import { HashPool } from '../../storage/hashPool.js'
import { storageFor } from '../../torrent/build.js'
import type { Metainfo } from '../../torrent/metainfo.js'
import { readTorrentFile } from '../../torrent/source.js'
import type { Bitfield } from '../../bitfield.js'
import { Listener } from '../../swarm/listener.js'
import type { SwarmStats } from '../../swarm/swarm.js'
import { assertIdentityFits, type PeerIdentity } from '../../swarm/tls.js'
import { startProgress } from '../progress.js'
import { newPeerId, openSession, untilSignal, type SwarmSettings } from '../session.js'

export interface SeedOptions {
  port: number
  timeout: number
  settings: SwarmSettings
  /** --cert and --key, for an SSL torrent. */
  identity?: PeerIdentity
  trackerCa?: string
}

export interface Seeding {
  stats: () => SwarmStats
  /** Rejects with the swarm's fatal error (e.g. the source became unreadable). */
  fatal: Promise<never>
  /** Stops serving and tells the tracker; `why` goes into the 'seed stopping' line. */
  stop: (why?: Record<string, unknown>) => Promise<void>
}

/**
 * Serves `have` of a source tree (already checked against the torrent) to the swarm, until `stop`; with
 * `progress`, shows or logs its progress (deploy shows the fleet's instead).
 */
export async function startSeeding(args: { meta: Metainfo; storage: FileStorage; have: Bitfield; pool: HashPool; ip: string; opts: SeedOptions; logger: Logger; progress: boolean }): Promise<Seeding> {
  const { meta, ip, opts, logger } = args
  const listener = await Listener.open(opts.port)
  const { swarm, announcer, announced } = await openSession({ ...args, listener, peerId: newPeerId(), timeoutMs: opts.timeout * 1000, settings: opts.settings, identity: opts.identity, trackerCa: opts.trackerCa })
  // A seed nobody can find serves nobody: a tracker unreachable beyond --timeout ends it (exit 5).
  await announced
  logger.info({ infoHash: meta.infoHashHex, port: listener.port, ip }, 'seeding')
  const stopProgress = args.progress ? startProgress(() => swarm.stats, logger) : () => undefined
  const fatal = new Promise<never>((_, reject) => swarm.once('fatal', reject))
  fatal.catch(() => undefined) // a caller that never awaits it must not see an unhandled rejection
  return {
    stats: () => swarm.stats,
    fatal,
    async stop(why = {}) {
      stopProgress()
      swarm.close()
      logger.info({ ...why, uploaded: swarm.stats.uploaded, refused: swarm.stats.refused, peakPeers: swarm.stats.peakPeers }, 'seed stopping')
      await Promise.all([announcer.stop(), listener.close()])
    },
  }
}

/**
 * A mistyped source is named as such, not reported as a tree whose every file is missing. The source itself
 * may be a symlink (a release folder's `current` link), as it always could.
 */
async function assertSourceExists(singleFile: boolean, source: string): Promise<void> {
  const st = await stat(source).catch((err: NodeJS.ErrnoException) => {
    throw err.code === 'ENOENT' ? new UserError(`no such ${singleFile ? 'file' : 'folder'}: ${source}`) : fsError(err, source)
  })
  if (singleFile ? !st.isFile() : !st.isDirectory()) {
    throw new UserError(`source does not match the torrent: ${source} is not a ${singleFile ? 'regular file' : 'folder'}, the torrent holds ${singleFile ? 'one file' : 'a folder'}`, ExitCode.mismatch)
  }
}

/** Serves a source tree that matches the torrent until SIGINT/SIGTERM, then tells the tracker it left. */
export async function seedCommand(torrent: string, source: string, ip: string, opts: SeedOptions, logger: Logger): Promise<void> {
  const meta = await readTorrentFile(torrent)
  const pool = new HashPool()
  const storage = storageFor(meta, source)
  try {
    assertIdentityFits(meta, opts.identity)
    await assertSourceExists(meta.singleFile, source)
    const check = await checkExisting(meta, storage, pool)
    await assertMatches(meta, storage, check)
    const seeding = await startSeeding({ meta, storage, have: check.have, pool, ip, opts, logger, progress: true })
    let signal: NodeJS.Signals | undefined
    await Promise.race([untilSignal().then((sig) => { signal = sig }), seeding.fatal]).finally(() => seeding.stop({ signal }))
  } finally {
    await pool.close()
  }
}
