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

/** Serves a source tree that matches the torrent until SIGINT/SIGTERM, then tells the tracker it left. */
export async function seedCommand(torrent: string, source: string, ip: string, opts: SeedOptions, logger: Logger): Promise<void> {
  const meta = await readTorrentFile(torrent)
  const pool = new HashPool()
  const storage = storageFor(meta, source)
  try {
    const check = await checkExisting(meta, storage, pool)
    assertMatches(meta, storage, check)
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
