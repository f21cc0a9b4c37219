import { test } from 'node:test'
import assert from 'node:assert/strict'
import { dialBackFor, utpResetFor } from '../src/swarm/utpReset.js'

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
  assert.equal(utpResetFor(libutp, 0), null, 'libutp\'s SYN (Transmission) is left unanswered')
})

test('libutp\'s SYN (Transmission\'s: an extension) asks for a dial back over TCP; libtorrent\'s SYN and other packets do not', () => {
  const syn = Buffer.alloc(30)
  syn[0] = 0x41
  syn[1] = 2
  assert.equal(dialBackFor(syn), true)
  assert.equal(dialBackFor(syn.subarray(0, 19)), false, 'too short')
  for (const [first, second] of [[0x41, 0], [0x01, 2], [0x21, 2], [0x31, 2], [0x42, 2]] as const) {
    const other = Buffer.from(syn)
    other[0] = first
    other[1] = second
    assert.equal(dialBackFor(other), false, `0x${first.toString(16)} 0x${second.toString(16)}`)
  }
})
