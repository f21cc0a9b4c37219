import net from 'node:net'
import tls from 'node:tls'

/**
 * Every peer socket reads into this one buffer instead of a fresh 64 KiB buffer per read (Node's default):
 * on a fast link those buffers were most of a peer's garbage, and ~25 MB of its memory awaiting collection.
 * One buffer serves all sockets because a read is consumed before the next one lands: the wire parses it
 * synchronously and copies whatever it keeps (a block into its piece, other messages and leftovers aside).
 */
const READ_BUFFER = Buffer.allocUnsafeSlow(64 * 1024)

const FEED = Symbol('feed')
type Fed = net.Socket & { [FEED]?: ((chunk: Uint8Array) => void) | Uint8Array[] }

// Node calls it with the socket as `this`.
function onread(this: Fed, n: number, buf: Uint8Array): void {
  const chunk = buf.subarray(0, n)
  const feed = this[FEED]
  if (typeof feed === 'function') feed(chunk)
  else if (feed) feed.push(new Uint8Array(chunk)) // nobody reads yet: keep a copy
}

const reading = { buffer: READ_BUFFER, callback: onread as (n: number, buf: Uint8Array) => boolean }

/**
 * An outgoing peer connection reading into READ_BUFFER, from `localAddress` when given and of the peer's
 * family (an IPv4 source cannot reach an IPv6 peer).
 */
export function connectPeer(host: string, port: number, timeoutMs: number, localAddress?: string): net.Socket {
  return ours(net.connect({ host, port, timeout: timeoutMs, onread: reading, localAddress: sourceFor(host, localAddress) } as net.NetConnectOpts))
}

/** `localAddress` if it is of `host`'s family (an IPv4 source cannot reach an IPv6 peer). */
export function sourceFor(host: string, localAddress: string | undefined): string | undefined {
  return localAddress !== undefined && net.isIP(localAddress) === net.isIP(host) ? localAddress : undefined
}

/**
 * `ip` when this host has that address, so that connections go out from the address it announces: a client
 * that tracks peers by address (Transmission) otherwise takes two murder hosts for one. Undefined otherwise
 * (an address of a NAT in front, a name): the system picks the source as before.
 */
export function localSource(ip: string): Promise<string | undefined> {
  if (net.isIP(ip) === 0) return Promise.resolve(undefined)
  return new Promise((resolve) => {
    const probe = net.createServer()
    probe.once('error', () => resolve(undefined))
    probe.listen(0, ip, () => probe.close(() => resolve(ip)))
  })
}

/** An outgoing TLS peer connection, reading its decrypted bytes into READ_BUFFER too (a 16 KiB record a read). */
export function connectTlsPeer(options: tls.ConnectionOptions & Pick<net.TcpSocketConnectOpts, 'localAddress'>): tls.TLSSocket {
  return ours(tls.connect({ ...options, onread: reading } as tls.ConnectionOptions))
}

function ours<T extends net.Socket>(socket: T): T {
  (socket as Fed)[FEED] = []
  return socket
}

/**
 * The same for a connection a server accepted, which Node cannot be told to read into a given buffer: its
 * handle moves to a socket that does. The server must be created with `pauseOnConnect` so that nothing was
 * read yet; the new socket counts as the server's connection (server.close waits for it).
 */
export function adoptAccepted(accepted: net.Socket): net.Socket {
  const old = accepted as net.Socket & { _handle: unknown; _server: net.Server | null; server: net.Server | null }
  const socket = new net.Socket({ handle: old._handle, onread: reading } as net.SocketConstructorOpts) as typeof old
  socket.server = socket._server = old._server
  old._handle = null
  old._server = old.server = null
  return ours(socket)
}

/** Hands what the socket reads to `feed`; a chunk read into READ_BUFFER is only valid during the call. */
export function readInto(socket: net.Socket, feed: (chunk: Uint8Array) => void): void {
  const fed = socket as Fed
  if (!(FEED in fed)) {
    socket.on('data', feed)
    return
  }
  const early = fed[FEED]
  fed[FEED] = feed
  if (Array.isArray(early)) for (const c of early) feed(c)
}
