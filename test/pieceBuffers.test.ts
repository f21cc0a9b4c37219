import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PieceBuffers } from '../src/swarm/pieceBuffers.js'
import { PieceCache } from '../src/swarm/pieceCache.js'
import type { FileStorage } from '../src/storage/fileStorage.js'

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

test('the upload cache hands back a downloaded piece on eviction only if no upload used it', async () => {
  const released: number[] = []
  const cache = new PieceCache({} as FileStorage, 2, (buf) => released.push(buf[0]!))
  const piece = (i: number) => new Uint8Array([i])
  cache.put(1, piece(1))
  cache.put(2, piece(2))
  assert.equal((await cache.get(2))[0], 2, 'served from the cache')
  cache.put(3, piece(3)) // evicts 1: never served
  cache.put(4, piece(4)) // evicts 2: served, may still be in a socket's queue
  assert.deepEqual(released, [1])
})
