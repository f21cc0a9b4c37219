import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import bencode from 'bencode'
import { METADATA_PIECE_LENGTH, METADATA_RETRY_MS, MetadataPieces } from '../src/swarm/metadataPieces.js'
import { murder } from './helpers/proc.js'
import { exitWithin, killAll, startSeed, track, treeWithTracker } from './helpers/swarm.js'
import { announcePeer, listenPeer, MSG, testPeerId, type RawPeer } from './helpers/wirePeer.js'
import { cleanup, snapshot, tempDir } from './helpers/tree.js'

const dirs: string[] = []
after(async () => {
  await killAll()
  await cleanup(...dirs)
})

const SIZE = 3 * METADATA_PIECE_LENGTH + 100 // 4 pieces

test('metadata pieces: one request outstanding per peer, different pieces to different peers', () => {
  const m = new MetadataPieces<string>(SIZE)
  assert.equal(m.count, 4)
  assert.equal(m.next('a', 0), 0)
  assert.equal(m.next('a', 0), null, 'a has a request outstanding')
  assert.equal(m.next('b', 0), 1)
  assert.equal(m.next('c', 0), 2)
  assert.equal(m.received('a', 0, new Uint8Array(METADATA_PIECE_LENGTH)), 'more')
  assert.equal(m.next('a', 1), 3)
  assert.equal(m.received('a', 3, new Uint8Array(100).fill(3)), 'more')
  assert.equal(m.next('a', 2), null, 'every missing piece is asked of someone, and not overdue')
})

test('metadata pieces: an overdue piece goes to an idle peer too, and the slow peer\'s late answer still counts', () => {
  const m = new MetadataPieces<string>(2 * METADATA_PIECE_LENGTH)
  assert.equal(m.next('slow', 0), 0)
  assert.equal(m.next('fast', 0), 1)
  assert.equal(m.received('fast', 1, new Uint8Array(METADATA_PIECE_LENGTH).fill(1)), 'more')
  assert.equal(m.next('fast', METADATA_RETRY_MS - 1), null)
  assert.equal(m.next('fast', METADATA_RETRY_MS), 0)
  const whole = m.received('slow', 0, new Uint8Array(METADATA_PIECE_LENGTH).fill(9))
  assert.ok(whole instanceof Uint8Array)
  assert.equal(whole[0], 9)
  assert.equal(whole[METADATA_PIECE_LENGTH], 1)
})

test('metadata pieces: rejects, wrong lengths, unasked pieces, and starting over after a hash mismatch', () => {
  const m = new MetadataPieces<string>(SIZE)
  assert.equal(m.next('a', 0), 0)
  m.rejected('a', 0)
  assert.equal(m.next('a', 0), 1, 'a is not asked for a piece it refused')
  assert.equal(m.received('a', 2, new Uint8Array(METADATA_PIECE_LENGTH)), 'ignored')
  assert.equal(m.received('a', 1, new Uint8Array(5)), 'bad')
  for (const p of [1, 2, 3]) m.rejected('a', p)
  assert.ok(m.useless('a'))
  assert.equal(m.next('b', 0), 0)
  assert.equal(m.received('b', 0, new Uint8Array(METADATA_PIECE_LENGTH)), 'more')
  assert.deepEqual([...m.discard()], ['b'])
  assert.equal(m.next('c', 0), 0, 'piece 0 is missing again')
})

/** rtorrent (libtorrent 0.13) as seen in the field: it drops a metadata request that comes while one is pending. */
function rtorrentLike(peer: RawPeer, info: Buffer, firstAnswerMs: number, seen: { requests: number; dropped: number; answered: number; askedOn: Set<RawPeer> }): void {
  const UT_METADATA = 3
  let theirId = 0
  let pending = false
  peer.once('handshake', () => {
    peer.send(MSG.extended, Buffer.from([0]), Buffer.from(bencode.encode({ m: { ut_metadata: UT_METADATA }, metadata_size: info.length, v: 'rTorrent 0.9.8' })))
  })
  peer.on('message', (msg: { id: number; payload: Buffer }) => {
    if (msg.id !== MSG.extended) return
    if (msg.payload[0] === 0) {
      theirId = (bencode.decode(msg.payload.subarray(1)) as { m: { ut_metadata: number } }).m.ut_metadata
      return
    }
    if (msg.payload[0] !== UT_METADATA) return
    const { piece } = bencode.decode(msg.payload.subarray(1)) as { piece: number }
    seen.requests++
    seen.askedOn.add(peer)
    if (pending) {
      seen.dropped++
      return
    }
    pending = true
    setTimeout(() => {
      pending = false
      seen.answered++
      const data = info.subarray(piece * METADATA_PIECE_LENGTH, (piece + 1) * METADATA_PIECE_LENGTH)
      peer.send(MSG.extended, Buffer.from([theirId]), Buffer.from(bencode.encode({ msg_type: 1, piece, total_size: info.length })), data)
    }, seen.answered === 0 ? firstAnswerMs : 20)
  })
}

test('magnet: metadata of several pieces from an rtorrent-like peer that drops pipelined requests and answers the first after 11 s', async () => {
  const work = await tempDir('metadata')
  dirs.push(work)
  // ~800 files make an info dictionary of 6 metadata pieces.
  const files = Object.fromEntries(Array.from({ length: 800 }, (_, i) => [`folder-${i % 7}/file-with-a-long-name-${i}.txt`, 10 + i]))
  const s = await treeWithTracker(work, files, [], ['--interval', '1'])
  const info = Buffer.from(s.made.meta.infoBytes)
  const pieces = Math.ceil(info.length / METADATA_PIECE_LENGTH)
  assert.ok(pieces >= 4, `${pieces} metadata pieces`)
  const seen = { requests: 0, dropped: 0, answered: 0, askedOn: new Set<RawPeer>() }
  const infoHash = s.made.meta.infoHash
  const fake = await listenPeer({ infoHash, peerId: testPeerId('rtorrent'), extended: true }, (peer) => rtorrentLike(peer, info, 11_000, seen))
  const stop = await announcePeer(s.tracker.url, { infoHash, peerId: testPeerId('rtorrent'), port: fake.port, left: 0 })
  try {
    const dest = join(work, 'dest')
    const magnet = `magnet:?xt=urn:btih:${s.made.infoHash}&tr=${encodeURIComponent(s.tracker.url)}`
    const peer = track(murder(['peer', magnet, dest, '127.0.0.1', '--linger', '0', '--timeout', '40']))
    await peer.logLine((l) => l['msg'] === 'destination checked', 40_000)
    // Only the fake peer had the metadata; the data comes from a seed that joins now.
    await startSeed(s.made.torrent, s.src)
    const { code } = await exitWithin(peer, 60_000)
    assert.equal(code, 0, peer.stderr())
    assert.deepEqual({ ...seen, askedOn: seen.askedOn.size }, { requests: pieces, dropped: 0, answered: pieces, askedOn: 1 }, 'one connection: the slow peer was kept')
    assert.deepEqual(await snapshot(dest), await snapshot(s.src))
  } finally {
    await stop()
    await fake.close()
  }
})
