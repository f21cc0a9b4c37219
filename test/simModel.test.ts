// The simulator's clock and network model (bench/sim), which the engine tests and the simulator rely on.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { SimClock } from '../bench/sim/simClock.js'
import { Network, type NetHost } from '../bench/sim/network.js'

test('the simulated clock runs events in time order, FIFO within an instant, and honours cancel', async () => {
  const clock = new SimClock()
  const seen: string[] = []
  clock.after(20, () => seen.push('b@20'))
  clock.after(10, () => {
    seen.push('a@10')
    clock.soon(() => seen.push('soon@10'))
  })
  clock.after(10, () => seen.push('a2@10'))
  const cancelled = clock.after(15, () => seen.push('never'))
  cancelled.cancel()
  let ticks = 0
  const every = clock.every(7, () => ticks++)
  const end = await clock.run(() => false, 30)
  every.cancel()
  assert.deepEqual(seen, ['a@10', 'a2@10', 'soon@10', 'b@20'])
  assert.equal(ticks, 4, 'at 7, 14, 21 and 28')
  assert.equal(end, 28, 'stops at the last event before the limit')
})

test('promises chained by an event settle before time moves on', async () => {
  const clock = new SimClock()
  const seen: number[] = []
  clock.after(5, () => {
    void Promise.resolve().then(() => Promise.resolve()).then(() => seen.push(clock.now()))
  })
  clock.after(6, () => seen.push(clock.now()))
  await clock.run(() => false, 100)
  assert.deepEqual(seen, [5, 6])
})

const host = (name: string, site: string, up: number, down = up): NetHost => ({ name, site, up, down })

/** Runs one flow per pair with endless data; returns the bytes each moved in `ms`. */
async function share(net: Network, clock: SimClock, pairs: [NetHost, NetHost][], ms: number): Promise<number[]> {
  const flows = pairs.map(([a, b]) => net.flow(a, b))
  const feed = () => { for (const f of flows) if (f.backlog < 1e6) f.push(1e6, () => {}) }
  feed()
  const timer = clock.every(5, feed)
  await clock.run(() => false, ms)
  timer.cancel()
  return flows.map((f) => f.bytes)
}

test('flows through one uplink share it equally', async () => {
  const clock = new SimClock()
  const net = new Network(clock, [], 10, 0)
  const s = host('s', 'a', 1e6)
  const [x, y] = [host('x', 'a', 1e7), host('y', 'a', 1e7)]
  const [bx, by] = await share(net, clock, [[s, x], [s, y]], 1000)
  assert.ok(Math.abs(bx! - 5e5) < 2e4 && Math.abs(by! - 5e5) < 2e4, `${bx} and ${by} bytes in 1 s of a 1 MB/s uplink`)
})

test('capacity a flow cannot use (a slow receiver) goes to the other flows of the uplink', async () => {
  const clock = new SimClock()
  const net = new Network(clock, [], 10, 0)
  const s = host('s', 'a', 1e6)
  const slow = host('slow', 'a', 1e7, 2e5)
  const fast = host('fast', 'a', 1e7)
  const [toSlow, toFast] = await share(net, clock, [[s, slow], [s, fast]], 1000)
  assert.ok(Math.abs(toSlow! - 2e5) < 2e4, `the slow receiver took ${toSlow}`)
  assert.ok(Math.abs(toFast! - 8e5) < 3e4, `the other flow took the rest: ${toFast}`)
})

test('flows across sites share the WAN link, and arrive one WAN delay later', async () => {
  const clock = new SimClock()
  const net = new Network(clock, [{ name: 'a', rate: 1e6, delayMs: 40 }, { name: 'b', rate: 1e6, delayMs: 40 }], 10, 1)
  const [a1, a2] = [host('a1', 'a', 1e7), host('a2', 'a', 1e7)]
  const [b1, b2] = [host('b1', 'b', 1e7), host('b2', 'b', 1e7)]
  let arrived = -1
  const probe = net.flow(a1, b1)
  assert.equal(probe.delayMs, 41)
  probe.push(100, () => { arrived = clock.now() })
  await clock.run(() => arrived >= 0, 1000)
  assert.ok(arrived >= 41 && arrived <= 41 + 10, `arrived at ${arrived} ms: the next tick, then the delay`)
  const [ab1, ab2, local] = await share(net, clock, [[a1, b1], [a2, b2], [a1, a2]], 1000)
  assert.ok(ab1! + ab2! <= 1e6 * 1.02 && ab1! + ab2! > 0.9e6, `the WAN carried ${ab1! + ab2!} bytes in 1 s at 1 MB/s`)
  assert.ok(local! > 5e6, `a flow within the site is not held to the WAN: ${local}`)
})

test('with the CPU modelled, all flows together move no more than the cores allow', async () => {
  const clock = new SimClock()
  // 2 cores, 1 s of CPU per MB moved: 2 MB/s for the whole machine, whatever the links.
  const net = new Network(clock, [], 10, 0, { cores: 2, secondsPerByte: 1e-6 })
  const hosts = ['a', 'b', 'c', 'd'].map((n) => host(n, 'a', 1e7))
  const moved = await share(net, clock, [[hosts[0]!, hosts[1]!], [hosts[2]!, hosts[3]!]], 1000)
  const total = moved.reduce((x, y) => x + y, 0)
  assert.ok(Math.abs(total - 2e6) < 1e5, `${total} bytes in 1 s`)
  assert.ok(Math.abs(moved[0]! - moved[1]!) < 1e5, 'shared evenly')
})

test('shared as TCP shares, a flow with a longer round trip gets less of a common uplink', async () => {
  const clock = new SimClock()
  // Round trips of 2 ms and 82 ms plus a 4 ms queue: weights 1/6 and 1/86.
  const net = new Network(clock, [{ name: 'a', rate: 1e9, delayMs: 0 }, { name: 'b', rate: 1e9, delayMs: 40 }], 10, 1, undefined, { queueMs: 4, alpha: 1 })
  const s = host('s', 'a', 1e6)
  const [near, far] = await share(net, clock, [[s, host('near', 'a', 1e7)], [s, host('far', 'b', 1e7)]], 1000)
  const expected = 1e6 * (1 / 86) / (1 / 6 + 1 / 86)
  assert.ok(Math.abs(far! - expected) < 2e4, `the far flow moved ${far}, expected about ${expected.toFixed(0)}`)
  assert.ok(near! + far! > 0.97e6, 'the uplink stays full')
})
