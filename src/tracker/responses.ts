import bencode from 'bencode'
import { parseIp } from './ip.js'

export interface AnnounceReply {
  interval: number
  minInterval: number
  complete: number
  incomplete: number
  peers: readonly { peerId: Uint8Array; ip: string; port: number }[]
  compact: boolean
  /** The site the tracker placed the requester in (from its --sites map), so the peer can tell other peers. */
  site?: string
  /**
   * Seconds between progress reports (announces with numwant=0) that murder's peers send in between announces
   * while they download, for the live page; a key other clients ignore.
   */
  progressInterval?: number
}

export interface ScrapeFile {
  infoHash: Uint8Array
  complete: number
  incomplete: number
  downloaded: number
}

/**
 * Bencodes an announce reply. Compact form (BEP 23) puts IPv4 peers in `peers` (6 bytes each)
 * and IPv6 peers in `peers6` (18 bytes each, BEP 7); otherwise `peers` is a list of dicts.
 */
export function encodeAnnounce(reply: AnnounceReply): Uint8Array {
  const body: Record<string, unknown> = {
    interval: reply.interval,
    'min interval': reply.minInterval,
    complete: reply.complete,
    incomplete: reply.incomplete,
  }
  if (reply.site !== undefined) body['murder site'] = reply.site
  if (reply.progressInterval !== undefined) body['murder progress interval'] = reply.progressInterval
  if (reply.compact) {
    const v4: Uint8Array[] = []
    const v6: Uint8Array[] = []
    for (const peer of reply.peers) {
      const ip = addressBytes(peer.ip)
      if (ip === undefined) continue // the registry only stores literals; never emit a malformed entry
      ;(ip.length === 4 ? v4 : v6).push(ip, portBytes(peer.port))
    }
    // Always send `peers`, even empty: some clients treat its absence as an error.
    body.peers = Buffer.concat(v4)
    if (v6.length > 0) body.peers6 = Buffer.concat(v6)
  } else {
    body.peers = reply.peers.map((peer) => ({ 'peer id': peer.peerId, ip: peer.ip, port: peer.port }))
  }
  return bencode.encode(body)
}

export function encodeFailure(reason: string): Uint8Array {
  return bencode.encode({ 'failure reason': reason })
}

/**
 * Bencodes a scrape reply (BEP 48). Its `files` keys are raw 20-byte hashes, which bencode@4
 * cannot emit correctly (it sorts Map keys by their string form, not bytewise), so the dict is
 * assembled by hand. Duplicate hashes are collapsed: bencode dict keys must be unique.
 */
export function encodeScrape(files: readonly ScrapeFile[]): Uint8Array {
  const sorted = [...files].sort((a, b) => Buffer.compare(a.infoHash, b.infoHash))
  const parts: Uint8Array[] = [Buffer.from('d5:filesd')]
  let previous: Uint8Array | undefined
  for (const file of sorted) {
    if (previous !== undefined && Buffer.compare(previous, file.infoHash) === 0) continue
    previous = file.infoHash
    parts.push(
      Buffer.from(`${file.infoHash.length}:`),
      file.infoHash,
      bencode.encode({ complete: file.complete, downloaded: file.downloaded, incomplete: file.incomplete }),
    )
  }
  parts.push(Buffer.from('ee'))
  return Buffer.concat(parts)
}

/** Addresses seen lately, parsed: every reply lists up to numwant peers, and parsing text is most of its cost. */
const addressCache = new Map<string, Uint8Array | undefined>()
const ADDRESS_CACHE_SIZE = 65_536

function addressBytes(ip: string): Uint8Array | undefined {
  if (addressCache.has(ip)) return addressCache.get(ip)
  const bytes = parseIp(ip)
  if (addressCache.size >= ADDRESS_CACHE_SIZE) addressCache.clear()
  addressCache.set(ip, bytes)
  return bytes
}

function portBytes(port: number): Uint8Array {
  return Uint8Array.of(port >> 8, port & 0xff)
}
