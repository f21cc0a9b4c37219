// A scripted peer for the engine's unit tests: the engine's side of one connection, where the test plays the
// remote peer by emitting its messages and answering the requests the engine made, on a fake clock.
import { EventEmitter } from 'node:events'
import type { RequestCallback } from 'bittorrent-protocol'
import type { PeerWire, WireLink } from '../../src/swarm/peerWire.js'
import type { SimClock } from '../../bench/sim/simClock.js'

export interface SentRequest {
  piece: number
  offset: number
  length: number
  cb: RequestCallback
}

/** What the engine sent, in order; requests are kept with their callbacks until the test answers or fails them. */
export class FakeWire extends EventEmitter implements PeerWire {
  hasFast = true
  amChoking = true
  peerChoking = true
  amInterested = false
  peerInterested = false
  extendedHandshake: Record<string, unknown> = {}
  readonly sent: string[] = []
  readonly pending: SentRequest[] = []

  use(): void {}
  handshake = (): void => this.record('handshake')
  choke(): void {
    this.amChoking = true
    this.record('choke')
  }
  unchoke(): void {
    this.amChoking = false
    this.record('unchoke')
  }
  bitfield = (): void => this.record('bitfield')
  haveAll = (): void => this.record('have-all')
  haveNone = (): void => this.record('have-none')
  have = (index: number): void => this.record(`have ${index}`)
  interested(): void {
    this.amInterested = true
    this.record('interested')
  }
  uninterested(): void {
    this.amInterested = false
    this.record('uninterested')
  }
  request(piece: number, offset: number, length: number, cb: RequestCallback): void {
    this.pending.push({ piece, offset, length, cb })
  }
  cancel = (piece: number, offset: number): void => this.record(`cancel ${piece}:${offset}`)
  reject = (piece: number, offset: number): void => this.record(`reject ${piece}:${offset}`)

  private record(message: string): void {
    this.sent.push(message)
  }

  /** The remote peer sends the block of a pending request (by default the oldest). */
  answer(i = 0): SentRequest {
    const r = this.pending.splice(i, 1)[0]
    if (!r) throw new Error(`no request pending at ${i}`)
    r.cb(null, new Uint8Array(r.length))
    return r
  }

  /** The remote peer rejects every pending request (BEP 6), as bittorrent-protocol reports it. */
  rejectAll(): void {
    for (const r of this.pending.splice(0)) {
      r.cb(new Error('request was rejected'), null)
      this.emit('reject', r.piece, r.offset)
    }
  }
}

export interface FakeLink extends WireLink {
  readonly wire: FakeWire
  backlog: number
  closed: boolean
}

/** A link that closes at once (its wire emits `close`), with `backlog` bytes the test sets. */
export function fakeLink(address: string): FakeLink {
  const wire = new FakeWire()
  const link: FakeLink = {
    wire,
    address,
    backlog: 0,
    closed: false,
    onDrain: () => {},
    afterWrites: (fn) => fn(),
    resendExtendedHandshake: () => {},
    close() {
      if (link.closed) return
      link.closed = true
      wire.emit('close')
    },
  }
  return link
}

/**
 * Runs the fake clock's events for `ms`, leaving it `ms` later. What the test set going settles first, at the
 * current time (the clock lets promises settle only between its instants).
 */
export async function advance(clock: SimClock, ms: number): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve))
  const until = clock.now() + ms
  clock.after(ms, () => {})
  await clock.run(() => false, until)
}
