import { UserError } from '../errors.js'
import { validRequest, type Layout } from '../torrent/layout.js'
import type { Bitfield } from '../bitfield.js'
import type { Clock } from './clock.js'
import type { PeerConnection } from './peerConnection.js'
import type { PieceCache } from './pieceCache.js'
import type { TokenBucket } from './rateLimiter.js'

/** Requests a peer may have queued with us; more is a flood and drops the connection. */
export const MAX_QUEUED_UPLOADS = 500

/** Bytes a rate-limited upload sends at once (the limit's burst is never smaller: see TokenBucket). */
const LIMITED_BATCH = 64 * 1024

/** Largest block we serve: 16 KiB is the standard, 128 KiB the most any client asks. */
export const MAX_BLOCK_REQUEST = 128 * 1024

export interface UploaderHost {
  layout: Layout
  have: Bitfield
  cache: PieceCache
  limit: TokenBucket
  clock: Clock
  closed: () => boolean
  drop: (conn: PeerConnection, reason: string, ban?: boolean) => void
  /** Bytes sent, for the swarm's counters. */
  sent: (conn: PeerConnection, bytes: number) => void
  /** Whether to refuse (BEP 6 reject) this request rather than serve it; asked only of fast-extension peers. */
  refuse: (conn: PeerConnection, piece: number, offset: number) => boolean
  fatal: (err: UserError) => void
  /** A further limit on uploads to this peer now (WAN first holding back local peers), or null. */
  pace: (conn: PeerConnection) => Pace | null
}

/** A limit uploads wait on: a TokenBucket, or WanFirst. */
export interface Pace {
  /** Milliseconds before `bytes` may go. */
  delayFor(bytes: number): number
  take(bytes: number): void
}

/**
 * The upload side of the swarm: checks each request, queues it per connection, and answers in order, one
 * block at a time, pausing while the socket backlog is over its mark (bittorrent-protocol has no backpressure)
 * or while the shared upload limit says wait.
 */
export class Uploader {
  constructor(private readonly host: UploaderHost) {}

  request(conn: PeerConnection, index: number, offset: number, length: number, respond: (err: Error | null, block?: Uint8Array) => void): void {
    const { host } = this
    if (!validRequest(host.layout, index, offset, length, MAX_BLOCK_REQUEST)) {
      return host.drop(conn, `invalid request (piece ${index}, offset ${offset}, length ${length})`, true)
    }
    if (!host.have.get(index)) {
      if (conn.wire.hasFast) return conn.wire.reject(index, offset, length)
      return host.drop(conn, `request for piece ${index} we do not have`)
    }
    if (conn.wire.hasFast && host.refuse(conn, index, offset)) return conn.wire.reject(index, offset, length)
    if (conn.uploads.length >= MAX_QUEUED_UPLOADS) return host.drop(conn, 'request flood', true)
    conn.lastAskedAt = host.clock.now()
    conn.uploads.push({ index, offset, length, respond })
    void this.pump(conn)
  }

  private async pump(conn: PeerConnection): Promise<void> {
    if (conn.pumping) return
    conn.pumping = true
    const { host } = this
    try {
      while (conn.uploads.length > 0 && !host.closed() && !conn.link.closed) {
        if (conn.congested) {
          if (!conn.awaitingDrain) {
            conn.awaitingDrain = true
            conn.link.onDrain(() => {
              conn.awaitingDrain = false
              void this.pump(conn)
            })
          }
          return
        }
        const pace = host.pace(conn)
        const delayFor = (bytes: number) => Math.max(host.limit.delayFor(bytes), pace?.delayFor(bytes) ?? 0)
        if (delayFor(conn.uploads[0]!.length) > 0) {
          // Once a limit holds us back, wait for a batch's worth rather than a block's: the batch then leaves in
          // one write and the receiver wakes once for it, where a block every few milliseconds woke it per block.
          host.clock.after(delayFor(Math.max(LIMITED_BATCH, conn.uploads[0]!.length)), () => void this.pump(conn))
          return
        }
        const u = conn.uploads.shift()!
        host.limit.take(u.length)
        pace?.take(u.length)
        const piece = await host.cache.get(u.index)
        u.respond(null, piece.data.subarray(u.offset, u.offset + u.length))
        host.sent(conn, u.length)
        conn.link.afterWrites(piece.release)
      }
    } catch (err) {
      host.fatal(err instanceof UserError ? err : new UserError(`cannot read a piece to upload: ${(err as Error).message}`))
    } finally {
      conn.pumping = false
    }
  }
}
