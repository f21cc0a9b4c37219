import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { appendFile, cp, open, rm as remove, truncate } from 'node:fs/promises'
import { join } from 'node:path'
import { MURDER, murder, runMurder, start } from './helpers/proc.js'
import { completeStats, killAll, startSeed, track, treeWithTracker } from './helpers/swarm.js'
import { cleanup, sampleTree, snapshot, tempDir, writeTree } from './helpers/tree.js'

const PIECE = 32 * 1024
const dirs: string[] = []
after(async () => {
  await killAll()
  await cleanup(...dirs)
})

async function swarmSource(files: Record<string, number>) {
  const work = await tempDir('e2e')
  dirs.push(work)
  const { src, tracker, made } = await treeWithTracker(work, files, ['--piece-length', String(PIECE)])
  await startSeed(made.torrent, src)
  return { work, src, torrent: made.torrent, trackerPort: tracker.port, summary: made }
}

async function runPeer(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runMurder(['peer', ...args, '127.0.0.1', '--linger', '0'], 120_000)
}

test('make-torrent, tracker, seed and 3 peers replicate a tree exactly', async () => {
  const s = await swarmSource(sampleTree(PIECE))
  const dests = [1, 2, 3].map((i) => join(s.work, `dest${i}`))
  const peers = dests.map((d) => track(murder(['peer', s.torrent, d, '127.0.0.1', '--linger', '5'])))
  const results = await Promise.all(peers.map((p) => p.exited))
  const expected = await snapshot(s.src)
  for (const [i, p] of peers.entries()) {
    assert.equal(results[i]!.code, 0, p.stderr())
    assert.equal(p.stdout(), 'Done and done\n')
    assert.deepEqual(await snapshot(dests[i]!), expected)
  }
  // The tracker saw all three complete.
  const stats = await (await fetch(`http://127.0.0.1:${s.trackerPort}/stats`)).json() as { torrents: { infoHash: string; completed: number }[] }
  assert.equal(stats.torrents.find((t) => t.infoHash === s.summary.infoHash)?.completed, 3)
})

test('a partly filled destination fetches only the bad pieces', async () => {
  const files = { 'keep.bin': PIECE * 4, 'modified.bin': PIECE * 4, 'truncated.bin': PIECE * 4, 'long.bin': PIECE * 4, 'missing.bin': PIECE * 4 }
  const s = await swarmSource(files)
  const dest = join(s.work, 'partial')
  await cp(s.src, dest, { recursive: true })
  const fh = await open(join(dest, 'modified.bin'), 'r+')
  await fh.write(Buffer.from('changed!'), 0, 8, PIECE + 100)
  await fh.close()
  await truncate(join(dest, 'truncated.bin'), PIECE * 2 + 5)
  await appendFile(join(dest, 'long.bin'), Buffer.alloc(999, 1))
  await remove(join(dest, 'missing.bin'))
  const r = await runMurder(['peer', s.torrent, dest, '127.0.0.1', '--linger', '0', '--log-level', 'info'], 60_000)
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(await snapshot(dest), await snapshot(s.src))
  const done = completeStats(r.stderr)
  // Bad pieces: 1 in modified, 2 in truncated, 4 in missing; long.bin's content is intact.
  assert.equal(done.downloaded, 7 * PIECE)
  assert.ok(done.received <= 8 * PIECE, `received ${done.received} bytes for 7 bad pieces`)
})

test('magnet: a peer with only the info hash and the tracker completes', async () => {
  const s = await swarmSource({ 'one.bin': PIECE * 3 + 3, 'two/three.txt': 999 })
  const dest = join(s.work, 'magnet')
  // The link make-torrent printed.
  const r = await runPeer([s.summary.magnet, dest])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout, 'Done and done\n')
  assert.deepEqual(await snapshot(dest), await snapshot(s.src))
  const bare = join(s.work, 'bare')
  const r2 = await runPeer([s.summary.infoHash, bare, '--tracker', `127.0.0.1:${s.trackerPort}`])
  assert.equal(r2.code, 0, r2.stderr)
  assert.deepEqual(await snapshot(bare), await snapshot(s.src))
})

test('on a terminal the logs are human lines (time, level, message, fields), not JSON', async () => {
  const work = await tempDir('tty')
  dirs.push(work)
  await writeTree(join(work, 'src'), { f: 100 })
  assert.equal((await runMurder(['make-torrent', join(work, 'src'), '127.0.0.1:1', join(work, 't.torrent')])).code, 0)
  // script(1) runs murder on a pseudo-terminal, as an operator's shell would; its output is the terminal's.
  const command = [MURDER, 'peer', join(work, 't.torrent'), join(work, 'dest'), '127.0.0.1', '--timeout', '1'].map((a) => `'${a}'`).join(' ')
  const tty = track(start('script', ['-qfec', command, '/dev/null']))
  const { code } = await tty.exited
  assert.equal(code, 5, tty.stdout())
  const lines = tty.stdout().split(/\r?\n/).map((l) => l.replace(/^\r\x1b\[K/, '')).filter((l) => l !== '')
  assert.match(lines[0]!, /^\d\d:\d\d:\d\d\.\d{3} INFO  destination checked  infoHash=[0-9a-f]{40} have=0 pieces=1 port=\d+$/)
  assert.ok(lines.some((l) => /^\d\d:\d\d:\d\d\.\d{3} \x1b\[33mWARN \x1b\[0m tracker announce failed  url=http:\/\/127\.0\.0\.1:1\/announce err="/.test(l)), lines.join('\n'))
  assert.match(lines.at(-1)!, /^murder: tracker unreachable/)
  assert.ok(lines.every((l) => !l.includes('{"level"')), lines.join('\n'))
})
