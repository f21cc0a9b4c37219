/** BEP 9 metadata pieces are 16 KiB, the last one shorter. */
export const METADATA_PIECE_LENGTH = 16 * 1024
/** Larger info dictionaries are refused (ut_metadata's cap too): about 600 pieces. */
export const MAX_METADATA_SIZE = 10_000_000
/** A piece asked of a peer that has not answered by then is also asked of another; the first may still answer. */
export const METADATA_RETRY_MS = 5_000

/**
 * Which metadata piece to ask of which peer (BEP 9), apart from the sockets. One request outstanding per peer:
 * rtorrent (libtorrent 0.13) drops a request that arrives while one is pending, and a metadata piece is 16 KiB,
 * so that costs a round trip per piece and nothing else. Different peers are asked different pieces at once; a
 * piece unanswered for METADATA_RETRY_MS goes to another idle peer as well, and a slow peer is kept (its late
 * answer counts).
 */
export class MetadataPieces<P> {
  readonly count: number
  private readonly pieces: (Uint8Array | undefined)[]
  /** The peers that sent the pieces held. */
  readonly senders = new Set<P>()
  private readonly asked = new Map<P, { piece: number; at: number }>()
  private readonly refused = new Map<P, Set<number>>()
  private held = 0

  constructor(readonly size: number) {
    this.count = Math.ceil(size / METADATA_PIECE_LENGTH)
    this.pieces = new Array<Uint8Array | undefined>(this.count)
  }

  /** The piece to ask of `peer` now, or null: it has a request outstanding, or nothing is left to ask of it. */
  next(peer: P, now: number): number | null {
    if (this.asked.has(peer)) return null
    const refused = this.refused.get(peer)
    let overdue: number | null = null
    for (let piece = 0; piece < this.count; piece++) {
      if (this.pieces[piece] || refused?.has(piece)) continue
      const askedAt = [...this.asked.values()].filter((a) => a.piece === piece).map((a) => a.at)
      if (askedAt.length === 0) return this.ask(peer, piece, now)
      if (overdue === null && askedAt.every((at) => now - at >= METADATA_RETRY_MS)) overdue = piece
    }
    return overdue === null ? null : this.ask(peer, overdue, now)
  }

  private ask(peer: P, piece: number, now: number): number {
    this.asked.set(peer, { piece, at: now })
    return piece
  }

  /**
   * A piece `peer` sent: 'ignored' when we had not asked it for that piece, 'bad' when its length is wrong,
   * the whole metadata once every piece is in (check its hash), else 'more'.
   */
  received(peer: P, piece: number, data: Uint8Array): 'ignored' | 'bad' | 'more' | Uint8Array {
    if (this.asked.get(peer)?.piece !== piece) return 'ignored'
    this.asked.delete(peer)
    const length = piece === this.count - 1 ? this.size - piece * METADATA_PIECE_LENGTH : METADATA_PIECE_LENGTH
    if (data.length !== length) return 'bad'
    if (this.pieces[piece]) return 'more'
    this.pieces[piece] = Uint8Array.from(data)
    this.senders.add(peer)
    if (++this.held < this.count) return 'more'
    const whole = new Uint8Array(this.size)
    this.pieces.forEach((p, i) => whole.set(p!, i * METADATA_PIECE_LENGTH))
    return whole
  }

  /** `peer` has not got `piece` (a BEP 9 reject): it is not asked for it again. */
  rejected(peer: P, piece: number): void {
    if (this.asked.get(peer)?.piece === piece) this.asked.delete(peer)
    let set = this.refused.get(peer)
    if (!set) this.refused.set(peer, (set = new Set()))
    set.add(piece)
  }

  /** True when `peer` has refused every piece still missing: it cannot help. */
  useless(peer: P): boolean {
    const refused = this.refused.get(peer)
    return refused !== undefined && this.pieces.every((p, i) => p !== undefined || refused.has(i))
  }

  gone(peer: P): void {
    this.asked.delete(peer)
    this.refused.delete(peer)
  }

  /** The metadata did not match the info hash: starts over, and returns the peers that sent any of it. */
  discard(): Set<P> {
    const senders = new Set(this.senders)
    this.senders.clear()
    this.pieces.fill(undefined)
    this.held = 0
    for (const p of senders) this.gone(p)
    return senders
  }
}
