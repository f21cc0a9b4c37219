import { closeSync, constants, openSync, readSync, writeSync } from 'node:fs'
import { createHash } from 'node:crypto'
import type { HashJob, ReadSpan, Reply, WriteSpan } from './hashPool.js'
import { ExitCode, UserError, fsSync } from '../errors.js'
import { Folders, readError, under } from './safePath.js'

const MAX_OPEN_FILES = 64

/** Descriptors by path, least recently used first: a piece of a large file is usually followed by the next. */
class Descriptors {
  private readonly open = new Map<string, number>()

  get(path: string, opener: () => number): number {
    let fd = this.open.get(path)
    if (fd !== undefined) this.open.delete(path)
    else fd = opener()
    this.open.set(path, fd)
    for (const [p, h] of this.open) {
      if (this.open.size <= MAX_OPEN_FILES) break
      this.open.delete(p)
      closeSync(h)
    }
    return fd
  }

  closeAll(): void {
    for (const fd of this.open.values()) closeSync(fd)
    this.open.clear()
  }
}

/**
 * The file work behind a HashPool's jobs: reading, hashing and writing pieces with synchronous calls (no
 * thread hops) and descriptors kept open. Runs on a hash worker, or on the event loop for the jobs a HashPool
 * does inline.
 */
export class PieceJobs {
  private readonly readers = new Descriptors()
  private readonly writers = new Descriptors()
  /** Folder checks per destination root, cached like the main thread's. */
  private readonly folders = new Map<string, Folders>()
  private scratch = new Uint8Array(0)

  /** The job's reply, and the memory it hands back (transferred when it crosses threads). */
  run(job: HashJob): { reply: Reply; transfer: ArrayBuffer[] } {
    try {
      if (job.kind === 'files') return { reply: { id: job.id, digest: sha1(this.scratchPiece(job.spans, job.size)) }, transfer: [] }
      if (job.kind === 'read') return { reply: { id: job.id, data: this.readPiece(job.spans, job.data) }, transfer: [job.data.buffer as ArrayBuffer] }
      const digest = sha1(job.data)
      // The buffer travels back with its digest so the caller can still serve it without a copy.
      const reply = { id: job.id, digest, data: job.data, stored: false }
      if (digest.equals(job.expected)) {
        this.writePiece(job.data, job.root, job.spans)
        reply.stored = true
      }
      return { reply, transfer: [job.data.buffer as ArrayBuffer] }
    } catch (err) {
      const e = err instanceof UserError ? err : new UserError(`hashing: ${(err as Error).message}`)
      return { reply: { id: job.id, error: { message: e.message, exitCode: e.exitCode } }, transfer: [] }
    }
  }

  close(): void {
    this.readers.closeAll()
    this.writers.closeAll()
  }

  /** Reads a piece of `size` bytes into the scratch buffer, to hash it. */
  private scratchPiece(spans: readonly ReadSpan[], size: number): Uint8Array {
    if (this.scratch.length < size) this.scratch = new Uint8Array(size)
    return this.readPiece(spans, this.scratch.subarray(0, size))
  }

  /** Reads a piece from its files into `piece`. */
  private readPiece(spans: readonly ReadSpan[], piece: Uint8Array): Uint8Array {
    let at = 0
    for (const s of spans) {
      const target = piece.subarray(at, at + s.length)
      if (s.path === null) target.fill(0)
      else {
        try {
          const fd = this.readers.get(s.path, () => openSync(s.path!, constants.O_RDONLY | constants.O_NOFOLLOW))
          for (let done = 0; done < s.length;) {
            const n = readSync(fd, target, done, s.length - done, s.fileOffset + done)
            if (n === 0) throw new UserError(`${s.path} is shorter than the torrent says`, ExitCode.mismatch)
            done += n
          }
        } catch (err) {
          throw readError(err, s.path)
        }
      }
      at += s.length
    }
    return piece
  }

  private writePiece(data: Uint8Array, root: string, spans: readonly WriteSpan[]): void {
    let f = this.folders.get(root)
    if (!f) this.folders.set(root, (f = new Folders(root)))
    const rootFolders = f
    for (const s of spans) {
      const path = under(root, ...s.components)
      const fd = this.writers.get(path, () => rootFolders.openWritable(s.components))
      fsSync(path, () => {
        for (let done = 0; done < s.length;) done += writeSync(fd, data, s.at + done, s.length - done, s.fileOffset + done)
      })
    }
  }
}

const sha1 = (data: Uint8Array) => createHash('sha1').update(data).digest()
