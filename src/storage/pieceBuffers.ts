import { ownedBuffer } from './hashPool.js'

/**
 * Piece-sized buffers for assembling downloads and reading uploads, reused: V8 runs a major garbage
 * collection for about every 64 MiB of new buffers, so allocating a fresh piece each time cost the peer more
 * CPU than anything else on a fast link. A buffer comes back when its piece failed its hash, or left the
 * upload cache and no socket still holds bytes of it.
 */
export class PieceBuffers {
  private readonly free: Buffer[] = []

  constructor(private readonly pieceLength: number, private readonly max: number) {}

  /** A buffer of `size` bytes owning its memory (hashing transfers it); stale content, to be overwritten. */
  take(size: number): Buffer {
    return (size === this.pieceLength && this.free.pop()) || ownedBuffer(size)
  }

  give(buf: Uint8Array): void {
    if (buf.byteLength === this.pieceLength && buf.byteOffset === 0 && buf.buffer.byteLength === this.pieceLength && this.free.length < this.max) {
      this.free.push(Buffer.from(buf.buffer, 0, this.pieceLength))
    }
  }
}
