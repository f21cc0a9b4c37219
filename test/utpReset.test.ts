import { test } from 'node:test'
import assert from 'node:assert/strict'
import { utpResetFor } from '../src/swarm/utpReset.js'

test('a uTP SYN without extensions (libtorrent\'s) gets a reset with its connection id that acknowledges its sequence number; nothing else is answered', () => {
  const syn = Buffer.alloc(26)
  syn[0] = 0x41
  syn.writeUInt16BE(0xbeef, 2)
  syn.writeUInt16BE(4242, 16)
  const reset = Buffer.from(utpResetFor(syn, 2 ** 32 + 5)!)
  assert.equal(reset.length, 20, 'never longer than the SYN: no amplification')
  assert.deepEqual([reset[0], reset[1], reset.readUInt16BE(2), reset.readUInt32BE(4), reset.readUInt16BE(18)], [0x31, 0, 0xbeef, 5, 4242])
  assert.equal(utpResetFor(syn.subarray(0, 19), 0), null, 'too short')
  for (const first of [0x01, 0x21, 0x31, 0x42, 0x00]) {
    const other = Buffer.from(syn)
    other[0] = first
    assert.equal(utpResetFor(other, 0), null, `type/version 0x${first.toString(16)}`)
  }
  const libutp = Buffer.from(syn)
  libutp[1] = 2
  assert.equal(utpResetFor(libutp, 0), null, 'libutp\'s SYN (Transmission) is left to time out')
})
