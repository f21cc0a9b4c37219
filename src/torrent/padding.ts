/**
 * Where files sit in the piece stream. A plain multi-file torrent concatenates files, so one byte added to a
 * file shifts every later piece and an update re-fetches nearly everything. Aligning each file to a piece
 * boundary with BEP 47 padding files (zeros, never stored on disk) keeps the pieces of unchanged files
 * identical from one version to the next, and lets a renamed file be found by its piece hashes.
 */

export type AlignPolicy = 'all' | 'none'
export const ALIGN_POLICIES: readonly AlignPolicy[] = ['all', 'none']

export interface Placed<T> {
  readonly entry: T | null
  readonly path: readonly string[]
  readonly length: number
  readonly offset: number
  /** `p` for padding; otherwise empty (the caller adds `x`/`l`). */
  readonly padding: boolean
}

export function paddingPath(length: number): string[] {
  return ['.pad', String(length)]
}

/** Lays out entries in order, inserting padding after each non-empty file that does not end on a boundary. */
export function placeFiles<T extends { path: readonly string[]; length: number }>(entries: readonly T[], pieceLength: number, policy: AlignPolicy): Placed<T>[] {
  const out: Placed<T>[] = []
  let offset = 0
  const lastData = entries.map((e) => e.length > 0).lastIndexOf(true)
  entries.forEach((entry, i) => {
    out.push({ entry, path: entry.path, length: entry.length, offset, padding: false })
    offset += entry.length
    const gap = (pieceLength - (offset % pieceLength)) % pieceLength
    // Nothing follows the last file with data, so it needs no padding.
    if (policy === 'all' && entry.length > 0 && gap > 0 && i < lastData) {
      out.push({ entry: null, path: paddingPath(gap), length: gap, offset, padding: true })
      offset += gap
    }
  })
  return out
}
