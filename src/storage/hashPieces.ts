import { pieceSize } from '../torrent/layout.js'
import type { FileStorage } from './fileStorage.js'
import { ownedBuffer, type HashPool } from './hashPool.js'

/**
 * Reads the given pieces and hashes them on the pool, keeping a few pieces in flight so that disk reads and
 * hashing on every core overlap. Memory stays at about `2 × pool size` pieces.
 */
export async function hashPieces(
  storage: FileStorage,
  pool: HashPool,
  pieces: Iterable<number>,
  onPiece: (index: number, digest: Uint8Array) => void,
): Promise<void> {
  const { layout } = storage
  const free: Buffer[] = []
  const inFlight = new Set<Promise<void>>()
  const limit = pool.size * 2
  let failure: unknown = null
  for (const index of pieces) {
    if (failure) break
    const size = pieceSize(layout, index)
    // Full pieces recycle buffers that came back from the pool; only the short last piece gets its own.
    const buf = (size === layout.pieceLength && free.pop()) || ownedBuffer(size)
    // Reads overlap too: a piece of many small files is many small reads, each waiting on the disk.
    const p: Promise<void> = storage.read(index * layout.pieceLength, buf).then(() => pool.hash(buf)).then(({ digest, data }) => {
      onPiece(index, digest)
      if (data.length === layout.pieceLength) free.push(Buffer.from(data.buffer))
    }).catch((err) => { failure ??= err }).finally(() => inFlight.delete(p))
    inFlight.add(p)
    if (inFlight.size >= limit) await Promise.race(inFlight)
  }
  await Promise.all(inFlight)
  if (failure) throw failure
}
