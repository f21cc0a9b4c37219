// WanFirst's pure policy: the uplink's capacity from what it sent, and the pace of local uploads it implies.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { WanFirst } from '../src/swarm/wanFirst.js'

/** Sends 64 KiB blocks to local peers whenever the pace allows, for `ms`, plus `acrossPerMs` bytes a ms across; returns bytes sent locally. */
function run(w: WanFirst, clock: { now: number }, ms: number, acrossPerMs = 0): number {
  let local = 0
  for (const end = clock.now + ms; clock.now < end; clock.now++) {
    if (acrossPerMs > 0) w.sent(acrossPerMs)
    while (w.delayFor(65536) === 0) {
      w.take(65536)
      w.sent(65536)
      local += 65536
      if (local > 1e12) throw new Error('unpaced')
    }
  }
  return local
}

test('no pace until a whole second was measured, then the capacity is the busiest second', () => {
  const clock = { now: 0 }
  const w = new WanFirst(() => clock.now)
  w.sent(4_000_000)
  assert.equal(w.delayFor(1e9), 0, 'nothing is held back before the capacity is known')
  clock.now = 1000
  w.sent(2_000_000)
  assert.equal(w.capacity, 4_000_000)
  clock.now = 2500
  assert.equal(w.capacity, 4_000_000, 'a slower second and idle time leave it')
  w.sent(10_000_000)
  clock.now = 3000
  assert.equal(w.capacity, 10_000_000, 'a busier second raises it')
})

test('while the WAN takes its half, local peers get half the capacity', () => {
  const clock = { now: 0 }
  const w = new WanFirst(() => clock.now)
  w.sent(8_000_000)
  clock.now = 1000
  // The WAN takes 4 MB/s of the 8 measured: local uploads are held to 4 MB/s (and a burst), and the capacity
  // stays (the burst adds 5% to the second it falls in).
  const local = run(w, clock, 10_000, 4000)
  assert.ok(local >= 38e6 && local <= 44e6, `${local} bytes locally in 10 s`)
  assert.ok(w.capacity >= 8e6 && w.capacity <= 8.8e6, `capacity ${w.capacity}`)
})

test('held back while the WAN leaves its part unused, the uplink is underused: the estimate grows until local peers are no longer held', () => {
  const clock = { now: 0 }
  const w = new WanFirst(() => clock.now)
  // A first second with little to send understates an uplink of (say) 12 MB/s.
  w.sent(1_000_000)
  clock.now = 1000
  const first = run(w, clock, 1000, 100)
  assert.ok(first <= 600_000, `held to half of 1 MB/s at first: ${first}`)
  const later = run(w, clock, 15_000, 100) // 0.1 MB/s across
  assert.ok(w.capacity > 12_000_000, `the estimate grew to ${w.capacity}`)
  assert.ok(later > 40e6, `${later} bytes locally in 15 s`)
})
