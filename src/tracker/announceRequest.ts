import { normalizeIp } from './ip.js'
import { TrackerRequestError, checkId, parseQuery, singleParam, type QueryParams } from './query.js'

export type AnnounceEvent = 'started' | 'completed' | 'stopped'

export interface AnnounceRequest {
  infoHash: Uint8Array
  peerId: Uint8Array
  /** Canonical address literal: the `ip` parameter if given, else the socket's remote address. */
  ip: string
  port: number
  uploaded: number
  downloaded: number
  left: number
  /** Undefined for a regular periodic announce. */
  event: AnnounceEvent | undefined
  numwant: number
  compact: boolean
  /** Free-form location label for site-aware peer selection later. */
  site: string | undefined
}

/** Datacenter defaults: every host is a well-connected peer, so hand out many at once. */
export const DEFAULT_NUMWANT = 50
export const DEFAULT_MAX_NUMWANT = 200
export const MAX_SITE_LENGTH = 64

const EVENTS: ReadonlySet<string> = new Set(['started', 'completed', 'stopped'])
const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Parses and validates an announce query string (without the `?`).
 * @throws TrackerRequestError with a message fit to send back as `failure reason`.
 */
export function parseAnnounce(
  query: string,
  remoteAddress: string | undefined,
  maxNumwant = DEFAULT_MAX_NUMWANT,
): AnnounceRequest {
  const params = parseQuery(query)
  return {
    infoHash: checkId('info_hash', singleParam(params, 'info_hash')),
    peerId: checkId('peer_id', singleParam(params, 'peer_id')),
    ip: parseAddress(params, remoteAddress),
    port: parsePort(params),
    uploaded: integerParam(params, 'uploaded'),
    downloaded: integerParam(params, 'downloaded'),
    left: integerParam(params, 'left'),
    event: parseEvent(params),
    numwant: Math.min(integerParam(params, 'numwant', DEFAULT_NUMWANT), maxNumwant),
    compact: parseCompact(params),
    site: parseSite(params),
  }
}

function text(params: QueryParams, name: string): string | undefined {
  const value = singleParam(params, name)
  if (value === undefined) return undefined
  try {
    return utf8.decode(value)
  } catch {
    throw new TrackerRequestError(`invalid ${name}: not UTF-8`)
  }
}

/** The largest count a client sends: a signed 64-bit integer (Transmission's `left` before it has the metadata). */
const MAX_COUNT = 2n ** 63n - 1n

/**
 * A non-negative integer parameter, at most 2^63-1; required unless a default is given. Values past 2^53 are
 * held as Number.MAX_SAFE_INTEGER: the tracker only compares them with 0 and adds nothing up from them.
 */
function integerParam(params: QueryParams, name: string, fallback?: number): number {
  const value = text(params, name)
  if (value === undefined) {
    if (fallback === undefined) throw new TrackerRequestError(`missing ${name}`)
    return fallback
  }
  if (!/^[0-9]{1,19}$/.test(value) || BigInt(value) > MAX_COUNT) {
    throw new TrackerRequestError(`invalid ${name}: must be an integer from 0 to 2^63-1`)
  }
  return Math.min(Number(value), Number.MAX_SAFE_INTEGER)
}

function parsePort(params: QueryParams): number {
  const port = integerParam(params, 'port')
  if (port < 1 || port > 65535) throw new TrackerRequestError('invalid port: must be 1-65535')
  return port
}

function parseEvent(params: QueryParams): AnnounceEvent | undefined {
  const event = text(params, 'event')
  if (event === undefined || event === '') return undefined
  if (!EVENTS.has(event)) throw new TrackerRequestError('invalid event: must be started, completed or stopped')
  return event as AnnounceEvent
}

function parseCompact(params: QueryParams): boolean {
  const compact = text(params, 'compact')
  if (compact === undefined || compact === '1') return true
  if (compact === '0') return false
  throw new TrackerRequestError('invalid compact: must be 0 or 1')
}

/** Honours `ip` (murder passes the address other hosts should dial); falls back to the socket's peer. */
function parseAddress(params: QueryParams, remoteAddress: string | undefined): string {
  const given = text(params, 'ip')
  if (given !== undefined && given !== '') {
    const ip = normalizeIp(given)
    if (ip === undefined) throw new TrackerRequestError('invalid ip: must be an IPv4 or IPv6 address')
    return ip
  }
  const ip = remoteAddress === undefined ? undefined : normalizeIp(remoteAddress)
  if (ip === undefined) throw new TrackerRequestError('cannot determine your address; pass ip')
  return ip
}

function parseSite(params: QueryParams): string | undefined {
  const site = text(params, 'site')
  if (site === undefined || site === '') return undefined
  if (site.length > MAX_SITE_LENGTH) throw new TrackerRequestError(`invalid site: longer than ${MAX_SITE_LENGTH} characters`)
  return site
}
