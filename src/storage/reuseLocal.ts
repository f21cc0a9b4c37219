import { constants } from 'node:fs'
import { open } from 'node:fs/promises'
import { pieceSize, piecesOfFile } from '../torrent/layout.js'
import { pieceHash, type Metainfo } from '../torrent/metainfo.js'
import type { Bitfield } from '../bitfield.js'
import type { FileStorage } from './fileStorage.js'
import { ownedBuffer, type HashPool } from './hashPool.js'
import { O_NOFOLLOW } from './safePath.js'

/**
 * A renamed or moved file is already on the target under another path. With files aligned to pieces, its
 * chunks hash to the torrent's piece hashes, so it is copied locally instead of downloaded. Only files of
 * the same size as a torrent file with missing pieces are read.
 */
export async function reuseLocalCopies(meta: Metainfo, storage: FileStorage, have: Bitfield, candidates: readonly string[], pool: HashPool): Promise<{ pieces: number; bytes: number }> {
  const { pieceLength } = meta
  const bySize = new Map<number, number[]>()
  storage.files.forEach((f, i) => {
    const pieces = piecesOfFile(storage.layout, i)
    if (f.kind !== 'file' || !pieces || f.offset % pieceLength !== 0) return
    for (let p = pieces.first; p <= pieces.last; p++) {
      if (!have.get(p)) {
        bySize.set(f.length, [...(bySize.get(f.length) ?? []), i])
        return
      }
    }
  })
  let pieces = 0
  let bytes = 0
  if (bySize.size === 0) return { pieces, bytes }
  for (const path of candidates) {
    const fh = await open(path, constants.O_RDONLY | O_NOFOLLOW).catch(() => null)
    if (!fh) continue
    try {
      const { size } = await fh.stat()
      const targets = bySize.get(size)
      if (!targets) continue
      for (let k = 0; k * pieceLength < size; k++) {
        const chunkLength = Math.min(pieceLength, size - k * pieceLength)
        const chunk = Buffer.alloc(chunkLength)
        const { bytesRead } = await fh.read(chunk, 0, chunkLength, k * pieceLength)
        if (bytesRead !== chunkLength) break
        for (const t of targets) {
          const piece = storage.files[t]!.offset / pieceLength + k
          // The chunk stands for the whole piece only when the rest of the piece is padding.
          if (have.get(piece) || storage.dataPrefix(piece) !== chunkLength) continue
          const data = ownedBuffer(pieceSize(storage.layout, piece)).fill(0)
          chunk.copy(data)
          if (!(await pool.store(data, pieceHash(meta, piece), storage.root, storage.writeSpans(piece))).stored) continue
          have.set(piece)
          pieces++
          bytes += chunkLength
        }
      }
    } finally {
      await fh.close()
    }
  }
  return { pieces, bytes }
}
