import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'

interface Pending {
  resolve: (r: { digest: Uint8Array; data: Uint8Array }) => void
  reject: (err: Error) => void
}

/**
 * SHA-1 on worker threads, so hashing uses every core and never stalls the event loop that is moving
 * bytes on the wire. Buffers are transferred, not copied: the caller gets its buffer back with the digest.
 */
export class HashPool {
  private readonly workers: Worker[] = []
  private readonly pending = new Map<number, Pending>()
  private readonly load: number[] = []
  private nextId = 0

  constructor(readonly size = Math.max(1, availableParallelism())) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL('./hashWorker.js', import.meta.url))
      w.on('message', ({ id, digest, data }: { id: number; digest: Uint8Array; data: Uint8Array }) => {
        this.load[i]!--
        const p = this.pending.get(id)
        this.pending.delete(id)
        p?.resolve({ digest, data })
      })
      w.on('error', (err) => this.failAll(err))
      this.workers.push(w)
      this.load.push(0)
    }
  }

  /** Hashes `data`, which must own its whole ArrayBuffer (it is transferred while hashing). */
  hash(data: Uint8Array): Promise<{ digest: Uint8Array; data: Uint8Array }> {
    if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength) throw new Error('hash() needs a buffer that owns its memory')
    const id = this.nextId++
    let best = 0
    for (let i = 1; i < this.workers.length; i++) if (this.load[i]! < this.load[best]!) best = i
    this.load[best]!++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      this.workers[best]!.postMessage({ id, data }, [data.buffer as ArrayBuffer])
    })
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err)
    this.pending.clear()
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()))
  }
}

/** A buffer that owns its memory, as `HashPool.hash` needs. */
export function ownedBuffer(length: number): Buffer {
  return Buffer.allocUnsafeSlow(length)
}
