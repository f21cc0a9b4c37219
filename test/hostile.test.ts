/**
 * Hostile peers, played by the test over raw sockets: corrupt blocks, blocks never asked for, indexes out of
 * range, oversize requests and messages, bitfields of the wrong length, garbage after the handshake, request
 * floods and fuzzed message streams. Honest peers must complete with correct data; every hostile peer must be
 * dropped, banned, and named in a warn line with the reason.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { murder } from './helpers/proc.js'
import { completeStats, exitWithin, fileScope, logLines, startSeed, streamOf, track, treeWithTracker } from './helpers/swarm.js'
import { prng } from './helpers/prng.js'
import { announcePeer, dialPeer, frame, listenPeer, MSG, serveAll, testPeerId, u32, type RawPeer, type RawPeerOptions } from './helpers/wirePeer.js'
import { snapshot, tempDir } from './helpers/tree.js'

const PIECE = 64 * 1024
const BLOCK = 16 * 1024
const TIMEOUT = { timeout: 60_000 }

const { dirs, closers } = fileScope()

async function setup(name: string) {
  const work = await tempDir(`hostile-${name}`)
  dirs.push(work)
  const { src, tracker, made } = await treeWithTracker(work, { 'bin/app': 700_000, 'lib/a.so': 300_001, 'etc/conf': 4096, 'README': 1500 }, ['--piece-length', String(PIECE)], ['--interval', '1'])
  return { work, src, tracker, made, data: await streamOf(made.meta, src) }
}

type Behaviour = (peer: RawPeer, ctx: { pieceCount: number; data: Buffer }) => void

/** Once the remote's handshake is in and ours has gone out. */
function afterHandshake(peer: RawPeer, f: () => void): void {
  if (peer.remote) setImmediate(f)
  else peer.once('handshake', () => setImmediate(f))
}

/** Once the remote has unchoked us (having been told we are interested). */
function whenUnchoked(peer: RawPeer, f: () => void): void {
  afterHandshake(peer, () => {
    peer.interested()
    if (!peer.peerChoking) return f()
    peer.nextMessage((m) => m.id === MSG.unchoke).then(f, () => undefined)
  })
}

const fullBitfield = (pieceCount: number): Buffer => {
  const bits = Buffer.alloc(Math.ceil(pieceCount / 8))
  for (let i = 0; i < pieceCount; i++) bits[i >> 3]! |= 0x80 >> (i & 7)
  return bits
}

/** Hostile behaviours against a downloading peer (which dials them), with the reason it must log. */
const AGAINST_DOWNLOADER: Record<string, { reason: RegExp; act: Behaviour }> = {
  'corrupt blocks': {
    reason: /failed the hash of piece \d+/,
    act: (peer, { data }) => serveAll(peer, { data, pieceLength: PIECE, transform: (_i, _o, b) => b.fill(0x5a, 0, 64) }),
  },
  'a block never requested': {
    reason: /never requested/,
    act: (peer, { pieceCount, data }) => afterHandshake(peer, () => {
      peer.bitfield(fullBitfield(pieceCount))
      // Still choking the downloader: it cannot have asked for anything yet.
      peer.piece(1, 0, data.subarray(PIECE, PIECE + BLOCK))
      peer.unchoke()
    }),
  },
  'a block of a piece out of range': {
    reason: /never requested|out of range/,
    act: (peer, { pieceCount, data }) => afterHandshake(peer, () => {
      peer.bitfield(fullBitfield(pieceCount))
      peer.unchoke()
      peer.piece(pieceCount + 3, 0, data.subarray(0, BLOCK))
    }),
  },
  'have for a piece out of range': {
    reason: /have for piece \d+ out of range/,
    act: (peer, { pieceCount }) => afterHandshake(peer, () => {
      peer.bitfield(Buffer.alloc(Math.ceil(pieceCount / 8)))
      peer.have(pieceCount + 7)
    }),
  },
  'a request for a piece out of range': {
    reason: /invalid request \(piece \d+/,
    act: (peer, { pieceCount }) => whenUnchoked(peer, () => peer.request(pieceCount + 1, 0, BLOCK)),
  },
  'an oversize request': {
    reason: /invalid request .*length 1048576/,
    act: (peer) => whenUnchoked(peer, () => peer.request(0, 0, 1024 * 1024)),
  },
  'a bitfield of the wrong length': {
    reason: /bitfield of the wrong length/,
    act: (peer, { pieceCount }) => afterHandshake(peer, () => peer.bitfield(Buffer.alloc(Math.ceil(pieceCount / 8) + 3, 0xff))),
  },
  'garbage after the handshake': {
    reason: /message of \d+ bytes/,
    act: (peer) => afterHandshake(peer, () => peer.write(Buffer.from('GET /announce HTTP/1.1\r\nHost: x\r\n\r\n'))),
  },
  'a malformed message': {
    reason: /malformed/,
    // A `have` whose index is two bytes long.
    act: (peer) => afterHandshake(peer, () => peer.write(Buffer.concat([u32(3), Buffer.from([MSG.have, 0, 1])]))),
  },
  'an oversize message': {
    reason: /message of 16777216 bytes/,
    act: (peer) => afterHandshake(peer, () => peer.write(Buffer.concat([u32(16 * 1024 * 1024), Buffer.from([MSG.bitfield]), Buffer.alloc(1000)]))),
  },
}

function banned(stderr: string, peerId: Buffer): Record<string, unknown>[] {
  const id = peerId.toString('hex')
  return logLines(stderr, 'dropping and banning peer').filter((l) => l['id'] === id)
}

test('a downloading peer drops and bans every hostile peer, says why, and completes with correct data', TIMEOUT, async () => {
  const s = await setup('downloader')
  const { meta } = s.made
  const hostile = await Promise.all(Object.entries(AGAINST_DOWNLOADER).map(async ([name, b]) => {
    const opts: RawPeerOptions = { infoHash: meta.infoHash, peerId: testPeerId(name), fast: true }
    const server = await listenPeer(opts, (peer) => b.act(peer, { pieceCount: meta.pieceCount, data: s.data }))
    closers.push(() => server.close())
    closers.push(await announcePeer(s.tracker.url, { infoHash: meta.infoHash, peerId: opts.peerId, port: server.port, left: 0 }))
    return { name, reason: b.reason, peerId: Buffer.from(opts.peerId), server }
  }))

  const dest = join(s.work, 'dest')
  const peer = track(murder(['peer', s.made.torrent, dest, '127.0.0.1', '--linger', '0']))
  for (const h of hostile) {
    const line = await peer.logLine((l) => l['msg'] === 'dropping and banning peer' && l['id'] === h.peerId.toString('hex'), 20_000)
      .catch((err: Error) => assert.fail(`${h.name}: not banned: ${err.message}`))
    assert.equal(line['level'], 40, 'a warn line')
    assert.match(String(line['reason']), h.reason, h.name)
  }
  // Only now does an honest source appear.
  await startSeed(s.made.torrent, s.src)
  const r = await exitWithin(peer, 40_000)
  assert.equal(r.code, 0, peer.stderr())
  assert.equal(peer.stdout(), 'Done and done\n')
  assert.deepEqual(await snapshot(dest), await snapshot(s.src))
  assert.ok(completeStats(peer.stderr()).hashFailures >= 1)
  for (const h of hostile) {
    assert.equal(banned(peer.stderr(), h.peerId).length, 1, `${h.name}: banned once`)
    assert.equal(h.server.connections, 1, `${h.name}: never dialled again once banned`)
  }
})

test('a seed drops and bans hostile downloaders and keeps serving honest peers', TIMEOUT, async () => {
  const s = await setup('seed')
  const { meta } = s.made
  const seed = await startSeed(s.made.torrent, s.src)
  const port = (await seed.logLine((l) => l['msg'] === 'seeding'))['port'] as number
  const attacks: Record<string, { reason: RegExp; act: Behaviour }> = {
    'request out of range': { reason: /invalid request \(piece \d+/, act: (p, { pieceCount }) => whenUnchoked(p, () => p.request(pieceCount, 0, BLOCK)) },
    'request past the piece end': { reason: /invalid request/, act: (p) => whenUnchoked(p, () => p.request(0, PIECE - BLOCK / 2, BLOCK)) },
    'oversize request': { reason: /invalid request .*length 262144/, act: (p) => whenUnchoked(p, () => p.request(0, 0, 256 * 1024)) },
    'request flood': {
      reason: /request flood/,
      act: (p, { pieceCount }) => whenUnchoked(p, () => {
        const reqs: Buffer[] = []
        for (let i = 0; i < 3000; i++) reqs.push(frame(MSG.request, u32(i % pieceCount, 0, BLOCK)))
        p.write(Buffer.concat(reqs))
      }),
    },
    'garbage after the handshake': { reason: /message of \d+ bytes|malformed/, act: (p) => afterHandshake(p, () => p.write(Buffer.from('\x00\x00\x00\x05\x07garbage that is not a block'))) },
  }
  const downloader = track(murder(['peer', s.made.torrent, join(s.work, 'dest'), '127.0.0.1', '--linger', '0']))
  const conns = await Promise.all(Object.entries(attacks).map(async ([name, a]) => {
    const peerId = testPeerId(`seed ${name}`)
    const p = await dialPeer('127.0.0.1', port, { infoHash: meta.infoHash, peerId, fast: true })
    a.act(p, { pieceCount: meta.pieceCount, data: s.data })
    return { name, reason: a.reason, peerId, p }
  }))
  for (const c of conns) {
    const line = await seed.logLine((l) => l['msg'] === 'dropping and banning peer' && l['id'] === c.peerId.toString('hex'), 20_000)
      .catch((err: Error) => assert.fail(`${c.name}: not banned: ${err.message}`))
    assert.match(String(line['reason']), c.reason, c.name)
    await c.p.closed
    // Coming back under the same peer id is refused.
    const again = await dialPeer('127.0.0.1', port, { infoHash: meta.infoHash, peerId: c.peerId, fast: true })
    await again.closed
    assert.equal(again.received.length, 0, `${c.name}: a banned peer gets nothing`)
  }
  const r = await exitWithin(downloader, 40_000)
  assert.equal(r.code, 0, downloader.stderr())
  assert.deepEqual(await snapshot(join(s.work, 'dest')), await snapshot(s.src))
  assert.equal(seed.child.exitCode, null, 'the seed is still running')
})


/** A stream of messages that are each plausible but carry random ids, lengths and payloads. */
function fuzzStream(rand: () => number, pieceCount: number): Buffer {
  const int = (n: number) => Math.floor(rand() * n)
  const parts: Buffer[] = []
  const count = 1 + int(12)
  for (let i = 0; i < count; i++) {
    const id = rand() < 0.8 ? int(21) : int(256)
    const choice = rand()
    if (choice < 0.3) {
      parts.push(frame(id, Buffer.from(Array.from({ length: int(40) }, () => int(256)))))
    } else if (choice < 0.6) {
      // Well-sized but with edge values in the fields.
      const edge = () => [0, 1, pieceCount - 1, pieceCount, 0x7fffffff, 0xffffffff, BLOCK, PIECE][int(8)]!
      parts.push(frame(id, u32(edge(), edge(), edge()).subarray(0, [4, 8, 12][int(3)])))
    } else if (choice < 0.8) {
      parts.push(frame(MSG.bitfield, Buffer.from(Array.from({ length: Math.ceil(pieceCount / 8) + int(3) - 1 }, () => int(256)))))
    } else if (choice < 0.9) {
      parts.push(Buffer.concat([u32(int(2 ** 32)), Buffer.from([id])]))
    } else {
      parts.push(frame(MSG.extended, Buffer.from([int(4)]), Buffer.from('d1:md11:ut_metadatai3ee13:metadata_sizei99999999ee'.slice(0, int(50)))))
    }
  }
  return Buffer.concat(parts)
}

test('fuzzed message streams never crash a seed; it still serves an honest peer', TIMEOUT, async () => {
  const s = await setup('fuzz')
  const { meta } = s.made
  const seed = await startSeed(s.made.torrent, s.src)
  const port = (await seed.logLine((l) => l['msg'] === 'seeding'))['port'] as number
  const rand = prng(0x5eed)
  const CONNECTIONS = 300
  // Drawn up front, in order: the same seed gives the same streams whatever order the connections open in.
  const plans = Array.from({ length: CONNECTIONS }, (_, i) => ({ i, fast: rand() < 0.5, stream: fuzzStream(rand, meta.pieceCount) }))
  for (let batch = 0; batch < CONNECTIONS; batch += 20) {
    await Promise.all(plans.slice(batch, batch + 20).map(async ({ i, fast, stream }) => {
      const p = await dialPeer('127.0.0.1', port, { infoHash: meta.infoHash, peerId: testPeerId(`fuzz ${i}`), fast })
      p.write(stream)
      // Ending our side makes the seed close the connection once it has read everything.
      p.socket.end()
      const limit = setTimeout(() => p.close(), 10_000)
      await p.closed
      clearTimeout(limit)
    }))
  }
  assert.equal(seed.child.exitCode, null, `the seed survived:\n${seed.stderr().slice(-2000)}`)
  const dest = join(s.work, 'dest')
  const r = await exitWithin(track(murder(['peer', s.made.torrent, dest, '127.0.0.1', '--linger', '0'])), 30_000)
  assert.equal(r.code, 0)
  assert.deepEqual(await snapshot(dest), await snapshot(s.src))
  const errors = seed.stderr().split('\n').filter((l) => /"level":(50|60)/.test(l) || (l !== '' && !l.startsWith('{')))
  assert.deepEqual(errors, [], 'no error lines, no stack traces')
})
