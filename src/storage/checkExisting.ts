import { lstat } from 'node:fs/promises'
import { UserError, ExitCode } from '../errors.js'
import { spansOfPiece } from '../torrent/layout.js'
import { pieceHash, type Metainfo } from '../torrent/metainfo.js'
import { Bitfield } from '../bitfield.js'
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

/** Files named in a mismatch line at most; the rest are counted. */
const NAMED = 3

function mismatch(what: string, count: number, unit: string): UserError {
  return new UserError(`source does not match the torrent: ${what}${count > 1 ? `; ${count} ${unit} differ` : ''}`, ExitCode.mismatch)
}

/** The whole-second mtime of a path, as make-torrent records it; null when it cannot be read. */
async function mtimeOf(path: string): Promise<number | null> {
  const st = await lstat(path).catch(() => null)
  return st ? Math.floor(st.mtimeMs / 1000) : null
}

/**
 * The seed serves only a source that matches the torrent exactly; names the file that does not, and how:
 * missing, of the wrong size, or of other content.
 */
export async function assertMatches(meta: Metainfo, storage: FileStorage, result: CheckResult): Promise<void> {
  const [wrongSize] = result.wrongSize
  if (wrongSize !== undefined) {
    const path = storage.describe(wrongSize)
    const size = result.sizes[wrongSize]
    const how = size !== null && size !== undefined
      ? `has ${size} bytes, the torrent says ${storage.files[wrongSize]!.length}`
      : (await lstat(path).catch(() => null)) ? 'is not a regular file' : 'is missing'
    throw mismatch(`${path} ${how}`, result.wrongSize.length, 'files')
  }
  const failed = Array.from({ length: meta.pieceCount }, (_, i) => i).filter((i) => !result.have.get(i))
  const [piece] = failed
  if (piece === undefined) return
  const filesOf = (i: number) => [...new Set(spansOfPiece(storage.layout, i).filter((s) => storage.files[s.file]!.kind === 'file').map((s) => s.file))]
  const inPiece = filesOf(piece)
  if (inPiece.length === 1) throw mismatch(`${storage.describe(inPiece[0]!)} differs in content (piece ${piece})`, failed.length, 'pieces')
  // A piece's hash cannot tell which of the small files packed in it changed. Their mtimes can, when some
  // still have the torrent's and some do not (a tree copied without its mtimes has none left to tell by).
  const edited: number[] = []
  for (const f of inPiece) {
    const recorded = meta.files[f]!.mtime
    if (recorded !== undefined && (await mtimeOf(storage.describe(f))) !== recorded) edited.push(f)
  }
  if (edited.length > 0 && edited.length < inPiece.length) {
    throw mismatch(`${storage.describe(edited[0]!)} differs in content (modified since the torrent was made; piece ${piece})`, failed.length, 'pieces')
  }
  const named = inPiece.slice(0, NAMED).map((f) => storage.describe(f)).join(', ')
  throw mismatch(`piece ${piece} differs, in one of the ${inPiece.length} files it holds: ${named}${inPiece.length > NAMED ? ', …' : ''}`, failed.length, 'pieces')
}
