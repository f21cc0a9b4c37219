import type { PieceStore } from '../../src/storage/pieceStore.js'
import { pieceSize, type Layout } from '../../src/torrent/layout.js'

/** One scratch piece for every simulated host: contents are not modelled, so nothing is kept. */
let scratch = Buffer.alloc(0)

/** A store that holds nothing: every piece verifies at once, and the simulator's engines share one buffer. */
export class SimStore implements PieceStore {
  readonly dataLength: number

  constructor(readonly layout: Layout) {
    this.dataLength = layout.length
    if (scratch.length < layout.pieceLength) scratch = Buffer.alloc(layout.pieceLength)
  }

  dataPrefix(piece: number): number {
    return pieceSize(this.layout, piece)
  }

  dataBytes(piece: number): number {
    return pieceSize(this.layout, piece)
  }

  take(size: number): Buffer {
    return scratch.subarray(0, size)
  }

  give(): void {}

  verifyAndWrite(_piece: number, buf: Buffer): Promise<{ stored: boolean; data: Uint8Array }> {
    return Promise.resolve({ stored: true, data: buf })
  }

  read(_piece: number, buf: Uint8Array): Promise<Uint8Array> {
    return Promise.resolve(buf)
  }
}
