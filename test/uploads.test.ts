// The swarm's uploads in-process: scripted peers ask for blocks, on a fake clock.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import pino from 'pino'
import { SimClock } from '../bench/sim/simClock.js'
import { SimStore } from '../bench/sim/simStore.js'
import { Bitfield } from '../src/bitfield.js'
import { PeerConnection } from '../src/swarm/peerConnection.js'
import { DEFAULT_PIPELINE, PipelineDepth } from '../src/swarm/pipeline.js'
import { TokenBucket } from '../src/swarm/rateLimiter.js'
import { MAX_QUEUED_UPLOADS } from '../src/swarm/uploader.js'
import { Uploads, type UploadsOptions } from '../src/swarm/uploads.js'
import type { Layout } from '../src/torrent/layout.js'
import { advance, fakeLink, type FakeLink } from './helpers/fakeWire.js'

const BLOCK = 16 * 1024
const PIECES = 4
const PIECE = 8 * BLOCK

/** A complete host serving a torrent of 4 pieces of 8 blocks; `limit`: its upload limit in bytes/s. */
function uploads(options: Partial<UploadsOptions> = {}, limit = Infinity) {
  const clock = new SimClock()
  const layout: Layout = { pieceLength: PIECE, length: PIECES * PIECE, pieceCount: PIECES, files: [{ length: PIECES * PIECE, offset: 0 }] }
  const have = new Bitfield(PIECES)
  for (let i = 0; i < PIECES; i++) have.set(i)
  const conns = new Set<PeerConnection>()
  const across = new Set<PeerConnection>()
  const dropped: string[] = []
  const u = new Uploads({
    store: new SimStore(layout), have, cachedPieces: 2, limit: new TokenBucket(limit, limit, () => clock.now()), clock, logger: pino({ level: 'silent' }),
    maxUploads: 4, spreadFirst: false, wanFirst: false, conns, across, site: () => undefined, availabilityOf: () => 0,
    // What Downloads counts as its peers' pieces arrive: here, from the scripted peers' pieces as they stand.
    localAvailabilityOf: (i) => [...conns].filter((c) => c.local && c.has(i)).length,
    closed: () => false,
    drop: (c, reason, ban) => dropped.push(`${c.id}: ${reason}${ban ? ' (banned)' : ''}`),
    fatal: (err) => { throw err },
    ...options,
  })
  /** A handshaken peer that wants to download from us. */
  const peer = (id: string, o: { local?: boolean; seed?: boolean; rate?: number } = {}): { conn: PeerConnection; link: FakeLink } => {
    const link = fakeLink(`${id}:6881`)
    const conn = new PeerConnection(link, false, link.address, PIECES, new PipelineDepth(DEFAULT_PIPELINE, 0))
    conn.id = id
    conn.handshaken = true
    conn.local = o.local ?? false
    conn.rate = o.rate ?? 0
    if (o.seed) conn.pieces = 'all'
    else link.wire.peerInterested = true
    conns.add(conn)
    return { conn, link }
  }
  return { clock, u, conns, across, dropped, peer }
}

test('an upload slot is served in the order asked, at the upload limit', async () => {
  const { clock, u, peer } = uploads({}, 64 * 1024)
  const { conn } = peer('a')
  const asked = [[1, 0], [0, 3], [0, 0], [2, 7], [1, 1], [3, 0], [0, 1], [1, 2]] as const
  const served: string[] = []
  for (const [piece, block] of asked) {
    u.request(conn, piece, block * BLOCK, BLOCK, (err, data) => {
      assert.equal(err, null)
      assert.equal(data!.length, BLOCK)
      served.push(`${piece}:${block} at ${clock.now()}`)
    })
  }
  await advance(clock, 2000)
  // The bucket holds a second's worth: four blocks at once, the next four when it has refilled.
  assert.deepEqual(served, asked.map(([p, b], i) => `${p}:${b} at ${i < 4 ? 0 : 1000}`))
  assert.equal(u.counters.uploaded, asked.length * BLOCK)
  assert.equal(conn.roundUp, asked.length * BLOCK, 'counted for the choker')
})

test('requests we cannot serve: a piece we lack is rejected, a bad request or a flood drops the peer', async () => {
  const have = new Bitfield(PIECES)
  have.set(0)
  const { clock, u, peer, dropped } = uploads({ have })
  const a = peer('a')
  u.request(a.conn, 1, 0, BLOCK, () => assert.fail('not ours to serve'))
  assert.deepEqual(a.link.wire.sent, ['reject 1:0'])
  u.request(a.conn, 0, PIECE, BLOCK, () => assert.fail('past the piece'))
  assert.deepEqual(dropped, ['a: invalid request (piece 0, offset 131072, length 16384) (banned)'])
  const b = peer('b')
  b.link.backlog = 2 * 1024 * 1024 // the socket does not drain: requests queue
  for (let i = 0; i <= MAX_QUEUED_UPLOADS; i++) u.request(b.conn, 0, 0, BLOCK, () => {})
  await advance(clock, 1)
  assert.deepEqual(dropped.slice(1), ['b: request flood (banned)'])
})

test('past --max-uploads the interested peers take turns in the rotating slot, round by round', async () => {
  const { clock, u, peer } = uploads({ maxUploads: 1 })
  const a = peer('a')
  const b = peer('b')
  u.start()
  u.rechoke()
  await advance(clock, 1)
  assert.deepEqual([a.link.wire.sent.at(-1), b.link.wire.sent.at(-1)], ['unchoke', 'choke'])
  await advance(clock, 3000)
  assert.deepEqual([a.link.wire.sent.at(-1), b.link.wire.sent.at(-1)], ['choke', 'unchoke'], 'the next round')
  u.stop()
  const before = a.link.wire.sent.length + b.link.wire.sent.length
  await advance(clock, 10_000)
  assert.equal(a.link.wire.sent.length + b.link.wire.sent.length, before, 'no rounds once stopped')
})

test('a round ranks peers by their rate over it: one served in the rotating slot outranks a regular that took less', async () => {
  const { clock, u, peer } = uploads({ maxUploads: 2 })
  const a = peer('a', { rate: 100 })
  const b = peer('b')
  const c = peer('c')
  u.start()
  u.rechoke()
  await advance(clock, 1)
  // One regular slot, to a (the fastest so far), and the rotating one, to the lowest id of the rest.
  assert.deepEqual([a, b, c].map((p) => p.link.wire.sent.at(-1)), ['unchoke', 'unchoke', 'choke'])
  u.request(a.conn, 0, 0, BLOCK, () => {})
  for (let i = 0; i < 4; i++) u.request(b.conn, 1, i * BLOCK, BLOCK, () => {})
  await advance(clock, 3000)
  assert.deepEqual([a.conn.rate, b.conn.rate], [BLOCK / 3, (4 * BLOCK) / 3], 'bytes a second sent in the round')
  assert.deepEqual([a, b, c].map((p) => p.link.wire.sent.at(-1)), ['choke', 'unchoke', 'unchoke'], 'b keeps a slot, the rotating one moves on to c')
  u.stop()
})

test('a round gives the rotating slot to a peer far behind the others while we fetch too, not when we are a seed', async () => {
  for (const seed of [false, true]) {
    const have = new Bitfield(PIECES)
    for (let i = 0; i < (seed ? PIECES : 3); i++) have.set(i)
    // Equal ties: peers of equal rate rank by id, so the first choice is a's regular slot and b's rotating one.
    const { clock, u, peer } = uploads({ maxUploads: 2, have, random: () => 0 })
    const peers = ['a', 'b', 'c', 'd'].map((id) => peer(id))
    // a, b and c hold two pieces, d none: as far behind as a peer can be in a torrent of four.
    for (const p of peers.slice(0, 3)) p.conn.pieces = new Bitfield(PIECES, Uint8Array.of(0b1100_0000))
    u.start()
    u.rechoke()
    await advance(clock, 1)
    peers[0]!.conn.roundUp = BLOCK // a keeps the regular slot
    await advance(clock, 3000)
    const unchoked = peers.filter((p) => p.link.wire.sent.at(-1) === 'unchoke').map((p) => p.conn.id)
    assert.deepEqual(unchoked, seed ? ['a', 'c'] : ['a', 'd'], seed ? 'a seed: the next in turn' : 'the peer behind, out of turn')
    u.stop()
  }
})

test('WAN first: with a seed of our site connected, a peer across gets an upload slot before faster local ones', async () => {
  for (const wanFirst of [false, true]) {
    const { clock, u, peer, across } = uploads({ maxUploads: 2, wanFirst })
    peer('seed', { local: true, seed: true })
    const fast = peer('fast', { local: true, rate: 200 })
    const slow = peer('slow', { local: true, rate: 100 })
    const bridge = peer('x', { rate: 10 })
    across.add(bridge.conn)
    u.rechoke()
    await advance(clock, 1)
    const unchoked = [fast, slow, bridge].filter((p) => p.link.wire.sent.at(-1) === 'unchoke').map((p) => p.conn.id)
    // One regular slot, one rotating (its first turn to the lowest id): the regular one goes to the fastest, or to the peer across.
    assert.deepEqual(unchoked, wanFirst ? ['fast', 'x'] : ['fast', 'slow'])
  }
})

test("a remote site's way in gives half its slots first to other sites' bridges fetching from it, the fastest of them", async () => {
  for (const bridges of [true, false]) {
    const { clock, u, peer, across } = uploads({ maxUploads: 8, wanFirst: true })
    const locals = [200, 190, 180, 170].map((rate, i) => peer(`l${i + 1}`, { local: true, rate }))
    const xs = [10, 20, 30, 40, 50, 60].map((rate, i) => peer(`x${i + 1}`, { rate }))
    for (const x of xs) {
      x.conn.remoteBridge = bridges
      across.add(x.conn)
    }
    u.rechoke()
    await advance(clock, 1)
    const unchoked = [...locals, ...xs].filter((p) => p.link.wire.sent.at(-1) === 'unchoke').map((p) => p.conn.id).sort()
    // Seven regular slots, four of them first for the fastest bridges, and the rotating one (its first turn to the
    // lowest id among the rest).
    assert.deepEqual(unchoked, bridges ? ['l1', 'l2', 'l3', 'l4', 'x3', 'x4', 'x5', 'x6'] : ['l1', 'l2', 'l3', 'l4', 'x1', 'x4', 'x5', 'x6'])
  }
})

test('spreading first: a source refuses a piece other peers hold while others wait, and counts the complete peers the tracker reports', async () => {
  const holders = new Map([[0, 1]])
  const { u, peer } = uploads({ spreadFirst: true, availabilityOf: (i) => holders.get(i) ?? 0 })
  const a = peer('a')
  const busy = peer('busy')
  busy.link.backlog = 1
  u.request(a.conn, 0, 0, BLOCK, () => assert.fail('refused'))
  u.request(a.conn, 2, 0, BLOCK, () => {})
  assert.deepEqual(a.link.wire.sent, ['reject 0:0'], 'piece 0 is held elsewhere, piece 2 by nobody')
  u.learnSeeds(3, true)
  u.request(a.conn, 3, 0, BLOCK, () => assert.fail('refused'))
  assert.deepEqual(a.link.wire.sent, ['reject 0:0', 'reject 3:0'], 'two complete peers elsewhere hold piece 3')
  assert.equal(u.counters.refused, 2)
})

test('spreading first with sites: the source refuses a remote bridge, too, a piece other peers hold while others wait', async () => {
  const holders = new Map([[0, 1]])
  const { u, peer, across } = uploads({ spreadFirst: true, site: () => 'a', availabilityOf: (i) => holders.get(i) ?? 0 })
  const bridge = peer('x')
  across.add(bridge.conn)
  peer('busy', { local: true }).link.backlog = 1
  u.request(bridge.conn, 0, 0, BLOCK, () => assert.fail('refused'))
  u.request(bridge.conn, 1, 0, BLOCK, () => {})
  assert.deepEqual(bridge.link.wire.sent, ['reject 0:0'], 'piece 0 is held by a peer of our site, which feeds the bridge; piece 1 by nobody')
})

test("spreading first in our site: a remote site's way in refuses a local peer a piece another local peer holds while others wait, until a local seed is connected", async () => {
  const { u, peer, across } = uploads()
  across.add(peer('x', { seed: true }).conn)
  const a = peer('a', { local: true })
  const holder = peer('holder', { local: true })
  ;(holder.conn.pieces as Bitfield).set(0)
  const busy = peer('busy', { local: true })
  busy.link.backlog = 1
  u.request(a.conn, 0, 0, BLOCK, () => assert.fail('refused'))
  u.request(a.conn, 1, 0, BLOCK, () => {})
  u.request(holder.conn, 1, 0, BLOCK, () => assert.fail('a sent to it already'))
  assert.deepEqual(a.link.wire.sent, ['reject 0:0'], 'piece 0 is held in our site, piece 1 by nobody')
  assert.deepEqual(holder.link.wire.sent, ['reject 1:0'], 'piece 1 is being sent to a')
  // A complete peer of our site can serve it: we no longer are the way in.
  peer('seed', { local: true, seed: true })
  u.request(a.conn, 2, 0, BLOCK, () => {})
  ;(holder.conn.pieces as Bitfield).set(2)
  u.request(busy.conn, 2, 0, BLOCK, () => {})
  assert.deepEqual(busy.link.wire.sent, [])
  assert.equal(u.counters.refused, 2)
})
