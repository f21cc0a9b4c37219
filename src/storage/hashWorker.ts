import { createHash } from 'node:crypto'
import { parentPort } from 'node:worker_threads'

interface Job { id: number; data: Uint8Array }

// The buffer travels back with its digest so the caller can still write it without a copy.
parentPort!.on('message', ({ id, data }: Job) => {
  const digest = createHash('sha1').update(data).digest()
  parentPort!.postMessage({ id, digest, data }, [data.buffer as ArrayBuffer])
})
