import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { murder } from './helpers/proc.js'
import { killAll, makeTorrent, startSeed, startTracker, track } from './helpers/swarm.js'
import { cleanup, snapshot, tempDir, writeTree } from './helpers/tree.js'

const dirs: string[] = []
after(async () => {
  await killAll()
  await cleanup(...dirs)
})

/** A seed limited to 3 MB/s and 4 peers on 12 MiB: every copy exact; returns the copies the seed uploaded. */
async function spread(seedArgs: string[]): Promise<{ copies: number; seconds: number }> {
  const work = await tempDir('spread')
  dirs.push(work)
  const src = join(work, 'src')
  const PAYLOAD = 12 * 1024 * 1024
  await writeTree(src, { 'a.bin': PAYLOAD / 2, 'b/c.bin': PAYLOAD / 4, 'b/d.bin': PAYLOAD / 4 })
  const tracker = await startTracker(['--interval', '1'])
  const torrent = join(work, 't.torrent')
  await makeTorrent(src, tracker.port, torrent, ['--piece-length', '65536'])
  const seed = await startSeed(torrent, src, ['--max-upload-rate', '3M', ...seedArgs])
  const t0 = Date.now()
  const peers = [1, 2, 3, 4].map((i) => track(murder(['peer', torrent, join(work, `dest${i}`), '127.0.0.1', '--linger', '60'])))
  const exits = await Promise.all(peers.map((p) => p.exited))
  const seconds = (Date.now() - t0) / 1000
  const expected = await snapshot(src)
  for (const [i, p] of peers.entries()) {
    assert.equal(exits[i]!.code, 0, p.stderr())
    assert.equal(p.stdout(), 'Done and done\n')
    assert.deepEqual(await snapshot(join(work, `dest${i + 1}`)), expected)
  }
  seed.kill('SIGTERM')
  const stop = await seed.logLine((l) => l['msg'] === 'seed stopping')
  return { copies: (stop['uploaded'] as number) / PAYLOAD, seconds }
}

test('with the seed upload limited, 4 peers complete by trading pieces: the seed, spreading first, uploads about one copy', { timeout: 120_000 }, async (t) => {
  const { copies, seconds } = await spread([])
  t.diagnostic(`seed uploaded ${copies.toFixed(2)} copies; peers done in ${seconds.toFixed(1)} s`)
  // Serving every request it sent 1.3 copies here; refusing pieces the peers hold or are being sent, 1.01-1.03.
  assert.ok(copies < 1.25, `the seed uploaded ${copies.toFixed(2)} copies`)
})

test('--no-spread-first: the seed serves every request, and the peers still complete exactly', { timeout: 120_000 }, async (t) => {
  const { copies, seconds } = await spread(['--no-spread-first'])
  t.diagnostic(`seed uploaded ${copies.toFixed(2)} copies; peers done in ${seconds.toFixed(1)} s`)
  assert.ok(copies < 2, `the seed uploaded ${copies.toFixed(2)} copies`)
})
