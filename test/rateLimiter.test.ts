import { test } from 'node:test'
import assert from 'node:assert/strict'
import { TokenBucket, parseRate } from '../src/swarm/rateLimiter.js'

test('token bucket: bursts up to its size, then paces to the rate, debt included', () => {
  let now = 0
  const b = new TokenBucket(1000, 100, () => now)
  assert.equal(b.delayFor(100), 0)
  b.take(100)
  assert.equal(b.delayFor(50), 50)
  now += 50
  assert.equal(b.delayFor(50), 0)
  b.take(300) // into debt: a block larger than the burst still goes
  assert.equal(b.delayFor(100), 350)
  now += 350
  assert.equal(b.delayFor(100), 0)
  // Idle time does not accumulate beyond the burst.
  now += 1_000_000
  b.take(100)
  assert.equal(b.delayFor(100), 100)
})

test('token bucket: the long-run rate holds whatever the block size', () => {
  let now = 0
  const b = new TokenBucket(1_000_000, undefined, () => now)
  let sent = 0
  while (now < 10_000) {
    const d = b.delayFor(16384)
    if (d > 0) now += d
    else {
      b.take(16384)
      sent += 16384
    }
  }
  const rate = sent / (now / 1000)
  assert.ok(Math.abs(rate - 1_000_000) / 1_000_000 < 0.02, `rate ${rate}`)
  assert.ok(new TokenBucket(Infinity).unlimited)
  assert.equal(new TokenBucket(Infinity).delayFor(1e9), 0)
})

test('rates: bytes with k/M/G, binary with i, bits with bit/bps', () => {
  assert.equal(parseRate('500'), 500)
  assert.equal(parseRate('500k'), 500_000)
  assert.equal(parseRate('12.5M'), 12_500_000)
  assert.equal(parseRate('1Gi'), 1024 ** 3)
  assert.equal(parseRate('100mbit'), 12_500_000)
  assert.equal(parseRate('8kbps'), 1000)
  assert.equal(parseRate('10MB/s'), 10_000_000)
  assert.equal(parseRate('fast'), null)
  assert.equal(parseRate('-1'), null)
})
