import { chooseUnchoked, type ChokeCandidate } from './choker.js'
import type { Clock, Timer } from './clock.js'
import type { Bitfield } from '../bitfield.js'
import type { PeerConnection } from './peerConnection.js'

/**
 * BitTorrent's rounds are 10 s. With a few slots among many peers, 3 s let the holders of new pieces pass them
 * on sooner: 100 targets in the simulator were done 8.78 s against 10.68 s at 64 MiB (same at 16 MiB).
 */
const CHOKE_ROUND_MS = 3_000
/**
 * Share of its upload slots a remote site's bridge gives first to other sites' bridges that fetch from it. Busy
 * with their own sites, bridges choked each other (10.9 of a bridge's 12.4 connections to them, 10 sites of 50 in
 * the simulator) while they held most of what its site lacked, and the source's site's peers feeding it lagged
 * their site's newest pieces. Half of the slots: with every slot first for them, the bridges' own sites starved (17.82 s against
 * 10.70 s); with two, the remote sites of 1000 targets on 1 GiB took in 0.66-0.77 of a line rate across while
 * their bridges' uplinks idled at 0.2-0.3, and finished up to 18 s after the source's site.
 */
const ACROSS_SHARE = 0.5
/**
 * A peer this far behind (a share of the tree) the median peer interested in us gets a round's rotating slot first
 * (see chooseUnchoked). In the simulator, 5 sites of 100 on 256 MiB: a late peer that finished at 35.00 s, its
 * site's median at 28.6, was done with the others (all done 29.54 s); one site of 100 on 256 MiB 27.64 -> 26.84 s.
 */
const LAG_SHARE = 0.05

/** A connection's rank for an upload slot beside its rate (see ChokeRounds). */
export type SlotPriority = 'first' | 'few' | undefined

/**
 * Applies the choker (choker.ts) to the swarm's connections: every round, from the rates measured over it, and
 * soon after anything that changes who wants what (a peer connected, left, became interested or not), once
 * however many such events come together.
 */
export class ChokeRounds {
  private timer: Timer | null = null
  private scheduled = false
  private optimistic: string | null = null
  /** Of the 'few' (see the constructor), how many are served first. */
  private readonly acrossSlots: number

  /**
   * Each connection's place among equals (the same rate, as all are at first): our own random order. In the
   * peer ids' order, shared by every peer, everyone's first slots went to the same few peers, whose downlinks
   * then could not take it all while the rest waited (simulator, 250 targets on 64 MiB: in the first 2 s the
   * uplinks ran at 0.52 of their rate against 0.73; median done 8.36-8.50 -> 7.52-7.90 s; 100 on 16 MiB 3.24 ->
   * 2.58 s, the source 1.19 -> 1.03 copies).
   */
  private readonly ties = new WeakMap<PeerConnection, number>()

  /**
   * `priority`, asked once a choice: how each connection ranks this time, whatever its rate. 'first' is served
   * before the others (a peer across a WAN link, see WanFirst); of the 'few', the fastest `acrossSlots` are too.
   */
  constructor(
    private readonly clock: Clock, private readonly maxUploads: number, private readonly conns: ReadonlySet<PeerConnection>, private readonly random: () => number,
    private readonly priority: () => (c: PeerConnection) => SlotPriority,
    /** What we hold: while we fetch too, a peer far behind gets the rotating slot first; a seed just takes turns. */
    private readonly have: Bitfield,
  ) {
    this.acrossSlots = Math.floor(maxUploads * ACROSS_SHARE)
  }

  start(): void {
    this.timer = this.clock.every(CHOKE_ROUND_MS, () => this.round())
  }

  stop(): void {
    this.timer?.cancel()
  }

  schedule(): void {
    if (this.scheduled) return
    this.scheduled = true
    this.clock.soon(() => {
      this.scheduled = false
      this.apply(false)
    })
  }

  private round(): void {
    for (const c of this.conns) {
      c.rate = (c.roundDown + c.roundUp) / (CHOKE_ROUND_MS / 1000)
      c.roundDown = 0
      c.roundUp = 0
    }
    this.apply(true)
  }

  private tieOf(c: PeerConnection): number {
    let tie = this.ties.get(c)
    if (tie === undefined) this.ties.set(c, (tie = this.random()))
    return tie
  }

  /** `rotate`: a round moves the rotating slot on; a change of interest does not (see chooseUnchoked). */
  private apply(rotate: boolean): void {
    const candidates: { -readonly [K in keyof ChokeCandidate]: ChokeCandidate[K] }[] = []
    const few: typeof candidates = []
    const priorityOf = this.priority()
    for (const c of this.conns) {
      if (!c.handshaken) continue
      const priority = priorityOf(c)
      const held = c.pieces === 'all' ? this.have.length : c.pieces.count
      const k = { id: c.id, interested: c.wire.peerInterested, rate: c.rate, first: priority === 'first', tie: this.tieOf(c), held }
      candidates.push(k)
      if (priority === 'few' && k.interested) few.push(k)
    }
    if (few.length > this.acrossSlots) few.sort((a, b) => b.rate - a.rate || (a.tie ?? 0) - (b.tie ?? 0))
    for (const k of few.slice(0, this.acrossSlots)) k.first = true
    const lagBehind = this.have.complete ? Infinity : LAG_SHARE * this.have.length
    const decision = chooseUnchoked(candidates, this.maxUploads, this.optimistic, rotate, lagBehind)
    this.optimistic = decision.optimistic
    const crowded = candidates.length > this.maxUploads
    for (const c of this.conns) {
      if (!c.handshaken) continue
      if (decision.unchoke.has(c.id)) c.wire.unchoke()
      else if (!c.wire.peerInterested || crowded) {
        c.wire.choke()
        if (c.uploads.length > 0) c.uploads.length = 0
      }
    }
  }
}
