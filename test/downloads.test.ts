// The swarm's downloads in-process: scripted peers answer or refuse the requests, on a fake clock.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import pino from 'pino'
import { SimClock } from '../bench/sim/simClock.js'
import { SimStore } from '../bench/sim/simStore.js'
import { Bitfield } from '../src/bitfield.js'
import { Downloads, REFUSED_MS } from '../src/swarm/downloads.js'
import { PeerConnection } from '../src/swarm/peerConnection.js'
import { TokenBucket } from '../src/swarm/rateLimiter.js'
import type { Layout } from '../src/torrent/layout.js'
import { advance, fakeLink, type FakeWire } from './helpers/fakeWire.js'
import { prng } from './helpers/prng.js'

const BLOCK = 16 * 1024

/** A torrent of `pieces` pieces of `blocks` blocks, nothing held; `bad` pieces fail their hash the first time. */
function downloads(pieces: number, blocks: number, bad: number[] = [], site?: string, blockLength = BLOCK) {
  const clock = new SimClock()
  const length = pieces * blocks * blockLength
  const layout: Layout = { pieceLength: blocks * blockLength, length, pieceCount: pieces, files: [{ length, offset: 0 }] }
  const store = new SimStore(layout)
  const failing = new Set(bad)
  const verify = store.verifyAndWrite.bind(store)
  store.verifyAndWrite = (piece, buf) => (failing.delete(piece) ? Promise.resolve({ stored: false, data: buf }) : verify(piece, buf))
  const have = new Bitfield(pieces)
  const conns = new Set<PeerConnection>()
  const strikes: string[] = []
  const verified: number[] = []
  let complete = false
  const d = new Downloads({
    store, have, clock, logger: pino({ level: 'silent' }), downloadLimit: new TokenBucket(Infinity), blockLength,
    maxActive: 4, random: prng(1), conns, closed: () => false, site: () => site,
    strike: (c, _reason, lone) => strikes.push(`${c.address} ${lone ? 'lone' : 'one of several'}`),
    bothComplete: () => {},
    verified: (piece) => verified.push(piece),
    complete: () => { complete = true },
    fatal: (err) => { throw err },
  })
  /** A handshaken peer holding `held` pieces; unchoking us unless `choking`; of our site if `local`. */
  const peer = (address: string, held: number[] | 'all', choking = false, local = false): { conn: PeerConnection; wire: FakeWire } => {
    const link = fakeLink(address)
    const conn = new PeerConnection(link, true, address, pieces, d.newPipeline())
    conn.id = address
    conn.handshaken = true
    conns.add(conn)
    if (local) d.markLocal(conn)
    // As the swarm routes them.
    link.wire.on('reject', (index: number) => d.refused(conn, index))
    link.wire.peerChoking = choking
    const bits = new Bitfield(pieces)
    if (held !== 'all') for (const i of held) bits.set(i)
    d.setPieces(conn, held === 'all' ? 'all' : bits)
    d.peerChanged(conn)
    return { conn, wire: link.wire }
  }
  /** The connection ended, as the swarm reports it. */
  const leave = (conn: PeerConnection) => {
    conns.delete(conn)
    d.peerGone(conn)
  }
  return { clock, d, have, peer, leave, strikes, verified, done: () => complete }
}

test('requests are topped up in batches: the pipeline refills once a batch of blocks has come in', async () => {
  const { clock, peer } = downloads(8, 16)
  const { conn, wire } = peer('a', 'all')
  const depth = conn.pipeline.depth
  assert.ok(wire.sent.includes('interested'))
  assert.equal(wire.pending.length, depth, 'a pipeline of requests at once')
  for (let i = 0; i < 15; i++) wire.answer()
  assert.equal(wire.pending.length, depth - 15, 'no request per block received')
  wire.answer()
  assert.equal(wire.pending.length, depth, 'the 16th block refills the pipeline')
  await advance(clock, 10)
  assert.equal(wire.pending.length, depth)
})

test('with larger blocks the batch is as many bytes: 128 KiB blocks refill after 2, not once the pipeline drained', async () => {
  const { peer } = downloads(8, 16, [], undefined, 8 * BLOCK)
  const { conn, wire } = peer('a', 'all')
  const depth = conn.pipeline.depth
  assert.equal(depth, 8, 'the same 1 MiB in flight')
  wire.answer()
  assert.equal(wire.pending.length, depth - 1)
  wire.answer()
  assert.equal(wire.pending.length, depth, 'two blocks (256 KiB) in refill the pipeline')
})

test('a piece is verified once its last block is in, and the download completes when every piece is', async () => {
  const { clock, peer, have, verified, done } = downloads(2, 4)
  const { wire } = peer('a', 'all')
  while (wire.pending.length > 0) wire.answer()
  assert.equal(verified.length, 0, 'verification is asynchronous')
  await advance(clock, 1)
  assert.deepEqual(verified.sort(), [0, 1])
  assert.ok(have.complete && done())
  assert.ok(wire.sent.includes('uninterested'), 'nothing more to want')
})

test('a piece that fails its hash is blamed on its lone sender, and asked for again', async () => {
  const { clock, peer, strikes, verified } = downloads(1, 4, [0])
  const { wire } = peer('a', 'all')
  while (wire.pending.length > 0) wire.answer()
  await advance(clock, 1)
  assert.deepEqual(strikes, ['a lone'])
  assert.deepEqual(verified, [])
  assert.equal(wire.pending.length, 4, 'every block of the piece asked again')
})

test('a piece from several senders gives each a strike; endgame duplicates are cancelled', async () => {
  const { clock, peer, strikes } = downloads(1, 4, [0])
  const a = peer('a', [0])
  const b = peer('b', [0])
  assert.equal(a.wire.pending.length, 4)
  assert.equal(b.wire.pending.length, 4, 'the endgame asks the second peer for the same blocks')
  a.wire.answer()
  a.wire.answer()
  assert.ok(b.wire.sent.includes(`cancel 0:0`) && b.wire.sent.includes(`cancel 0:${BLOCK}`), 'blocks in are withdrawn elsewhere')
  b.wire.answer(2)
  b.wire.answer(2)
  await advance(clock, 1)
  assert.deepEqual(strikes, ['a one of several', 'b one of several'])
})

test('a bad piece partly sent by a peer that left has no lone culprit', async () => {
  const { clock, peer, leave, strikes } = downloads(1, 4, [0])
  const a = peer('a', [0])
  a.wire.answer()
  a.wire.answer()
  leave(a.conn)
  const b = peer('b', [0])
  assert.equal(b.wire.pending.length, 2, 'the blocks the leaver still owed')
  b.wire.answer()
  b.wire.answer()
  await advance(clock, 1)
  assert.deepEqual(strikes, ['b one of several'], 'not banned at once: the leaver may have sent the bad blocks')
})

test('a refused piece is asked again when the refusal lapses, unprompted, if nobody else offers it', async () => {
  const { clock, peer } = downloads(1, 4)
  const { wire } = peer('source', [0])
  assert.equal(wire.pending.length, 4)
  wire.rejectAll()
  await advance(clock, REFUSED_MS)
  assert.equal(wire.pending.length, 0, 'not within the refusal')
  await advance(clock, 1)
  assert.equal(wire.pending.length, 4, `asked again at ${clock.now()} ms with no other event`)
})

test('a refused piece that another peer offers is fetched there, and the refusing peer asked again only once none does', async () => {
  const { clock, d, peer } = downloads(1, 4)
  const source = peer('source', [0])
  const other = peer('other', [0], true)
  source.wire.rejectAll()
  await advance(clock, 1)
  assert.equal(other.wire.pending.length, 0, 'choked: nothing asked of it yet')
  other.wire.peerChoking = false
  d.fill(other.conn)
  assert.equal(other.wire.pending.length, 4, 'fetched from the other holder')
  await advance(clock, 2 * REFUSED_MS)
  d.fill(source.conn)
  assert.equal(source.wire.pending.length, 0, 'past the refusal, still not asked: the other peer offers the piece')
  // The other peer chokes us: its requests fail, and now nobody else would give the piece.
  other.wire.peerChoking = true
  for (const r of other.wire.pending.splice(0)) r.cb(new Error('choked'), null)
  await advance(clock, 1)
  assert.equal(source.wire.pending.length, 4, 'the refusing peer is asked again')
})

test('a peer across that holds the piece does not stop the refusing source of our site being asked again: we would not ask it', async () => {
  const { clock, peer } = downloads(1, 4, [], 'a')
  const source = peer('source', [0], false, true)
  const across = peer('across', 'all')
  assert.equal(across.wire.pending.length, 0, 'our site holds the piece: not fetched across')
  source.wire.rejectAll()
  await advance(clock, REFUSED_MS + 1)
  assert.equal(source.wire.pending.length, 4, 'the source is asked again once its refusal lapses')
  assert.equal(across.wire.pending.length, 0)
})

test('a block withdrawn from a peer may still arrive once; any other unasked block is not ours', () => {
  const { peer, leave, d } = downloads(1, 4)
  const { conn, wire } = peer('a', [0])
  const r = wire.pending.shift()!
  r.cb(new Error('request timed out'), null)
  assert.ok(d.wasCancelled(conn, r.piece, r.offset), 'the withdrawn block crossed our cancel')
  assert.ok(!d.wasCancelled(conn, r.piece, r.offset), 'but only once')
  assert.ok(!d.wasCancelled(conn, 0, BLOCK + 1), 'not on a block boundary')
  leave(conn)
})
