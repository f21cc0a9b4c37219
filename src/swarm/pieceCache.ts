import { pieceSize } from '../torrent/layout.js'
import type { FileStorage } from '../storage/fileStorage.js'

interface Entry {
  data: Promise<Uint8Array>
  /** A downloaded piece's own buffer, handed back on eviction if no upload ever used it. */
  downloaded?: Uint8Array
  served: boolean
}

/**
 * Recently served or verified pieces, so that uploads read each piece from disk once rather than once per
 * 16 KiB block, and a piece just downloaded is passed on without a disk read at all.
 */
export class PieceCache {
  private readonly entries = new Map<number, Entry>()

  constructor(private readonly storage: FileStorage, private readonly capacity: number, private readonly release: (buf: Uint8Array) => void) {}

  /** The piece for an upload. */
  get(index: number): Promise<Uint8Array> {
    let entry = this.entries.get(index)
    if (entry) {
      this.entries.delete(index)
    } else {
      const { layout } = this.storage
      const buf = Buffer.allocUnsafe(pieceSize(layout, index))
      const data = this.storage.read(index * layout.pieceLength, buf).then(() => buf)
      data.catch(() => this.entries.delete(index))
      entry = { data, served: false }
    }
    entry.served = true
    this.remember(index, entry)
    return entry.data
  }

  /** A piece just downloaded and verified. */
  put(index: number, data: Uint8Array): void {
    this.entries.delete(index)
    this.remember(index, { data: Promise.resolve(data), downloaded: data, served: false })
  }

  private remember(index: number, entry: Entry): void {
    this.entries.set(index, entry)
    while (this.entries.size > this.capacity) {
      const [oldest, evicted] = this.entries.entries().next().value!
      this.entries.delete(oldest)
      if (evicted.downloaded && !evicted.served) this.release(evicted.downloaded)
    }
  }
}
