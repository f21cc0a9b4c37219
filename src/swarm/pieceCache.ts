import { pieceSize } from '../torrent/layout.js'
import type { FileStorage } from '../storage/fileStorage.js'

/**
 * Recently served or verified pieces, so that uploads read each piece from disk once rather than once per
 * 16 KiB block, and a piece just downloaded is passed on without a disk read at all.
 */
export class PieceCache {
  private readonly entries = new Map<number, Promise<Uint8Array>>()

  constructor(private readonly storage: FileStorage, private readonly capacity: number) {}

  get(index: number): Promise<Uint8Array> {
    let entry = this.entries.get(index)
    if (entry) {
      this.entries.delete(index)
    } else {
      const { layout } = this.storage
      const buf = Buffer.allocUnsafe(pieceSize(layout, index))
      entry = this.storage.read(index * layout.pieceLength, buf).then(() => buf)
      entry.catch(() => this.entries.delete(index))
    }
    this.remember(index, entry)
    return entry
  }

  put(index: number, data: Uint8Array): void {
    this.entries.delete(index)
    this.remember(index, Promise.resolve(data))
  }

  private remember(index: number, entry: Promise<Uint8Array>): void {
    this.entries.set(index, entry)
    while (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!)
  }
}
