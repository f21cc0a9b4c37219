import type { Socket } from 'node:net'
import Wire from 'bittorrent-protocol'

/** Largest message accepted: a 16 KiB block plus header, a bitfield for 8 M pieces, or an extension message. */
export const MAX_MESSAGE_LENGTH = 1024 * 1024 + 64
/** How long a block request may stay unanswered before it is asked of someone else. */
export const REQUEST_TIMEOUT_MS = 30_000
/** A connection that has not completed the handshake by then is dropped. */
export const HANDSHAKE_TIMEOUT_MS = 10_000

type WireInternals = {
  _onMessageLength(buf: Uint8Array): void
  _write(data: Uint8Array, cb: (err: Error | null) => void): void
  _parserSize: number
  _parser: (buf: Uint8Array) => void
}

/**
 * Replaces bittorrent-protocol's input buffering, which concatenates every socket chunk onto the leftover
 * bytes (a copy of the whole stream, and most of the peer's garbage). Messages that lie inside one chunk are
 * handed on as views; only a message that straddles chunks is copied, once.
 */
function zeroCopyInput(internals: WireInternals): void {
  const chunks: Uint8Array[] = []
  let buffered = 0
  const take = (n: number): Uint8Array => {
    const first = chunks[0]!
    if (first.length >= n) {
      buffered -= n
      if (first.length === n) chunks.shift()
      else chunks[0] = first.subarray(n)
      return first.subarray(0, n)
    }
    const out = new Uint8Array(n)
    let filled = 0
    while (filled < n) {
      const c = chunks[0]!
      const part = Math.min(c.length, n - filled)
      out.set(c.subarray(0, part), filled)
      filled += part
      if (part === c.length) chunks.shift()
      else chunks[0] = c.subarray(part)
    }
    buffered -= n
    return out
  }
  internals._write = function (data, cb) {
    chunks.push(data)
    buffered += data.length
    while (buffered >= internals._parserSize) {
      internals._parser.call(internals, internals._parserSize === 0 ? new Uint8Array(0) : take(internals._parserSize))
    }
    cb(null)
  }
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
  zeroCopyInput(internals)
  socket.setNoDelay(true)
  socket.pipe(wire)
  // Messages pushed in one tick (a batch of requests, a block's header and data) leave in one writev.
  let corked = false
  wire.on('data', (chunk: Uint8Array) => {
    if (socket.destroyed) return
    if (!corked) {
      corked = true
      socket.cork()
      process.nextTick(() => {
        corked = false
        socket.uncork()
      })
    }
    socket.write(chunk)
  })
  const close = () => {
    socket.destroy()
    wire.destroy()
  }
  socket.on('error', close)
  socket.on('close', close)
  wire.on('error', close)
  wire.on('end', close)
  wire.on('close', close)
  wire.setKeepAlive(true)
  wire.setTimeout(REQUEST_TIMEOUT_MS, true)
  return wire
}
