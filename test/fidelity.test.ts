import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { appendFile, chmod, chown, cp, mkdir, rename, rm, stat, symlink, utimes, writeFile, lutimes } from 'node:fs/promises'
import { join } from 'node:path'
import { runMurder } from './helpers/proc.js'
import { completeStats, killAll, logLines, makeTorrent, startSeed, startTracker } from './helpers/swarm.js'
import { bytes, cleanup, tempDir } from './helpers/tree.js'

const PIECE = 16 * 1024
const dirs: string[] = []
after(async () => {
  await killAll()
  await cleanup(...dirs)
})

/** What `rsync -a --delete` would still change: empty when the copy is exact (modes, times, links, owners). */
function rsyncDiff(src: string, dest: string): string {
  return execFileSync('rsync', ['-ani', '--delete', `${src}/`, `${dest}/`], { encoding: 'utf8' })
}

const OLD = new Date('2001-02-03T04:05:06Z')

async function fidelityTree(root: string): Promise<void> {
  const file = async (path: string, size: number, mode: number, seed: number) => {
    await mkdir(join(root, path, '..'), { recursive: true })
    await writeFile(join(root, path), bytes(seed, size))
    await chmod(join(root, path), mode)
  }
  await mkdir(join(root, 'empty/nested/deeper'), { recursive: true })
  await file('secret.key', 300, 0o600, 1)
  await file('bin/run.sh', 2000, 0o755, 2)
  await file('readonly.txt', 50, 0o444, 3)
  await file('big/data.bin', PIECE * 5 + 123, 0o644, 4)
  await file('dir with space/ünïcödé 名前.txt', 4000, 0o640, 5)
  await file('shared/group-file', 10, 0o664, 6)
  await file('a/middle.bin', PIECE * 2 + 7, 0o644, 7)
  await file('a/rename-me.bin', PIECE * 3 + 11, 0o644, 8)
  await file('a/delete-me.bin', 999, 0o644, 9)
  await file('z/last.bin', PIECE + 1, 0o644, 10)
  await chmod(join(root, 'shared'), 0o2775)
  // Another owner (the tests run as root): applied with --owner.
  await chown(join(root, 'shared/group-file'), 1234, 5678)
  await symlink('../bin/run.sh', join(root, 'a/relative-link'))
  await symlink('/etc/hostname', join(root, 'absolute-link'))
  await utimes(join(root, 'big/data.bin'), OLD, OLD)
  await utimes(join(root, 'empty/nested'), OLD, OLD)
  await lutimes(join(root, 'absolute-link'), OLD, OLD)
  await utimes(join(root, 'readonly.txt'), OLD, OLD)
}

async function deploy(src: string, torrent: string, port: number, dest: string, extra: string[] = []) {
  await makeTorrent(src, port, torrent, ['--piece-length', String(PIECE)])
  const seed = await startSeed(torrent, src)
  const r = await runMurder(['peer', torrent, dest, '127.0.0.1', '--linger', '0', ...extra], 60_000)
  seed.kill()
  await seed.exited
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout, 'Done and done\n')
  return { ...completeStats(r.stderr), stderr: r.stderr }
}

/** A v1 tree deployed to `dest`, and v2 beside it: one file grown, one renamed, one deleted, one re-moded. */
async function deployedV1(name: string, extra: string[]) {
  const work = await tempDir(name)
  dirs.push(work)
  const v1 = join(work, 'v1')
  const v2 = join(work, 'v2')
  await fidelityTree(v1)
  await cp(v1, v2, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true })
  await appendFile(join(v2, 'a/middle.bin'), Buffer.from('!'))
  await rename(join(v2, 'a/rename-me.bin'), join(v2, 'renamed.bin'))
  await rm(join(v2, 'a/delete-me.bin'))
  await chmod(join(v2, 'z/last.bin'), 0o700)
  const tracker = await startTracker()
  const dest = join(work, 'dest')
  await deploy(v1, join(work, 'v1.torrent'), tracker.port, dest, extra)
  return { work, v1, v2, tracker, dest }
}

test('the target matches rsync -a: modes, mtimes, symlinks, empty folders, setgid; a rerun changes nothing', async () => {
  const work = await tempDir('fidelity')
  dirs.push(work)
  const src = join(work, 'src')
  await fidelityTree(src)
  const tracker = await startTracker()
  const dest = join(work, 'dest')
  await deploy(src, join(work, 'v1.torrent'), tracker.port, dest, ['--owner', '--fsync'])
  assert.equal(rsyncDiff(src, dest), '')
  const owned = await stat(join(dest, 'shared/group-file'))
  assert.deepEqual([owned.uid, owned.gid], [1234, 5678], '--owner applies numeric uid/gid')
  const before = await stat(join(dest, 'big/data.bin'))
  const again = await deploy(src, join(work, 'v1.torrent'), tracker.port, dest, ['--owner'])
  assert.equal(again.received, 0, 'a complete destination fetches nothing')
  assert.equal(rsyncDiff(src, dest), '')
  assert.equal((await stat(join(dest, 'big/data.bin'))).ctimeMs, before.ctimeMs, 'untouched files are not rewritten')
})

test('v1 to v2: grown, renamed, deleted and re-moded files; only the change moves', async () => {
  const { work, v1, v2, tracker, dest } = await deployedV1('update', ['--owner'])
  assert.equal(rsyncDiff(v1, dest), '')
  const update = await deploy(v2, join(work, 'v2.torrent'), tracker.port, dest, ['--delete', '--owner'])
  assert.equal(rsyncDiff(v2, dest), '', 'the result is exactly v2')
  const grown = (await stat(join(v2, 'a/middle.bin'))).size
  assert.ok(update.received <= grown + PIECE, `received ${update.received} bytes; the changed file is ${grown}`)
  const [deleted] = logLines(update.stderr, 'deleted entries the torrent does not name')
  assert.equal(deleted?.['removed'], 2, update.stderr)
  assert.deepEqual((deleted['paths'] as string[]).sort(), ['a/delete-me.bin', 'a/rename-me.bin'])
})

test('an update without --delete says what it kept; --max-delete stops before removing more, before any download', async () => {
  const { work, v2, tracker, dest } = await deployedV1('kept', [])
  await mkdir(join(dest, 'cache'))
  await writeFile(join(dest, 'cache/x'), 'x')
  await writeFile(join(dest, 'cache/y'), 'y')
  const kept = await deploy(v2, join(work, 'v2.torrent'), tracker.port, dest)
  const [warning] = logLines(kept.stderr, 'kept entries the torrent does not name (--delete removes them)')
  assert.equal(warning?.['level'], 40, kept.stderr)
  assert.equal(warning['entries'], 5, 'a/delete-me.bin, a/rename-me.bin, cache and its two files')
  assert.deepEqual((warning['paths'] as string[]).sort(), ['a/delete-me.bin', 'a/rename-me.bin', 'cache'])

  const seed = await startSeed(join(work, 'v2.torrent'), v2)
  try {
    await rm(join(dest, 'a/middle.bin'))
    const over = await runMurder(['peer', join(work, 'v2.torrent'), dest, '127.0.0.1', '--linger', '0', '--delete', '--max-delete', '4'], 60_000)
    assert.equal(over.code, 10, over.stderr)
    assert.match(over.stderr, /^murder: --delete would remove 5 entries, more than --max-delete 4 \(.*cache.*\); nothing removed$/m)
    assert.equal(over.stdout, '')
    assert.equal(logLines(over.stderr, 'complete').length, 0, 'stopped before downloading')
    await stat(join(dest, 'cache/y'))
    await assert.rejects(stat(join(dest, 'a/middle.bin')), 'nothing downloaded either')
    const within = await runMurder(['peer', join(work, 'v2.torrent'), dest, '127.0.0.1', '--linger', '0', '--delete', '--max-delete', '5'], 60_000)
    assert.equal(within.code, 0, within.stderr)
    assert.equal(logLines(within.stderr, 'deleted entries the torrent does not name')[0]?.['removed'], 5)
    assert.equal(rsyncDiff(v2, dest), '')
  } finally {
    seed.kill()
    await seed.exited
  }
})

test('--delete refuses / and system folders, also through a symlink, before anything else', async () => {
  const work = await tempDir('refuse')
  dirs.push(work)
  // One file of one byte, of a name found nowhere: should the guard fail, the peer's start-up check writes
  // nothing in those folders (it only creates missing empty files) and the dead tracker ends it.
  await mkdir(join(work, 'src'))
  await writeFile(join(work, 'src', 'murder-test-no-such-name'), 'x')
  await makeTorrent(join(work, 'src'), 1, join(work, 't.torrent'))
  await symlink('/', join(work, 'root-link'))
  for (const dest of ['/', '/srv', '/usr/local', join(work, 'root-link')]) {
    const r = await runMurder(['peer', join(work, 't.torrent'), dest, '127.0.0.1', '--delete', '--timeout', '1'], 10_000)
    assert.equal(r.code, 2, `${dest}: ${r.stderr}`)
    assert.match(r.stderr, /^murder: --delete refused: \/(srv|usr\/local)? is a system folder; name the folder that receives the tree/)
  }
})

test('--delete removes a link to outside, never what it points to', async () => {
  const work = await tempDir('delete')
  dirs.push(work)
  const src = join(work, 'src')
  await mkdir(src)
  await writeFile(join(src, 'f'), bytes(1, 1000))
  const outside = join(work, 'outside')
  await mkdir(outside)
  await writeFile(join(outside, 'precious'), 'keep me')
  const dest = join(work, 'dest')
  await mkdir(dest)
  await symlink(outside, join(dest, 'link-to-outside'))
  await writeFile(join(dest, 'stale'), 'old')
  const tracker = await startTracker()
  await deploy(src, join(work, 't.torrent'), tracker.port, dest, ['--delete'])
  assert.equal(rsyncDiff(src, dest), '')
  assert.equal(execFileSync('cat', [join(outside, 'precious')], { encoding: 'utf8' }), 'keep me')
})
