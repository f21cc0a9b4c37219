/**
 * Which blocks to ask a peer for. Pure bookkeeping, no I/O: random pieces until a few are held (so peers
 * quickly have something to trade), then rarest first with random tie-break, finishing started pieces
 * before starting new ones, and an endgame that asks for the last outstanding blocks twice.
 */

export interface PickerOptions {
  pieceCount: number
  blocksIn: (piece: number) => number
  /** Pieces in progress at once: each holds a piece-sized buffer until it is verified. */
  maxActive: number
  /** Pick at random until this many pieces are held. */
  randomFirst: number
  random?: () => number
}

/** What a peer holds as far as it told us: `has` has no side effects, `wanted` counts the pieces it holds that we lack. */
export interface PeerPieces {
  has(piece: number): boolean
  readonly wanted: number
}

export interface BlockRef {
  piece: number
  block: number
}

interface Active {
  /** Outstanding requests per block; 255 marks a received block. */
  readonly requests: Uint8Array
  received: number
}

const RECEIVED = 255

export class PiecePicker {
  private readonly have: Uint8Array
  private readonly availability: Uint32Array
  private readonly active = new Map<number, Active>()
  private missing: number
  private readonly random: () => number
  /** This peer's own random order of pieces, for tie-breaks: two peers rarely walk the same way. */
  private readonly rank: Uint32Array

  constructor(private readonly opts: PickerOptions) {
    this.have = new Uint8Array(opts.pieceCount)
    this.availability = new Uint32Array(opts.pieceCount)
    this.missing = opts.pieceCount
    this.random = opts.random ?? Math.random
    this.rank = new Uint32Array(opts.pieceCount)
    for (let i = 0; i < opts.pieceCount; i++) this.rank[i] = i
    for (let i = opts.pieceCount - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1))
      ;[this.rank[i], this.rank[j]] = [this.rank[j]!, this.rank[i]!]
    }
  }

  get missingCount(): number {
    return this.missing
  }

  get activeCount(): number {
    return this.active.size
  }

  has(piece: number): boolean {
    return this.have[piece] === 1
  }

  /** Marks a piece held (found on disk or verified after download). */
  markHave(piece: number): void {
    if (this.have[piece]) return
    this.have[piece] = 1
    this.missing--
    this.active.delete(piece)
  }

  peerHas(piece: number): void {
    this.availability[piece]!++
  }

  peerHasAll(has: (piece: number) => boolean, delta: 1 | -1): void {
    for (let i = 0; i < this.opts.pieceCount; i++) if (has(i)) this.availability[i]! += delta
  }

  availabilityOf(piece: number): number {
    return this.availability[piece]!
  }

  /** The pieces we still lack, in order. */
  missingPieces(): number[] {
    const out: number[] = []
    for (let i = 0; i < this.opts.pieceCount; i++) if (!this.have[i]) out.push(i)
    return out
  }

  /** Does any connected peer hold a piece we still lack? */
  missingHeld(): boolean {
    for (let i = 0; i < this.opts.pieceCount; i++) if (!this.have[i] && this.availability[i]! > 0) return true
    return false
  }

  /** How many pieces this peer has that we still want. */
  countWanted(peerHas: (piece: number) => boolean): number {
    let n = 0
    for (let i = 0; i < this.opts.pieceCount; i++) if (!this.have[i] && peerHas(i)) n++
    return n
  }

  /**
   * Up to `max` blocks to request from a peer. `alreadyAsked` tells which blocks this peer was already
   * asked for, so the endgame never sends the same peer a duplicate. `across`: the peer is across a WAN link,
   * where every peer of a site would otherwise chase the same rarest pieces and pull them twice: its pieces
   * are walked in our own random order, and it gets no endgame (a block asked twice across was as often
   * received twice: remote sites of 10 sites of 30 on 16 MiB pulled 1.09-1.25 copies across, 1.00 without).
   * `holder`, if given, is what the peer holds (`peerHas` being false where it does not hold): the search for a
   * new piece stops once past them all.
   */
  pick(peerHas: (piece: number) => boolean, max: number, alreadyAsked: (ref: BlockRef) => boolean, across = false, holder?: PeerPieces): BlockRef[] {
    const out: BlockRef[] = []
    for (const [piece, a] of this.active) {
      if (out.length >= max) return out
      if (peerHas(piece)) this.takeFree(piece, a, max, out)
    }
    while (out.length < max) {
      // Past the soft limit a new piece starts only when this peer could help with none of the active ones,
      // so a peer holding other pieces is never idle; the hard limit bounds memory.
      const limit = out.length === 0 ? this.opts.maxActive * 2 : this.opts.maxActive
      if (this.active.size >= limit) break
      const piece = this.choosePiece(peerHas, across, holder)
      if (piece < 0) break
      const a: Active = { requests: new Uint8Array(this.opts.blocksIn(piece)), received: 0 }
      this.active.set(piece, a)
      this.takeFree(piece, a, max, out)
    }
    if (out.length === 0 && !across && this.inEndgame()) this.takeEndgame(peerHas, max, alreadyAsked, out)
    return out
  }

  /** Did this peer's block arrive for a piece we still want? Returns true when the whole piece is in. */
  blockReceived(ref: BlockRef): boolean {
    const a = this.active.get(ref.piece)
    if (!a || a.requests[ref.block] === RECEIVED) return false
    a.requests[ref.block] = RECEIVED
    a.received++
    return a.received === a.requests.length
  }

  /** Requests in flight for a wanted block (several in the endgame). */
  requestsOf(ref: BlockRef): number {
    const n = this.active.get(ref.piece)?.requests[ref.block] ?? 0
    return n === RECEIVED ? 0 : n
  }

  isWanted(ref: BlockRef): boolean {
    const a = this.active.get(ref.piece)
    return a !== undefined && a.requests[ref.block] !== RECEIVED
  }

  /** A request was rejected, timed out, or its peer left: the block may be asked of someone else. */
  requestFailed(ref: BlockRef): void {
    const a = this.active.get(ref.piece)
    if (a && a.requests[ref.block]! > 0 && a.requests[ref.block] !== RECEIVED) a.requests[ref.block]!--
  }

  /** The piece did not match its hash: every block is wanted again. */
  pieceFailed(piece: number): void {
    this.active.delete(piece)
  }

  private takeFree(piece: number, a: Active, max: number, out: BlockRef[]): void {
    for (let b = 0; b < a.requests.length && out.length < max; b++) {
      if (a.requests[b] === 0) {
        a.requests[b] = 1
        out.push({ piece, block: b })
      }
    }
  }

  /** Rarest first, ties broken by this peer's random order; that order alone `across` (see pick). */
  private choosePiece(peerHas: (piece: number) => boolean, across: boolean, holder?: PeerPieces): number {
    const randomly = across || this.opts.pieceCount - this.missing < this.opts.randomFirst
    // Pieces we lack that the peer holds and that are not started yet: past the last of them nothing is offered
    // (with 1024 pieces, scanning them all for a peer that had nothing new was a seventh of the simulator's time).
    let left = Infinity
    if (holder) {
      left = holder.wanted
      for (const piece of this.active.keys()) if (holder.has(piece)) left--
    }
    let best = -1
    let bestKey = Infinity
    for (let i = 0; i < this.opts.pieceCount && left > 0; i++) {
      if (this.have[i] || this.active.has(i)) continue
      if (holder) {
        if (!holder.has(i)) continue
        left--
      }
      if (!peerHas(i)) continue
      const key = (randomly ? 0 : this.availability[i]! * this.opts.pieceCount) + this.rank[i]!
      if (key < bestKey) {
        best = i
        bestKey = key
      }
    }
    return best
  }

  /** Every missing piece is started and every block of them asked for. */
  private inEndgame(): boolean {
    if (this.active.size < this.missing) return false
    for (const a of this.active.values()) if (a.requests.includes(0)) return false
    return true
  }

  private takeEndgame(peerHas: (piece: number) => boolean, max: number, alreadyAsked: (ref: BlockRef) => boolean, out: BlockRef[]): void {
    for (const [piece, a] of this.active) {
      if (!peerHas(piece)) continue
      for (let b = 0; b < a.requests.length && out.length < max; b++) {
        const ref = { piece, block: b }
        if (a.requests[b] !== RECEIVED && a.requests[b]! < 3 && !alreadyAsked(ref)) {
          a.requests[b]!++
          out.push(ref)
        }
      }
    }
  }
}
