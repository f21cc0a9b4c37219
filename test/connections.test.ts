// The swarm's connections in-process: scripted links and dials, a fake clock (bench/sim's), no sockets.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import pino from 'pino'
import { SimClock } from '../bench/sim/simClock.js'
import { Connections } from '../src/swarm/connections.js'
import type { PeerConnection } from '../src/swarm/peerConnection.js'
import { DEFAULT_PIPELINE, PipelineDepth } from '../src/swarm/pipeline.js'
import type { WireLink } from '../src/swarm/peerWire.js'
import { HANDSHAKE_TIMEOUT_MS } from '../src/swarm/wire.js'
import { advance, fakeLink, type FakeLink } from './helpers/fakeWire.js'

const INFO_HASH = 'ab'.repeat(20)
const OURS = '01'.repeat(20)
const peerId = (n: number) => n.toString(16).padStart(40, '0')

interface Dial { ip: string; port: number; opened: (link: WireLink) => void; ended: () => void }

function connections(maxPeers = 8) {
  const clock = new SimClock()
  const dials: Dial[] = []
  const events: string[] = []
  const conns = new Connections({
    meta: { infoHash: Buffer.from(INFO_HASH, 'hex'), infoHashHex: INFO_HASH, pieceCount: 4 },
    peerId: Buffer.from(OURS, 'hex'),
    maxPeers,
    dialer: { dial: (ip, port, opened, ended) => void dials.push({ ip, port, opened, ended }) },
    clock,
    logger: pino({ level: 'silent' }),
    pipeline: () => new PipelineDepth(DEFAULT_PIPELINE, clock.now()),
    opened: (c) => events.push(`opened ${c.address}`),
    connected: (c) => events.push(`connected ${c.address}`),
    banning: (c) => events.push(`banning ${c.address}`),
    removed: (c, lastOfPeer) => events.push(`removed ${c.address}${lastOfPeer ? ' last' : ''}`),
  })
  /** An incoming connection whose peer then sends its handshake. */
  const incoming = (address: string, id?: string): FakeLink => {
    const link = fakeLink(address)
    conns.accept(link)
    if (id !== undefined) link.wire.emit('handshake', INFO_HASH, id)
    return link
  }
  const byAddress = (address: string): PeerConnection | undefined => [...conns.all].find((c) => c.address === address)
  return { clock, dials, events, conns, incoming, byAddress }
}

const peers = (n: number) => Array.from({ length: n }, (_, i) => ({ ip: `10.0.0.${i + 1}`, port: 6881 }))

test('dials in progress count against --max-peers: half the budget dials, incoming connections fill the rest', () => {
  const { dials, conns, incoming } = connections(8)
  conns.addPeers(peers(10), false)
  assert.equal(dials.length, 4, 'half of 8 dialed, none opened yet')
  const accepted = [1, 2, 3, 4].map((n) => incoming(`10.1.0.${n}:6881`))
  assert.ok(accepted.every((l) => !l.closed), '4 dials in progress + 4 accepted = 8')
  const refused = incoming('10.1.0.5:6881')
  assert.ok(refused.closed, 'the ninth is refused while 4 dials are still in progress')
  assert.equal(conns.all.size, 4)
  dials[0]!.ended() // a dial failed: its place is free again
  assert.ok(!incoming('10.1.0.6:6881').closed)
  assert.ok(incoming('10.1.0.7:6881').closed)
  // Dials that open count as connections: the budget holds whatever mix of dialed, accepted and dialing.
  for (const d of dials.slice(1)) {
    d.ended()
    d.opened(fakeLink(`${d.ip}:${d.port}`))
  }
  assert.equal(conns.all.size, 8)
  assert.equal(conns.peak, 8)
  conns.addPeers(peers(10), false)
  assert.equal(dials.length, 4, 'no dial past the budget')
})

test('only dials count against the dialing half: a peer its site dialed many times still reaches the peers the tracker names later', () => {
  const { dials, conns, incoming } = connections(8)
  for (let n = 1; n <= 6; n++) incoming(`10.1.0.${n}:6881`)
  conns.addPeers(peers(10), false)
  assert.equal(dials.length, 2, '6 accepted + 2 dials = 8: the whole budget, but no more')
  dials[0]!.opened(fakeLink('10.0.0.1:6881'))
  dials[0]!.ended()
  dials[1]!.ended()
  assert.equal(conns.all.size, 7)
  conns.addPeers(peers(10), false)
  assert.equal(dials.length, 3, 'one place left, one dial')
})

test('a known address is not dialed twice, and a complete swarm dials only peers that reach it over uTP alone', () => {
  const { dials, conns } = connections(8)
  conns.addPeers(peers(2), false)
  conns.addPeers(peers(2), false)
  assert.equal(dials.length, 2, 'dialing already')
  conns.addPeers([{ ip: '10.0.0.9', port: 6881 }], true)
  assert.equal(dials.length, 2, 'complete: the peers come to us')
  conns.dialBack('10.0.0.9', 6881)
  assert.equal(dials.length, 3, 'a uTP-only peer is dialed back')
  dials[2]!.ended()
  conns.addPeers([{ ip: '10.0.0.9', port: 6881 }], true)
  assert.equal(dials.length, 4, 'and again when the tracker names it while complete')
})

test('a connection that never completes its handshake is dropped at the handshake timeout, not before', async () => {
  const { clock, conns, incoming, events } = connections()
  const silent = incoming('10.1.0.1:6881')
  const answering = incoming('10.1.0.2:6881')
  await advance(clock, HANDSHAKE_TIMEOUT_MS - 1)
  answering.wire.emit('handshake', INFO_HASH, peerId(2))
  assert.ok(!silent.closed, 'still waiting')
  await advance(clock, 1)
  assert.ok(silent.closed, `dropped at ${clock.now()} ms`)
  assert.deepEqual(events, ['opened 10.1.0.1:6881', 'opened 10.1.0.2:6881', 'connected 10.1.0.2:6881', 'removed 10.1.0.1:6881'])
  await advance(clock, 10 * HANDSHAKE_TIMEOUT_MS)
  assert.ok(!answering.closed, 'a handshake cancels the timer')
  assert.equal(conns.handshaken, 1)
})

test('handshakes for another torrent, from ourselves or from a banned peer are dropped', () => {
  const { conns, incoming, events } = connections()
  const other = fakeLink('10.1.0.1:6881')
  conns.accept(other)
  other.wire.emit('handshake', 'cd'.repeat(20), peerId(1))
  assert.ok(other.closed)
  assert.ok(incoming('10.1.0.2:6881', OURS).closed)
  assert.ok(!incoming('10.1.0.3:6881', peerId(3)).closed)
  assert.equal(conns.handshaken, 1)
  assert.ok(!events.some((e) => e.startsWith('connected 10.1.0.1') || e.startsWith('connected 10.1.0.2')))
})

test('three strikes ban a peer, one strike bans a lone sender; a banned peer is refused by id and not dialed again', () => {
  const { dials, conns, incoming, byAddress, events } = connections()
  const link = incoming('10.0.0.1:6881', peerId(1))
  const conn = byAddress('10.0.0.1:6881')!
  conns.strike(conn, 'bad piece 1', false)
  conns.strike(conn, 'bad piece 2', false)
  assert.ok(!link.closed, 'two strikes are not enough')
  conns.strike(conn, 'bad piece 3', false)
  assert.ok(link.closed, 'the third strike bans')
  assert.deepEqual(events.slice(-2), ['banning 10.0.0.1:6881', 'removed 10.0.0.1:6881 last'])
  assert.ok(incoming('10.0.0.7:6881', peerId(1)).closed, 'its id is banned at any address')
  conns.addPeers([{ ip: '10.0.0.1', port: 6881 }], false)
  assert.equal(dials.length, 0, 'its address is not dialed')

  const lone = incoming('10.0.0.2:6881', peerId(2))
  conns.strike(byAddress('10.0.0.2:6881')!, 'sent all of a bad piece', true)
  assert.ok(lone.closed)
})

test('of two connections between the same peers, both ends keep the one the lower peer id opened', () => {
  const { dials, conns, incoming, byAddress } = connections()
  /** We dial the peer and it dials us: which of the two stays open? */
  const both = (ip: string, id: string): { out: FakeLink; in: FakeLink } => {
    conns.addPeers([{ ip, port: 6881 }], false)
    const out = fakeLink(`${ip}:6881`)
    const dial = dials.at(-1)!
    dial.ended()
    dial.opened(out)
    out.wire.emit('handshake', INFO_HASH, id)
    return { out, in: incoming(`${ip}:50000`, id) }
  }
  // Our id is 0101…: against a higher one we keep our outgoing connection, against a lower one its.
  const higher = both('10.0.0.1', 'ff'.repeat(20))
  assert.ok(higher.in.closed && !higher.out.closed)
  assert.equal(byAddress('10.0.0.1:6881')?.id, 'ff'.repeat(20))
  const lower = both('10.0.0.2', '00'.repeat(20))
  assert.ok(lower.out.closed && !lower.in.closed)
  assert.equal(conns.handshaken, 2)
})

test('closing drops every connection and takes no more', () => {
  const { dials, conns, incoming } = connections()
  const links = [1, 2].map((n) => incoming(`10.1.0.${n}:6881`, peerId(n)))
  conns.close()
  assert.ok(links.every((l) => l.closed))
  assert.equal(conns.all.size, 0)
  assert.ok(incoming('10.1.0.3:6881').closed)
  conns.addPeers(peers(1), false)
  assert.equal(dials.length, 0)
})
