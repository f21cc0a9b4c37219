import { test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { once } from 'node:events'
import { Listener } from '../src/swarm/listener.js'
import { adoptAccepted, connectPeer } from '../src/swarm/socketInput.js'
import { attachWire } from '../src/swarm/wire.js'
import { prng } from './helpers/prng.js'
import { MSG, frame, testPeerId, u32 } from './helpers/wirePeer.js'

const PIECES = 1000
const BLOCKS = 300
const BLOCK = 16 * 1024

/**
 * A handshake, a bitfield, haves and blocks, as raw bytes. The bitfield is kept by bittorrent-protocol, so
 * it must survive the many reads after it into the shared read buffer and the connection's carry buffer.
 */
function script(seed: number): { bytes: Buffer; bits: Buffer; blocks: Buffer[] } {
  const rnd = prng(seed)
  // Haves for pieces 0, 16, 32 … (even bytes), left empty in the bitfield so that each has an effect.
  const bits = Buffer.from(Array.from({ length: PIECES / 8 }, (_, i) => (i % 2 ? Math.floor(rnd() * 256) : 0)))
  const blocks = Array.from({ length: BLOCKS }, () => Buffer.from(Array.from({ length: BLOCK }, () => Math.floor(rnd() * 256))))
  const handshake = Buffer.concat([Buffer.from([19]), Buffer.from('BitTorrent protocol'), Buffer.alloc(8), Buffer.alloc(20, 1), testPeerId('raw')])
  const haves = Array.from({ length: 40 }, (_, i) => frame(MSG.have, u32(i * 16)))
  const pieces = blocks.map((b, i) => frame(MSG.piece, u32(i, 0), b))
  const bitfield = frame(MSG.bitfield, Buffer.from(bits))
  for (let i = 0; i < 40; i++) bits[i * 2]! |= 0x80
  return { bytes: Buffer.concat([handshake, bitfield, frame(MSG.unchoke), ...haves, ...pieces, ...haves]), bits, blocks }
}

/** Writes in pieces of random size, each after the previous one left, so reads cut messages anywhere. */
async function trickle(socket: net.Socket, bytes: Buffer, seed: number): Promise<void> {
  const rnd = prng(seed)
  for (let at = 0; at < bytes.length;) {
    const n = Math.min(bytes.length - at, 1 + Math.floor(rnd() < 0.5 ? rnd() * 40 : rnd() * 90_000))
    await new Promise<void>((resolve, reject) => socket.write(bytes.subarray(at, at += n), (err) => (err ? reject(err) : resolve())))
  }
}

/** Receives the script on `socket` through a wire: every block compared when it arrives, the bitfield at the end. */
async function receive(socket: net.Socket, expected: ReturnType<typeof script>): Promise<void> {
  const wire = attachWire(socket, (reason) => assert.fail(`protocol error: ${reason}`))
  let blocks = 0
  wire.once('unchoke', () => {
    for (let i = 0; i < BLOCKS; i++) {
      wire.request(i, 0, BLOCK, (err, block) => {
        assert.ifError(err)
        assert.ok(block && Buffer.from(block).equals(expected.blocks[i]!), `block ${i} arrived intact`)
        blocks++
      })
    }
  })
  await once(wire, 'have')
  while (blocks < BLOCKS) await once(wire, 'download')
  assert.ok(Buffer.from(wire.peerPieces.buffer!.subarray(0, PIECES / 8)).equals(expected.bits), 'the bitfield kept by the wire was not overwritten')
  wire.destroy()
}

test('wire input: an accepted connection (adopted socket) gets every message whole, however the reads cut them', { timeout: 20_000 }, async () => {
  const listener = await Listener.open(0, '127.0.0.1')
  const expected = script(1)
  const received = new Promise<void>((resolve, reject) => listener.onConnection((socket) => receive(adoptAccepted(socket), expected).then(resolve, reject)))
  const raw = net.connect(listener.port, '127.0.0.1')
  await once(raw, 'connect')
  await trickle(raw, expected.bytes, 2)
  await received
  raw.destroy()
  await listener.close()
})

test('wire input: an outgoing connection gets every message whole, however the reads cut them', { timeout: 20_000 }, async () => {
  const expected = script(3)
  const server = net.createServer((raw) => void trickle(raw, expected.bytes, 4).catch(() => raw.destroy()))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const socket = connectPeer('127.0.0.1', (server.address() as net.AddressInfo).port, 5000)
  await once(socket, 'connect')
  await receive(socket, expected)
  server.close()
})
