import { test } from 'node:test'
import assert from 'node:assert/strict'
import { STARVING_MS, SuperSeeder } from '../src/swarm/superSeed.js'

test('super-seeding gives out every piece once before any twice, a few per peer', () => {
  const s = new SuperSeeder(12, 2, () => 0.5)
  const none = () => false
  const zero = () => 0
  const seen = new Set<number>()
  for (const peer of ['a', 'b', 'c']) for (const p of s.reveal(peer, none, zero, 0, 0)) seen.add(p)
  assert.equal(seen.size, 6, 'three peers, two distinct pieces each')
  assert.deepEqual(s.reveal('a', none, zero, 0, 0), [], 'nothing more until the peer reports a piece')
})

test('after the first round only pieces nobody holds are revealed again', () => {
  const s = new SuperSeeder(4, 2, () => 0.5)
  const held = new Set<number>()
  const a = s.reveal('a', (i) => held.has(i), () => 0, 0, 0)
  const b = s.reveal('b', () => false, () => 0, 0, 0)
  assert.equal(new Set([...a, ...b]).size, 4)
  // b got both of its pieces; a's pieces are held by a now.
  const avail = (i: number) => (a.includes(i) ? 1 : 0)
  const more = s.reveal('b', (i) => b.includes(i), avail, 2, 10)
  assert.deepEqual(more, [], 'a holds the rest: b gets them from a, not from the source')
  s.forget('a')
  const lost = s.reveal('b', (i) => b.includes(i), () => 0, 2, 20)
  assert.deepEqual(lost.sort(), [...a].sort(), 'a left before sharing: its pieces are revealed again')
})

test('the reveal window is shared: a lone peer gets all of it, later peers a share, never below two', () => {
  const s = new SuperSeeder(100, 8, () => 0.5)
  const none = () => false
  const zero = () => 0
  assert.equal(s.reveal('a', none, zero, 0, 0).length, 8, 'one peer: the whole window, enough for a full pipeline')
  assert.equal(s.reveal('b', none, zero, 0, 0).length, 4, 'two peers: half each')
  for (const p of ['c', 'd', 'e', 'f']) s.reveal(p, none, zero, 0, 0)
  assert.equal(s.reveal('g', none, zero, 0, 0).length, 2, 'seven peers: at least two each')
  const all = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].flatMap((p) => s.reveal(p, none, zero, 0, 0))
  assert.deepEqual(all, [], 'nobody gets more until it reports a piece')
})

test('a peer that gets nothing from the others for a while is shown every piece, like a plain seed would', () => {
  const s = new SuperSeeder(4, 2, () => 0.5)
  const aHas = new Set(s.reveal('a', () => false, () => 0, 0, 0))
  const bHas = new Set(s.reveal('b', () => false, () => 0, 0, 0))
  // Every piece given once and now held: b is expected to get a's pieces from a.
  const avail = () => 1
  assert.deepEqual(s.reveal('b', (i) => bHas.has(i), avail, 2, 100), [])
  assert.deepEqual(s.reveal('b', (i) => bHas.has(i), avail, 2, 100 + STARVING_MS - 1), [], 'not yet starving')
  const rescue = s.reveal('b', (i) => bHas.has(i), avail, 2, 100 + STARVING_MS)
  assert.deepEqual(rescue.sort(), [...aHas].sort(), 'b never reached a (another site): the source shows it every piece it lacks')
  assert.deepEqual(s.reveal('b', (i) => bHas.has(i), avail, 2, 100 + 2 * STARVING_MS), [], 'shown once, for good')
})

test('a peer gaining pieces from the others is not starving, however long it takes', () => {
  const s = new SuperSeeder(6, 2, () => 0.5)
  s.reveal('a', () => false, () => 0, 0, 0)
  s.reveal('a2', () => false, () => 0, 0, 0)
  const bHas = new Set(s.reveal('b', () => false, () => 0, 0, 0))
  let held = 2
  for (let t = 500; t <= 5000; t += 500) {
    held++
    assert.deepEqual(s.reveal('b', (i) => bHas.has(i), () => 1, held, t), [], `t=${t}: b still gains from its peers`)
  }
})
