import type { Logger } from '../log.js'
import type { Metainfo } from '../torrent/metainfo.js'
import type { Clock } from './clock.js'
import { PeerConnection } from './peerConnection.js'
import type { WireDialer, WireLink } from './peerWire.js'
import type { PipelineDepth } from './pipeline.js'
import { HANDSHAKE_TIMEOUT_MS } from './wire.js'

/** Blocks of one piece from several peers failing its hash: strikes before a contributor is dropped. */
const MAX_STRIKES = 3
/** uTP-only peers remembered at most (see dialBack). */
const MAX_UTP_ONLY = 1024

export interface ConnectionsOptions {
  meta: Pick<Metainfo, 'infoHash' | 'infoHashHex' | 'pieceCount'>
  peerId: Uint8Array
  maxPeers: number
  dialer: WireDialer
  clock: Clock
  logger: Logger
  /** The request pipeline a new connection starts with. */
  pipeline: () => PipelineDepth
  /** A connection was made, before any handshake: its wire's extensions are set up here. */
  opened: (conn: PeerConnection) => void
  /** The peer's handshake was accepted (`conn.id` is set). */
  connected: (conn: PeerConnection) => void
  /** The peer is being banned: what it sent and is not verified yet is suspect. */
  banning: (conn: PeerConnection) => void
  /** The connection left the set; `lastOfPeer`: it was the one its peer id was known by. */
  removed: (conn: PeerConnection, lastOfPeer: boolean) => void
}

/**
 * The swarm's connections: whom we dial and accept within --max-peers, the handshake that admits a peer (one
 * connection per peer id), bans and strikes, and closing. What a connection carries is the swarm's business.
 */
export class Connections {
  /** Every connection, handshaken or not, in the order they were made. */
  readonly all = new Set<PeerConnection>()
  private readonly byId = new Map<string, PeerConnection>()
  private readonly dialing = new Set<string>()
  /** Addresses that sent a uTP SYN (see dialBack), least recent first. */
  private readonly uTPOnly = new Set<string>()
  private readonly banned = new Set<string>()
  private readonly strikes = new Map<string, number>()
  private readonly peerIdHex: string
  private isClosed = false
  /** Most connections held at once (handshaken or not), for checking --max-peers. */
  peak = 0

  constructor(private readonly opts: ConnectionsOptions) {
    this.peerIdHex = Buffer.from(opts.peerId).toString('hex')
  }

  get closed(): boolean {
    return this.isClosed
  }

  get handshaken(): number {
    let n = 0
    for (const c of this.all) if (c.handshaken) n++
    return n
  }

  /** Connects to peers the tracker returned, skipping known, banned and surplus ones. */
  addPeers(peers: readonly { ip: string; port: number }[], complete: boolean): void {
    for (const { ip, port } of peers) {
      // A complete swarm does not dial: the peers that still need pieces come to it, but for those that
      // cannot (see dialBack).
      if (complete && !this.uTPOnly.has(`${ip}:${port}`)) continue
      if (!this.dialIfNew(ip, port)) return
    }
  }

  /**
   * Dials, complete or not, a peer whose uTP SYN came to our port (Transmission, see utpReset.ts), now and
   * whenever the tracker names it while we are not connected: it cannot come to us over TCP, and once its own
   * attempt has failed (or was cut short when it paused to check a magnet's data) it does not try again for
   * 15 minutes. Bounded as the tracker's peers are (a forged SYN buys one dial within the budget).
   */
  dialBack(ip: string, port: number): void {
    const address = `${ip}:${port}`
    this.uTPOnly.delete(address)
    this.uTPOnly.add(address)
    if (this.uTPOnly.size > MAX_UTP_ONLY) this.uTPOnly.delete(this.uTPOnly.values().next().value!)
    this.dialIfNew(ip, port)
  }

  /** Closed, or --max-peers held: connections and dials in progress together. */
  private full(): boolean {
    return this.isClosed || this.all.size + this.dialing.size >= this.opts.maxPeers
  }

  private dialed(): number {
    let n = 0
    for (const c of this.all) if (c.outgoing) n++
    return n
  }

  /** Dials ip:port unless connected, dialling or banned there; false once the peer budget is spent. */
  private dialIfNew(ip: string, port: number): boolean {
    // Half the budget for dialing, the rest for peers that dial us: with every peer dialing its whole budget,
    // peers that started late found everyone full and traded only among themselves (a fifth of 100 targets
    // in the simulator, done 8 s after the others). Only dials count against that half: a remote site's
    // bridge that its own site's peers had dialed 40 times never dialed the source's site's peers the tracker
    // named later, and pulled 64 MiB across through the 3 it had reached at its first announce (5 sites of 50).
    if (this.full() || this.dialed() + this.dialing.size >= Math.ceil(this.opts.maxPeers / 2)) return false
    const address = `${ip}:${port}`
    if (this.dialing.has(address) || this.banned.has(address) || [...this.all].some((c) => c.address === address)) return true
    this.dialing.add(address)
    this.opts.dialer.dial(ip, port, (link) => this.setup(link, true, address), () => this.dialing.delete(address))
    return true
  }

  /** Takes an incoming connection (from the listener that the command opened). */
  accept(link: WireLink): void {
    // Bans are by peer id and address:port (hosts behind one address, or tests on loopback, share an IP),
    // so a banned peer is refused at its handshake.
    if (this.full()) {
      link.close()
      return
    }
    this.setup(link, false, link.address)
  }

  private setup(link: WireLink, outgoing: boolean, address: string): void {
    const { meta, clock } = this.opts
    const c = new PeerConnection(link, outgoing, address, meta.pieceCount, this.opts.pipeline())
    const { wire } = c
    this.all.add(c)
    this.peak = Math.max(this.peak, this.all.size)
    wire.on('protocol-error', (reason: string) => this.drop(c, reason, true))
    this.opts.opened(c)
    const timer = clock.after(HANDSHAKE_TIMEOUT_MS, () => this.drop(c, 'no handshake'))
    wire.once('handshake', (infoHash: string, peerId: string) => {
      timer.cancel()
      this.onHandshake(c, infoHash, peerId)
    })
    wire.once('close', () => {
      timer.cancel()
      this.remove(c)
    })
    if (outgoing) wire.handshake(meta.infoHash, this.opts.peerId, { fast: true })
  }

  private onHandshake(conn: PeerConnection, infoHash: string, peerId: string): void {
    const { meta } = this.opts
    if (infoHash !== meta.infoHashHex) return this.drop(conn, 'handshake for another torrent')
    if (peerId === this.peerIdHex) return this.drop(conn, 'connected to ourselves')
    if (this.banned.has(peerId)) return this.drop(conn, 'banned peer')
    conn.id = peerId
    const existing = this.byId.get(peerId)
    if (existing) {
      // Both sides keep the connection opened by the lower peer id, so a simultaneous dial leaves exactly one.
      const keepOutgoing = this.peerIdHex < peerId
      if (existing.outgoing === keepOutgoing || conn.outgoing !== keepOutgoing) return this.drop(conn, 'duplicate connection')
      this.byId.delete(peerId)
      this.drop(existing, 'duplicate connection')
    }
    this.byId.set(peerId, conn)
    if (!conn.outgoing) conn.wire.handshake(meta.infoHash, this.opts.peerId, { fast: true })
    conn.handshaken = true
    this.opts.connected(conn)
  }

  /** A contributor to a piece that failed its hash: banned at once if `lone` (it sent the whole piece), else after MAX_STRIKES. */
  strike(conn: PeerConnection, reason: string, lone: boolean): void {
    const strikes = (this.strikes.get(conn.id) ?? 0) + 1
    this.strikes.set(conn.id, strikes)
    if (lone || strikes >= MAX_STRIKES) this.drop(conn, reason, true)
  }

  /** We are complete and so is the peer: neither needs the other, and a uTP-only one need not be dialed back. */
  dropComplete(conn: PeerConnection): void {
    this.uTPOnly.delete(conn.address)
    this.drop(conn, 'both complete')
  }

  drop(conn: PeerConnection, reason: string, ban = false): void {
    if (ban) {
      // Named once, even when more of its pieces fail their hash after it was dropped.
      const known = this.banned.has(conn.id || conn.address)
      this.banned.add(conn.address)
      if (conn.id) this.banned.add(conn.id)
      if (!known) this.opts.logger.warn({ peer: conn.address, id: conn.id, reason }, 'dropping and banning peer')
      this.opts.banning(conn)
    } else {
      this.opts.logger.debug({ peer: conn.address, reason }, 'closing connection')
    }
    conn.close()
    this.remove(conn)
  }

  private remove(conn: PeerConnection): void {
    if (!this.all.delete(conn)) return
    const lastOfPeer = conn.id !== '' && this.byId.get(conn.id) === conn
    if (lastOfPeer) this.byId.delete(conn.id)
    this.opts.removed(conn, lastOfPeer)
  }

  close(): void {
    this.isClosed = true
    for (const c of [...this.all]) c.close()
  }
}
