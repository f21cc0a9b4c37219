/**
 * Where files sit in the piece stream. A plain multi-file torrent concatenates files, so one byte added to a
 * file shifts every later piece and an update re-fetches nearly everything. Aligning each file to a piece
 * boundary with BEP 47 padding files (zeros, never stored on disk) keeps the pieces of unchanged files
 * identical from one version to the next, and lets a renamed file be found by its piece hashes.
 */

/**
 * `large`: files of at least one piece start and end on boundaries, smaller files are packed together (the
 * default: aligning every tiny file to a multi-MiB piece multiplies what is hashed and the piece count).
 * `all`: every file with data starts on a boundary. `none`: plain concatenation.
 */
export type AlignPolicy = 'large' | 'all' | 'none'
export const ALIGN_POLICIES: readonly AlignPolicy[] = ['large', 'all', 'none']

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

/** Lays out entries in order, inserting padding so that aligned files start (and end) on piece boundaries. */
export function placeFiles<T extends { path: readonly string[]; length: number }>(entries: readonly T[], pieceLength: number, policy: AlignPolicy): Placed<T>[] {
  const out: Placed<T>[] = []
  let offset = 0
  const pad = () => {
    const gap = (pieceLength - (offset % pieceLength)) % pieceLength
    if (gap === 0) return
    out.push({ entry: null, path: paddingPath(gap), length: gap, offset, padding: true })
    offset += gap
  }
  const aligned = (e: T) => e.length > 0 && (policy === 'all' || (policy === 'large' && e.length >= pieceLength))
  const lastData = entries.map((e) => e.length > 0).lastIndexOf(true)
  entries.forEach((entry, i) => {
    if (aligned(entry)) pad()
    out.push({ entry, path: entry.path, length: entry.length, offset, padding: false })
    offset += entry.length
    // Nothing follows the last file with data, so it needs no padding.
    if (aligned(entry) && i < lastData) pad()
  })
  return out
}
