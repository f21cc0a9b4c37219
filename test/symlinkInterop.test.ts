import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, symlink } from 'node:fs/promises'
import { join } from 'node:path'
import { runMurder } from './helpers/proc.js'
import { killAll, makeTorrent, startSeed, startTracker, track } from './helpers/swarm.js'
import { cleanup, snapshot, tempDir, writeTree } from './helpers/tree.js'
import { libtorrent } from './helpers/libtorrent.js'

const dirs: string[] = []
after(async () => {
  await killAll()
  await cleanup(...dirs)
})

/** Links in subfolders, to targets inside the tree (files and a folder) and outside it. */
const INSIDE = { 'sub/l': '../a', 'sub/m': 'x', 'sub/deep/p': '../x', 'sub/deep/up': '..', 'top': 'sub/x' }
const OUTSIDE = { 'sub/abs': '/etc/hostname', 'sub/out': '../../outside' }

const FILES = { 'a': 70_000, 'sub/x': 30_000, 'sub/deep/f': 5 }

async function linkedTree(root: string, links: Record<string, string>, files: Record<string, number> = FILES): Promise<void> {
  await writeTree(root, files)
  for (const [path, target] of Object.entries(links)) await symlink(target, join(root, path))
}

const linksOf = (tree: Record<string, string>) => Object.fromEntries(Object.entries(tree).filter(([, v]) => v.startsWith('symlink')))

test('libtorrent downloads links in subfolders from a murder seed and points them where the source does', async () => {
  const work = await tempDir('links-lt')
  dirs.push(work)
  const src = join(work, 'src')
  // A root file `x` as well: read relative to the root (BEP 47), sub/m's target `x` would be it.
  await linkedTree(src, { ...INSIDE, ...OUTSIDE }, { ...FILES, 'x': 10 })
  const tracker = await startTracker(['--interval', '1'])
  const made = await makeTorrent(src, tracker.port, join(work, 't.torrent'))
  await startSeed(made.torrent, src)
  const out = join(work, 'lt')
  await mkdir(out)
  const lt = track(libtorrent(['get', made.torrent, out, '--interface', '127.0.0.1']))
  await lt.logLine((l) => l['msg'] === 'done', 60_000)
  const got = await snapshot(join(out, 'src'))
  const want = await snapshot(src)
  for (const path of Object.keys(OUTSIDE)) {
    // libtorrent 2.0 makes a link whose target is not in the torrent point to itself.
    assert.equal(got[path], `symlink -> ${path.split('/').at(-1)}`)
    delete got[path]
    delete want[path]
  }
  // It writes a link to a folder with a trailing slash: the same target.
  assert.equal(got['sub/deep/up'], 'symlink -> ../')
  got['sub/deep/up'] = want['sub/deep/up']!
  assert.deepEqual(got, want)
})

test('murder downloads links in subfolders from a libtorrent seed of a libtorrent-made torrent', async () => {
  const work = await tempDir('links-lt')
  dirs.push(work)
  const src = join(work, 'src')
  // libtorrent's maker stores only links to entries of the tree faithfully, as their text, which it reads back
  // relative to the root where that names an entry: with a root file `x`, sub/m -> x would become ../x there.
  await linkedTree(src, INSIDE)
  const tracker = await startTracker(['--interval', '1'])
  const torrent = join(work, 'lt.torrent')
  const maker = libtorrent(['make', src, tracker.url, torrent])
  assert.equal((await maker.exited).code, 0, maker.stderr())
  // libtorrent seeds a copy of the files and makes the links itself: it fails on links that already exist.
  const seeded = join(work, 'seeded')
  await writeTree(join(seeded, 'src'), FILES)
  const seed = track(libtorrent(['seed', torrent, seeded, '--interface', '127.0.0.1']))
  await seed.logLine((l) => l['msg'] === 'seeding', 30_000)
  const dest = join(work, 'dest')
  const r = await runMurder(['peer', torrent, dest, '127.0.0.1', '--linger', '0'], 60_000)
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(linksOf(await snapshot(dest)), linksOf(await snapshot(src)))
  assert.deepEqual(await snapshot(dest), await snapshot(src))
})
