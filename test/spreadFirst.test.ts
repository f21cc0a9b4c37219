import { test } from 'node:test'
import assert from 'node:assert/strict'
import { REFUSE_WINDOW_MS, SpreadFirst } from '../src/swarm/spreadFirst.js'

test('the source serves a piece once and refuses it to others while it is busy', () => {
  const s = new SpreadFirst()
  assert.equal(s.refuse('a', 7, 0, false, true, 0), false, 'nobody has piece 7: serve a')
  assert.equal(s.refuse('a', 7, 0, false, true, 1), false, 'a gets the rest of the piece')
  assert.equal(s.refuse('b', 7, 0, false, true, 2), true, 'a is being sent piece 7: b gets it from a')
  assert.equal(s.refuse('b', 8, 0, true, true, 2), true, 'another peer holds piece 8')
  assert.equal(s.refuse('c', 8, 0, true, false, 2), false, 'nothing else to send: serve')
})

test('a refusal lasts one window, then the piece is served: no peer starves', () => {
  const s = new SpreadFirst()
  s.refuse('a', 1, 0, false, true, 0)
  assert.equal(s.refuse('b', 1, 0, true, true, 100), true)
  assert.equal(s.refuse('b', 1, 16384, true, true, 100 + REFUSE_WINDOW_MS - 1), true, 'the rest of the piece, same window')
  assert.equal(s.refuse('b', 1, 0, true, true, 100 + REFUSE_WINDOW_MS), false, 'asked again later: served')
})

test('a peer that leaves frees the pieces it was being sent', () => {
  const s = new SpreadFirst()
  s.refuse('a', 3, 0, false, true, 0)
  s.forget('a')
  assert.equal(s.refuse('b', 3, 0, false, true, 0), false, 'a left before holding piece 3: b gets it from the source')
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
      if (s.refuse('aria2', piece, offset, true, true, t++)) {
        refusals++
        waiting.push(offset)
      }
    }
  }
  assert.equal(refusals, 4, 'one refusal per block it had in flight, once')
  // A murder peer goes elsewhere for a refused piece and is refused as before.
  assert.equal(s.refuse('murder', 5, 0, true, true, t), true)
  assert.equal(s.refuse('murder', 5, 16384, true, true, t), true)
})
