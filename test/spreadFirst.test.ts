import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FEW_HOLDERS, REFUSE_WINDOW_MS, SpreadFirst } from '../src/swarm/spreadFirst.js'

test('the source serves a piece once and refuses it to others while it is busy', () => {
  const s = new SpreadFirst()
  assert.equal(s.refuse('a', 7, 0, 0, true, 0), false, 'nobody has piece 7: serve a')
  assert.equal(s.refuse('a', 7, 16384, 0, true, 1), false, 'a gets the rest of the piece')
  assert.equal(s.refuse('b', 7, 0, 0, true, 2), true, 'a is being sent piece 7: b gets it from a')
  assert.equal(s.refuse('b', 8, 0, 1, true, 2), true, 'another peer holds piece 8')
})

test('while its uplink is idle, the source serves a piece one peer holds, and refuses one a few hold', () => {
  const s = new SpreadFirst()
  assert.equal(s.refuse('c', 8, 0, 1, false, 0), false, 'one holder, nothing else to send: serve')
  assert.equal(s.refuse('d', 8, 0, 1, false, 0), true, 'sent to c and held by one: two copies out')
  assert.equal(s.refuse('e', 9, 0, FEW_HOLDERS, false, 0), true, 'held by a few peers (complete ones the tracker counts, say)')
})

test('a hundred peers arriving one by one while most hold the tree: the source sends each piece once', () => {
  // The source's uplink is idle (peers arrive a few at a time), most of the swarm is complete (complete peers
  // close their connections to the source, so only the tracker counts them), every newcomer asks the source
  // for everything once; a murder peer fetches a refused piece elsewhere and does not ask the source again.
  const s = new SpreadFirst()
  const pieces = 128
  let served = 0
  for (let peer = 0; peer < 100; peer++) {
    const completeElsewhere = peer
    for (let piece = 0; piece < pieces; piece++) {
      const t = peer * 10_000 + piece
      if (!s.refuse(`p${peer}`, piece, 0, completeElsewhere, false, t)) served++
    }
  }
  // The first peer gets every piece, no other: each later one has at least one copy out plus one holder.
  assert.equal(served, pieces)
})

test('a refusal lasts one window, then the piece is served: a peer that reaches no holder does not starve', () => {
  const s = new SpreadFirst()
  s.refuse('a', 1, 0, 0, true, 0)
  assert.equal(s.refuse('b', 1, 0, 5, true, 100), true)
  assert.equal(s.refuse('b', 1, 16384, 5, true, 101), true, 'the rest of the piece, same window')
  assert.equal(s.refuse('b', 1, 0, 5, true, 100 + REFUSE_WINDOW_MS), false, 'asked again after the window (it reaches no holder): served')
  assert.equal(s.refuse('b', 1, 16384, 5, true, 100 + REFUSE_WINDOW_MS + 1), false, 'and the rest of that piece')
})

test('a peer that leaves frees the pieces it was being sent', () => {
  const s = new SpreadFirst()
  s.refuse('a', 3, 0, 0, true, 0)
  s.forget('a')
  assert.equal(s.refuse('b', 3, 0, 0, true, 0), false, 'a left before holding piece 3: b gets it from the source')
})

test('a peer that asks again at once for a refused block (aria2c) is served, and never refused again', () => {
  const s = new SpreadFirst()
  let refusals = 0
  let t = 0
  // Like aria2c: 4 blocks of each piece in flight, a refused block asked again at once, 100 pieces others hold.
  for (let piece = 0; piece < 100; piece++) {
    const waiting = [0, 1, 2, 3].map((b) => b * 16384)
    while (waiting.length > 0) {
      const offset = waiting.shift()!
      if (s.refuse('aria2', piece, offset, 1, true, t++)) {
        refusals++
        waiting.push(offset)
      }
    }
  }
  assert.equal(refusals, 4, 'one refusal per block it had in flight, once')
  // A murder peer goes elsewhere for a refused piece and is refused as before.
  assert.equal(s.refuse('murder', 5, 0, 1, true, t), true)
  assert.equal(s.refuse('murder', 5, 16384, 1, true, t), true)
})
