import { closeSync, constants, openSync, readSync, writeSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { parentPort } from 'node:worker_threads'
import type { HashJob, ReadSpan, WriteSpan } from './hashPool.js'
import { ExitCode, UserError, fsSync } from '../errors.js'
import { Folders, readError, under } from './safePath.js'
import { applyMetadata } from './applyMetadata.js'

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
}

const readers = new Descriptors()
const writers = new Descriptors()
/** Folder checks per destination root, cached like the main thread's. */
const folders = new Map<string, Folders>()
let scratch = new Uint8Array(0)

/** Reads a piece of `size` bytes into the scratch buffer, to hash it. */
function scratchPiece(spans: readonly ReadSpan[], size: number): Uint8Array {
  if (scratch.length < size) scratch = new Uint8Array(size)
  return readPiece(spans, scratch.subarray(0, size))
}

/** Reads a piece from its files into `piece`: synchronous calls here cost no thread hops. */
function readPiece(spans: readonly ReadSpan[], piece: Uint8Array): Uint8Array {
  let at = 0
  for (const s of spans) {
    const target = piece.subarray(at, at + s.length)
    if (s.path === null) target.fill(0)
    else {
      try {
        const fd = readers.get(s.path, () => openSync(s.path!, constants.O_RDONLY | constants.O_NOFOLLOW))
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

function writePiece(data: Uint8Array, root: string, spans: readonly WriteSpan[]): void {
  let f = folders.get(root)
  if (!f) folders.set(root, (f = new Folders(root)))
  const rootFolders = f
  for (const s of spans) {
    const path = under(root, ...s.components)
    const fd = writers.get(path, () => rootFolders.openWritable(s.components))
    fsSync(path, () => {
      for (let done = 0; done < s.length;) done += writeSync(fd, data, s.at + done, s.length - done, s.fileOffset + done)
    })
  }
}

const sha1 = (data: Uint8Array) => createHash('sha1').update(data).digest()

parentPort!.on('message', (job: HashJob) => {
  try {
    if (job.kind === 'files') {
      parentPort!.postMessage({ id: job.id, digest: sha1(scratchPiece(job.spans, job.size)) })
      return
    }
    if (job.kind === 'meta') {
      applyMetadata(job.tree, job.fileRoot, job.singleFilePath, job.opts)
      parentPort!.postMessage({ id: job.id })
      return
    }
    if (job.kind === 'read') {
      parentPort!.postMessage({ id: job.id, data: readPiece(job.spans, job.data) }, [job.data.buffer as ArrayBuffer])
      return
    }
    const digest = sha1(job.data)
    // The buffer travels back with its digest so the caller can still serve it without a copy.
    const reply = { id: job.id, digest, data: job.data, stored: false }
    if (digest.equals(job.expected)) {
      writePiece(job.data, job.root, job.spans)
      reply.stored = true
    }
    parentPort!.postMessage(reply, [job.data.buffer as ArrayBuffer])
  } catch (err) {
    const e = err instanceof UserError ? err : new UserError(`hashing: ${(err as Error).message}`)
    parentPort!.postMessage({ id: job.id, error: { message: e.message, exitCode: e.exitCode } })
  }
})
