/** Piece math: where the bytes of a piece live among the files of a torrent. Pure, no I/O. */

export interface LayoutFile {
  readonly length: number
  readonly offset: number
}

export interface Layout {
  readonly pieceLength: number
  readonly length: number
  readonly pieceCount: number
  readonly files: readonly LayoutFile[]
}

/** One contiguous run of a byte range inside one file. */
export interface Span {
  readonly file: number
  readonly fileOffset: number
  readonly length: number
  /** Where the run starts within the requested range. */
  readonly rangeOffset: number
}

export const BLOCK_LENGTH = 16 * 1024

export function pieceSize(layout: Layout, index: number): number {
  if (index < 0 || index >= layout.pieceCount) throw new RangeError(`piece ${index} out of range`)
  return Math.min(layout.pieceLength, layout.length - index * layout.pieceLength)
}

/** Index of the first non-empty file containing stream offset `at` (files sorted by offset). */
function fileAt(files: readonly LayoutFile[], at: number): number {
  let lo = 0
  let hi = files.length - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (files[mid]!.offset <= at) lo = mid
    else hi = mid - 1
  }
  // Empty files share their offset with the next file: move past them.
  while (lo < files.length - 1 && files[lo]!.offset + files[lo]!.length <= at) lo++
  return lo
}

/** The file runs that make up `length` bytes of the stream starting at absolute offset `start`. */
export function spansOfRange(files: readonly LayoutFile[], start: number, length: number): Span[] {
  const spans: Span[] = []
  if (length <= 0) return spans
  let f = fileAt(files, start)
  let at = start
  const end = start + length
  while (at < end && f < files.length) {
    const file = files[f]!
    const fileEnd = file.offset + file.length
    if (fileEnd > at) {
      const runEnd = Math.min(end, fileEnd)
      spans.push({ file: f, fileOffset: at - file.offset, length: runEnd - at, rangeOffset: at - start })
      at = runEnd
    }
    f++
  }
  if (at < end) throw new RangeError(`range ${start}+${length} runs past the end of the torrent`)
  return spans
}

export function spansOfPiece(layout: Layout, index: number, begin = 0, length = pieceSize(layout, index) - begin): Span[] {
  return spansOfRange(layout.files, index * layout.pieceLength + begin, length)
}

/** First and last piece touching a non-empty file, or null for an empty file. */
export function piecesOfFile(layout: Layout, file: number): { first: number; last: number } | null {
  const f = layout.files[file]!
  if (f.length === 0) return null
  return { first: Math.floor(f.offset / layout.pieceLength), last: Math.floor((f.offset + f.length - 1) / layout.pieceLength) }
}

/** Is the request (piece, begin, length) inside the torrent and no larger than `maxLength`? */
export function validRequest(layout: Layout, index: number, begin: number, length: number, maxLength: number): boolean {
  if (!Number.isInteger(index) || index < 0 || index >= layout.pieceCount) return false
  return length > 0 && length <= maxLength && begin >= 0 && begin + length <= pieceSize(layout, index)
}
