// Who hears of a fresh piece first, on a fake clock.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { SimClock } from '../bench/sim/simClock.js'
import { HaveAnnouncer } from '../src/swarm/haveAnnouncer.js'
import { PeerConnection } from '../src/swarm/peerConnection.js'
import { DEFAULT_PIPELINE, PipelineDepth } from '../src/swarm/pipeline.js'
import { advance, fakeLink } from './helpers/fakeWire.js'

function peers(n: number): PeerConnection[] {
  return Array.from({ length: n }, (_, i) => {
    const link = fakeLink(`10.0.0.${i + 2}:6881`)
    const conn = new PeerConnection(link, false, link.address, 4, new PipelineDepth(DEFAULT_PIPELINE, 0))
    conn.local = true
    return conn
  })
}

const told = (conns: PeerConnection[], piece: number): number[] =>
  conns.flatMap((c, i) => ((c.link.wire as unknown as { sent: string[] }).sent.includes(`have ${piece}`) ? [i] : []))

test('a piece fresh across the WAN is told first to a local peer we serve, the rest once a second peer holds it', () => {
  const clock = new SimClock()
  const local = peers(4)
  const announcer = new HaveAnnouncer(clock, () => true)
  local[2]!.wire.unchoke()
  announcer.announce(0, local, true)
  announcer.announce(1, local, true)
  // Peer 2 is the only one not choked: the others could not fetch the piece from us yet.
  assert.deepEqual(told(local, 0), [2])
  assert.deepEqual(told(local, 1), [2])
  announcer.heldLocally(0)
  assert.deepEqual(told(local, 0), [0, 1, 2, 3])
  assert.deepEqual(told(local, 1), [2])
})

test('with every local peer choked the first to hear rotates, and the others hear after the timeout', async () => {
  const clock = new SimClock()
  const local = peers(3)
  const announcer = new HaveAnnouncer(clock, () => true)
  announcer.announce(0, local, true)
  announcer.announce(1, local, true)
  assert.deepEqual(told(local, 0), [0])
  assert.deepEqual(told(local, 1), [1])
  await advance(clock, 2000)
  assert.deepEqual(told(local, 0), [0, 1, 2])
})

test('a piece that came from our own site is told to everyone at once', () => {
  const local = peers(3)
  new HaveAnnouncer(new SimClock(), () => true).announce(0, local, false)
  assert.deepEqual(told(local, 0), [0, 1, 2])
})

test("our site's other bridges hear of a piece fresh across at once: they would fetch it across again", () => {
  const local = peers(4)
  local[3]!.remoteBridge = true
  local[1]!.wire.unchoke()
  new HaveAnnouncer(new SimClock(), () => true).announce(0, local, true)
  assert.deepEqual(told(local, 0), [1, 3])
})
