// WanFirst's pure policy: the uplink's capacity from what it sent, and the pace of local uploads it implies.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { WanFirst } from '../src/swarm/wanFirst.js'

test('no pace until a whole second was measured, then half the most sent in a second', () => {
  let now = 0
  const w = new WanFirst(() => now)
  w.sent(4_000_000)
  assert.equal(w.localPace(), null, 'no capacity known within the first second')
  now = 1000
  w.sent(2_000_000)
  assert.equal(w.capacity, 4_000_000)
  assert.equal(w.localPace()!.rate, 2_000_000)
  now = 2500
  // 2 MB in the second window: the peak stays; idle time after it adds no window.
  assert.equal(w.capacity, 4_000_000)
  w.sent(10_000_000)
  now = 3000
  assert.equal(w.capacity, 10_000_000, 'a faster second raises the capacity')
  assert.equal(w.localPace()!.rate, 5_000_000)
})

test('the local pace holds local uploads to half the capacity', () => {
  let now = 0
  const w = new WanFirst(() => now)
  w.sent(2_000_000)
  now = 1000
  const pace = w.localPace()!
  let sent = 0
  // Send 64 KiB blocks whenever the pace allows, for 10 s.
  for (; now < 11_000; now++) {
    while (pace.delayFor(65536) === 0) {
      pace.take(65536)
      sent += 65536
    }
  }
  assert.ok(sent >= 9_500_000 && sent <= 10_500_000, `${sent} bytes in 10 s at 1 MB/s`)
})
