import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PiecePicker } from '../src/swarm/piecePicker.js'
import { chooseUnchoked } from '../src/swarm/choker.js'

const all = () => true
const never = () => false

function seeded(seed: number): () => number {
  return () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
}

test('rarest first once a few pieces are held, finishing started pieces first', () => {
  const p = new PiecePicker({ pieceCount: 10, blocksIn: () => 4, maxActive: 4, randomFirst: 2, random: seeded(1) })
  p.markHave(0)
  p.markHave(1)
  for (let i = 2; i < 10; i++) for (let k = 0; k < (i === 7 ? 1 : 3); k++) p.peerHas(i)
  const first = p.pick(all, 2, never)
  assert.deepEqual(first.map((r) => r.piece), [7, 7], 'piece 7 is the rarest')
  const next = p.pick(all, 2, never)
  assert.deepEqual(next, [{ piece: 7, block: 2 }, { piece: 7, block: 3 }], 'the started piece is finished first')
})

test('random first pieces spread over the torrent', () => {
  const seen = new Set<number>()
  for (let s = 1; s < 30; s++) {
    const p = new PiecePicker({ pieceCount: 50, blocksIn: () => 1, maxActive: 4, randomFirst: 4, random: seeded(s) })
    seen.add(p.pick(all, 1, never)[0]!.piece)
  }
  assert.ok(seen.size > 5, `first pieces should vary, saw ${[...seen]}`)
})

test('only pieces the peer has; failed requests and failed hashes come back', () => {
  const p = new PiecePicker({ pieceCount: 4, blocksIn: () => 2, maxActive: 4, randomFirst: 0 })
  const picks = p.pick((i) => i === 3, 10, never)
  assert.deepEqual(picks, [{ piece: 3, block: 0 }, { piece: 3, block: 1 }])
  assert.deepEqual(p.pick((i) => i === 3, 10, never), [], 'nothing left to ask of this peer outside endgame')
  p.requestFailed({ piece: 3, block: 1 })
  assert.deepEqual(p.pick((i) => i === 3, 10, never), [{ piece: 3, block: 1 }])
  assert.equal(p.blockReceived({ piece: 3, block: 0 }), false)
  assert.equal(p.blockReceived({ piece: 3, block: 1 }), true)
  assert.equal(p.blockReceived({ piece: 3, block: 1 }), false, 'a duplicate block does not complete twice')
  p.pieceFailed(3)
  assert.equal(p.pick((i) => i === 3, 10, never).length, 2)
})

test('endgame asks for outstanding blocks again, never twice of the same peer', () => {
  const p = new PiecePicker({ pieceCount: 1, blocksIn: () => 3, maxActive: 4, randomFirst: 0 })
  const a = p.pick(all, 10, never)
  assert.equal(a.length, 3)
  p.blockReceived(a[0]!)
  const asked = new Set(a.map((r) => `${r.piece}/${r.block}`))
  assert.deepEqual(p.pick(all, 10, (r) => asked.has(`${r.piece}/${r.block}`)), [])
  const b = p.pick(all, 10, never)
  assert.deepEqual(b, [{ piece: 0, block: 1 }, { piece: 0, block: 2 }])
})

test('a peer across a WAN link gets no endgame: a block is asked across once', () => {
  const p = new PiecePicker({ pieceCount: 1, blocksIn: () => 3, maxActive: 4, randomFirst: 0 })
  const a = p.pick(all, 10, never, true)
  assert.equal(a.length, 3)
  assert.deepEqual(p.pick(all, 10, never, true), [], 'not again across')
  assert.deepEqual(p.pick(all, 10, never), a, 'a peer of our site may be asked too')
})

test('active pieces are bounded; a peer with none of them may still start one', () => {
  const p = new PiecePicker({ pieceCount: 20, blocksIn: () => 100, maxActive: 2, randomFirst: 0 })
  p.pick((i) => i < 10, 1000, never)
  assert.equal(p.activeCount, 2)
  p.pick((i) => i >= 10, 1, never)
  assert.equal(p.activeCount, 3)
  p.pick((i) => i >= 10, 1000, never)
  assert.equal(p.activeCount, 3, 'the soft limit holds for a peer that got blocks')
  assert.equal(p.countWanted((i) => i >= 18), 2)
  p.markHave(19)
  assert.equal(p.countWanted((i) => i >= 18), 1)
})

test('choker: with a slot for everyone all are unchoked; else the interested up to the cap, past it the fastest plus a rotating slot', () => {
  const peers = ['a', 'b', 'c', 'd'].map((id, i) => ({ id, interested: id !== 'd', rate: 10 - i }))
  assert.deepEqual([...chooseUnchoked(peers, 5, null).unchoke].sort(), ['a', 'b', 'c', 'd'], 'not yet interested, still unchoked')
  assert.deepEqual([...chooseUnchoked(peers, 3, null).unchoke].sort(), ['a', 'b', 'c'], 'no slot goes to a peer that wants nothing')
  const many = Array.from({ length: 6 }, (_, i) => ({ id: `p${i}`, interested: true, rate: 100 - i }))
  let d = chooseUnchoked(many, 3, null)
  assert.ok(d.unchoke.has('p0') && d.unchoke.has('p1'))
  assert.equal(d.unchoke.size, 3)
  const rotated = new Set<string>()
  for (let i = 0; i < 4; i++) {
    rotated.add(d.optimistic!)
    d = chooseUnchoked(many, 3, d.optimistic)
  }
  assert.equal(rotated.size, 4, 'the optimistic slot visits every other peer')
  const holder = d.optimistic
  assert.equal(chooseUnchoked(many, 3, holder, false).optimistic, holder, 'between rounds its holder keeps it')
  const gone = many.map((p) => ({ ...p, interested: p.id !== holder }))
  assert.notEqual(chooseUnchoked(gone, 3, holder, false).optimistic, holder, 'unless it wants nothing more')
  const tied = many.map((p) => ({ ...p, rate: 0 }))
  const orders = [[0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0]].map((ties) => [...chooseUnchoked(tied.map((p, i) => ({ ...p, tie: ties[i] })), 3, null).unchoke])
  assert.deepEqual(orders[0]!.slice(0, 2), ['p0', 'p1'])
  assert.deepEqual(orders[1]!.slice(0, 2), ['p5', 'p4'], 'equal rates: each peer its own order, not the ids\'')
  const across = many.map((p) => ({ ...p, first: p.id === 'p5' }))
  assert.ok(chooseUnchoked(across, 3, null).unchoke.has('p5'), 'a peer served first gets a regular slot, however slow')
})

test('choker: a round gives the rotating slot first to a peer far behind the median peer interested in us', () => {
  // Six interested peers of 100 pieces each; p4 holds 40, the others 70-90; two regular slots by rate (p0, p1).
  const held = [90, 85, 80, 75, 40, 70]
  const peers = held.map((h, i) => ({ id: `p${i}`, interested: true, rate: 100 - i, held: h }))
  const rotating = (lagBehind: number, rotate = true, last: string | null = null) => {
    const d = chooseUnchoked(peers, 3, last, rotate, lagBehind)
    assert.ok(d.unchoke.has('p0') && d.unchoke.has('p1') && d.unchoke.size === 3)
    return d.optimistic
  }
  assert.equal(rotating(Infinity), 'p2', 'by default the next in id order')
  assert.equal(rotating(5), 'p4', '40 pieces against a median of 80: 35 past the 5 allowed')
  assert.equal(rotating(50), 'p2', 'within what is allowed it takes its turn')
  assert.equal(rotating(5, false, 'p3'), 'p3', 'between rounds the holder keeps the slot')
  assert.equal(rotating(5, true, 'p4'), 'p4', 'still as far behind, it keeps it the next round')
})

test('told what the peer holds, the picker picks the same blocks and stops asking past its last piece', () => {
  const held = new Set([3, 17, 18, 40])
  const holder = { has: (i: number) => held.has(i), wanted: held.size }
  const pickers = [1, 2].map(() => new PiecePicker({ pieceCount: 64, blocksIn: () => 2, maxActive: 2, randomFirst: 0, random: seeded(5) }))
  for (const p of pickers) for (let i = 0; i < 64; i++) if (i % 3 === 0) p.peerHas(i)
  const asked: number[][] = [[], []]
  const offers = (k: number) => (i: number) => {
    asked[k]!.push(i)
    return held.has(i)
  }
  for (let round = 0; round < 3; round++) {
    assert.deepEqual(pickers[1]!.pick(offers(1), 2, never, false, holder), pickers[0]!.pick(offers(0), 2, never), `round ${round}`)
  }
  assert.ok(asked[1]!.every((i) => held.has(i)), 'only pieces it holds are offered to the check')
  assert.ok(asked[1]!.length < asked[0]!.length / 4, `${asked[1]!.length} checks against ${asked[0]!.length}`)
})
