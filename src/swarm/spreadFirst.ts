/**
 * How long the source keeps refusing one peer a piece, from its first refusal; asked again after that, it serves.
 * A block asked again within it: the asker did not go elsewhere for it (a standard client).
 */
export const REFUSE_WINDOW_MS = 600
/**
 * The window for a piece only being sent, held by no other peer yet: it lands within a second or two, and the
 * asker (connected to its recipient, most likely) then fetches it there. Asked again sooner, with the source
 * serving, early peers took a second copy of the pieces in flight from it (0.45 copies with 30 peers).
 */
export const IN_FLIGHT_WINDOW_MS = 2000
/** While its uplink is idle, the source still refuses a piece that at least this many other peers hold. */
export const FEW_HOLDERS = 2

/**
 * The source's uplink is the swarm's scarcest resource: it should carry each piece about once and leave the
 * rest to the peers. With this policy the source refuses (BEP 6 reject) a request for a piece that other peers
 * hold or are being sent: while its uplink has other work, as soon as one other copy exists; while it is idle,
 * once two do (serving a piece only one peer holds then speeds the end and costs little). Holders include the
 * swarm's complete peers that the tracker counts, not only those connected to the source: complete peers close
 * their connections to it, and with a hundred peers arriving over a minute most copies are with them (serving
 * whoever it saw no holder for, the source uploaded 5 to 7 copies to 100 peers). Unlike super-seeding the peers
 * still choose what to ask for, so the uplink never waits on a reveal.
 *
 * No peer starves: one is refused a piece for at most a window from its first refusal, and a peer that asks for
 * it again after that (a murder peer does so unprompted only for a piece no other peer would give it) is served.
 * A peer that asks again at once for a block it was just refused does not go elsewhere for it (aria2c asks again
 * at once: 78,916 rejects in 6 s): refusing it only delays it, so it is never refused again, and a standard
 * client costs a refusal per block it had in flight, once. Pure bookkeeping; the swarm sends the rejects.
 */
export class SpreadFirst {
  /** Per piece, the connected peers the source has sent it to (or is sending it to). */
  private readonly sentTo = new Map<number, Set<string>>()
  /** Per peer and piece, when it was first refused. */
  private readonly refusing = new Map<string, Map<number, number>>()
  /** Per peer, when each block (`piece:offset`) was last refused. */
  private readonly refusedBlocks = new Map<string, Map<string, number>>()
  /** Peers that asked again at once for a block they were refused: served whatever they ask. */
  private readonly persistent = new Set<string>()

  constructor(private readonly windowMs = REFUSE_WINDOW_MS) {}

  /**
   * Whether to refuse `peer` a block of `piece` now; when not, the piece counts as sent to `peer`.
   * `holders`: other peers that have the piece (connected, and complete ones the tracker counts); `busy`:
   * other peers have requests waiting, so refusing costs the uplink nothing.
   */
  refuse(peer: string, piece: number, offset: number, holders: number, busy: boolean, now: number): boolean {
    let sent = this.sentTo.get(piece)
    if (sent?.has(peer)) return false
    // A peer sent the piece may hold it by now and be counted twice: that only makes the source refuse sooner.
    const copies = holders + (sent?.size ?? 0)
    if (this.persistent.has(peer) || copies < (busy ? 1 : FEW_HOLDERS) || this.windowOver(peer, piece, holders, now) || this.askedAtOnce(peer, piece, offset, now)) {
      if (!sent) this.sentTo.set(piece, (sent = new Set()))
      sent.add(peer)
      return false
    }
    return true
  }

  /** Starts the peer's window for the piece at its first refusal; true once it is over. */
  private windowOver(peer: string, piece: number, holders: number, now: number): boolean {
    let windows = this.refusing.get(peer)
    if (!windows) this.refusing.set(peer, (windows = new Map()))
    const since = windows.get(piece)
    if (since === undefined) windows.set(piece, now)
    return since !== undefined && now - since >= (holders > 0 ? this.windowMs : IN_FLIGHT_WINDOW_MS)
  }

  /** Records the block's refusal; true (and the peer persistent from now on) if it was refused just before. */
  private askedAtOnce(peer: string, piece: number, offset: number, now: number): boolean {
    let blocks = this.refusedBlocks.get(peer)
    if (!blocks) this.refusedBlocks.set(peer, (blocks = new Map()))
    const block = `${piece}:${offset}`
    const last = blocks.get(block)
    blocks.set(block, now)
    if (last === undefined || now - last >= this.windowMs) return false
    this.persistent.add(peer)
    this.refusedBlocks.delete(peer)
    return true
  }

  /** A peer left: pieces it was being sent no longer count as copies. */
  forget(peer: string): void {
    this.refusing.delete(peer)
    this.refusedBlocks.delete(peer)
    this.persistent.delete(peer)
    for (const sent of this.sentTo.values()) sent.delete(peer)
  }
}
