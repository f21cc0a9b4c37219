import { readFile } from 'node:fs/promises'
import { ExitCode, UserError, fsError } from '../../errors.js'
import type { Logger } from '../../log.js'
import { loadAllowList } from '../../tracker/allowList.js'
import { startTracker } from '../../tracker/server.js'
import { loadSiteMap } from '../../tracker/siteMap.js'
import { loadPasskeys } from '../../tracker/passkey.js'
import { untilSignal } from '../session.js'

export interface TrackerOptions {
  port: number
  host?: string
  interval: number
  /** File of allowed info hashes; re-read on SIGHUP. */
  allow?: string
  maxTorrents?: number
  maxPeersPerTorrent?: number
  /** Seconds a client has to send its whole request. */
  requestTimeout?: number
  /** File mapping address ranges to sites. */
  sites?: string
  bridgesPerSite: number | 'auto'
  crossSitePeers: number
  /** File of passkeys: announces and scrapes must carry one (`/<passkey>/announce`). */
  keyFile?: string
  /** HTTPS: the tracker's certificate and key (PEM files), both or neither. */
  tlsCert?: string
  tlsKey?: string
}

async function tlsOf(opts: TrackerOptions): Promise<{ cert: string; key: string } | undefined> {
  if (opts.tlsCert === undefined && opts.tlsKey === undefined) return undefined
  if (opts.tlsCert === undefined || opts.tlsKey === undefined) throw new UserError('--tls-cert and --tls-key go together', ExitCode.usage)
  const read = (file: string) => readFile(file, 'utf8').catch((err) => { throw fsError(err, file) })
  return { cert: await read(opts.tlsCert), key: await read(opts.tlsKey) }
}

export async function trackerCommand(opts: TrackerOptions, logger: Logger): Promise<void> {
  const allowFile = opts.allow
  const allow = allowFile === undefined ? undefined : await loadAllowList(allowFile)
  const sites = opts.sites === undefined ? undefined : await loadSiteMap(opts.sites)
  const passkeys = opts.keyFile === undefined ? undefined : await loadPasskeys(opts.keyFile)
  const tracker = await startTracker({
    tls: await tlsOf(opts),
    port: opts.port,
    host: opts.host,
    interval: opts.interval,
    allow,
    passkeys,
    sites,
    sitePolicy: { bridgesPerSite: opts.bridgesPerSite, crossSitePeers: opts.crossSitePeers },
    maxTorrents: opts.maxTorrents,
    maxPeersPerTorrent: opts.maxPeersPerTorrent,
    requestTimeoutMs: opts.requestTimeout === undefined ? undefined : opts.requestTimeout * 1000,
    logger,
  })
  if (allowFile !== undefined && allow !== undefined) {
    logger.info({ file: allowFile, torrents: allow.size }, 'allow list loaded')
    // Like BitTornado re-scanning allowed_dir: edit the file, then `kill -HUP`. A broken edit keeps the old list.
    process.on('SIGHUP', () => {
      loadAllowList(allowFile).then(
        (next) => {
          tracker.setAllow(next)
          logger.info({ file: allowFile, torrents: next.size }, 'allow list reloaded')
        },
        (err: Error) => logger.error({ file: allowFile, err: err.message }, 'allow list not reloaded; keeping the previous one'),
      )
    })
  }
  const sig = await untilSignal()
  logger.info({ signal: sig }, 'tracker stopping')
  await tracker.close()
}
