import { closeSync, constants, openSync, readSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { parentPort } from 'node:worker_threads'
import type { HashJob, ReadSpan } from './hashPool.js'

const MAX_OPEN_FILES = 64
/** Descriptors by path, least recently used first (a piece of a large file is followed by its next piece). */
const open = new Map<string, number>()
let scratch = new Uint8Array(0)

function fd(path: string): number {
  let handle = open.get(path)
  if (handle !== undefined) open.delete(path)
  else handle = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW)
  open.set(path, handle)
  for (const [p, h] of open) {
    if (open.size <= MAX_OPEN_FILES) break
    open.delete(p)
    closeSync(h)
  }
  return handle
}

/** Reads a piece from its files into the scratch buffer: synchronous calls here cost no thread hops. */
function readPiece(spans: readonly ReadSpan[], size: number): Uint8Array {
  if (scratch.length < size) scratch = new Uint8Array(size)
  const piece = scratch.subarray(0, size)
  let at = 0
  for (const s of spans) {
    const target = piece.subarray(at, at + s.length)
    if (s.path === null) target.fill(0)
    else {
      for (let done = 0; done < s.length;) {
        const n = readSync(fd(s.path), target, done, s.length - done, s.fileOffset + done)
        if (n === 0) throw Object.assign(new Error('shorter than the torrent says'), { code: 'SHORT', path: s.path })
        done += n
      }
    }
    at += s.length
  }
  return piece
}

parentPort!.on('message', (job: HashJob) => {
  if (job.kind === 'buffer') {
    // The buffer travels back with its digest so the caller can still write it without a copy.
    const digest = createHash('sha1').update(job.data).digest()
    parentPort!.postMessage({ id: job.id, digest, data: job.data }, [job.data.buffer as ArrayBuffer])
    return
  }
  try {
    const digest = createHash('sha1').update(readPiece(job.spans, job.size)).digest()
    parentPort!.postMessage({ id: job.id, digest })
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    parentPort!.postMessage({ id: job.id, error: { code: e.code, message: e.message, path: e.path } })
  }
})
