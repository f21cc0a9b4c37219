/**
 * A scriptable BitTorrent peer for tests: the wire protocol spoken by hand over a raw net.Socket, so a test can
 * send anything (honest blocks, corrupt blocks, blocks never asked for, malformed messages, garbage) and see
 * exactly what murder sends back. Deliberately independent of bittorrent-protocol, which murder itself uses.
 */
import { EventEmitter } from 'node:events'
import { createHash } from 'node:crypto'
import net from 'node:net'
import { announce } from '../../src/tracker/client.js'

export const MSG = {
  choke: 0,
  unchoke: 1,
  interested: 2,
  notInterested: 3,
  have: 4,
  bitfield: 5,
  request: 6,
  piece: 7,
  cancel: 8,
  haveAll: 0x0e,
  haveNone: 0x0f,
  reject: 0x10,
  extended: 20,
} as const

export interface Message {
  /** -1 for a keep-alive. */
  id: number
  payload: Buffer
}

export interface RawPeerOptions {
  infoHash: Uint8Array
  peerId: Uint8Array
  /** Set the BEP 6 fast-extension bit in our handshake. */
  fast?: boolean
  /** Set the BEP 10 extension-protocol bit in our handshake. */
  extended?: boolean
}

/** Largest message a test peer buffers; murder never sends more than a block plus header. */
const MAX_INCOMING = 2 * 1024 * 1024

/** Peer ids that read as what they are in murder's logs: `-HT0001-` and a tag. */
export function testPeerId(tag: string): Buffer {
  return Buffer.concat([Buffer.from('-HT0001-'), createHash('sha1').update(tag).digest().subarray(0, 12)])
}

export function u32(...values: number[]): Buffer {
  const b = Buffer.alloc(4 * values.length)
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, 4 * i))
  return b
}

/** One framed message: length prefix, id, payload. */
export function frame(id: number, ...parts: Buffer[]): Buffer {
  const payload = Buffer.concat(parts)
  return Buffer.concat([u32(payload.length + 1), Buffer.from([id]), payload])
}

/**
 * One connection. Incoming bytes are parsed into `message` events after the remote handshake (`handshake`);
 * `close` fires once. Everything sent is written as given, so a test can also send malformed frames.
 */
export class RawPeer extends EventEmitter {
  remote: { reserved: Buffer; infoHash: Buffer; peerId: Buffer } | null = null
  /** Is the remote choking us (as it last said)? */
  peerChoking = true
  readonly received: Message[] = []
  readonly closed: Promise<void>
  private buf: Buffer = Buffer.alloc(0)
  private handshakeSent = false
  private isClosed = false

  constructor(readonly socket: net.Socket, readonly opts: RawPeerOptions) {
    super()
    socket.setNoDelay(true)
    this.closed = new Promise((resolve) => socket.once('close', () => {
      this.isClosed = true
      this.emit('close')
      resolve()
    }))
    socket.on('error', () => undefined)
    socket.on('data', (d: Buffer) => this.onData(d))
  }

  get isOpen(): boolean {
    return !this.isClosed && !this.socket.destroyed
  }

  handshake(): void {
    if (this.handshakeSent) return
    this.handshakeSent = true
    const reserved = Buffer.alloc(8)
    if (this.opts.fast) reserved[7]! |= 0x04
    if (this.opts.extended) reserved[5]! |= 0x10
    this.write(Buffer.concat([Buffer.from([19]), Buffer.from('BitTorrent protocol'), reserved, Buffer.from(this.opts.infoHash), Buffer.from(this.opts.peerId)]))
  }

  write(bytes: Buffer): void {
    if (this.isOpen) this.socket.write(bytes)
  }

  send(id: number, ...parts: Buffer[]): void {
    this.write(frame(id, ...parts))
  }

  unchoke(): void { this.send(MSG.unchoke) }
  interested(): void { this.send(MSG.interested) }
  haveAll(): void { this.send(MSG.haveAll) }
  have(index: number): void { this.send(MSG.have, u32(index)) }
  bitfield(bits: Buffer): void { this.send(MSG.bitfield, bits) }
  request(index: number, offset: number, length: number): void { this.send(MSG.request, u32(index, offset, length)) }
  piece(index: number, offset: number, block: Buffer): void { this.send(MSG.piece, u32(index, offset), block) }

  /** Resolves with the first message (already received or still to come) for which `match` holds. */
  nextMessage(match: (m: Message) => boolean, timeoutMs = 15_000): Promise<Message> {
    const found = this.received.find(match)
    if (found) return Promise.resolve(found)
    return new Promise((resolve, reject) => {
      const done = (f: () => void) => {
        clearTimeout(timer)
        this.off('message', onMessage)
        this.off('close', onClose)
        f()
      }
      const onMessage = (m: Message) => { if (match(m)) done(() => resolve(m)) }
      const onClose = () => done(() => reject(new Error('connection closed before the expected message')))
      const timer = setTimeout(() => done(() => reject(new Error(`no matching message within ${timeoutMs} ms`))), timeoutMs)
      this.on('message', onMessage)
      this.on('close', onClose)
      if (!this.isOpen) onClose()
    })
  }

  close(): void {
    this.socket.destroy()
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d])
    if (!this.remote) {
      if (this.buf.length < 68) return
      if (this.buf[0] !== 19 || this.buf.subarray(1, 20).toString() !== 'BitTorrent protocol') return this.close()
      this.remote = { reserved: this.buf.subarray(20, 28), infoHash: this.buf.subarray(28, 48), peerId: this.buf.subarray(48, 68) }
      this.buf = this.buf.subarray(68)
      this.emit('handshake', this.remote)
    }
    while (this.buf.length >= 4) {
      const length = this.buf.readUInt32BE(0)
      if (length > MAX_INCOMING) return this.close()
      if (this.buf.length < 4 + length) return
      const m: Message = length === 0 ? { id: -1, payload: Buffer.alloc(0) } : { id: this.buf[4]!, payload: Buffer.from(this.buf.subarray(5, 4 + length)) }
      this.buf = this.buf.subarray(4 + length)
      if (m.id === MSG.choke) this.peerChoking = true
      if (m.id === MSG.unchoke) this.peerChoking = false
      this.received.push(m)
      if (this.received.length > 10_000) this.received.splice(0, 5_000)
      this.emit('message', m)
    }
  }
}

/** Dials a peer and sends our handshake at once. */
export async function dialPeer(host: string, port: number, opts: RawPeerOptions): Promise<RawPeer> {
  const socket = net.connect({ host, port })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  const peer = new RawPeer(socket, opts)
  peer.handshake()
  return peer
}

export interface PeerServer {
  port: number
  /** Connections accepted so far. */
  readonly connections: number
  readonly peers: RawPeer[]
  close(): Promise<void>
}

/** Listens on loopback; every accepted connection is answered with our handshake once theirs arrives. */
export async function listenPeer(opts: RawPeerOptions, onPeer: (peer: RawPeer) => void): Promise<PeerServer> {
  const peers: RawPeer[] = []
  const server = net.createServer((socket) => {
    const peer = new RawPeer(socket, opts)
    peers.push(peer)
    peer.once('handshake', () => peer.handshake())
    onPeer(peer)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    get connections() { return peers.length },
    peers,
    close: () => new Promise<void>((resolve) => {
      for (const p of peers) p.close()
      server.close(() => resolve())
    }),
  }
}

/**
 * Registers a test peer with a tracker (as murder peers do, with `ip`), and keeps it registered by
 * re-announcing every `everyMs` until the returned function is called, which announces `stopped`.
 */
export async function announcePeer(
  trackerUrl: string,
  p: { infoHash: Uint8Array; peerId: Uint8Array; port: number; left: number; everyMs?: number; site?: string },
): Promise<() => Promise<void>> {
  const params = { infoHash: p.infoHash, peerId: p.peerId, port: p.port, ip: '127.0.0.1', uploaded: 0, downloaded: 0, left: p.left, numwant: 0, site: p.site }
  await announce(trackerUrl, { ...params, event: 'started' }, { timeoutMs: 5000 })
  const timer = setInterval(() => { announce(trackerUrl, params, { timeoutMs: 5000 }).catch(() => undefined) }, p.everyMs ?? 1000)
  timer.unref()
  return async () => {
    clearInterval(timer)
    await announce(trackerUrl, { ...params, event: 'stopped' }, { timeoutMs: 2000 }).catch(() => undefined)
  }
}

export interface ServeOptions {
  /** The torrent's byte stream (files concatenated in torrent order, padding as zeros). */
  data: Buffer
  pieceLength: number
  /** Stop answering (queue requests) once this many block bytes went out; `resume()` lifts it. */
  budget?: number
  /** Rewrites a block before it is sent (to corrupt it). */
  transform?: (index: number, offset: number, block: Buffer) => Buffer
}

export interface Server {
  /** Block bytes sent so far. */
  readonly served: number
  /** Resolves once the budget is spent. */
  readonly stalled: Promise<void>
  resume(): void
}

/**
 * Makes a connection behave as a seed: advertises every piece, unchokes whoever is interested and answers
 * requests from `data`, until the byte budget is spent (then requests wait, unanswered, for `resume`).
 */
export function serveAll(peer: RawPeer, opts: ServeOptions, shared?: { served: number; budget: number; waiting: (() => void)[]; onStall: () => void }): void {
  const pieceCount = Math.ceil(opts.data.length / opts.pieceLength)
  const state = shared ?? { served: 0, budget: opts.budget ?? Infinity, waiting: [], onStall: () => undefined }
  const queue: { index: number; offset: number; length: number }[] = []
  const pump = () => {
    while (queue.length > 0 && state.served < state.budget && peer.isOpen) {
      const r = queue.shift()!
      const start = r.index * opts.pieceLength + r.offset
      let block: Buffer = opts.data.subarray(start, start + r.length)
      if (opts.transform) block = opts.transform(r.index, r.offset, Buffer.from(block))
      peer.piece(r.index, r.offset, block)
      state.served += r.length
      if (state.served >= state.budget) state.onStall()
    }
  }
  state.waiting.push(pump)
  const advertise = () => {
    if (peer.opts.fast && peer.remote && (peer.remote.reserved[7]! & 0x04) !== 0) peer.haveAll()
    else {
      const bits = Buffer.alloc(Math.ceil(pieceCount / 8))
      for (let i = 0; i < pieceCount; i++) bits[i >> 3]! |= 0x80 >> (i & 7)
      peer.bitfield(bits)
    }
  }
  if (peer.remote) advertise()
  else peer.once('handshake', () => setImmediate(advertise))
  peer.on('message', (m: Message) => {
    if (m.id === MSG.interested) peer.unchoke()
    else if (m.id === MSG.request && m.payload.length === 12) {
      queue.push({ index: m.payload.readUInt32BE(0), offset: m.payload.readUInt32BE(4), length: m.payload.readUInt32BE(8) })
      pump()
    } else if (m.id === MSG.cancel && m.payload.length === 12) {
      const [index, offset, length] = [m.payload.readUInt32BE(0), m.payload.readUInt32BE(4), m.payload.readUInt32BE(8)]
      const i = queue.findIndex((r) => r.index === index && r.offset === offset && r.length === length)
      if (i >= 0) queue.splice(i, 1)
    }
  })
}

export interface FakeSeed extends Server {
  port: number
  peerId: Buffer
  readonly connections: number
  /** Stops announcing (announces `stopped`) and closes every connection. */
  close(): Promise<void>
}

/**
 * A seed played by the test: listens on loopback, registers with the tracker and serves every connection
 * from `data`, sharing one byte budget across connections so a test can stop a download exactly where it wants.
 */
export async function fakeSeed(opts: ServeOptions & { infoHash: Uint8Array; trackerUrl: string; tag: string }): Promise<FakeSeed> {
  const peerId = testPeerId(opts.tag)
  let onStall!: () => void
  const stalled = new Promise<void>((resolve) => (onStall = resolve))
  const shared = { served: 0, budget: opts.budget ?? Infinity, waiting: [] as (() => void)[], onStall }
  const server = await listenPeer({ infoHash: opts.infoHash, peerId, fast: true }, (peer) => serveAll(peer, opts, shared))
  const stop = await announcePeer(opts.trackerUrl, { infoHash: opts.infoHash, peerId, port: server.port, left: 0 })
  return {
    port: server.port,
    peerId,
    get connections() { return server.connections },
    get served() { return shared.served },
    stalled,
    resume() {
      shared.budget = Infinity
      for (const pump of shared.waiting) pump()
    },
    async close() {
      await stop()
      await server.close()
    },
  }
}
