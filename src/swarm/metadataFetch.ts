import type net from 'node:net'
import bencode from 'bencode'
import type Wire from 'bittorrent-protocol'
import type { ExtensionConstructor } from 'bittorrent-protocol'
import { UserError, ExitCode } from '../errors.js'
import type { Logger } from '../log.js'
import { decodePrefix } from '../torrent/bencodeSpan.js'
import { infoHashOf, parseInfo, type Metainfo } from '../torrent/metainfo.js'
import { announceWithRetry } from '../tracker/client.js'
import { MAX_METADATA_SIZE, MetadataPieces } from './metadataPieces.js'
import { attachWire, HANDSHAKE_TIMEOUT_MS } from './wire.js'
import { metadataDialer, type PeerIdentity } from './tls.js'
import { plainTransport, type Dial } from './transport.js'

export interface MetadataFetchOptions {
  infoHash: Uint8Array
  trackers: readonly string[]
  peerId: Uint8Array
  port: number
  ip?: string
  /** Source address of the connections (see localSource). */
  localAddress?: string
  timeoutMs: number
  logger: Logger
  /** For an SSL torrent's magnet link: fetch over TLS with this certificate. */
  identity?: PeerIdentity
  /** What an https tracker's certificate must chain to (default: the system's CAs). */
  trackerCa?: string
}

/** How long the peers known so far work on the metadata before the tracker is asked again for new ones. */
const ANNOUNCE_AGAIN_MS = 2_000
/** How often overdue pieces are looked for (see METADATA_RETRY_MS). */
const RETRY_CHECK_MS = 1_000
const REQUEST = 0
const DATA = 1
const REJECT = 2

interface MetadataPeer {
  readonly address: string
  readonly size: number
  request(piece: number): void
  close(): void
  /** Why this connection may not deliver these metadata (an SSL torrent's CA does not vouch for it), or null. */
  vouch(infoBytes: Uint8Array): string | null
}

/** One fetch across every connected peer: each asks the pieces MetadataPieces gives it. */
class Fetch {
  private pieces: MetadataPieces<MetadataPeer> | null = null
  private readonly peers = new Set<MetadataPeer>()
  private readonly timer = setInterval(() => this.pump(), RETRY_CHECK_MS)
  private result: Uint8Array | null = null
  private wake: (() => void) | null = null

  constructor(private readonly infoHash: Uint8Array, private readonly logger: Logger) {}

  /** A peer that has the metadata (its size as it says): it starts asking. */
  add(peer: MetadataPeer): void {
    this.peers.add(peer)
    this.pieces ??= new MetadataPieces(peer.size)
    this.pump()
  }

  remove(peer: MetadataPeer): void {
    this.peers.delete(peer)
    this.pieces?.gone(peer)
  }

  onData(peer: MetadataPeer, piece: number, data: Uint8Array): void {
    const got = this.pieces?.received(peer, piece, data)
    if (got === 'bad') return this.drop(peer, 'metadata piece of the wrong length')
    if (got instanceof Uint8Array) {
      if (!Buffer.from(infoHashOf(got)).equals(this.infoHash)) {
        for (const sender of this.pieces!.discard()) this.drop(sender, 'metadata does not match the info hash')
      } else {
        // Metadata only from authenticated connections: an SSL torrent's CA, inside them, must vouch for every sender.
        const refusals = [...this.pieces!.senders].map((sender) => [sender, sender.vouch(got)] as const).filter(([, why]) => why !== null)
        if (refusals.length === 0) return this.finish(got)
        for (const [sender, why] of refusals) {
          this.logger.warn({ peer: sender.address, reason: why }, 'refused TLS peer')
          this.remove(sender)
          sender.close()
        }
        this.pieces!.discard()
      }
      // The size came from a peer that may have been wrong: the next peer's size decides.
      this.pieces = null
      for (const p of [...this.peers]) this.add(p)
      return
    }
    this.pump()
  }

  onReject(peer: MetadataPeer, piece: number): void {
    this.pieces?.rejected(peer, piece)
    if (this.pieces?.useless(peer)) this.drop(peer, 'has none of the missing metadata pieces')
    else this.pump()
  }

  /** Resolves with the metadata once it is in, or null after `ms`. */
  async wait(ms: number): Promise<Uint8Array | null> {
    if (!this.result) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => { this.wake = null; resolve() }, ms)
        this.wake = () => { clearTimeout(timer); resolve() }
      })
    }
    return this.result
  }

  close(): void {
    clearInterval(this.timer)
  }

  private pump(): void {
    if (!this.pieces || this.result) return
    const now = Date.now()
    for (const peer of this.peers) {
      if (peer.size !== this.pieces.size) continue
      const piece = this.pieces.next(peer, now)
      if (piece !== null) peer.request(piece)
    }
  }

  private drop(peer: MetadataPeer, reason: string): void {
    this.logger.debug({ peer: peer.address, reason }, 'metadata fetch: closing connection')
    this.remove(peer)
    peer.close()
  }

  private finish(bytes: Uint8Array): void {
    this.result = bytes
    this.wake?.()
  }
}

/** BEP 9 on one connection: reports the peer to the fetch once it offers the metadata, passes pieces on, refuses requests. */
function fetcher(fetch: Fetch, address: string, close: () => void, vouch: MetadataPeer['vouch'], logger: Logger): ExtensionConstructor {
  class Fetcher {
    private peer: MetadataPeer | null = null
    constructor(private readonly wire: Wire) {
      wire.once('close', () => this.peer && fetch.remove(this.peer))
    }

    onExtendedHandshake(handshake: Record<string, unknown>): void {
      const size = handshake['metadata_size']
      const m = handshake['m'] as Record<string, unknown> | undefined
      if (this.peer || typeof m?.['ut_metadata'] !== 'number' || typeof size !== 'number' || !Number.isSafeInteger(size) || size <= 0 || size > MAX_METADATA_SIZE) {
        if (!this.peer) {
          logger.debug({ peer: address }, 'metadata fetch: peer offers no metadata')
          close()
        }
        return
      }
      this.peer = { address, size, request: (piece) => this.send({ msg_type: REQUEST, piece }), close, vouch }
      fetch.add(this.peer)
    }

    onMessage(buf: Uint8Array): void {
      let dict: Record<string, unknown>
      let end: number
      try {
        const decoded = decodePrefix(buf)
        dict = decoded.value as Record<string, unknown>
        end = decoded.end
      } catch {
        return close()
      }
      const piece = dict['piece']
      if (typeof piece !== 'number') return
      if (dict['msg_type'] === REQUEST) this.send({ msg_type: REJECT, piece })
      else if (dict['msg_type'] === DATA && this.peer) fetch.onData(this.peer, piece, buf.subarray(end))
      else if (dict['msg_type'] === REJECT && this.peer) fetch.onReject(this.peer, piece)
    }

    private send(message: Record<string, number>): void {
      this.wire.extended('ut_metadata', bencode.encode(message))
    }
  }
  // bittorrent-protocol names the extension after its prototype's `name`.
  Object.defineProperty(Fetcher.prototype, 'name', { value: 'ut_metadata' })
  return Fetcher as unknown as ExtensionConstructor
}

/**
 * Gets the info dictionary from the swarm (BEP 9) so that a magnet link is enough: asks the tracker for
 * peers, keeps a connection to each, fetches the pieces from all of them at once (see MetadataPieces), and
 * asks the tracker again every few seconds for peers that have joined since.
 */
export async function fetchMetadata(opts: MetadataFetchOptions): Promise<Metainfo> {
  if (opts.trackers.length === 0) throw new UserError('a magnet link or info hash needs a tracker (tr= in the link, or --tracker)', ExitCode.usage)
  const deadline = Date.now() + opts.timeoutMs
  const fetch = new Fetch(opts.infoHash, opts.logger)
  const sockets = new Map<string, net.Socket>()
  const tls = opts.identity ? metadataDialer(Buffer.from(opts.infoHash).toString('hex'), opts.identity) : null
  const dialer = { dial: tls?.dial ?? plainTransport.connect, vouches: tls?.vouches ?? (() => null) }
  try {
    while (Date.now() < deadline) {
      const res = await announceWithRetry([...opts.trackers], {
        infoHash: opts.infoHash, peerId: opts.peerId, port: opts.port, ip: opts.ip,
        uploaded: 0, downloaded: 0, left: 1, numwant: 200,
      }, { deadlineMs: Math.max(1, deadline - Date.now()), logger: opts.logger, ca: opts.trackerCa })
      for (const { ip, port } of res.peers as { ip: string; port: number }[]) {
        const address = `${ip}:${port}`
        if (!sockets.has(address)) sockets.set(address, connect(ip, port, address, fetch, dialer, opts, () => sockets.delete(address)))
      }
      const infoBytes = await fetch.wait(Math.min(ANNOUNCE_AGAIN_MS, Math.max(0, deadline - Date.now())))
      if (infoBytes) return parseInfo(infoBytes, opts.trackers)
    }
  } finally {
    fetch.close()
    for (const s of sockets.values()) s.destroy()
  }
  throw new UserError(`no peer delivered the metadata of ${Buffer.from(opts.infoHash).toString('hex')} in time`, ExitCode.tracker)
}

/** A connection for the fetch; `closed` runs when it ends, so that the next announce may dial the peer again. */
function connect(ip: string, port: number, address: string, fetch: Fetch, dialer: { dial: Dial; vouches: (socket: net.Socket, infoBytes: Uint8Array) => string | null }, opts: MetadataFetchOptions, closed: () => void): net.Socket {
  const socket = dialer.dial(ip, port, HANDSHAKE_TIMEOUT_MS, () => {
    const wire = attachWire(socket, () => socket.destroy())
    wire.use(fetcher(fetch, address, () => socket.destroy(), (bytes) => dialer.vouches(socket, bytes), opts.logger))
    // Once the peer has answered, a slow answer is no reason to leave: pieces it is late with go to others too.
    wire.once('handshake', () => socket.setTimeout(0))
    wire.handshake(opts.infoHash, opts.peerId, { fast: true })
  }, opts.localAddress)
  socket.once('timeout', () => socket.destroy())
  socket.once('error', (err) => opts.logger.debug({ peer: address, err: err.message }, 'metadata fetch: connect failed'))
  socket.once('close', closed)
  return socket
}
