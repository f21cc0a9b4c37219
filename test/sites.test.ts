import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { join } from 'node:path'
import bencode from 'bencode'
import { murder } from './helpers/proc.js'
import { completeStats, killAll, makeTorrent, startSeed, startTracker, track } from './helpers/swarm.js'
import { cleanup, snapshot, tempDir, writeTree } from './helpers/tree.js'
import { dialPeer, MSG, testPeerId, type Message } from './helpers/wirePeer.js'

const dirs: string[] = []
after(async () => {
  await killAll()
  await cleanup(...dirs)
})

// Two "sites" on loopback: every 127.x address reaches this host, and peers announce their own.
const PARIS = ['127.0.1.2', '127.0.1.3']
const TOKYO = ['127.0.2.1', '127.0.2.2', '127.0.2.3', '127.0.2.4']

for (const how of ['--site flags', 'tracker --sites map'] as const) {
  test(`two sites (${how}): the remote site pulls about one copy across, and every peer completes`, { timeout: 120_000 }, async () => {
    const work = await tempDir('sites')
    dirs.push(work)
    const src = join(work, 'src')
    const PAYLOAD = 8 * 1024 * 1024
    await writeTree(src, { 'a.bin': PAYLOAD / 2, 'b.bin': PAYLOAD / 2 })
    const sitesFile = join(work, 'sites')
    await writeFile(sitesFile, '127.0.1.0/24 paris\n127.0.2.0/24 tokyo\n')
    const tracker = await startTracker(['--interval', '1', ...(how === 'tracker --sites map' ? ['--sites', sitesFile] : [])])
    const torrent = join(work, 't.torrent')
    await makeTorrent(src, tracker.port, torrent, ['--piece-length', '65536'])
    const site = (name: string) => (how === '--site flags' ? ['--site', name] : [])
    await startSeed(torrent, src, [...site('paris')].concat(['--max-upload-rate', '8M']))
    const peers = [...PARIS.map((ip) => [ip, 'paris']), ...TOKYO.map((ip) => [ip, 'tokyo'])].map(([ip, name]) => {
      const p = track(murder(['peer', torrent, join(work, ip!), ip!, '--linger', '60', ...site(name!)]))
      return { p, name }
    })
    const exits = await Promise.all(peers.map(({ p }) => p.exited))
    const expected = await snapshot(src)
    let crossIntoTokyo = 0
    for (const [i, { p, name }] of peers.entries()) {
      assert.equal(exits[i]!.code, 0, p.stderr())
      assert.deepEqual(await snapshot(join(work, PARIS.concat(TOKYO)[i]!)), expected)
      if (name === 'tokyo') crossIntoTokyo += completeStats(p.stderr()).receivedCrossSite
    }
    // With the map, the tracker tells each peer its site, so the peers count what crossed in both modes.
    assert.ok(crossIntoTokyo >= PAYLOAD * 0.99, 'the remote site counted what it pulled across')
    assert.ok(crossIntoTokyo <= 1.1 * PAYLOAD, `tokyo pulled ${(crossIntoTokyo / PAYLOAD).toFixed(2)} copies across`)
  })
}

/** The dictionary of an extended handshake (BEP 10: extended message id 0), or null for any other message. */
function extendedHandshake(m: Message): Record<string, unknown> | null {
  if (m.id !== MSG.extended || m.payload[0] !== 0) return null
  return bencode.decode(m.payload.subarray(1)) as Record<string, unknown>
}

test('a peer that learns its site from the tracker after a peer connected tells that peer in a second extended handshake', { timeout: 60_000 }, async () => {
  const work = await tempDir('sites-late')
  dirs.push(work)
  const src = join(work, 'src')
  await writeTree(src, { 'a.bin': 100_000 })
  // A tracker that holds its answer (our site, no peers) until released, so a peer can connect first.
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  let announced!: (port: number) => void
  const announcedPort = new Promise<number>((resolve) => (announced = resolve))
  const tracker = createServer((req, res) => {
    announced(Number(new URL(req.url!, 'http://x').searchParams.get('port')))
    void released.then(() => res.end(Buffer.from(bencode.encode({ interval: 60, peers: new Uint8Array(0), 'murder site': 'tokyo' }))))
  })
  await new Promise<void>((resolve) => tracker.listen(0, '127.0.0.1', resolve))
  after(() => new Promise<void>((resolve) => { tracker.closeAllConnections(); tracker.close(() => resolve()) }))
  const { meta } = await makeTorrent(src, (tracker.address() as { port: number }).port, join(work, 't.torrent'))
  track(murder(['peer', join(work, 't.torrent'), join(work, 'dest'), '127.0.0.1', '--linger', '0']))

  const raw = await dialPeer('127.0.0.1', await announcedPort, { infoHash: meta.infoHash, peerId: testPeerId('late-site'), extended: true })
  const first = extendedHandshake(await raw.nextMessage((m) => extendedHandshake(m) !== null))!
  assert.equal(first['murder_site'], undefined, 'no site is known before the tracker answers')
  release()
  const second = extendedHandshake(await raw.nextMessage((m) => extendedHandshake(m)?.['murder_site'] !== undefined))!
  assert.equal(Buffer.from(second['murder_site'] as Uint8Array).toString(), 'tokyo')
  raw.close()
})
