import type net from 'node:net'
import utMetadata from 'ut_metadata'
import { UserError, ExitCode } from '../cli/errors.js'
import type { Logger } from '../log.js'
import { infoHashOf, parseInfo, type Metainfo } from '../torrent/metainfo.js'
import { announceWithRetry } from '../tracker/client.js'
import { attachWire, HANDSHAKE_TIMEOUT_MS } from './wire.js'
import { metadataDialer, type PeerIdentity } from './tls.js'
import { plainTransport } from './transport.js'

export interface MetadataFetchOptions {
  infoHash: Uint8Array
  trackers: readonly string[]
  peerId: Uint8Array
  port: number
  ip?: string
  timeoutMs: number
  logger: Logger
  /** For an SSL torrent's magnet link: fetch over TLS with this certificate. */
  identity?: PeerIdentity
}

/**
 * Gets the info dictionary from the swarm (BEP 9) so that a magnet link is enough: asks the tracker for
 * peers and tries them until one delivers metadata whose SHA-1 is the info hash.
 */
export async function fetchMetadata(opts: MetadataFetchOptions): Promise<Metainfo> {
  if (opts.trackers.length === 0) throw new UserError('a magnet link or info hash needs a tracker (tr= in the link, or --tracker)', ExitCode.usage)
  const deadline = Date.now() + opts.timeoutMs
  const tried = new Set<string>()
  const sockets = new Set<net.Socket>()
  try {
    while (Date.now() < deadline) {
      const res = await announceWithRetry([...opts.trackers], {
        infoHash: opts.infoHash, peerId: opts.peerId, port: opts.port, ip: opts.ip,
        uploaded: 0, downloaded: 0, left: 1, numwant: 200,
      }, { deadlineMs: Math.max(1, deadline - Date.now()), logger: opts.logger })
      const fresh = res.peers.filter((p: { ip: string; port: number }) => !tried.has(`${p.ip}:${p.port}`))
      fresh.forEach((p: { ip: string; port: number }) => tried.add(`${p.ip}:${p.port}`))
      const infoBytes = await firstMetadata(fresh, opts, sockets, Math.min(deadline - Date.now(), 15_000))
      if (infoBytes) return parseInfo(infoBytes, opts.trackers)
      // Nobody had it yet: ask the tracker again shortly, for peers that have joined since.
      await new Promise((r) => setTimeout(r, Math.min(1000, Math.max(0, deadline - Date.now()))))
      if (fresh.length === 0) tried.clear()
    }
  } finally {
    for (const s of sockets) s.destroy()
  }
  throw new UserError(`no peer delivered the metadata of ${Buffer.from(opts.infoHash).toString('hex')} in time`, ExitCode.tracker)
}

function firstMetadata(peers: { ip: string; port: number }[], opts: MetadataFetchOptions, sockets: Set<net.Socket>, waitMs: number): Promise<Uint8Array | null> {
  const tls = opts.identity ? metadataDialer(Buffer.from(opts.infoHash).toString('hex'), opts.identity) : null
  const dial = tls?.dial ?? plainTransport.connect
  if (peers.length === 0 || waitMs <= 0) return Promise.resolve(null)
  return new Promise((resolve) => {
    let pending = peers.length
    const timer = setTimeout(() => resolve(null), waitMs)
    const settle = (bytes: Uint8Array | null) => {
      if (bytes) {
        clearTimeout(timer)
        resolve(bytes)
      } else if (--pending === 0) {
        clearTimeout(timer)
        resolve(null)
      }
    }
    for (const p of peers) {
      let settled = false
      const once = (bytes: Uint8Array | null) => {
        if (settled) return
        settled = true
        settle(bytes)
      }
      const socket = dial(p.ip, p.port, HANDSHAKE_TIMEOUT_MS, () => {
        const wire = attachWire(socket, () => socket.destroy())
        wire.use(utMetadata())
        const ext = wire['ut_metadata'] as { fetch(): void; on(e: string, f: (...a: unknown[]) => void): void; metadata: Uint8Array }
        ext.fetch()
        // ut_metadata checks the SHA-1 against the hash in the peer's handshake; check it against ours too.
        ext.on('metadata', () => {
          const bytes = Uint8Array.from(ext.metadata)
          if (!Buffer.from(infoHashOf(bytes)).equals(opts.infoHash)) return socket.destroy()
          const why = tls?.vouches(socket, bytes)
          if (why) {
            opts.logger.warn({ peer: `${p.ip}:${p.port}`, reason: why }, 'refused TLS peer')
            return socket.destroy()
          }
          once(bytes)
        })
        ext.on('warning', (err) => opts.logger.debug({ peer: `${p.ip}:${p.port}`, err: (err as Error).message }, 'metadata fetch'))
        wire.handshake(opts.infoHash, opts.peerId, { fast: true })
      })
      sockets.add(socket)
      socket.once('timeout', () => socket.destroy())
      socket.once('close', () => once(null))
      socket.once('error', () => undefined)
    }
  })
}
