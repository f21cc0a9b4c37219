import { EventEmitter } from 'node:events'
import { piecesInBudget, type PieceStore } from '../storage/pieceStore.js'
import { BLOCK_LENGTH } from '../torrent/layout.js'
import type { Metainfo } from '../torrent/metainfo.js'
import { Bitfield, validWireBitfield } from '../bitfield.js'
import type { Logger } from '../log.js'
import { AcrossShare } from './acrossShare.js'
import { Announcements } from './announcements.js'
import { Connections } from './connections.js'
import { Downloads } from './downloads.js'
import type { PeerConnection } from './peerConnection.js'
import { metadataServer } from './metadataServer.js'
import { MAX_QUEUED_UPLOADS } from './uploader.js'
import type { TokenBucket } from './rateLimiter.js'
import { wallClock, type Clock } from './clock.js'
import { Uploads } from './uploads.js'
import type { WireDialer, WireLink } from './peerWire.js'

export interface SwarmOptions {
  meta: Metainfo
  store: PieceStore
  /** Pieces already held and verified. */
  have: Bitfield
  logger: Logger
  peerId: Uint8Array
  maxPeers: number
  maxUploads: number
  /** Memory for pieces being assembled; the upload cache gets a quarter of it. */
  memoryBudget: number
  /** This host's site: peers of the same site are preferred for pieces that both sides of a WAN link hold. */
  site?: string
  /** Reveal pieces a few at a time (BEP 16) instead of announcing them all; for a complete source. */
  superSeed: boolean
  /** Refuse pieces other peers hold or are being sent, while others wait (SpreadFirst); for a complete source. */
  spreadFirst: boolean
  /** Shared by all connections of this swarm. */
  uploadLimit: TokenBucket
  downloadLimit: TokenBucket
  /** How peers are dialed: sockets (plain or TLS) for the commands, a modelled network in the simulator. */
  dialer: WireDialer
  /** The wall clock by default. */
  clock?: Clock
  /** For the piece picker's and the super-seeder's random choices: seeded in the simulator, so a run can be replayed. */
  random?: () => number
  /** Bytes asked per request: 16 KiB (BLOCK_LENGTH), as every client does; the simulator asks more to run faster. */
  blockLength?: number
  /** Hold back uploads to our site while a peer across a WAN waits on us (WanFirst; not for a complete source). Default on. */
  wanFirst?: boolean
}

export interface SwarmStats {
  pieces: number
  pieceCount: number
  left: number
  /** Piece bytes verified and written. */
  downloaded: number
  /** Block bytes received, including duplicates and rejected data. */
  received: number
  /** Of those, bytes from peers outside our site (only counted when `--site` is set). */
  receivedCrossSite: number
  uploaded: number
  /** Block requests refused (BEP 6 reject) by spreading first: a source's count of what it left to the peers. */
  refused: number
  peers: number
  /** Most connections held at once (handshaken or not), for checking --max-peers. */
  peakPeers: number
  hashFailures: number
}

/**
 * One torrent's swarm: listens for peers, connects to the ones the tracker names, downloads missing pieces
 * (every one verified against its hash before it is written) and serves what it holds. It routes each peer's
 * messages to the modules doing the work: connections (who is connected, bans), downloads (requests, pieces,
 * verification), uploads (the uploader, choke rounds, spreading first, WAN first) and announcing what we hold
 * (have messages, super-seeding); the sites are decided here. Emits `piece`, `complete` and `fatal` (a
 * UserError, e.g. disk full).
 */
export class Swarm extends EventEmitter {
  private readonly conns: Connections
  private readonly downloads: Downloads
  private readonly uploads: Uploads
  private readonly announcements: Announcements
  /** Our site: from --site, or else as the tracker's map places us. */
  private site: string | undefined
  /** Which pieces we fetch across, when our site has other bridges (see AcrossShare). */
  private readonly share: AcrossShare
  /** Peers in another site (both sites known): what WAN first serves first. */
  private readonly across = new Set<PeerConnection>()
  private readonly metadataExtension: ReturnType<typeof metadataServer>

  constructor(private readonly opts: SwarmOptions) {
    super()
    const { meta, store, have, logger } = opts
    const clock = opts.clock ?? wallClock
    this.site = opts.site
    this.share = new AcrossShare(Buffer.from(opts.peerId).toString('hex'))
    // The budget bounds the piece buffers: the upload cache, and pieces being downloaded or verified (up to
    // the picker's hard limit, twice its soft one).
    const budgeted = piecesInBudget(opts.memoryBudget, meta.pieceLength)
    const cached = Math.max(1, Math.floor(budgeted / 4))
    this.conns = new Connections({
      meta, peerId: opts.peerId, maxPeers: opts.maxPeers, dialer: opts.dialer, clock, logger,
      pipeline: () => this.downloads.newPipeline(),
      opened: (c) => this.opened(c),
      connected: (c) => this.connected(c),
      banning: (c) => this.downloads.discard(c),
      removed: (c, lastOfPeer) => this.removed(c, lastOfPeer),
    })
    this.downloads = new Downloads({
      store, have, clock, logger, downloadLimit: opts.downloadLimit, blockLength: opts.blockLength ?? BLOCK_LENGTH,
      maxActive: Math.floor((budgeted - cached) / 2), random: opts.random,
      share: this.share,
      conns: this.conns.all,
      closed: () => this.conns.closed,
      site: () => this.site,
      strike: (c, reason, lone) => this.conns.strike(c, reason, lone),
      bothComplete: (c) => this.conns.dropComplete(c),
      verified: (piece, data, contributors) => this.verified(piece, data, contributors),
      complete: () => this.emit('complete'),
      fatal: (err) => this.emit('fatal', err),
    })
    this.uploads = new Uploads({
      store, have, cachedPieces: cached, limit: opts.uploadLimit, clock, logger, maxUploads: opts.maxUploads, random: opts.random,
      spreadFirst: opts.spreadFirst && !opts.superSeed && have.complete,
      // The source keeps its uplink for its own site: only it can give that site pieces, while the WAN can be fed
      // by the site's peers (in the simulator, holding back at the source too delayed site A by a third).
      wanFirst: opts.wanFirst !== false && !have.complete,
      conns: this.conns.all,
      across: this.across,
      site: () => this.site,
      availabilityOf: (piece) => this.downloads.availabilityOf(piece),
      localAvailabilityOf: (piece) => this.downloads.localAvailabilityOf(piece),
      closed: () => this.conns.closed,
      drop: (conn, reason, ban) => this.conns.drop(conn, reason, ban),
      fatal: (err) => this.emit('fatal', err),
    })
    this.announcements = new Announcements({
      have, pieceLength: meta.pieceLength, superSeed: opts.superSeed && have.complete, clock, conns: this.conns.all,
      site: () => this.site, availabilityOf: (piece) => this.downloads.availabilityOf(piece), random: opts.random,
    })
    this.metadataExtension = metadataServer(meta.infoBytes)
  }

  get complete(): boolean {
    return this.downloads.finished
  }

  /** Does a connected peer hold a piece we still lack? While none does, the download cannot move. */
  missingHeld(): boolean {
    return this.downloads.missingHeld()
  }

  missingPieces(): number[] {
    return this.downloads.missingPieces()
  }

  get stats(): SwarmStats {
    const d = this.downloads.counters
    return {
      downloaded: d.downloaded,
      received: d.received,
      receivedCrossSite: d.receivedCrossSite,
      uploaded: this.uploads.counters.uploaded,
      refused: this.uploads.counters.refused,
      peakPeers: this.conns.peak,
      hashFailures: d.hashFailures,
      pieces: this.opts.have.count,
      pieceCount: this.opts.meta.pieceCount,
      left: this.downloads.left,
      peers: this.conns.handshaken,
    }
  }

  /**
   * The tracker's word on our site, used when no --site was given. Peers may have connected before it came
   * (they learn of us from the tracker as we do of them): those hear it in a second extended handshake, and
   * those that named our site become local, so two peers of one site never treat each other as across a WAN.
   */
  learnSite(site: string): void {
    if (this.site !== undefined) return
    this.site = site
    for (const c of this.conns.all) {
      c.wire.extendedHandshake['murder_site'] = site
      c.link.resendExtendedHandshake()
      this.updateLocal(c)
    }
  }

  /**
   * Marks a peer local once both sites are known and equal, counting its pieces as held in our site; a local peer
   * that bridges (as far as it last said) shares out with us what we fetch across.
   */
  private updateLocal(conn: PeerConnection): void {
    if (!conn.local && this.site !== undefined && conn.remoteSite !== undefined) {
      if (conn.remoteSite !== this.site) {
        this.across.add(conn)
        if (this.across.size === 1) this.tellBridging()
        return
      }
      this.across.delete(conn)
      this.downloads.markLocal(conn)
    }
    if (conn.local) this.share.set(conn.id, conn.remoteBridge)
  }

  /** We reach across a WAN link: our site's other bridges share out with us what we fetch across (AcrossShare). */
  private tellBridging(): void {
    // Every peer hears it: one not yet known to be of our site may turn out to be.
    for (const c of this.conns.all) {
      c.wire.extendedHandshake['murder_bridge'] = 1
      c.link.resendExtendedHandshake()
    }
  }

  /** Starts the choke rounds; connections come from `addPeers` and from `accept`. */
  start(): void {
    this.uploads.start()
    this.announcements.start()
  }

  /** Connects to peers the tracker returned, skipping known, banned and surplus ones. */
  addPeers(peers: readonly { ip: string; port: number }[]): void {
    this.conns.addPeers(peers, this.downloads.finished)
  }

  /** Dials a peer that can only reach us over uTP (see Connections.dialBack). */
  dialBack(ip: string, port: number): void {
    this.conns.dialBack(ip, port)
  }

  /** Takes an incoming connection (from the listener that the command opened). */
  accept(link: WireLink): void {
    this.conns.accept(link)
  }

  private opened(conn: PeerConnection): void {
    const { wire } = conn
    wire.use(this.metadataExtension)
    wire.extendedHandshake['reqq'] = MAX_QUEUED_UPLOADS
    wire.extendedHandshake['v'] = 'murder'
    if (this.site) wire.extendedHandshake['murder_site'] = this.site
    if (this.across.size > 0) wire.extendedHandshake['murder_bridge'] = 1
  }

  /** A peer's handshake was accepted: tell it what we hold and listen to it. */
  private connected(conn: PeerConnection): void {
    this.announcements.greet(conn)
    this.watch(conn)
    // A free upload slot is given at once (see chooseUnchoked), not when the peer says it is interested.
    this.uploads.rechoke()
    this.announcements.reveal(conn)
    this.opts.logger.debug({ peer: conn.address, id: conn.id, fast: conn.wire.hasFast }, 'peer connected')
  }

  /** Routes a handshaken peer's messages. */
  private watch(conn: PeerConnection): void {
    const { wire } = conn
    const { pieceCount } = this.opts.meta
    const drop = (reason: string, ban = false) => this.conns.drop(conn, reason, ban)
    // BEP 6 wants bitfield/have-all/have-none first, but aria2 sends a fresh bitfield later on: accept a
    // replacement, moving the availability counts from the old set to the new one.
    const replace = (pieces: Bitfield | 'all') => {
      this.downloads.setPieces(conn, pieces)
      this.peerChanged(conn)
    }
    wire.on('extended', (ext: string, info: Record<string, unknown>) => {
      if (ext !== 'handshake') return
      this.downloads.peerSettings(conn, info)
      const site = info?.['murder_site']
      if (site instanceof Uint8Array) conn.remoteSite = Buffer.from(site).toString()
      conn.remoteBridge = info?.['murder_bridge'] === 1
      this.updateLocal(conn)
    })
    wire.on('bitfield', (bits: { buffer: Uint8Array }) => {
      if (!validWireBitfield(bits.buffer, pieceCount)) return drop('bitfield of the wrong length', true)
      replace(new Bitfield(pieceCount, bits.buffer))
    })
    wire.on('have-all', () => replace('all'))
    wire.on('have', (index: number) => {
      if (index >= pieceCount) return drop(`have for piece ${index} out of range`, true)
      if (!this.downloads.peerHas(conn, index)) return
      // A second peer of our site holds a piece we announced to one: now everyone may fetch it.
      if (conn.local) this.announcements.heldLocally(index)
      this.peerChanged(conn)
    })
    wire.on('unrequested', (index: number, offset: number, length: number) => {
      if (!this.downloads.wasCancelled(conn, index, offset)) drop(`sent a block we never requested (piece ${index}, offset ${offset}, length ${length})`, true)
    })
    // A refused piece is fetched from other peers for a while (a source spreading first refuses what they hold);
    // then this peer is asked again, even if nothing else happened meanwhile to prompt a request.
    wire.on('reject', (index: number) => this.downloads.refused(conn, index))
    wire.on('unchoke', () => this.downloads.fill(conn))
    wire.on('interested', () => this.uploads.rechoke())
    wire.on('uninterested', () => this.uploads.rechoke())
    wire.on('timeout', () => drop('requests timed out'))
    wire.on('request', (index: number, offset: number, length: number, respond: (err: Error | null, block?: Uint8Array) => void) =>
      this.uploads.request(conn, index, offset, length, respond))
  }

  /** A peer's pieces changed: maybe we are now interested, maybe we can ask for more, or reveal more. */
  private peerChanged(conn: PeerConnection): void {
    if (!this.announcements.reveal(conn)) this.downloads.peerChanged(conn)
  }

  /** A piece was verified and written: keep it for uploads and tell the peers. */
  private verified(piece: number, data: Uint8Array, contributors: PeerConnection[]): void {
    const { have, logger } = this.opts
    this.uploads.put(piece, data)
    this.announcements.verified(piece, contributors)
    logger.debug({ piece, have: have.count }, 'piece verified')
    this.emit('piece', piece)
  }

  /** The tracker's count of complete peers, this one included. */
  learnSeeds(complete: number): void {
    this.uploads.learnSeeds(complete, this.downloads.finished)
  }

  private removed(conn: PeerConnection, lastOfPeer: boolean): void {
    this.across.delete(conn)
    if (lastOfPeer) {
      this.announcements.forget(conn.id)
      this.share.set(conn.id, false)
    }
    this.downloads.peerGone(conn)
    this.uploads.peerGone(conn, lastOfPeer)
  }

  close(): void {
    this.uploads.stop()
    this.announcements.stop()
    this.conns.close()
  }
}
