import { writeFile } from 'node:fs/promises'
import { fsError } from '../../errors.js'
import { HashPool } from '../../storage/hashPool.js'
import { buildTorrent } from '../../torrent/build.js'
import type { AlignPolicy } from '../../torrent/padding.js'
import { isPadding } from '../../torrent/attributes.js'
import { trackerUrl } from '../../torrent/trackerUrl.js'
import { magnetLink } from '../../torrent/source.js'
import { readCaCertificate } from '../../swarm/tls.js'

export interface MakeTorrentOptions {
  tracker: string[]
  pieceLength?: number
  exclude: string[]
  align: AlignPolicy
  json: boolean
  /** CA certificate file: makes an SSL torrent. */
  ca?: string
}

export async function makeTorrentCommand(source: string, tracker: string, out: string, opts: MakeTorrentOptions): Promise<void> {
  const trackers = [...new Set([tracker, ...opts.tracker].map(trackerUrl))]
  const sslCert = opts.ca === undefined ? undefined : await readCaCertificate(opts.ca)
  const pool = new HashPool()
  try {
    const started = Date.now()
    const { torrent, meta } = await buildTorrent({ source, trackers, pieceLength: opts.pieceLength, exclude: opts.exclude, align: opts.align, pool, sslCert })
    await writeFile(out, torrent).catch((err) => { throw fsError(err, out) })
    const summary = {
      torrentBytes: torrent.length,
      infoHash: meta.infoHashHex,
      name: meta.name,
      files: meta.files.filter((f) => !isPadding(f)).length,
      bytes: meta.files.reduce((sum, f) => sum + (isPadding(f) ? 0 : f.length), 0),
      paddingBytes: meta.files.reduce((sum, f) => sum + (isPadding(f) ? f.length : 0), 0),
      pieces: meta.pieceCount,
      pieceLength: meta.pieceLength,
      torrent: out,
      magnet: magnetLink(meta.infoHashHex, meta.name, meta.announce),
      seconds: (Date.now() - started) / 1000,
    }
    process.stdout.write(opts.json
      ? JSON.stringify(summary) + '\n'
      : `${summary.infoHash}  ${summary.files} files, ${summary.bytes} bytes, ${summary.pieces} pieces of ${summary.pieceLength} bytes -> ${out}\n${summary.magnet}\n`)
  } finally {
    await pool.close()
  }
}
