import type { AnnounceEvent } from './announceRequest.js'

export interface AnnounceParams {
  infoHash: Uint8Array
  peerId: Uint8Array
  port: number
  /** Address other peers should dial; omitted → the tracker uses the connection's source address. */
  ip?: string
  uploaded: number
  downloaded: number
  left: number
  event?: AnnounceEvent
  numwant?: number
  site?: string
}

/** Appends announce parameters to a tracker URL, keeping any query it already has (e.g. a passkey). */
export function buildAnnounceUrl(url: string, params: AnnounceParams): string {
  const query = [
    `info_hash=${percentEncode(params.infoHash)}`,
    `peer_id=${percentEncode(params.peerId)}`,
    `port=${params.port}`,
    `uploaded=${params.uploaded}`,
    `downloaded=${params.downloaded}`,
    `left=${params.left}`,
    'compact=1',
  ]
  if (params.event !== undefined) query.push(`event=${params.event}`)
  if (params.numwant !== undefined) query.push(`numwant=${params.numwant}`)
  if (params.ip !== undefined) query.push(`ip=${encodeURIComponent(params.ip)}`)
  if (params.site !== undefined) query.push(`site=${encodeURIComponent(params.site)}`)
  const hashAt = url.indexOf('#')
  const base = hashAt < 0 ? url : url.slice(0, hashAt)
  const separator = !base.includes('?') ? '?' : base.endsWith('?') || base.endsWith('&') ? '' : '&'
  return `${base}${separator}${query.join('&')}`
}

/** Byte-wise percent-encoding: binary ids are not text, so encodeURIComponent (UTF-8) would corrupt them. */
export function percentEncode(bytes: Uint8Array): string {
  let out = ''
  for (const b of bytes) {
    const unreserved =
      (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e
    out += unreserved ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

/**
 * A tracker URL for logs and messages: a private tracker's passkey (a path segment before the last, as in
 * `http://host:port/<passkey>/announce`) is a secret, and logs travel further than torrents.
 */
export function shownTrackerUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#]*)\/[^?#]*(\/[^/?#]*)(?:[?#].*)?$/i, '$1/…$2')
}
