import type { Socket } from 'node:net'
import Wire from 'bittorrent-protocol'

/** Largest message accepted: a 16 KiB block plus header, a bitfield for 8 M pieces, or an extension message. */
export const MAX_MESSAGE_LENGTH = 1024 * 1024 + 64
/** How long a block request may stay unanswered before it is asked of someone else. */
export const REQUEST_TIMEOUT_MS = 30_000
/** A connection that has not completed the handshake by then is dropped. */
export const HANDSHAKE_TIMEOUT_MS = 10_000

type WireInternals = { _onMessageLength(buf: Uint8Array): void }

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
      return
    }
    parseLength.call(this, buf)
  }
  socket.setNoDelay(true)
  socket.pipe(wire)
  wire.on('data', (chunk: Uint8Array) => {
    if (!socket.destroyed) socket.write(chunk)
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
