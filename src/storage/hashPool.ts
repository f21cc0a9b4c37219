import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { UserError, type ExitCodeValue } from '../errors.js'
import { PieceJobs } from './pieceJobs.js'

/**
 * The hash worker's code (CommonJS), built into the bundles by scripts/bundle.mjs: the single executable then
 * starts its workers from its own code, with no file beside it. The modules tsc compiles start hashWorker.js.
 */
const EMBEDDED_WORKER = process.env['MURDER_HASH_WORKER']

/** Part of a piece to read for hashing: `path` null is padding (zeros). */
export interface ReadSpan {
  path: string | null
  fileOffset: number
  length: number
}

/** Part of a piece to write: `length` bytes from `at` in the piece go to `fileOffset` in the file at `components`. */
export interface WriteSpan {
  components: readonly string[]
  fileOffset: number
  length: number
  at: number
}

export type HashJob =
  | { kind: 'files'; id: number; spans: ReadSpan[]; size: number }
  | { kind: 'read'; id: number; spans: ReadSpan[]; data: Uint8Array }
  | { kind: 'store'; id: number; data: Uint8Array; expected: Uint8Array; root: string; spans: WriteSpan[] }

export interface Reply {
  id: number
  digest?: Uint8Array
  data?: Uint8Array
  stored?: boolean
  /** A file system failure, already told the way the user sees it. */
  error?: { message: string; exitCode: ExitCodeValue }
}

/**
 * SHA-1 and the file work around it on worker threads (or inline, see the constructor), so the event loop
 * moving bytes on the wire never waits on hashing or the disk. A downloaded piece is transferred, not copied, and comes back with the
 * verdict; pieces already on disk are read by the workers themselves, so checking a tree moves no buffers.
 */
export class HashPool {
  private readonly workers: Worker[] = []
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (err: Error) => void }>()
  private readonly load: number[] = []
  private nextId = 0
  /** The inline jobs' descriptors and buffers, made at the first. */
  private local: PieceJobs | null = null

  /**
   * `inline`: kinds of job done on the calling thread, synchronously (the promise is settled when the call
   * returns). A peer stores and reads its pieces so: the file calls go to the page cache, and hashing a 256 KiB
   * piece takes ~0.2 ms, where a worker cost ~0.1 s of CPU to start, ~10 MB of memory, and a message and a
   * wake-up each way per piece.
   */
  constructor(private readonly inline: ReadonlySet<HashJob['kind']> = new Set()) {}

  /** Workers started so far (none before the first job). */
  get size(): number {
    return this.workers.length
  }

  /** Up to `workers` workers, at most one per core. */
  grow(workers = availableParallelism()): void {
    for (let i = this.workers.length; i < Math.min(workers, Math.max(1, availableParallelism())); i++) {
      const w = EMBEDDED_WORKER === undefined ? new Worker(new URL('./hashWorker.js', import.meta.url)) : new Worker(EMBEDDED_WORKER, { eval: true })
      w.on('message', (reply: Reply) => {
        this.load[i]!--
        const p = this.pending.get(reply.id)
        this.pending.delete(reply.id)
        p?.resolve(reply)
      })
      w.on('error', (err) => this.failAll(err))
      this.workers.push(w)
      this.load.push(0)
    }
  }

  /** Reads a piece of `size` bytes from `spans` on a worker and hashes it; a failed read rejects with a UserError. */
  async hashFiles(spans: ReadSpan[], size: number): Promise<Uint8Array> {
    const reply = await this.send({ kind: 'files', id: this.nextId++, spans, size })
    if (reply.error) throw new UserError(reply.error.message, reply.error.exitCode)
    return reply.digest!
  }

  /**
   * Hashes a piece (owning its memory, transferred meanwhile) and, when it matches `expected`, writes it
   * under `root` on the same worker: one thread hop per piece, and file calls that never wait on the event
   * loop. Resolves with whether it matched and was stored; a failed write rejects with a UserError.
   */
  async store(data: Uint8Array, expected: Uint8Array, root: string, spans: WriteSpan[]): Promise<{ stored: boolean; data: Uint8Array }> {
    assertOwned(data)
    // postMessage clones the whole ArrayBuffer behind a view: `expected` is usually a view of all the torrent's
    // digests (or of the whole .torrent), so only its 20 bytes go.
    const reply = await this.send({ kind: 'store', id: this.nextId++, data, expected: new Uint8Array(expected), root, spans }, [data.buffer as ArrayBuffer])
    if (reply.error) throw new UserError(reply.error.message, reply.error.exitCode)
    return { stored: reply.stored!, data: reply.data! }
  }

  /**
   * Fills `data` (owning its memory, transferred meanwhile) from `spans` on a worker, for an upload: there a
   * piece is synchronous reads through descriptors kept open, where the event loop paid an async open, read
   * and close per file (dozens for a piece of small files). Resolves with the same memory, back.
   */
  async read(spans: ReadSpan[], data: Uint8Array): Promise<Uint8Array> {
    assertOwned(data)
    const reply = await this.send({ kind: 'read', id: this.nextId++, spans, data }, [data.buffer as ArrayBuffer])
    if (reply.error) throw new UserError(reply.error.message, reply.error.exitCode)
    return reply.data!
  }

  private send(job: HashJob, transfer: ArrayBuffer[] = []): Promise<Reply> {
    if (this.inline.has(job.kind)) return Promise.resolve((this.local ??= new PieceJobs()).run(job).reply)
    // One worker, started at the first job: starting one costs about as much CPU as hashing 100 MB (90-100 ms
    // here), which a peer with an empty destination then spends once its first piece is in, not while it
    // starts up beside many others; a peer's downloads arrive far slower than one core hashes. `grow` adds
    // more for bulk hashing of what is on disk.
    if (this.workers.length === 0) this.grow(1)
    let best = 0
    for (let i = 1; i < this.workers.length; i++) if (this.load[i]! < this.load[best]!) best = i
    this.load[best]!++
    return new Promise((resolve, reject) => {
      this.pending.set(job.id, { resolve, reject })
      this.workers[best]!.postMessage(job, transfer)
    })
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err)
    this.pending.clear()
  }

  async close(): Promise<void> {
    this.local?.close()
    await Promise.all(this.workers.map((w) => w.terminate()))
  }
}

function assertOwned(data: Uint8Array): void {
  if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength) throw new Error('a buffer transferred to a worker must own its memory')
}

/** A buffer that owns its memory, as `HashPool.store` and `read` need (it is transferred to the worker and back). */
export function ownedBuffer(length: number): Buffer {
  return Buffer.allocUnsafeSlow(length)
}
