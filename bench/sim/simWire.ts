import { EventEmitter } from 'node:events'
import type { Extensions, RequestCallback } from 'bittorrent-protocol'
import type { PeerWire, WireLink } from '../../src/swarm/peerWire.js'
import type { Flow } from './network.js'
import type { SimClock } from './simClock.js'

/** Message sizes on the wire (length prefix included): what a flow carries for each. */
const HANDSHAKE = 68
const SMALL = 5
const HAVE = 9
const REQUEST = 17
const PIECE_HEADER = 13
const EXTENDED_HANDSHAKE = 120

/**
 * Haves sent on a flow with nothing queued, by arrival instant: one clock event an instant delivers them all.
 * Haves are most of a large run's messages (each verified piece is told to every connection, 80 in a fleet);
 * as flow messages each one woke its flow for a tick, took a transmit and an arrival batch, and a closure.
 * Their 9 bytes are left out of the links' shares, and they no longer wait for the next tick to leave. They
 * keep their flow's order: anything sent after them leaves at a tick no earlier and arrives no sooner.
 */
class HaveMail {
  private readonly due = new Map<number, { wires: SimWire[]; pieces: number[] }>()

  constructor(private readonly clock: SimClock) {}

  post(from: SimWire, piece: number): void {
    const delayMs = from.out.delayMs
    const at = this.clock.now() + delayMs
    let batch = this.due.get(at)
    if (!batch) {
      this.due.set(at, (batch = { wires: [], pieces: [] }))
      this.clock.after(delayMs, () => this.deliver(at))
    }
    batch.wires.push(from)
    batch.pieces.push(piece)
  }

  private deliver(at: number): void {
    const { wires, pieces } = this.due.get(at)!
    this.due.delete(at)
    // As a flow's batch: nothing arrives once either end closed.
    for (let i = 0; i < wires.length; i++) if (!wires[i]!.out.closed && !wires[i]!.peer.closed) wires[i]!.peer.emit('have', pieces[i])
  }
}

const mail = new WeakMap<object, HaveMail>()

function haveMail(flow: Flow): HaveMail {
  let m = mail.get(flow.net)
  if (!m) mail.set(flow.net, (m = new HaveMail(flow.net.clock)))
  return m
}

/** Block contents are not modelled: every block is zeros, from one buffer, one view per block length. */
const ZEROS = new Uint8Array(128 * 1024)
const blocks = new Map<number, Uint8Array>()

function zeros(length: number): Uint8Array {
  let block = blocks.get(length)
  if (!block) blocks.set(length, (block = ZEROS.subarray(0, length)))
  return block
}

/**
 * Why a request failed: one Error of each, made once (the engine reads none of their stacks, and making one per
 * refused block was a twentieth of a large run).
 */
const CHOKING = new Error('peer is choking')
const CLOSED = new Error('wire is closed')
const CANCELLED = new Error('request was cancelled')
const REJECTED = new Error('request was rejected')

function key(index: number, offset: number): number {
  return index * 2 ** 26 + offset
}

function encodeValue(v: unknown): unknown {
  return typeof v === 'string' ? new TextEncoder().encode(v) : v
}

/**
 * One end of a simulated BitTorrent connection, with bittorrent-protocol's semantics for what the engine uses
 * (the fast extension's rejects, choke, cancel, requests matched to blocks) and none of its bytes: each
 * message is a size on a flow of the network model, and its effect happens at the other end on arrival.
 */
export class SimWire extends EventEmitter implements PeerWire {
  hasFast = false
  peerChoking = true
  amChoking = true
  amInterested = false
  peerInterested = false
  extendedHandshake: Record<string, unknown> = {}
  peer!: SimWire
  private handshakeSent = false
  private peerHandshake = false
  private fastWanted = false
  private peerFast = false
  extendedSent = false
  private readonly requests = new Map<number, { length: number; cb: RequestCallback }>()
  private readonly peerRequests = new Map<number, object>()
  closed = false

  /** The network's have mailbox, looked up once rather than at every have. */
  private readonly mail: HaveMail

  constructor(readonly out: Flow) {
    super()
    this.mail = haveMail(out)
  }

  /** Joins two ends; a message arriving at an end that has closed is dropped. */
  static pair(a: SimWire, b: SimWire): void {
    a.peer = b
    b.peer = a
    a.out.receiver = b
    b.out.receiver = a
  }

  private send(size: number, deliver: () => void): void {
    if (!this.closed) this.out.push(size, deliver)
  }

  use(): void {}

  handshake(infoHash: Uint8Array | string, peerId: Uint8Array | string, extensions?: Extensions): void {
    const hex = (v: Uint8Array | string) => (typeof v === 'string' ? v : Buffer.from(v).toString('hex'))
    this.fastWanted = !!extensions?.fast
    this.handshakeSent = true
    this.hasFast = this.fastWanted && this.peerFast
    const ext = { fast: this.fastWanted, extended: true }
    this.send(HANDSHAKE, () => this.peer.onHandshake(hex(infoHash), hex(peerId), ext))
    if (this.peerHandshake && !this.extendedSent) this.sendExtended()
  }

  private onHandshake(infoHash: string, peerId: string, ext: Extensions): void {
    this.peerFast = !!ext.fast
    this.peerHandshake = true
    this.hasFast = this.fastWanted && this.peerFast
    this.emit('handshake', infoHash, peerId, ext)
    if (this.handshakeSent && !this.extendedSent) this.sendExtended()
  }

  sendExtended(): void {
    this.extendedSent = true
    const msg = Object.fromEntries(Object.entries(this.extendedHandshake).map(([k, v]) => [k, encodeValue(v)]))
    this.send(EXTENDED_HANDSHAKE, () => this.peer.emit('extended', 'handshake', msg))
  }

  choke(): void {
    if (this.amChoking) return
    this.amChoking = true
    this.send(SMALL, () => this.peer.onChoke())
    // BEP 6: choking rejects what the peer asked; without it, its requests are simply dropped.
    for (const k of [...this.peerRequests.keys()]) {
      this.peerRequests.delete(k)
      const index = Math.floor(k / 2 ** 26)
      if (this.hasFast) this.send(REQUEST, () => this.peer.onReject(index, k - index * 2 ** 26))
    }
  }

  unchoke(): void {
    if (!this.amChoking) return
    this.amChoking = false
    this.send(SMALL, () => this.peer.onUnchoke())
  }

  private onChoke(): void {
    this.peerChoking = true
    this.emit('choke')
    if (!this.hasFast) this.failAll(CHOKING)
  }

  private onUnchoke(): void {
    this.peerChoking = false
    this.emit('unchoke')
  }

  interested(): void {
    if (this.amInterested) return
    this.amInterested = true
    this.send(SMALL, () => this.peer.setPeerInterested(true))
  }

  uninterested(): void {
    if (!this.amInterested) return
    this.amInterested = false
    this.send(SMALL, () => this.peer.setPeerInterested(false))
  }

  private setPeerInterested(on: boolean): void {
    this.peerInterested = on
    this.emit(on ? 'interested' : 'uninterested')
  }

  have(index: number): void {
    if (this.closed) return
    // Nothing ahead of it on the flow: it arrives one delay from now, past the bandwidth model (see HaveMail).
    if (this.out.idle) this.mail.post(this, index)
    else this.send(HAVE, () => this.peer.emit('have', index))
  }

  bitfield(bits: Uint8Array): void {
    const copy = Uint8Array.from(bits)
    this.send(SMALL + copy.length, () => this.peer.emit('bitfield', { buffer: copy }))
  }

  haveAll(): void {
    this.send(SMALL, () => this.peer.emit('have-all'))
  }

  haveNone(): void {
    this.send(SMALL, () => this.peer.emit('have-none'))
  }

  request(index: number, offset: number, length: number, cb: RequestCallback): void {
    if (this.closed) return cb(CLOSED, null)
    if (this.peerChoking) return cb(CHOKING, null)
    this.requests.set(key(index, offset), { length, cb })
    this.send(REQUEST, () => this.peer.onRequest(index, offset, length))
  }

  private onRequest(index: number, offset: number, length: number): void {
    if (this.amChoking) {
      if (this.hasFast) this.reject(index, offset)
      return
    }
    const k = key(index, offset)
    const token = {}
    this.peerRequests.set(k, token)
    const respond = (err: Error | null) => {
      if (this.peerRequests.get(k) !== token) return
      this.peerRequests.delete(k)
      if (err) {
        if (this.hasFast) this.reject(index, offset)
        return
      }
      this.send(PIECE_HEADER + length, () => this.peer.onPiece(index, offset, length))
    }
    this.emit('request', index, offset, length, respond)
  }

  private onPiece(index: number, offset: number, length: number): void {
    const k = key(index, offset)
    const r = this.requests.get(k)
    if (!r || r.length !== length) {
      this.emit('unrequested', index, offset, length)
      return
    }
    this.requests.delete(k)
    r.cb(null, zeros(length))
  }

  cancel(index: number, offset: number, _length?: number): void {
    const k = key(index, offset)
    const r = this.requests.get(k)
    if (r) {
      this.requests.delete(k)
      r.cb(CANCELLED, null)
    }
    this.send(REQUEST, () => this.peer.peerRequests.delete(k))
  }

  reject(index: number, offset: number, _length?: number): void {
    this.peerRequests.delete(key(index, offset))
    this.send(REQUEST, () => this.peer.onReject(index, offset))
  }

  private onReject(index: number, offset: number): void {
    const k = key(index, offset)
    const r = this.requests.get(k)
    if (r) {
      this.requests.delete(k)
      r.cb(REJECTED, null)
    }
    this.emit('reject', index, offset)
  }

  private failAll(err: Error): void {
    const pending = [...this.requests.values()]
    this.requests.clear()
    for (const r of pending) r.cb(err, null)
  }

  /** The connection ended (either end closed it): pending requests fail, as on a closed socket. */
  ended(): void {
    if (this.closed) return
    this.closed = true
    this.out.close()
    this.failAll(CLOSED)
    this.emit('close')
  }
}

/** The engine's view of one end: the wire and the flow it sends on. */
export function simLink(wire: SimWire, address: string, closeDelayMs: number, after: (ms: number, fn: () => void) => void): WireLink {
  return {
    wire,
    address,
    get backlog() {
      return wire.out.backlog
    },
    get closed() {
      return wire.closed
    },
    onDrain: (fn) => wire.out.onDrain(fn),
    afterWrites: (fn) => wire.out.push(0, null, fn),
    resendExtendedHandshake: () => {
      if (wire.extendedSent) wire.sendExtended()
    },
    close() {
      if (wire.closed) return
      // This end learns at once (as the socket's close); the other end one delay later.
      after(0, () => wire.ended())
      after(closeDelayMs, () => wire.peer.ended())
    },
  }
}
