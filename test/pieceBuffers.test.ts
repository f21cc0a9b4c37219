import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PieceBuffers } from '../src/storage/pieceBuffers.js'
import { PieceCache } from '../src/swarm/pieceCache.js'

test('piece buffers are reused, only whole ones, up to the limit', () => {
  const b = new PieceBuffers(1024, 1)
  const first = b.take(1024)
  b.give(first)
  assert.equal(b.take(1024).buffer, first.buffer, 'the same memory comes back')
  const short = b.take(100)
  b.give(short)
  assert.notEqual(b.take(1024).buffer, short.buffer, 'a short last piece is never pooled')
  const [x, y] = [b.take(1024), b.take(1024)]
  b.give(x)
  b.give(y)
  assert.equal(b.take(1024).buffer, x.buffer, 'the pool keeps one')
  assert.notEqual(b.take(1024).buffer, y.buffer, 'beyond the limit a buffer is left to the collector')
})

test('the upload cache hands a piece back on eviction once no upload holds it', async () => {
  const released: number[] = []
  const buffers = { give: (buf: Uint8Array) => released.push(buf[0]!), take: (n: number) => Buffer.alloc(n) } as unknown as PieceBuffers
  const cache = new PieceCache({ size: () => 1, read: () => Promise.reject(new Error('not cached')) }, 2, buffers)
  const piece = (i: number) => new Uint8Array([i])
  cache.put(1, piece(1))
  cache.put(2, piece(2))
  const lent = await cache.get(2)
  assert.equal(lent.data[0], 2, 'served from the cache')
  cache.put(3, piece(3)) // evicts 1: nobody holds it
  cache.put(4, piece(4)) // evicts 2: an upload still holds it
  assert.deepEqual(released, [1])
  lent.release()
  assert.deepEqual(released, [1, 2], 'back once the socket has taken the bytes')
})
