import { test } from 'node:test'
import assert from 'node:assert/strict'
import { SuperSeeder } from '../src/swarm/superSeed.js'

test('super-seeding gives out every piece once before any twice, a few per peer', () => {
  const s = new SuperSeeder(12, 2, () => 0.5)
  const none = () => false
  const zero = () => 0
  const seen = new Set<number>()
  for (const peer of ['a', 'b', 'c']) for (const p of s.reveal(peer, none, zero)) seen.add(p)
  assert.equal(seen.size, 6, 'three peers, two distinct pieces each')
  assert.deepEqual(s.reveal('a', none, zero), [], 'nothing more until the peer reports a piece')
})

test('after the first round only pieces nobody holds are revealed again', () => {
  const s = new SuperSeeder(4, 2, () => 0.5)
  const held = new Set<number>()
  const a = s.reveal('a', (i) => held.has(i), () => 0)
  const b = s.reveal('b', () => false, () => 0)
  assert.equal(new Set([...a, ...b]).size, 4)
  // b got both of its pieces; a's pieces are held by a now.
  const avail = (i: number) => (a.includes(i) ? 1 : 0)
  const more = s.reveal('b', (i) => b.includes(i), avail)
  assert.deepEqual(more, [], 'a holds the rest: b gets them from a, not from the source')
  s.forget('a')
  const lost = s.reveal('b', (i) => b.includes(i), () => 0)
  assert.deepEqual(lost.sort(), [...a].sort(), 'a left before sharing: its pieces are revealed again')
})

test('the reveal window is shared: a lone peer gets all of it, later peers a share, never below two', () => {
  const s = new SuperSeeder(100, 8, () => 0.5)
  const none = () => false
  const zero = () => 0
  assert.equal(s.reveal('a', none, zero).length, 8, 'one peer: the whole window, enough for a full pipeline')
  assert.equal(s.reveal('b', none, zero).length, 4, 'two peers: half each')
  for (const p of ['c', 'd', 'e', 'f']) s.reveal(p, none, zero)
  assert.equal(s.reveal('g', none, zero).length, 2, 'seven peers: at least two each')
  const all = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].flatMap((p) => s.reveal(p, none, zero))
  assert.deepEqual(all, [], 'nobody gets more until it reports a piece')
})
