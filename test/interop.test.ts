import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { murder, runMurder, start, type Proc } from './helpers/proc.js'
import { cleanup, snapshot, tempDir, writeTree } from './helpers/tree.js'

// aria2c is a Debian package that .ci/run installs: without it these tests fail rather than skip.
const ARIA2 = ['--enable-dht=false', '--enable-dht6=false', '--bt-enable-lpd=false', '--enable-peer-exchange=false',
  '--file-allocation=none', '--summary-interval=0', '--console-log-level=warn', '--listen-port=47100-47199']

const procs: Proc[] = []
const dirs: string[] = []
after(async () => {
  for (const p of procs) p.kill('SIGKILL')
  await cleanup(...dirs)
})

async function setup(align: 'all' | 'none') {
  const work = await tempDir('interop')
  dirs.push(work)
  const src = join(work, 'tree')
  await writeTree(src, { 'a.bin': 300_000, 'sub/b.txt': 1234, 'sub/deeper/c.bin': 700_001, 'empty': 0 })
  const tracker = murder(['tracker', '--port', '0', '--host', '127.0.0.1', '--interval', '1'])
  procs.push(tracker)
  const { port } = await tracker.logLine((l) => typeof l['port'] === 'number')
  const torrent = join(work, 'tree.torrent')
  const made = await runMurder(['make-torrent', src, `127.0.0.1:${port}`, torrent, '--piece-length', '65536', '--align', align])
  assert.equal(made.code, 0, made.stderr)
  return { work, src, torrent }
}

test('aria2c downloads from murder seed through murder tracker', async () => {
  const s = await setup('all')
  const seed = murder(['seed', s.torrent, s.src, '127.0.0.1'])
  procs.push(seed)
  await seed.logLine((l) => l['msg'] === 'seeding')
  const out = join(s.work, 'aria')
  const aria = start('aria2c', [...ARIA2, '--seed-time=0', `--dir=${out}`, s.torrent])
  procs.push(aria)
  const timer = setTimeout(() => aria.kill('SIGKILL'), 60_000)
  const { code } = await aria.exited
  clearTimeout(timer)
  assert.equal(code, 0, aria.stdout() + aria.stderr())
  // aria2c predates BEP 47 padding: it stores the padding files (zeros) under .pad/; the contents are exact.
  const got = await snapshot(join(out, 'tree'))
  const pads = Object.keys(got).filter((k) => k.startsWith('.pad/'))
  assert.ok(pads.length > 0)
  for (const k of pads) delete got[k]
  assert.deepEqual(got, await snapshot(s.src))
})

test('murder peer downloads from an aria2c seeder', async () => {
  // A torrent as other tools make it (no padding), so that aria2c holds every piece of it.
  const s = await setup('none')
  // aria2c checks the existing copy (-V) and seeds it; the tree lives at <dir>/<torrent name>.
  const aria = start('aria2c', [...ARIA2, '-V', '--seed-ratio=0.0', '--seed-time=5', `--dir=${s.work}`, s.torrent])
  procs.push(aria)
  const dest = join(s.work, 'dest')
  const r = await runMurder(['peer', s.torrent, dest, '127.0.0.1', '--linger', '0'], 60_000)
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout, 'Done and done\n')
  assert.deepEqual(await snapshot(dest), await snapshot(s.src))
})
