import { UserError, ExitCode } from '../cli/errors.js'
import { spansOfPiece } from '../torrent/layout.js'
import { pieceHash, type Metainfo } from '../torrent/metainfo.js'
import { Bitfield } from '../swarm/bitfield.js'
import type { FileStorage } from './fileStorage.js'
import { hashPieces } from './hashPieces.js'
import type { HashPool } from './hashPool.js'
import type { DirectoryListings } from './safePath.js'

export interface CheckResult {
  have: Bitfield
  /** Size of each file on disk, null when missing. */
  sizes: (number | null)[]
  /** Files whose size on disk differs from the torrent's (missing ones included). */
  wrongSize: number[]
}

/**
 * Hashes what is already on disk. Only pieces whose bytes are all present are read; the rest are
 * known missing without touching the disk. A piece counts only if its hash matches.
 */
export async function checkExisting(meta: Metainfo, storage: FileStorage, pool: HashPool, listings?: DirectoryListings): Promise<CheckResult> {
  const sizes = await storage.sizes(listings)
  const wrongSize = sizes.flatMap((size, i) => (size === storage.files[i]!.length ? [] : [i]))
  const present = (piece: number) =>
    spansOfPiece(storage.layout, piece).every((s) => (sizes[s.file] ?? -1) >= s.fileOffset + s.length)
  const candidates = Array.from({ length: meta.pieceCount }, (_, i) => i).filter(present)
  const have = new Bitfield(meta.pieceCount)
  await hashPieces(storage, pool, candidates, (i, digest) => {
    if (Buffer.from(digest).equals(pieceHash(meta, i))) have.set(i)
  })
  return { have, sizes, wrongSize }
}

/** The seed serves only a source that matches the torrent exactly; names the first file that does not. */
export function assertMatches(meta: Metainfo, storage: FileStorage, result: CheckResult): void {
  const firstWrongSize = result.wrongSize[0]
  if (firstWrongSize !== undefined) {
    throw new UserError(`source does not match the torrent: ${storage.describe(firstWrongSize)} has the wrong size`, ExitCode.mismatch)
  }
  for (let i = 0; i < meta.pieceCount; i++) {
    if (!result.have.get(i)) {
      const file = spansOfPiece(storage.layout, i).find((s) => storage.files[s.file]!.kind === 'file')?.file ?? 0
      throw new UserError(`source does not match the torrent: ${storage.describe(file)} differs (piece ${i})`, ExitCode.mismatch)
    }
  }
}
