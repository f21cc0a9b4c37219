import type { PieceStore } from '../storage/pieceStore.js'

/** Where piece memory comes from and goes back to. */
type PieceMemory = Pick<PieceStore, 'take' | 'give'>

/** Where pieces not in the cache come from. */
export interface PieceSource {
  size(index: number): number
  /** Fills `buf` with the piece; resolves with the buffer holding it (the same memory, maybe another view). */
  read(index: number, buf: Uint8Array): Promise<Uint8Array>
}

interface Entry {
  data: Promise<Uint8Array>
  /** The buffer once known (a disk read fills it later). */
  buf: Uint8Array | null
  /** Uploads of this piece whose bytes the socket has not taken yet. */
  pins: number
  evicted: boolean
}

/** A cached piece lent to an upload: `release` once the socket has taken the bytes sent from it. */
export interface Lent {
  data: Uint8Array
  release: () => void
}

/**
 * Recently served or verified pieces, so that uploads read each piece from disk once rather than once per
 * 16 KiB block, and a piece just downloaded is passed on without a disk read at all. A piece leaving the
 * cache goes back to the piece buffers once no socket still holds bytes of it.
 */
export class PieceCache {
  private readonly entries = new Map<number, Entry>()

  constructor(private readonly source: PieceSource, private readonly capacity: number, private readonly buffers: PieceMemory) {}

  /** The piece for an upload. */
  async get(index: number): Promise<Lent> {
    let entry = this.entries.get(index)
    if (entry) {
      this.entries.delete(index)
    } else {
      const data = this.source.read(index, this.buffers.take(this.source.size(index)))
      data.catch(() => this.entries.delete(index))
      entry = { data, buf: null, pins: 0, evicted: false }
      void data.then((b) => { entry!.buf = b }, () => undefined)
    }
    const lent = entry
    lent.pins++
    this.remember(index, lent)
    try {
      return { data: await lent.data, release: () => this.unpin(lent) }
    } catch (err) {
      this.unpin(lent)
      throw err
    }
  }

  /** A piece just downloaded and verified. */
  put(index: number, data: Uint8Array): void {
    const old = this.entries.get(index)
    if (old) this.evict(index, old)
    this.remember(index, { data: Promise.resolve(data), buf: data, pins: 0, evicted: false })
  }

  private remember(index: number, entry: Entry): void {
    this.entries.set(index, entry)
    while (this.entries.size > this.capacity) {
      const [oldest, evicted] = this.entries.entries().next().value!
      this.evict(oldest, evicted)
    }
  }

  private evict(index: number, entry: Entry): void {
    this.entries.delete(index)
    entry.evicted = true
    if (entry.pins === 0 && entry.buf) this.buffers.give(entry.buf)
  }

  private unpin(entry: Entry): void {
    entry.pins--
    if (entry.evicted && entry.pins === 0 && entry.buf) this.buffers.give(entry.buf)
  }
}
