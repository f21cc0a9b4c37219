// WanFirst's pure policy: the uplink's capacity from what it sent, and the pace of local uploads it implies.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { WanFirst } from '../src/swarm/wanFirst.js'

/**
 * For `ms`, sends `acrossPerMs` bytes a ms across and 64 KiB blocks to local peers whenever the pace allows and an
 * uplink of `linkPerMs` bytes a ms has room; returns bytes sent locally.
 */
function run(w: WanFirst, clock: { now: number }, ms: number, acrossPerMs: number, linkPerMs: number): number {
  let local = 0
  let link = 0
  for (const end = clock.now + ms; clock.now < end; clock.now++) {
    w.sent(acrossPerMs, true)
    link += linkPerMs - acrossPerMs
    while (link >= 65536 && w.delayFor(65536) === 0) {
      w.take(65536)
      w.sent(65536, false)
      local += 65536
      link -= 65536
    }
    link = Math.min(link, 65536)
  }
  return local
}

/** A WanFirst whose first second measured `capacity` bytes/s, at the start of its second second. */
function measured(capacity: number): { w: WanFirst; clock: { now: number } } {
  const clock = { now: 0 }
  const w = new WanFirst(() => clock.now)
  w.sent(capacity, false)
  assert.equal(w.delayFor(1e9), 0, 'nothing is held back before the capacity is known')
  clock.now = 1000
  return { w, clock }
}

test('the capacity is the busiest second', () => {
  const { w, clock } = measured(4_000_000)
  w.sent(2_000_000, false)
  assert.equal(w.capacity, 4_000_000)
  clock.now = 2500
  assert.equal(w.capacity, 4_000_000, 'a slower second and idle time leave it')
  w.sent(10_000_000, false)
  clock.now = 3000
  assert.equal(w.capacity, 10_000_000, 'a busier second raises it')
})

test('local peers leave the WAN 1.25 times what it took, and never more than half the uplink', () => {
  const mb = 1_000_000
  // An 8 MB/s uplink, measured; the WAN takes 2 MB/s: local uploads get 8 - 2.5 = 5.5 MB/s (6 in the first
  // second, before the WAN's take was measured).
  let { w, clock } = measured(8 * mb)
  let local = run(w, clock, 10_000, 2000, 8000)
  assert.ok(local >= 54 * mb && local <= 57 * mb, `${local} bytes locally in 10 s with 2 MB/s across`)
  // The WAN takes 3.5 MB/s: local uploads get half, 4 MB/s, not 8 - 4.375.
  ;({ w, clock } = measured(8 * mb))
  local = run(w, clock, 10_000, 3500, 8000)
  assert.ok(local >= 39 * mb && local <= 42 * mb, `${local} bytes locally in 10 s with 3.5 MB/s across`)
  assert.ok(Math.abs(w.capacity - 8 * mb) < 0.05 * mb, `the estimate stays the uplink: ${w.capacity}`)
})

test('held back while the WAN takes next to nothing, the estimate grows until local peers are no longer held', () => {
  // A first second with little to send understates an uplink of (say) 12 MB/s.
  const { w, clock } = measured(1_000_000)
  const first = run(w, clock, 1000, 10, 12_000)
  assert.ok(first <= 1_100_000, `held to the estimate at first: ${first}`)
  const later = run(w, clock, 15_000, 10, 12_000) // 0.01 MB/s across
  assert.ok(w.capacity >= 11_000_000, `the estimate grew to ${w.capacity}`)
  assert.ok(later > 120e6, `${later} bytes locally in 15 s`)
})
