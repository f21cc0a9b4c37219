import { test } from 'node:test'
import assert from 'node:assert/strict'
import { AcrossShare } from '../src/swarm/acrossShare.js'

const ids = ['2d4d55303130302d8f3a11c2d4e5f60718293a4b', '2d4d55303130302d01bc7e9a55aa33cc00ff1e2d', '2d4d55303130302d77e1c0de4f00ba4b12345678']

test("a site's bridges share out the pieces they fetch across: each piece one bridge's, about evenly", () => {
  const shares = ids.map((own) => {
    const s = new AcrossShare(own)
    for (const other of ids) if (other !== own) s.set(other, true)
    return s
  })
  const counts = [0, 0, 0]
  for (let piece = 0; piece < 3000; piece++) {
    const owners = shares.filter((s) => s.mine(piece))
    assert.equal(owners.length, 1, `piece ${piece} has one owner`)
    counts[shares.indexOf(owners[0]!)]!++
  }
  for (const n of counts) assert.ok(n > 850 && n < 1150, `shares ${counts.join(', ')}`)
})

test('a bridge that knows no other bridge of its site, or whose other bridges left, fetches every piece', () => {
  const s = new AcrossShare(ids[0]!)
  assert.ok(s.alone)
  for (let piece = 0; piece < 100; piece++) assert.ok(s.mine(piece))
  s.set(ids[1]!, true)
  assert.ok(!s.alone)
  assert.ok(Array.from({ length: 100 }, (_, i) => i).some((i) => !s.mine(i)))
  s.set(ids[1]!, false)
  for (let piece = 0; piece < 100; piece++) assert.ok(s.mine(piece))
})
