import { test } from 'node:test'
import assert from 'node:assert/strict'
import { REFUSE_WINDOW_MS, SpreadFirst } from '../src/swarm/spreadFirst.js'

test('the source serves a piece once and refuses it to others while it is busy', () => {
  const s = new SpreadFirst()
  assert.equal(s.refuse('a', 7, false, true, 0), false, 'nobody has piece 7: serve a')
  assert.equal(s.refuse('a', 7, false, true, 1), false, 'a gets the rest of the piece')
  assert.equal(s.refuse('b', 7, false, true, 2), true, 'a is being sent piece 7: b gets it from a')
  assert.equal(s.refuse('b', 8, true, true, 2), true, 'another peer holds piece 8')
  assert.equal(s.refuse('c', 8, true, false, 2), false, 'nothing else to send: serve')
})

test('a refusal lasts one window, then the piece is served: no peer starves', () => {
  const s = new SpreadFirst()
  s.refuse('a', 1, false, true, 0)
  assert.equal(s.refuse('b', 1, true, true, 100), true)
  assert.equal(s.refuse('b', 1, true, true, 100 + REFUSE_WINDOW_MS - 1), true, 'the rest of the piece, same window')
  assert.equal(s.refuse('b', 1, true, true, 100 + REFUSE_WINDOW_MS), false, 'asked again later: served')
})

test('a peer that leaves frees the pieces it was being sent', () => {
  const s = new SpreadFirst()
  s.refuse('a', 3, false, true, 0)
  s.forget('a')
  assert.equal(s.refuse('b', 3, false, true, 0), false, 'a left before holding piece 3: b gets it from the source')
})
