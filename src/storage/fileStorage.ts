import { lstat } from 'node:fs/promises'
import { closeSync, constants, ftruncateSync } from 'node:fs'
import { fsError } from '../errors.js'
import { spansOfPiece, type Layout } from '../torrent/layout.js'
import type { ReadSpan, WriteSpan } from './hashPool.js'
import { mapLimit } from './mapLimit.js'
import { DirectoryListings, Folders, under } from './safePath.js'

export interface StoredFile {
  readonly path: readonly string[]
  readonly length: number
  readonly offset: number
  /**
   * Padding files (BEP 47) are zeros in the piece stream and never touch the disk; symlinks hold no bytes
   * and are made by the metadata step, never opened here.
   */
  readonly kind: 'file' | 'padding' | 'symlink'
}

/** lstat calls in flight at once when checking thousands of small files. */
const STAT_CONCURRENCY = 32

/**
 * The torrent's byte stream mapped onto files under `root`. The hash workers do the file work: they read the
 * places `readSpans` gives (to check or upload a piece) and write verified pieces to those `writeSpans` gives
 * (`HashPool.store`), keeping descriptors open there, because deploy trees hold thousands of small files.
 * Never follows a symlink inside root.
 */
export class FileStorage {
  private readonly folders: Folders
  private prefixes: Float64Array | null = null
  readonly layout: Layout
  /** Bytes of real file data (padding excluded). */
  readonly dataLength: number

  constructor(readonly root: string, readonly files: readonly StoredFile[], pieceLength: number) {
    const last = files[files.length - 1]
    const length = last ? last.offset + last.length : 0
    this.layout = { pieceLength, length, pieceCount: Math.ceil(length / pieceLength), files }
    this.dataLength = files.reduce((sum, f) => sum + (f.kind === 'padding' ? 0 : f.length), 0)
    this.folders = new Folders(root)
  }

  /**
   * The parts of a piece as paths to read, for a hashing worker. Paths are joined, not resolved: only pieces
   * whose files the start-up check found as regular files in real folders (or a tree we walked) are read.
   */
  readSpans(piece: number): ReadSpan[] {
    return spansOfPiece(this.layout, piece).map((s) => {
      const f = this.files[s.file]!
      return { path: f.kind === 'padding' ? null : under(this.root, ...f.path), fileOffset: s.fileOffset, length: s.length }
    })
  }

  /** Where a piece's bytes go, for the worker that verifies and stores it; padding never touches the disk. */
  writeSpans(piece: number): WriteSpan[] {
    return spansOfPiece(this.layout, piece).flatMap((s) => {
      const f = this.files[s.file]!
      return f.kind === 'padding' ? [] : [{ components: f.path, fileOffset: s.fileOffset, length: s.length, at: s.rangeOffset }]
    })
  }

  /** Bytes of a piece before its trailing padding: the only part worth asking a peer for. */
  dataPrefix(piece: number): number {
    this.prefixes ??= new Float64Array(this.layout.pieceCount).fill(-1)
    if (this.prefixes[piece]! < 0) this.prefixes[piece] = this.computeDataPrefix(piece)
    return this.prefixes[piece]!
  }

  private computeDataPrefix(piece: number): number {
    const spans = spansOfPiece(this.layout, piece)
    let end = spans.length
    while (end > 0 && this.files[spans[end - 1]!.file]!.kind === 'padding') end--
    return end === 0 ? 0 : spans[end - 1]!.rangeOffset + spans[end - 1]!.length
  }

  /** Bytes of real file data in a piece (padding excluded): what progress and the tracker count. */
  dataBytes(piece: number): number {
    return spansOfPiece(this.layout, piece).reduce((sum, sp) => sum + (this.files[sp.file]!.kind === 'padding' ? 0 : sp.length), 0)
  }

  /**
   * Size of each file on disk, null when missing. Folders are listed rather than each file's path checked,
   * so an empty or partial destination costs one call per existing folder, not several per file.
   */
  async sizes(tree = new DirectoryListings(this.root)): Promise<(number | null)[]> {
    return mapLimit(this.files, STAT_CONCURRENCY, async (f) => {
      if (f.kind !== 'file') return f.length
      // A symlink or folder where the file (or one of its folders) belongs holds none of its bytes: missing.
      if (!(await tree.entry(f.path))?.isFile()) return null
      const path = under(this.root, ...f.path)
      const st = await lstat(path).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return null
        throw fsError(err, path)
      })
      return st && st.isFile() ? st.size : null
    })
  }

  /**
   * Fixes the sizes the start-up check found wrong: trims files that are too long and creates empty ones.
   * A missing or short file with data needs nothing now: writing its missing pieces brings it to length.
   */
  allocate(sizes: readonly (number | null)[]): void {
    for (const [i, f] of this.files.entries()) {
      if (f.kind !== 'file' || sizes[i] === f.length || ((sizes[i] ?? 0) <= f.length && f.length !== 0)) continue
      const fd = this.folders.openWritable(f.path)
      try {
        ftruncateSync(fd, f.length)
      } catch (err) {
        throw fsError(err, this.describe(i))
      } finally {
        closeSync(fd)
      }
    }
  }

  describe(file: number): string {
    return under(this.root, ...this.files[file]!.path)
  }
}
