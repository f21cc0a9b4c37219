import type { Socket } from 'node:net'
import Wire from 'bittorrent-protocol'
import { readInto } from './socketInput.js'
import type { WireLink } from './peerWire.js'

/** Largest message accepted: a 16 KiB block plus header, a bitfield for 8 M pieces, or an extension message. */
export const MAX_MESSAGE_LENGTH = 1024 * 1024 + 64
/** How long a block request may stay unanswered before it is asked of someone else. */
export const REQUEST_TIMEOUT_MS = 30_000
/** A connection that has not completed the handshake by then is dropped. */
export const HANDSHAKE_TIMEOUT_MS = 10_000

type WireInternals = {
  _onMessageLength(buf: Uint8Array): void
  _onMessage(buf: Uint8Array): void
  _onPiece(index: number, offset: number, block: Uint8Array): void
  requests: { piece: number; offset: number; length: number }[]
  _write(data: Uint8Array, cb: (err: Error | null) => void): void
  _parserSize: number
  _parser: (buf: Uint8Array) => void
  _push(data: Uint8Array): boolean
  _finished: boolean
  _debug(...args: unknown[]): void
  downloadSpeed(bytes?: number): number
  uploadSpeed(bytes?: number): number
}

const noop = () => {}
const noRate = () => 0
/** bittorrent-protocol logs through the `debug` package, which only ever prints when DEBUG is set. */
const debugEnabled = (process.env['DEBUG'] ?? '') !== ''

const PIECE = 7
const EMPTY = new Uint8Array(0)

/**
 * Replaces bittorrent-protocol's input buffering, which concatenates every socket chunk onto the leftover
 * bytes (a copy of the whole stream, and most of the peer's garbage). Input chunks are transient (the shared
 * read buffer is overwritten by the next read), and so is the connection's carry buffer, where a message
 * that straddles reads is assembled: length prefixes and blocks, which are copied into their piece at once,
 * are handed on as views; any other message, which bittorrent-protocol may keep, is copied. So a block costs
 * no allocation, however the reads cut the stream.
 */
function zeroCopyInput(internals: WireInternals): void {
  let carry = new Uint8Array(16 * 1024 + 64)
  let carried = 0
  const deliver = (msg: Uint8Array) => {
    const parser = internals._parser
    const transient = parser !== internals._onMessageLength && !(parser === internals._onMessage && msg[0] === PIECE)
    parser.call(internals, transient ? new Uint8Array(msg) : msg) // (a Buffer's `slice` is a view)
  }
  internals._write = function (data, cb) {
    let off = 0
    if (carried > 0) {
      const size = internals._parserSize
      if (size > MAX_MESSAGE_LENGTH + 4) return cb(null) // parsing stopped after a protocol error
      if (size > carry.length) {
        const bigger = new Uint8Array(size)
        bigger.set(carry.subarray(0, carried))
        carry = bigger
      }
      const part = Math.min(size - carried, data.length)
      carry.set(data.subarray(0, part), carried)
      carried += part
      off = part
      if (carried < size) return cb(null)
      carried = 0
      deliver(carry.subarray(0, size))
    }
    while (data.length - off >= internals._parserSize) {
      const size = internals._parserSize
      deliver(size === 0 ? EMPTY : data.subarray(off, off + size))
      off += size
    }
    if (off < data.length && internals._parserSize <= MAX_MESSAGE_LENGTH + 4) {
      if (data.length - off > carry.length) carry = new Uint8Array(data.length - off)
      carry.set(data.subarray(off))
      carried = data.length - off
    }
    cb(null)
  }
}


/** Messages of a fixed size (id byte included); bittorrent-protocol would read a short one past its end as zeros. */
const FIXED_SIZES = new Map<number, [string, number]>([
  [0, ['choke', 1]], [1, ['unchoke', 1]], [2, ['interested', 1]], [3, ['not interested', 1]], [4, ['have', 5]],
  [6, ['request', 13]], [8, ['cancel', 13]], [9, ['port', 3]], [0x0d, ['suggest', 5]], [0x0e, ['have-all', 1]],
  [0x0f, ['have-none', 1]], [0x10, ['reject', 13]], [0x11, ['allowed-fast', 5]],
])

/** Why a message is malformed, or null. Unknown ids are left alone (BEP 3: ignore what you do not know). */
function malformed(buf: Uint8Array): string | null {
  const id = buf[0]!
  const fixed = FIXED_SIZES.get(id)
  if (fixed && buf.length !== fixed[1]) return `malformed ${fixed[0]} message (${buf.length} bytes instead of ${fixed[1]})`
  if (id === 7 && buf.length < 9) return `malformed piece message (${buf.length} bytes)`
  if (id === 20 && buf.length < 2) return 'malformed extended message (no extended id)'
  return null
}

/**
 * A protocol wire bound to a socket. bittorrent-protocol buffers whatever length a peer announces, so an
 * oversized length prefix is refused here before any memory is committed to it. Outgoing bytes are written
 * to the socket directly (not piped) so that `socket.writableLength` is the exact upload backlog.
 */
export function attachWire(socket: Socket, onProtocolError: (reason: string) => void): Wire {
  const wire = new Wire(socket.remoteAddress ? 'tcp' : '')
  const internals = wire as unknown as WireInternals
  const parseLength = internals._onMessageLength
  internals._onMessageLength = function (this: Wire, buf: Uint8Array) {
    const length = ((buf[0]! << 24) | (buf[1]! << 16) | (buf[2]! << 8) | buf[3]!) >>> 0
    if (length > MAX_MESSAGE_LENGTH) {
      onProtocolError(`message of ${length} bytes`)
      internals._parserSize = Number.MAX_VALUE // parse nothing more from this peer
      return
    }
    parseLength.call(this, buf)
  }
  const onMessage = internals._onMessage
  internals._onMessage = function (this: Wire, buf: Uint8Array) {
    const problem = malformed(buf)
    if (problem) {
      onProtocolError(problem)
      internals._parserSize = Number.MAX_VALUE
      return
    }
    onMessage.call(this, buf)
  }
  // bittorrent-protocol silently drops a block that matches no request of ours; the owner decides what that
  // means (a block we cancelled may still come, BEP 3; anything else is a protocol violation).
  const onPiece = internals._onPiece
  internals._onPiece = function (this: Wire, index: number, offset: number, block: Uint8Array) {
    if (!internals.requests.some((r) => r.piece === index && r.offset === offset && r.length === block.length)) {
      wire.emit('unrequested', index, offset, block.length)
      return
    }
    onPiece.call(this, index, offset, block)
  }
  zeroCopyInput(internals)
  socket.setNoDelay(true)
  // The socket feeds the parser and the wire writes to the socket directly: bittorrent-protocol's streamx
  // duplex in between cost a queue, a tick and an event per message both ways (a fifth of a peer's CPU).
  readInto(socket, (chunk) => internals._write(chunk, noop))
  // Messages pushed in one tick (a batch of requests, a block's header and data) leave in one writev.
  let corked = false
  internals._push = function (data: Uint8Array) {
    if (internals._finished || socket.destroyed) return false
    if (!corked) {
      corked = true
      socket.cork()
      process.nextTick(() => {
        corked = false
        socket.uncork()
      })
    }
    return socket.write(data)
  }
  // Its debug formatting runs on every message even when nobody listens.
  if (!debugEnabled) internals._debug = noop
  // Nor does anyone read its per-wire rate meters, which cost a clock read and an array per block each way
  // (3% of a paced peer's main thread); the swarm counts bytes itself.
  internals.downloadSpeed = internals.uploadSpeed = noRate
  const close = () => {
    socket.destroy()
    wire.destroy()
  }
  socket.on('error', close)
  socket.on('end', close)
  socket.on('close', close)
  wire.on('error', close)
  wire.on('end', close)
  wire.on('close', close)
  wire.setKeepAlive(true)
  wire.setTimeout(REQUEST_TIMEOUT_MS, true)
  return wire
}

/**
 * A swarm connection over a socket (plain or TLS). A protocol error becomes the wire's `protocol-error` event.
 * `address` defaults to the socket's remote end (an accepted connection; a dialed one is named as dialed).
 */
export function socketLink(socket: Socket, address = `${socket.remoteAddress}:${socket.remotePort}`): WireLink {
  const wire: Wire = attachWire(socket, (reason) => wire.emit('protocol-error', reason))
  return {
    wire,
    address,
    get backlog() {
      return socket.writableLength
    },
    get closed() {
      return socket.destroyed
    },
    onDrain: (fn) => void socket.once('drain', fn),
    // Writes complete in order: when this empty one has, the socket has taken everything before it.
    afterWrites: (fn) => void socket.write(EMPTY, () => fn()),
    resendExtendedHandshake() {
      const internals = wire as unknown as { _extendedHandshakeSent: boolean; _sendExtendedHandshake(): void }
      if (internals._extendedHandshakeSent) internals._sendExtendedHandshake()
    },
    close() {
      wire.destroy()
      socket.destroy()
    },
  }
}
