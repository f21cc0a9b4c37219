import { stat } from 'node:fs/promises'
import { ExitCode, UserError, fsError } from '../errors.js'
import type { Logger } from '../../log.js'
import { assertMatches, checkExisting } from '../../storage/checkExisting.js'
import { HashPool } from '../../storage/hashPool.js'
import { storageFor } from '../../torrent/build.js'
import { readTorrentFile } from '../../torrent/source.js'
import { Listener } from '../../swarm/listener.js'
import { startProgress } from '../progress.js'
import { newPeerId, openSession, untilSignal, type SwarmSettings } from '../session.js'

export interface SeedOptions {
  port: number
  timeout: number
  settings: SwarmSettings
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
    await assertSourceExists(meta.singleFile, source)
    const check = await checkExisting(meta, storage, pool)
    await assertMatches(meta, storage, check)
    const listener = await Listener.open(opts.port)
    const { swarm, announcer } = await openSession({
      meta, storage, have: check.have, pool, listener, peerId: newPeerId(), ip, timeoutMs: opts.timeout * 1000, settings: opts.settings, logger,
    })
    logger.info({ infoHash: meta.infoHashHex, port: listener.port, ip }, 'seeding')
    const stopProgress = startProgress(() => swarm.stats, logger)
    const fatal = new Promise<never>((_, reject) => swarm.once('fatal', reject))
    const sig = await Promise.race([untilSignal(), fatal]).finally(() => {
      stopProgress()
      swarm.close()
    })
    logger.info({ signal: sig, uploaded: swarm.stats.uploaded, refused: swarm.stats.refused }, 'seed stopping')
    await Promise.all([announcer.stop(), listener.close()])
  } finally {
    await pool.close()
  }
}
