import { readFile } from 'node:fs/promises'
import { UserError, ExitCode } from '../errors.js'
import { parseTorrent, type Metainfo } from './metainfo.js'
import { trackerUrl } from './trackerUrl.js'

/** What the peer was given: a .torrent file, or just an info hash (magnet) whose metadata comes from the swarm. */
export type TorrentSource =
  | { kind: 'file'; path: string }
  | { kind: 'hash'; infoHash: Uint8Array; trackers: string[] }

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

function decodeBase32(s: string): Uint8Array | null {
  let bits = 0
  let value = 0
  const out: number[] = []
  for (const ch of s.toUpperCase()) {
    const v = BASE32.indexOf(ch)
    if (v < 0) return null
    value = (value << 5) | v
    bits += 5
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff)
      bits -= 8
    }
  }
  return Uint8Array.from(out)
}

function parseHash(s: string): Uint8Array | null {
  if (/^[0-9a-fA-F]{40}$/.test(s)) return Buffer.from(s, 'hex')
  if (/^[A-Za-z2-7]{32}$/.test(s)) return decodeBase32(s)
  return null
}

/** Tells a .torrent path from a magnet link or a bare info hash (40 hex or 32 base32 characters). */
export function parseTorrentSource(arg: string, extraTrackers: readonly string[]): TorrentSource {
  const trackers = extraTrackers.map(trackerUrl)
  const bare = parseHash(arg)
  if (bare) return { kind: 'hash', infoHash: bare, trackers }
  if (!arg.startsWith('magnet:?')) return { kind: 'file', path: arg }
  const params = new URLSearchParams(arg.slice('magnet:?'.length))
  const xt = params.getAll('xt').find((x) => x.toLowerCase().startsWith('urn:btih:'))
  const infoHash = xt ? parseHash(xt.slice('urn:btih:'.length)) : null
  if (!infoHash) throw new UserError('invalid magnet link: no urn:btih info hash', ExitCode.badTorrent)
  const all = [...params.getAll('tr').map(trackerUrl), ...trackers]
  return { kind: 'hash', infoHash, trackers: [...new Set(all)] }
}

/** The magnet link `parseTorrentSource` reads back: the info hash, the name (dn) and every tracker (tr). */
export function magnetLink(infoHashHex: string, name: string, trackers: readonly string[]): string {
  const params = new URLSearchParams([['dn', name], ...trackers.map((t) => ['tr', t])])
  return `magnet:?xt=urn:btih:${infoHashHex}&${params.toString()}`
}

export async function readTorrentFile(path: string): Promise<Metainfo> {
  let data: Buffer
  try {
    data = await readFile(path)
  } catch (err) {
    throw new UserError(`cannot read torrent ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, ExitCode.badTorrent)
  }
  return parseTorrent(data)
}
