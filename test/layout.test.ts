import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pieceSize, piecesOfFile, spansOfPiece, spansOfRange, validRequest, type Layout } from '../src/torrent/layout.js'

function layoutOf(lengths: number[], pieceLength: number): Layout {
  let offset = 0
  const files = lengths.map((length) => {
    const f = { length, offset }
    offset += length
    return f
  })
  return { pieceLength, length: offset, pieceCount: Math.ceil(offset / pieceLength), files }
}

test('a piece spanning several files, with empty files in between, maps to the right runs', () => {
  const l = layoutOf([10, 0, 5, 0, 0, 20], 16)
  assert.equal(l.pieceCount, 3)
  assert.deepEqual(spansOfPiece(l, 0), [
    { file: 0, fileOffset: 0, length: 10, rangeOffset: 0 },
    { file: 2, fileOffset: 0, length: 5, rangeOffset: 10 },
    { file: 5, fileOffset: 0, length: 1, rangeOffset: 15 },
  ])
  assert.deepEqual(spansOfPiece(l, 1), [{ file: 5, fileOffset: 1, length: 16, rangeOffset: 0 }])
  assert.deepEqual(spansOfPiece(l, 2), [{ file: 5, fileOffset: 17, length: 3, rangeOffset: 0 }])
  assert.equal(pieceSize(l, 2), 3)
})

test('ranges inside a piece and at unaligned boundaries', () => {
  const l = layoutOf([7, 9, 33], 8)
  assert.deepEqual(spansOfPiece(l, 0, 6, 2), [
    { file: 0, fileOffset: 6, length: 1, rangeOffset: 0 },
    { file: 1, fileOffset: 0, length: 1, rangeOffset: 1 },
  ])
  // Every byte of the stream is covered exactly once, whatever the piece length.
  for (const pl of [1, 3, 8, 16, 64]) {
    const ll = layoutOf([7, 0, 9, 33, 1], pl)
    let covered = 0
    for (let i = 0; i < ll.pieceCount; i++) covered += spansOfPiece(ll, i).reduce((s, x) => s + x.length, 0)
    assert.equal(covered, ll.length)
  }
  assert.throws(() => spansOfRange(l.files, 40, 10), RangeError)
})

test('pieces of a file, request validation', () => {
  const l = layoutOf([5, 0, 40000, 3], 32768)
  assert.deepEqual(piecesOfFile(l, 0), { first: 0, last: 0 })
  assert.equal(piecesOfFile(l, 1), null)
  assert.deepEqual(piecesOfFile(l, 2), { first: 0, last: 1 })
  assert.deepEqual(piecesOfFile(l, 3), { first: 1, last: 1 })
  assert.equal(pieceSize(l, 1), 40008 - 32768)
  assert.ok(validRequest(l, 0, 16384, 16384, 16384))
  assert.ok(!validRequest(l, 0, 16385, 16384, 16384))
  assert.ok(!validRequest(l, 2, 0, 1, 16384))
  assert.ok(!validRequest(l, 0, 0, 32768, 16384))
  assert.ok(!validRequest(l, 0, 0, 0, 16384))
})
