import { open, lstat, type FileHandle } from 'node:fs/promises'
import { constants } from 'node:fs'
import { UserError, ExitCode, fsError } from '../cli/errors.js'
import { spansOfPiece, spansOfRange, type Layout } from '../torrent/layout.js'
import { ensureParents, O_NOFOLLOW, removeEntry } from './safePath.js'

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

const MAX_OPEN_FILES = 128

/**
 * The torrent's byte stream mapped onto files under `root`. Opens lazily and keeps a bounded set of
 * descriptors, because deploy trees hold thousands of small files. Never follows a symlink inside root.
 */
export class FileStorage {
  private readonly handles = new Map<number, FileHandle>()
  private prefixes: Float64Array | null = null
  readonly layout: Layout

  constructor(readonly root: string, readonly files: readonly StoredFile[], pieceLength: number, private readonly writable: boolean) {
    const last = files[files.length - 1]
    const length = last ? last.offset + last.length : 0
    this.layout = { pieceLength, length, pieceCount: Math.ceil(length / pieceLength), files }
  }

  /** The file's path, its folders made real folders first when writable (never following a symlink). */
  async fullPath(file: number): Promise<string> {
    const path = await ensureParents(this.root, this.files[file]!.path, this.writable)
    if (path === null) throw new UserError(`${this.describe(file)}: a folder on its path is missing or not a folder`, ExitCode.mismatch)
    return path
  }

  private async handle(file: number): Promise<FileHandle> {
    const cached = this.handles.get(file)
    if (cached) {
      // Map order is insertion order: re-insert to keep the least recently used first.
      this.handles.delete(file)
      this.handles.set(file, cached)
      return cached
    }
    const path = await this.fullPath(file)
    const flags = (this.writable ? constants.O_RDWR | constants.O_CREAT : constants.O_RDONLY) | O_NOFOLLOW
    let fh: FileHandle
    try {
      fh = await open(path, flags, 0o644)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (!this.writable || (code !== 'ELOOP' && code !== 'EISDIR')) {
        if (code === 'ELOOP') throw new UserError(`${path} is a symlink, not the file the torrent names`, ExitCode.mismatch)
        throw fsError(err, path)
      }
      // A symlink or folder sits where the file belongs: replace it (a link is removed, never followed).
      await removeEntry(path)
      fh = await open(path, flags, 0o644).catch((e) => { throw fsError(e, path) })
    }
    if (this.handles.size >= MAX_OPEN_FILES) {
      const [oldest, h] = this.handles.entries().next().value as [number, FileHandle]
      this.handles.delete(oldest)
      await h.close()
    }
    this.handles.set(file, fh)
    return fh
  }

  /** Fills `buf` with the stream bytes starting at `start`. */
  async read(start: number, buf: Uint8Array): Promise<void> {
    for (const span of spansOfRange(this.files, start, buf.length)) {
      const target = buf.subarray(span.rangeOffset, span.rangeOffset + span.length)
      if (this.files[span.file]!.kind === 'padding') {
        target.fill(0)
        continue
      }
      const fh = await this.handle(span.file)
      let done = 0
      while (done < span.length) {
        const { bytesRead } = await fh.read(target, done, span.length - done, span.fileOffset + done).catch((err) => {
          throw fsError(err, this.describe(span.file))
        })
        if (bytesRead === 0) throw new UserError(`${this.describe(span.file)} is shorter than the torrent says`, ExitCode.mismatch)
        done += bytesRead
      }
    }
  }

  /** Writes verified bytes at stream offset `start`. */
  async write(start: number, data: Uint8Array): Promise<void> {
    for (const span of spansOfRange(this.files, start, data.length)) {
      if (this.files[span.file]!.kind === 'padding') continue
      const fh = await this.handle(span.file)
      let done = 0
      while (done < span.length) {
        const { bytesWritten } = await fh.write(data, span.rangeOffset + done, span.length - done, span.fileOffset + done).catch((err) => {
          throw fsError(err, this.describe(span.file))
        })
        done += bytesWritten
      }
    }
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

  /** Current size of each file on disk (null when missing), without following symlinks. */
  async sizes(): Promise<(number | null)[]> {
    const out: (number | null)[] = []
    for (let i = 0; i < this.files.length; i++) {
      const f = this.files[i]!
      if (f.kind !== 'file') { out.push(f.length); continue }
      const path = await ensureParents(this.root, f.path, false)
      const st = path === null ? null : await lstat(path).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return null
        throw fsError(err, path)
      })
      // A symlink or folder where the file belongs holds none of its bytes: the file is missing.
      out.push(st && st.isFile() ? st.size : null)
    }
    return out
  }

  /** Creates every file at its exact length (sparse where not yet written), trimming files that are too long. */
  async allocate(): Promise<void> {
    for (let i = 0; i < this.files.length; i++) {
      if (this.files[i]!.kind !== 'file') continue
      const fh = await this.handle(i)
      const { size } = await fh.stat()
      if (size !== this.files[i]!.length) await fh.truncate(this.files[i]!.length).catch((err) => { throw fsError(err, this.describe(i)) })
    }
  }

  async sync(): Promise<void> {
    await Promise.all([...this.handles.values()].map((h) => h.datasync().catch((err) => { throw fsError(err, 'flushing files') })))
  }

  async close(): Promise<void> {
    const hs = [...this.handles.values()]
    this.handles.clear()
    await Promise.all(hs.map((h) => h.close().catch(() => undefined)))
  }

  describe(file: number): string {
    return `${this.root}/${this.files[file]!.path.join('/')}`
  }
}
