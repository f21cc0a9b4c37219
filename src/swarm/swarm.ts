import { EventEmitter } from 'node:events'
import { UserError, ExitCode } from '../errors.js'
import type { Logger } from '../log.js'
import { piecesInBudget, type PieceStore } from '../storage/pieceStore.js'
import { BLOCK_LENGTH, pieceSize } from '../torrent/layout.js'
import type { Metainfo } from '../torrent/metainfo.js'
import { Bitfield, validWireBitfield } from '../bitfield.js'
import { ChokeRounds } from './chokeRounds.js'
import { HaveAnnouncer } from './haveAnnouncer.js'
import { PeerConnection, blockKey } from './peerConnection.js'
import { metadataServer } from './metadataServer.js'
import { PieceCache } from './pieceCache.js'
import { MAX_QUEUED_UPLOADS, Uploader } from './uploader.js'
import { PiecePicker, type BlockRef } from './piecePicker.js'
import { DEFAULT_PIPELINE, inBlocksOf, PipelineDepth, STANDARD_CLIENT_PIPELINE, type PipelineOptions } from './pipeline.js'
import type { TokenBucket } from './rateLimiter.js'
import { REFUSE_WINDOW_MS, SpreadFirst } from './spreadFirst.js'
import { STARVING_MS, SuperSeeder } from './superSeed.js'
import { HANDSHAKE_TIMEOUT_MS } from './wire.js'
import { wallClock, type Clock, type Timer } from './clock.js'
import { WanFirst } from './wanFirst.js'
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
  /** For the piece picker's random choices: seeded in the simulator, so a run can be replayed. */
  random?: () => number
  /** Bytes asked per request: 16 KiB (BLOCK_LENGTH), as every client does; the simulator asks more to run faster. */
  blockLength?: number
  /** Hold back uploads to our site while a peer across a WAN waits on us (WanFirst; not for a complete source). Default on. */
  wanFirst?: boolean
}

/** How long a refused piece is asked of other peers: past the refusing source's window, so asking it again is served. */
const REFUSED_MS = 2 * REFUSE_WINDOW_MS
const REQUEST_BATCH = 16
/** A peer that asked us for a block this recently is still fetching (a WAN bridge asks every few milliseconds). */
const ACROSS_FETCHING_MS = 500
/** Blocks of one piece from several peers failing its hash: strikes before a contributor is dropped. */
const MAX_STRIKES = 3
/** Cancelled requests remembered per connection, so a block that crosses our cancel is not taken for abuse. */
const MAX_CANCELLED = 1024
/** uTP-only peers remembered at most (see dialBack). */
const MAX_UTP_ONLY = 1024

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
 * (every one verified against its hash before it is written) and serves what it holds. Emits `piece`,
 * `complete` and `fatal` (a UserError, e.g. disk full).
 */
export class Swarm extends EventEmitter {
  private readonly conns = new Set<PeerConnection>()
  private readonly byId = new Map<string, PeerConnection>()
  private readonly dialing = new Set<string>()
  /** Addresses that sent a uTP SYN (see dialBack), least recent first. */
  private readonly uTPOnly = new Set<string>()
  private readonly banned = new Set<string>()
  private readonly strikes = new Map<string, number>()
  private readonly picker: PiecePicker
  private readonly assembling = new Map<number, Buffer>()
  /** Pieces being assembled that hold blocks from a peer that has since left: no lone culprit if they fail. */
  private readonly orphaned = new Set<number>()
  private readonly cache: PieceCache
  private readonly uploader: Uploader
  private readonly peerIdHex: string
  private verifying = 0
  private finished: boolean
  private closed = false
  private revealTimer: Timer | null = null
  private readonly clock: Clock
  private fillScheduled = false
  private readonly counters = { downloaded: 0, received: 0, receivedCrossSite: 0, uploaded: 0, refused: 0, peakPeers: 0, hashFailures: 0 }
  private bytesHeld = 0
  private readonly superSeeder: SuperSeeder | null
  private readonly spread: SpreadFirst | null
  private readonly haves: HaveAnnouncer
  private readonly choking: ChokeRounds
  /** Our site: from --site, or else as the tracker's map places us. */
  private site: string | undefined
  /** Complete peers besides this one, as the tracker last counted them. */
  private seedsElsewhere = 0
  /** Per piece, how many same-site peers hold it. */
  private readonly localAvailability: Uint32Array
  /** Peers in another site (both sites known): what WAN first serves first. */
  private readonly across = new Set<PeerConnection>()
  private readonly wanFirst: WanFirst | null
  private readonly metadataExtension: ReturnType<typeof metadataServer>
  private readonly blockLength: number
  /** Pipeline settings for murder peers and for other clients, in blocks of `blockLength`. */
  private readonly pipelines: { murder: PipelineOptions; standard: PipelineOptions }

  constructor(private readonly opts: SwarmOptions) {
    super()
    const { meta, store, have } = opts
    this.clock = opts.clock ?? wallClock
    const blockLength = (this.blockLength = opts.blockLength ?? BLOCK_LENGTH)
    this.pipelines = { murder: inBlocksOf(DEFAULT_PIPELINE, blockLength), standard: inBlocksOf(STANDARD_CLIENT_PIPELINE, blockLength) }
    this.peerIdHex = Buffer.from(opts.peerId).toString('hex')
    // The budget bounds the piece buffers: the upload cache, and pieces being downloaded or verified (up to
    // the picker's hard limit, twice its soft one).
    const budgeted = piecesInBudget(opts.memoryBudget, meta.pieceLength)
    const cached = Math.max(1, Math.floor(budgeted / 4))
    this.picker = new PiecePicker({
      pieceCount: meta.pieceCount,
      blocksIn: (i) => Math.ceil(store.dataPrefix(i) / blockLength),
      maxActive: Math.floor((budgeted - cached) / 2),
      randomFirst: 4,
      random: opts.random,
    })
    for (let i = 0; i < meta.pieceCount; i++) {
      if (have.get(i)) {
        this.picker.markHave(i)
        this.bytesHeld += store.dataBytes(i)
      }
    }
    // A quarter of the budget: the page cache serves re-reads too, this only saves the read calls.
    this.cache = new PieceCache({ size: (i) => pieceSize(store.layout, i), read: (i, buf) => store.read(i, buf) }, cached, store)
    this.uploader = new Uploader({
      layout: store.layout,
      have,
      cache: this.cache,
      limit: opts.uploadLimit,
      clock: this.clock,
      closed: () => this.closed,
      drop: (conn, reason, ban) => this.drop(conn, reason, ban),
      sent: (conn, bytes) => {
        this.counters.uploaded += bytes
        conn.roundUp += bytes
        this.wanFirst?.sent(bytes, this.across.has(conn))
      },
      pace: (conn) => (this.wanFirst && conn.local && this.acrossFetching() ? this.wanFirst : null),
      // Across sites the tracker's policy decides who reaches whom: refusing there could only slow a bridge.
      refuse: (conn, piece, offset) => {
        const refused = this.spread !== null && (!this.site || conn.local) &&
          this.spread.refuse(conn.id, piece, offset, this.holders(piece), this.othersWaiting(conn), this.clock.now())
        if (refused) this.counters.refused++
        return refused
      },
      fatal: (err) => {
        this.opts.logger.error({ err: err.message }, 'upload failed')
        this.emit('fatal', err)
      },
    })
    this.finished = have.complete
    // Revealed pieces not yet held, at once: four full request pipelines (8 MiB) for a lone peer, since a
    // revealed piece also waits on its hash check and the `have` round trip.
    const window = Math.ceil((4 * DEFAULT_PIPELINE.max * BLOCK_LENGTH) / meta.pieceLength)
    this.localAvailability = new Uint32Array(meta.pieceCount)
    this.site = opts.site
    this.metadataExtension = metadataServer(meta.infoBytes)
    this.haves = new HaveAnnouncer(this.clock, (c) => this.conns.has(c))
    // WAN first also in who is served: a peer across gets a slot before our own site's fastest.
    this.choking = new ChokeRounds(this.clock, opts.maxUploads, () => [...this.conns], (c) => this.wanFirst !== null && this.across.has(c) && this.seedInSite())
    // The source keeps its uplink for its own site: only it can give that site pieces, while the WAN can be fed
    // by the site's peers (in the simulator, holding back at the source too delayed site A by a third).
    this.wanFirst = opts.wanFirst !== false && !have.complete ? new WanFirst(() => this.clock.now()) : null
    this.superSeeder = opts.superSeed && have.complete ? new SuperSeeder(meta.pieceCount, window) : null
    this.spread = opts.spreadFirst && !opts.superSeed && have.complete ? new SpreadFirst() : null
  }

  get complete(): boolean {
    return this.finished
  }

  /** Does a connected peer hold a piece we still lack? While none does, the download cannot move. */
  missingHeld(): boolean {
    return this.picker.missingHeld()
  }

  missingPieces(): number[] {
    return this.picker.missingPieces()
  }

  get stats(): SwarmStats {
    return {
      ...this.counters,
      pieces: this.opts.have.count,
      pieceCount: this.opts.meta.pieceCount,
      left: this.opts.store.dataLength - this.bytesHeld,
      peers: [...this.conns].filter((c) => c.handshaken).length,
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
    for (const c of this.conns) {
      c.wire.extendedHandshake['murder_site'] = site
      c.link.resendExtendedHandshake()
      this.updateLocal(c)
    }
  }

  /** Marks a peer local once both sites are known and equal, counting its pieces as held in our site. */
  private updateLocal(conn: PeerConnection): void {
    if (conn.local || this.site === undefined || conn.remoteSite === undefined) return
    if (conn.remoteSite !== this.site) {
      this.across.add(conn)
      return
    }
    this.across.delete(conn)
    conn.local = true
    this.countLocal(conn, 1)
  }

  /** Starts the choke rounds; connections come from `addPeers` and from `accept`. */
  start(): void {
    this.choking.start()
    // A starving peer sends no message that would make us look again.
    if (this.superSeeder) this.revealTimer = this.clock.every(STARVING_MS / 2, () => { for (const c of this.conns) if (c.handshaken) this.peerChanged(c) })
  }

  /** Connects to peers the tracker returned, skipping known, banned and surplus ones. */
  addPeers(peers: readonly { ip: string; port: number }[]): void {
    for (const { ip, port } of peers) {
      // A complete swarm does not dial: the peers that still need pieces come to it, but for those that
      // cannot (see dialBack).
      if (this.finished && !this.uTPOnly.has(`${ip}:${port}`)) continue
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

  /** Dials ip:port unless connected, dialling or banned there; false once the peer budget is spent. */
  private dialIfNew(ip: string, port: number): boolean {
    // Half the budget for dialing, the rest for peers that dial us: with every peer dialing its whole budget,
    // peers that started late found everyone full and traded only among themselves (a fifth of 100 targets
    // in the simulator, done 8 s after the others).
    if (this.closed || this.conns.size + this.dialing.size >= Math.ceil(this.opts.maxPeers / 2)) return false
    const address = `${ip}:${port}`
    if (this.dialing.has(address) || this.banned.has(address) || [...this.conns].some((c) => c.address === address)) return true
    this.dialing.add(address)
    this.opts.dialer.dial(ip, port, (link) => this.setup(link, true, address), () => this.dialing.delete(address))
    return true
  }

  /** Takes an incoming connection (from the listener that the command opened). */
  accept(link: WireLink): void {
    // Bans are by peer id and address:port (hosts behind one address, or tests on loopback, share an IP),
    // so a banned peer is refused at its handshake.
    if (this.closed || this.conns.size + this.dialing.size >= this.opts.maxPeers) {
      link.close()
      return
    }
    this.setup(link, false, link.address)
  }

  private setup(link: WireLink, outgoing: boolean, address: string): void {
    const { meta } = this.opts
    const c = new PeerConnection(link, outgoing, address, meta.pieceCount, new PipelineDepth(this.pipelines.murder, this.clock.now()))
    const { wire } = c
    this.conns.add(c)
    this.counters.peakPeers = Math.max(this.counters.peakPeers, this.conns.size)
    wire.on('protocol-error', (reason: string) => this.drop(c, reason, true))
    wire.use(this.metadataExtension)
    wire.extendedHandshake['reqq'] = MAX_QUEUED_UPLOADS
    wire.extendedHandshake['v'] = 'murder'
    if (this.site) wire.extendedHandshake['murder_site'] = this.site
    const timer = this.clock.after(HANDSHAKE_TIMEOUT_MS, () => this.drop(c, 'no handshake'))
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
    const { meta, have } = this.opts
    const { wire } = conn
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
    if (!conn.outgoing) wire.handshake(meta.infoHash, this.opts.peerId, { fast: true })
    conn.handshaken = true
    if (this.superSeeder) {
      if (wire.hasFast) wire.haveNone()
    } else if (wire.hasFast && have.complete) wire.haveAll()
    else if (wire.hasFast && have.count === 0) wire.haveNone()
    else if (have.count > 0) wire.bitfield(have.bytes)
    this.watch(conn)
    // A free upload slot is given at once (see chooseUnchoked), not when the peer says it is interested.
    this.choking.schedule()
    if (this.superSeeder) this.peerChanged(conn)
    this.opts.logger.debug({ peer: conn.address, id: peerId, fast: wire.hasFast }, 'peer connected')
    this.emit('peers')
  }

  private watch(conn: PeerConnection): void {
    const { wire } = conn
    const { pieceCount } = this.opts.meta
    // BEP 6 wants bitfield/have-all/have-none first, but aria2 sends a fresh bitfield later on: accept a
    // replacement, moving the availability counts from the old set to the new one.
    const replace = (pieces: Bitfield | 'all') => {
      this.count(conn, -1)
      conn.pieces = pieces
      this.count(conn, 1)
      this.peerChanged(conn)
    }
    wire.on('extended', (ext: string, info: Record<string, unknown>) => {
      if (ext !== 'handshake') return
      // A later extended handshake (a peer that learned its site) keeps the depth measured so far.
      const reqq = typeof info?.['reqq'] === 'number' ? Math.max(1, info['reqq']) : Infinity
      const v = info?.['v']
      const pipeline = v instanceof Uint8Array && Buffer.from(v).toString() === 'murder' ? this.pipelines.murder : this.pipelines.standard
      if (reqq !== conn.pipeline.peerLimit || pipeline !== conn.pipeline.opts) conn.pipeline = new PipelineDepth(pipeline, this.clock.now(), reqq)
      const site = info?.['murder_site']
      if (site instanceof Uint8Array) conn.remoteSite = Buffer.from(site).toString()
      this.updateLocal(conn)
    })
    wire.on('bitfield', (bits: { buffer: Uint8Array }) => {
      if (!validWireBitfield(bits.buffer, pieceCount)) return this.drop(conn, 'bitfield of the wrong length', true)
      replace(new Bitfield(pieceCount, bits.buffer))
    })
    wire.on('have-all', () => replace('all'))
    wire.on('have', (index: number) => {
      if (index >= pieceCount) return this.drop(conn, `have for piece ${index} out of range`, true)
      if (conn.pieces === 'all' || !conn.pieces.set(index)) return
      this.picker.peerHas(index)
      if (conn.local) this.localAvailability[index]!++
      // A second peer of our site holds a piece we announced to one: now everyone may fetch it.
      if (conn.local) this.haves.heldLocally(index)
      this.peerChanged(conn)
    })
    wire.on('unrequested', (index: number, offset: number, length: number) => {
      if (offset % this.blockLength === 0 && conn.cancelled.delete(blockKey({ piece: index, block: offset / this.blockLength }))) return
      this.drop(conn, `sent a block we never requested (piece ${index}, offset ${offset}, length ${length})`, true)
    })
    // A refused piece is fetched from other peers for a while (a source spreading first refuses what they hold);
    // then this peer is asked again, even if nothing else happened meanwhile to prompt a request.
    wire.on('reject', (index: number) => {
      conn.refused.set(index, this.clock.now() + REFUSED_MS)
      this.retryRefused(conn)
    })
    wire.on('unchoke', () => this.fill(conn))
    wire.on('interested', () => this.choking.schedule())
    wire.on('uninterested', () => this.choking.schedule())
    wire.on('timeout', () => this.drop(conn, 'requests timed out'))
    wire.on('request', (index: number, offset: number, length: number, respond: (err: Error | null, block?: Uint8Array) => void) =>
      this.uploader.request(conn, index, offset, length, respond))
  }

  /**
   * Asks a peer again once a refusal lapses, for a piece no other peer would give us: that one waits on no
   * other event (three peers of a site waited for ever on the source's last piece in the simulator, refused
   * while the timer of an earlier refusal ran). A piece others offer comes from them: asking the refusing
   * source again as soon as its refusal lapsed made it send 1.78 copies instead of 1.2 in test/swarmSpread.
   */
  private retryRefused(conn: PeerConnection): void {
    if (conn.retryAfterRefusal) return
    const now = this.clock.now()
    let next = Infinity
    for (const [piece, until] of conn.refused) {
      if (until > now && until < next && !this.offeredElsewhere(conn, piece, now)) next = until
    }
    if (next === Infinity) return
    conn.retryAfterRefusal = this.clock.after(next - now + 1, () => {
      conn.retryAfterRefusal = null
      this.fill(conn)
      this.retryRefused(conn)
    })
  }

  private offeredElsewhere(conn: PeerConnection, piece: number, now: number): boolean {
    for (const c of this.conns) if (c !== conn && c.handshaken && this.offers(c, piece, now)) return true
    return false
  }

  /** Adds (or removes) a peer's pieces to the availability counts. */
  private count(conn: PeerConnection, delta: 1 | -1): void {
    this.picker.peerHasAll((i) => conn.has(i), delta)
    if (conn.local) this.countLocal(conn, delta)
  }

  /** Adds (or removes) a peer of our site's pieces to the per-piece counts of what our site holds. */
  private countLocal(conn: PeerConnection, delta: 1 | -1): void {
    for (let i = 0; i < this.opts.meta.pieceCount; i++) if (conn.has(i)) this.localAvailability[i]! += delta
  }

  /** A peer's pieces changed: maybe we are now interested, maybe we can ask for more, or reveal more. */
  private peerChanged(conn: PeerConnection): void {
    if (this.superSeeder) {
      const held = conn.pieces === 'all' ? this.opts.meta.pieceCount : conn.pieces.count
      for (const piece of this.superSeeder.reveal(conn.id, (i) => conn.has(i), (i) => this.picker.availabilityOf(i), held, this.clock.now())) conn.wire.have(piece)
      return
    }
    this.updateInterest(conn)
    this.fill(conn)
  }

  private updateInterest(conn: PeerConnection): void {
    const { wire } = conn
    if (this.finished) {
      if (wire.amInterested) wire.uninterested()
      if (conn.isSeed) {
        this.uTPOnly.delete(conn.address)
        this.drop(conn, 'both complete')
      }
      return
    }
    const want = this.picker.wants((i) => conn.has(i))
    if (want && !wire.amInterested) wire.interested()
    else if (!want && wire.amInterested) wire.uninterested()
  }

  /** Keeps the connection's pipeline depth of block requests in flight. */
  private fill(conn: PeerConnection): void {
    const { wire } = conn
    if (this.finished || this.closed || !this.conns.has(conn) || !conn.handshaken || wire.peerChoking || !wire.amInterested) return
    const depth = conn.pipeline.depth
    let room = depth - conn.asked.size
    // Top up in batches (one writev for many requests) rather than one request per block received.
    if (room < Math.min(REQUEST_BATCH, depth) && conn.asked.size > 0) return
    const limit = this.opts.downloadLimit
    if (!limit.unlimited) {
      const wait = limit.delayFor(this.blockLength)
      if (wait > 0) return this.fillAll(wait)
      room = Math.min(room, REQUEST_BATCH)
    }
    const crossSite = this.crossSite(conn)
    const now = this.clock.now()
    const picks = this.picker.pick((i) => this.offers(conn, i, now), room, (ref) => conn.asked.has(blockKey(ref)), crossSite)
    for (const ref of picks) {
      const size = this.blockSize(ref)
      limit.take(size)
      conn.asked.set(blockKey(ref), ref)
      wire.request(ref.piece, ref.block * this.blockLength, size, (err, block) => this.onBlock(conn, ref, err, block))
    }
  }

  private crossSite(conn: PeerConnection): boolean {
    return !conn.local && !!this.site
  }

  /** Would we ask this peer for the piece now? Across a WAN link, only for what no peer of our own site holds. */
  private offers(conn: PeerConnection, piece: number, now: number): boolean {
    if (!conn.has(piece) || this.stillRefused(conn, piece, now)) return false
    return !this.crossSite(conn) || this.localAvailability[piece] === 0
  }

  /**
   * A piece a peer refused is asked of it again once the refusal lapses only if no other peer would give it:
   * with downloads rate-limited, a refused piece often waits longer than that for its turn elsewhere, and asking
   * the source again as soon as its refusal lapsed had it send 5.28 copies to 100 peers (1.36 with this).
   */
  private stillRefused(conn: PeerConnection, piece: number, now: number): boolean {
    const until = conn.refused.get(piece)
    if (until === undefined) return false
    if (until > now) return true
    for (const c of this.conns) if (c !== conn && c.handshaken && !c.wire.peerChoking && c.has(piece) && !c.refused.has(piece)) return true
    conn.refused.delete(piece)
    return false
  }

  private blockSize(ref: BlockRef): number {
    return Math.min(this.blockLength, this.opts.store.dataPrefix(ref.piece) - ref.block * this.blockLength)
  }

  /** Tops up every connection soon (or after `delayMs`, when the download limit says so). */
  private fillAll(delayMs = 0): void {
    if (this.fillScheduled) return
    this.fillScheduled = true
    const run = () => {
      this.fillScheduled = false
      for (const c of this.conns) this.fill(c)
    }
    if (delayMs > 0) this.clock.after(delayMs, run)
    else this.clock.soon(run)
  }

  private onBlock(conn: PeerConnection, ref: BlockRef, err: Error | null, block: Uint8Array | null): void {
    conn.asked.delete(blockKey(ref))
    if (err || !block) {
      // Withdrawn (cancelled, timed out, choked): the block may still be on the wire and is not abuse.
      this.withdrawn(conn, ref)
      this.picker.requestFailed(ref)
      this.fillAll()
      return
    }
    this.counters.received += block.length
    conn.pipeline.received(block.length, this.clock.now())
    if (this.site && !conn.local) this.counters.receivedCrossSite += block.length
    conn.roundDown += block.length
    if (this.picker.isWanted(ref)) {
      let buf = this.assembling.get(ref.piece)
      if (!buf) {
        buf = this.opts.store.take(pieceSize(this.opts.store.layout, ref.piece))
        // Trailing padding is zeros by definition: it is filled here, never requested.
        buf.fill(0, this.opts.store.dataPrefix(ref.piece))
        this.assembling.set(ref.piece, buf)
      }
      buf.set(block, ref.block * this.blockLength)
      conn.contributed.add(ref.piece)
      // Only the endgame asks two peers for a block: a scan of every connection per block cost the most of
      // all the engine's work with 100 peers in the simulator.
      const askedElsewhere = this.picker.requestsOf(ref) > 1
      const whole = this.picker.blockReceived(ref)
      if (askedElsewhere) this.cancelDuplicates(ref, conn)
      if (whole) void this.verify(ref.piece)
    }
    this.fill(conn)
  }

  private withdrawn(conn: PeerConnection, ref: BlockRef): void {
    conn.cancelled.add(blockKey(ref))
    if (conn.cancelled.size > MAX_CANCELLED) conn.cancelled.delete(conn.cancelled.values().next().value!)
  }

  /** Endgame asks several peers for one block: once it is in, the other requests are withdrawn. */
  private cancelDuplicates(ref: BlockRef, from: PeerConnection): void {
    const key = blockKey(ref)
    for (const c of this.conns) {
      if (c === from || !c.asked.has(key)) continue
      c.wire.cancel(ref.piece, ref.block * this.blockLength, this.blockSize(ref))
    }
  }

  private async verify(piece: number): Promise<void> {
    const { store, have, logger } = this.opts
    const buf = this.assembling.get(piece)!
    this.assembling.delete(piece)
    const contributors = [...this.conns].filter((c) => c.contributed.delete(piece))
    const orphaned = this.orphaned.delete(piece)
    this.verifying++
    try {
      const { stored, data } = await store.verifyAndWrite(piece, buf)
      if (this.closed) return
      if (!stored) {
        store.give(data)
        this.counters.hashFailures++
        this.picker.pieceFailed(piece)
        this.blame(piece, contributors, orphaned)
        this.fillAll()
        return
      }
      have.set(piece)
      this.picker.markHave(piece)
      this.cache.put(piece, data)
      this.bytesHeld += store.dataBytes(piece)
      this.counters.downloaded += store.dataBytes(piece)
      this.haves.announce(piece, [...this.conns].filter((c) => c.handshaken), this.site !== undefined && contributors.length > 0 && contributors.every((c) => !c.local))
      logger.debug({ piece, have: have.count }, 'piece verified')
      this.emit('piece', piece)
      if (have.complete) {
        this.finished = true
        this.haves.flushAll()
      }
      // Only a peer holding this piece can have stopped being interesting (a full rescan per peer per piece
      // would be quadratic on trees of many small, aligned files); at the end everyone is told.
      for (const c of [...this.conns]) if (c.handshaken && (this.finished || c.has(piece))) this.updateInterest(c)
      // The piece no longer counts against the active limit: with small pieces every request may have been
      // answered while pieces were verifying, and nothing else would ask for more.
      this.fillAll()
    } catch (err) {
      logger.debug({ piece, err: (err as Error).message }, 'piece not stored')
      this.emit('fatal', err instanceof UserError ? err : new UserError(`storing piece ${piece}: ${(err as Error).message}`, ExitCode.failure))
      return
    } finally {
      this.verifying--
    }
    if (this.finished && this.verifying === 0 && this.picker.missingCount === 0) this.emit('complete')
  }

  /** Who sent a piece that failed its hash: a lone contributor is banned; several each get a strike. */
  private blame(piece: number, contributors: PeerConnection[], orphaned: boolean): void {
    this.opts.logger.warn({ piece, peers: contributors.map((c) => c.address) }, 'piece failed its hash check')
    for (const c of contributors) {
      const strikes = (this.strikes.get(c.id) ?? 0) + 1
      this.strikes.set(c.id, strikes)
      if ((contributors.length === 1 && !orphaned) || strikes >= MAX_STRIKES) this.drop(c, `sent data that failed the hash of piece ${piece}`, true)
    }
  }

  /**
   * Other peers that hold a piece: connected ones, and the complete peers the tracker counts (they close their
   * connections to a complete source). Only without sites: the tracker's count spans every site.
   */
  private holders(piece: number): number {
    return this.picker.availabilityOf(piece) + (this.site ? 0 : this.seedsElsewhere)
  }

  /** The tracker's count of complete peers, this one included. */
  learnSeeds(complete: number): void {
    this.seedsElsewhere = Math.max(0, complete - (this.finished ? 1 : 0))
  }

  /**
   * The uplink has other work: requests of other peers wait in their queues or in their sockets, so it has
   * better use than a piece the asker can get elsewhere. Interest alone is not enough: once the swarm holds a
   * copy, every peer is interested in us and holds what the others ask, and refusing them all left the
   * uplink idle for the last tenth of the lab's transfer.
   */
  private othersWaiting(conn: PeerConnection): boolean {
    for (const c of this.conns) if (c !== conn && c.backlogged) return true
    return false
  }

  /**
   * A peer across a WAN link is fetching from us: it asked for a block lately, or its blocks wait. Over TCP the
   * socket takes what we send at once, so neither our queue nor its backlog shows that it would take more.
   */
  private acrossFetching(): boolean {
    const lately = this.clock.now() - ACROSS_FETCHING_MS
    for (const c of this.across) if (c.lastAskedAt > lately || c.backlogged) return this.seedInSite()
    return false
  }

  /**
   * A complete peer of our site is connected (the source, in its site): it can serve our site what we hold back.
   * A remote site's bridge is its site's only way in, and holding it back for other sites' bridges made the last
   * of three sites finish 30% later in the simulator.
   */
  private seedInSite(): boolean {
    for (const c of this.conns) if (c.local && c.isSeed) return true
    return false
  }

  private drop(conn: PeerConnection, reason: string, ban = false): void {
    if (ban) {
      // Named once, even when more of its pieces fail their hash after it was dropped.
      const known = this.banned.has(conn.id || conn.address)
      this.banned.add(conn.address)
      if (conn.id) this.banned.add(conn.id)
      if (!known) this.opts.logger.warn({ peer: conn.address, id: conn.id, reason }, 'dropping and banning peer')
      // Its blocks in unfinished pieces are suspect: those pieces start over rather than fail (and be blamed
      // on whoever completes them).
      for (const piece of conn.contributed) {
        if (!this.assembling.delete(piece)) continue
        this.picker.pieceFailed(piece)
        this.orphaned.delete(piece)
        for (const c of this.conns) c.contributed.delete(piece)
      }
      conn.contributed.clear()
    } else {
      this.opts.logger.debug({ peer: conn.address, reason }, 'closing connection')
    }
    conn.close()
    this.remove(conn)
  }

  private remove(conn: PeerConnection): void {
    if (!this.conns.delete(conn)) return
    this.across.delete(conn)
    if (conn.id && this.byId.get(conn.id) === conn) {
      this.byId.delete(conn.id)
      this.superSeeder?.forget(conn.id)
      this.spread?.forget(conn.id)
    }
    for (const piece of conn.contributed) if (this.assembling.has(piece)) this.orphaned.add(piece)
    for (const ref of conn.asked.values()) this.picker.requestFailed(ref)
    conn.asked.clear()
    this.count(conn, -1)
    conn.uploads.length = 0
    this.fillAll()
    this.choking.schedule()
    this.emit('peers')
  }

  close(): void {
    this.closed = true
    this.choking.stop()
    this.revealTimer?.cancel()
    for (const c of [...this.conns]) c.close()
  }
}
