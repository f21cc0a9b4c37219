import bencode, { type BencodeValue } from 'bencode'
import { formatIp, normalizeIp } from './ip.js'

export interface PeerAddress {
  ip: string
  port: number
}

export interface AnnounceResponse {
  /** Seconds the tracker wants between announces. */
  interval: number
  peers: PeerAddress[]
  complete?: number
  incomplete?: number
  /** murder's tracker: the site it placed us in. */
  site?: string
  /** murder's tracker: seconds between progress reports while downloading. */
  progressInterval?: number
}

/** A tracker answered, but with `failure reason`: distinct so callers can tell refusal from outage. */
export class TrackerFailure extends Error {
  override name = 'TrackerFailure'
}

const utf8 = new TextDecoder()

/**
 * Decodes a tracker's announce reply: compact `peers` (BEP 23), `peers6` (BEP 7) or dictionary peers.
 * @throws TrackerFailure for a `failure reason`, Error for anything malformed.
 */
export function parseAnnounceResponse(body: Uint8Array): AnnounceResponse {
  let decoded: BencodeValue
  try {
    decoded = bencode.decode(body)
  } catch (err) {
    throw new Error(`invalid bencode in tracker response: ${(err as Error).message}`)
  }
  if (!isDict(decoded)) throw new Error('invalid tracker response: not a bencoded dictionary')

  const failure = decoded['failure reason']
  if (failure instanceof Uint8Array) throw new TrackerFailure(`tracker failure: ${utf8.decode(failure)}`)

  const interval = decoded.interval
  if (typeof interval !== 'number' || !Number.isInteger(interval) || interval < 1) {
    throw new Error('invalid tracker response: missing or bad interval')
  }
  const response: AnnounceResponse = {
    interval,
    peers: [...parsePeers(decoded.peers, 4), ...parsePeers(decoded.peers6, 16)],
  }
  if (typeof decoded.complete === 'number') response.complete = decoded.complete
  if (typeof decoded.incomplete === 'number') response.incomplete = decoded.incomplete
  const site = decoded['murder site']
  if (site instanceof Uint8Array && site.length > 0 && site.length <= 64) response.site = utf8.decode(site)
  const progress = decoded['murder progress interval']
  if (typeof progress === 'number' && Number.isInteger(progress) && progress >= 1 && progress < interval) response.progressInterval = progress
  return response
}

function parsePeers(value: BencodeValue | undefined, ipLength: 4 | 16): PeerAddress[] {
  if (value === undefined) return []
  if (value instanceof Uint8Array) return parseCompact(value, ipLength)
  // Dictionary peers only ever appear under `peers`.
  if (Array.isArray(value) && ipLength === 4) return value.flatMap(parseDictPeer)
  throw new Error(`invalid tracker response: malformed ${ipLength === 4 ? 'peers' : 'peers6'}`)
}

function parseCompact(bytes: Uint8Array, ipLength: 4 | 16): PeerAddress[] {
  const entry = ipLength + 2
  if (bytes.length % entry !== 0) {
    throw new Error(`invalid tracker response: compact peer list of ${bytes.length} bytes is not a multiple of ${entry}`)
  }
  const peers: PeerAddress[] = []
  for (let at = 0; at < bytes.length; at += entry) {
    const port = ((bytes[at + ipLength] as number) << 8) | (bytes[at + ipLength + 1] as number)
    if (port !== 0) peers.push({ ip: formatIp(bytes.subarray(at, at + ipLength)), port })
  }
  return peers
}

/** One `{peer id, ip, port}` entry; unusable entries are skipped rather than failing the whole reply. */
function parseDictPeer(value: BencodeValue): PeerAddress[] {
  if (!isDict(value) || !(value.ip instanceof Uint8Array) || typeof value.port !== 'number') return []
  const port = value.port
  if (!Number.isInteger(port) || port < 1 || port > 65535) return []
  const ip = utf8.decode(value.ip)
  // BEP 3 allows a DNS name here; keep it verbatim, canonicalise literals.
  return ip === '' ? [] : [{ ip: normalizeIp(ip) ?? ip, port }]
}

function isDict(value: BencodeValue | undefined): value is { [key: string]: BencodeValue } {
  // bencode@4 decodes empty input to null despite its typing.
  return typeof value === 'object' && value !== null && !(value instanceof Uint8Array) && !Array.isArray(value)
}
