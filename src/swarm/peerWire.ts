import type Wire from 'bittorrent-protocol'

/**
 * What the swarm engine uses of a BitTorrent connection: bittorrent-protocol's Wire over a socket for the
 * commands (wire.ts), a modelled link in the simulator (bench/sim). Events: handshake, extended, bitfield,
 * have-all, have, request, reject, unrequested, choke, unchoke, interested, uninterested, timeout, close and
 * protocol-error (a malformed or oversized message: the peer is banned).
 */
export type PeerWire = Pick<Wire,
  | 'hasFast' | 'amChoking' | 'peerChoking' | 'amInterested' | 'peerInterested' | 'extendedHandshake' | 'use' | 'handshake'
  | 'choke' | 'unchoke' | 'interested' | 'uninterested' | 'have' | 'bitfield' | 'haveAll' | 'haveNone' | 'request' | 'cancel' | 'reject'> & {
  on(event: string, listener: (...args: any[]) => void): unknown
  once(event: string, listener: (...args: any[]) => void): unknown
}

/** A connection to one peer: its wire, and what the engine needs of the link under it. */
export interface WireLink {
  readonly wire: PeerWire
  /** The remote `ip:port`. */
  readonly address: string
  /** Bytes written that the network has not taken yet: the upload backlog (bittorrent-protocol has no backpressure). */
  readonly backlog: number
  readonly closed: boolean
  /** Calls `fn` once, when the backlog has drained. */
  onDrain(fn: () => void): void
  /** Calls `fn` once everything written so far has been taken (the memory of a block sent may then be reused). */
  afterWrites(fn: () => void): void
  /** Sends our extended handshake again if it already went out (BEP 10 allows a later one). */
  resendExtendedHandshake(): void
  close(): void
}

/** Makes connections to peers. */
export interface WireDialer {
  /** `opened` gets the link once it may carry BitTorrent; `ended` is called once when the attempt is over, opened or not. */
  dial(ip: string, port: number, opened: (link: WireLink) => void, ended: () => void): void
}
