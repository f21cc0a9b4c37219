import type net from 'node:net'
import type { Logger } from '../log.js'
import type { WireDialer } from './peerWire.js'
import { adoptAccepted, connectPeer } from './socketInput.js'
import { HANDSHAKE_TIMEOUT_MS, socketLink } from './wire.js'

/** How peer connections are made and taken: plain TCP, or TLS for an SSL torrent (tls.ts). */
export interface PeerTransport {
  /**
   * Dials a peer, from `localAddress` when given (see localSource); `ready` is called once the connection may
   * carry BitTorrent (errors and close are socket events).
   */
  connect(ip: string, port: number, timeoutMs: number, ready: (socket: net.Socket) => void, localAddress?: string): net.Socket
  /** Takes a connection as the listener accepted it (paused, nothing read); `ready` as for `connect`. */
  accept(raw: net.Socket, ready: (socket: net.Socket) => void): void
}

/** Dials a peer; `ready` is called once the connection may carry BitTorrent. */
export type Dial = PeerTransport['connect']

export const plainTransport: PeerTransport = {
  connect(ip, port, timeoutMs, ready, localAddress) {
    const socket = connectPeer(ip, port, timeoutMs, localAddress)
    socket.once('connect', () => ready(socket))
    return socket
  },
  accept: (raw, ready) => ready(adoptAccepted(raw)),
}

/** The swarm's dialer over sockets: a connection not ready within the handshake timeout is given up. */
export function socketDialer(transport: PeerTransport, logger: Logger, localAddress?: string): WireDialer {
  return {
    dial(ip, port, opened, ended) {
      const address = `${ip}:${port}`
      const socket = transport.connect(ip, port, HANDSHAKE_TIMEOUT_MS, () => {
        ended()
        socket.setTimeout(0)
        opened(socketLink(socket, address))
      }, localAddress)
      socket.once('timeout', () => socket.destroy())
      socket.once('error', (err) => logger.debug({ peer: address, err: err.message }, 'connect failed'))
      socket.once('close', ended)
    },
  }
}
