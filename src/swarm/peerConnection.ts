import { Bitfield } from '../bitfield.js'
import type { Timer } from './clock.js'
import type { PeerWire, WireLink } from './peerWire.js'
import type { PipelineDepth } from './pipeline.js'
import type { BlockRef } from './piecePicker.js'

/** A request a peer made of us, waiting for its turn on the upload pump. */
export interface QueuedUpload {
  index: number
  offset: number
  length: number
  respond: (err: Error | null, block?: Uint8Array) => void
}

/** Socket backlog above which we stop answering requests until it drains (bittorrent-protocol has no backpressure). */
export const UPLOAD_BACKLOG_BYTES = 1024 * 1024

/** One connection to one remote peer, and what we track about it. */
export class PeerConnection {
  /** Remote peer id (hex), known once the handshake arrives. */
  id = ''
  /** Our requests in flight to this peer, keyed by `blockKey`. */
  readonly asked = new Map<number, BlockRef>()
  readonly uploads: QueuedUpload[] = []
  pumping = false
  /** A `drain` listener is set: one is enough, however many requests wait. */
  awaitingDrain = false
  /** Bytes exchanged since the last choke round, for the choker's rate. */
  roundDown = 0
  roundUp = 0
  rate = 0
  /** When the peer last asked us for a block (clock ms): it is fetching from us. */
  lastAskedAt = -Infinity
  /** Blocks whose request we withdrew (`blockKey`): they may still arrive, anything else unasked may not. */
  readonly cancelled = new Set<number>()
  /** Pieces the peer refused us (BEP 6 reject), until when we ask others for them. */
  readonly refused = new Map<number, number>()
  /** Asks this peer again once its refusals have lapsed. */
  retryAfterRefusal: Timer | null = null
  /** Pieces this peer contributed blocks to; a piece that fails its hash is blamed on them. */
  readonly contributed = new Set<number>()
  handshaken = false
  /** Requests to keep in flight, following the measured rate. */
  pipeline: PipelineDepth
  /** The site the peer named in its extended handshake, if any. */
  remoteSite: string | undefined
  /** The peer said it reaches across a WAN link (`murder_bridge`): a bridge of its site. */
  remoteBridge = false
  /** The peer is in our site (both sites known and equal). */
  local = false
  /**
   * What the peer holds, from validated bitfield/have-all/have messages only: availability counts are
   * added from and later subtracted by exactly this.
   */
  pieces: Bitfield | 'all'
  /** Pieces the peer holds that we lack: we are interested while there are any (kept up to date, not rescanned). */
  wanted = 0

  readonly wire: PeerWire

  constructor(readonly link: WireLink, readonly outgoing: boolean, readonly address: string, pieceCount: number, pipeline: PipelineDepth) {
    this.wire = link.wire
    this.pieces = new Bitfield(pieceCount)
    this.pipeline = pipeline
  }

  has(piece: number): boolean {
    return this.pieces === 'all' || this.pieces.get(piece)
  }

  get isSeed(): boolean {
    return this.pieces === 'all' || this.pieces.complete
  }

  get congested(): boolean {
    return this.link.backlog > UPLOAD_BACKLOG_BYTES
  }

  /** Requests of this peer wait to be sent, in our queue or in the socket. */
  get backlogged(): boolean {
    return this.uploads.length > 0 || this.link.backlog > 0
  }

  close(): void {
    this.retryAfterRefusal?.cancel()
    this.link.close()
  }
}

/** One number per block, for map keys (a piece has at most 4096 blocks at the 64 MiB piece-length cap). */
export function blockKey(ref: BlockRef): number {
  return ref.piece * 4096 + ref.block
}
