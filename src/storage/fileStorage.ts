import { open, lstat, type FileHandle } from 'node:fs/promises'
import { constants } from 'node:fs'
import { UserError, ExitCode, fsError } from '../cli/errors.js'
import { spansOfRange, type Layout } from '../torrent/layout.js'
import { ensureParents, O_NOFOLLOW } from './safePath.js'

export interface StoredFile {
  readonly path: readonly string[]
  readonly length: number
  readonly offset: number
  /** Padding files (BEP 47) are zeros in the piece stream and never touch the disk. */
  readonly padding: boolean
}

const MAX_OPEN_FILES = 128

/**
 * The torrent's byte stream mapped onto files under `root`. Opens lazily and keeps a bounded set of
 * descriptors, because deploy trees hold thousands of small files. Never follows a symlink inside root.
 */
export class FileStorage {
  private readonly handles = new Map<number, FileHandle>()
  readonly layout: Layout

  constructor(readonly root: string, readonly files: readonly StoredFile[], pieceLength: number, private readonly writable: boolean) {
    const last = files[files.length - 1]
    const length = last ? last.offset + last.length : 0
    this.layout = { pieceLength, length, pieceCount: Math.ceil(length / pieceLength), files }
  }

  fullPath(file: number): Promise<string> {
    return ensureParents(this.root, this.files[file]!.path, this.writable)
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
      if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw new UserError(`refusing to write through symlink ${path}`, ExitCode.destination)
      throw fsError(err, path)
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
      if (this.files[span.file]!.padding) {
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
      if (this.files[span.file]!.padding) continue
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

  /** Current size of each file on disk (null when missing), without following symlinks. */
  async sizes(): Promise<(number | null)[]> {
    const out: (number | null)[] = []
    for (let i = 0; i < this.files.length; i++) {
      if (this.files[i]!.padding) { out.push(this.files[i]!.length); continue }
      const path = await ensureParents(this.root, this.files[i]!.path, false)
      const st = await lstat(path).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return null
        throw fsError(err, path)
      })
      if (st && st.isSymbolicLink()) throw new UserError(`refusing to write through symlink ${path}`, ExitCode.destination)
      if (st && !st.isFile()) throw new UserError(`${path} is in the way: the torrent needs a regular file there`, ExitCode.destination)
      out.push(st ? st.size : null)
    }
    return out
  }

  /** Creates every file at its exact length (sparse where not yet written), trimming files that are too long. */
  async allocate(): Promise<void> {
    for (let i = 0; i < this.files.length; i++) {
      if (this.files[i]!.padding) continue
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
