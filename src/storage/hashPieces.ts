import { pieceSize } from '../torrent/layout.js'
import type { FileStorage } from './fileStorage.js'
import type { HashPool } from './hashPool.js'

/** Beyond this much to hash, every core gets a worker. */
const BULK_BYTES = 64 * 1024 * 1024
/** Pieces queued per worker: enough that a worker never waits for the next job. */
const JOBS_PER_WORKER = 4

/**
 * Hashes the given pieces of what is on disk. The workers read the files themselves, so the event loop
 * only hands out spans and collects digests, and no piece crosses a thread.
 */
export async function hashPieces(
  storage: FileStorage,
  pool: HashPool,
  pieces: Iterable<number>,
  onPiece: (index: number, digest: Uint8Array) => void,
): Promise<void> {
  const list = [...pieces]
  if (list.length * storage.layout.pieceLength >= BULK_BYTES) pool.grow()
  const inFlight = new Set<Promise<void>>()
  let failure: unknown = null
  for (const index of list) {
    if (failure) break
    const p: Promise<void> = pool.hashFiles(storage.readSpans(index), pieceSize(storage.layout, index))
      .then((digest) => onPiece(index, digest))
      .catch((err) => { failure ??= err })
      .finally(() => inFlight.delete(p))
    inFlight.add(p)
    if (inFlight.size >= pool.size * JOBS_PER_WORKER) await Promise.race(inFlight)
  }
  await Promise.all(inFlight)
  if (failure) throw failure
}
