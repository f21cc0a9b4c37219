import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { cp, lstat, mkdir, open, readdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import bencode from 'bencode'
import { murder, runMurder } from './helpers/proc.js'
import { cleanup, snapshot, tempDir, writeTree } from './helpers/tree.js'

const dirs: string[] = []
after(() => cleanup(...dirs))

async function work(): Promise<string> {
  const d = await tempDir('bad')
  dirs.push(d)
  return d
}

/** One clear line on stderr, no stack trace. */
function assertOneLineError(stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split('\n').filter((l) => !l.startsWith('{'))
  assert.equal(lines.length, 1, `expected one error line, got:\n${stderr}`)
  assert.match(lines[0]!, /^murder: /)
  assert.match(lines[0]!, pattern)
  assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace')
}

function torrentOf(files: { path: string[]; length: number }[], announce = 'http://127.0.0.1:1/announce'): Uint8Array {
  const total = files.reduce((s, f) => s + f.length, 0)
  return bencode.encode({ announce, info: { name: 'x', 'piece length': 16384, pieces: new Uint8Array(20 * Math.ceil(total / 16384)), files } })
}

test('corrupt torrent: exit 3, one line', async () => {
  const d = await work()
  await writeFile(join(d, 'bad.torrent'), 'd8:announce')
  const r = await runMurder(['peer', join(d, 'bad.torrent'), join(d, 'dest'), '127.0.0.1'])
  assert.equal(r.code, 3)
  assertOneLineError(r.stderr, /invalid torrent/)
  const missing = await runMurder(['seed', join(d, 'nope.torrent'), d, '127.0.0.1'])
  assert.equal(missing.code, 3)
  assertOneLineError(missing.stderr, /cannot read torrent/)
})

test('traversal and absolute paths are refused before anything is written', async () => {
  const d = await work()
  for (const path of [['..', 'escaped'], ['a', '..', '..', 'escaped'], ['/etc', 'passwd'], ['']]) {
    await writeFile(join(d, 't.torrent'), torrentOf([{ path, length: 10 }]))
    const r = await runMurder(['peer', join(d, 't.torrent'), join(d, 'dest', 'inner'), '127.0.0.1'])
    assert.equal(r.code, 3, r.stderr)
    assertOneLineError(r.stderr, /unsafe path|empty path/)
  }
  assert.deepEqual(await readdir(d), ['t.torrent'], 'nothing created next to the destination')
})

test('a symlinked folder inside the destination is replaced, never written through', async () => {
  const d = await work()
  const outside = join(d, 'outside')
  const dest = join(d, 'dest')
  await mkdir(outside)
  await mkdir(dest)
  await symlink(outside, join(dest, 'sub'))
  await symlink(join(outside, 'file.bin'), join(dest, 'top.bin'))
  await writeTree(join(d, 'src'), { 'sub/file.bin': 40000, 'top.bin': 100 })
  const tracker = murder(['tracker', '--port', '0', '--host', '127.0.0.1'])
  const { port } = await tracker.logLine((l) => typeof l['port'] === 'number')
  try {
    assert.equal((await runMurder(['make-torrent', join(d, 'src'), `127.0.0.1:${port}`, join(d, 't.torrent')])).code, 0)
    const seed = murder(['seed', join(d, 't.torrent'), join(d, 'src'), '127.0.0.1'])
    await seed.logLine((l) => l['msg'] === 'seeding')
    const r = await runMurder(['peer', join(d, 't.torrent'), dest, '127.0.0.1', '--linger', '0'])
    seed.kill()
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(await readdir(outside), [], 'nothing written outside the destination')
    assert.ok((await lstat(join(dest, 'sub'))).isDirectory(), 'the link was replaced by a real folder')
    assert.ok((await lstat(join(dest, 'top.bin'))).isFile(), 'the file link was replaced by a real file')
    assert.deepEqual(await snapshot(dest), await snapshot(join(d, 'src')))
  } finally {
    tracker.kill()
  }
})

test('a special file in the source is an error naming it', async () => {
  const d = await work()
  await writeTree(join(d, 'src'), { 'real.txt': 10 })
  execFileSync('mkfifo', [join(d, 'src', 'pipe')])
  const r = await runMurder(['make-torrent', join(d, 'src'), '127.0.0.1:1', join(d, 't.torrent')])
  assert.equal(r.code, 1)
  assertOneLineError(r.stderr, /pipe is a special file/)
})

test('unreachable tracker: retries until --timeout, then exit 5', async () => {
  const d = await work()
  // A port that was just free: nothing listens there.
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port
      s.close(() => resolve(p))
    })
  })
  await writeTree(join(d, 'src'), { 'f': 100 })
  assert.equal((await runMurder(['make-torrent', join(d, 'src'), `127.0.0.1:${port}`, join(d, 't.torrent')])).code, 0)
  const r = await runMurder(['peer', join(d, 't.torrent'), join(d, 'dest'), '127.0.0.1', '--timeout', '2', '--log-level', 'error'])
  assert.equal(r.code, 5, r.stderr)
  assertOneLineError(r.stderr, /tracker unreachable/)
  // A destination that already holds everything is done without it, and does not linger for peers nobody told of it.
  await cp(join(d, 'src'), join(d, 'done'), { recursive: true })
  const done = await runMurder(['peer', join(d, 't.torrent'), join(d, 'done'), '127.0.0.1', '--timeout', '30', '--log-level', 'error'], 20_000)
  assert.equal(done.code, 0, done.stderr)
  assert.equal(done.stdout, 'Done and done\n')
})

test('destination not writable: exit 4', async () => {
  const d = await work()
  await writeTree(join(d, 'src'), { 'f': 100 })
  await writeFile(join(d, 'plain-file'), 'x')
  assert.equal((await runMurder(['make-torrent', join(d, 'src'), '127.0.0.1:1', join(d, 't.torrent')])).code, 0)
  const r = await runMurder(['peer', join(d, 't.torrent'), join(d, 'plain-file', 'dest'), '127.0.0.1'])
  assert.equal(r.code, 4, r.stderr)
  assertOneLineError(r.stderr, /destination not writable/)
})

test('usage errors exit 2; --help and --version exit 0', async () => {
  const r = await runMurder(['peer', 'only-one-arg'])
  assert.equal(r.code, 2)
  assertOneLineError(r.stderr, /missing required argument/)
  for (const args of [['frobnicate'], ['peer', '--bogus', 'a', 'b', 'c'], ['seed', '--max-uploads', 'abc', 'a', 'b', 'c'], ['tracker', '--bridges-per-site', 'many']]) {
    const u = await runMurder(args)
    assert.equal(u.code, 2, args.join(' '))
    assertOneLineError(u.stderr, /unknown command|unknown option|invalid/)
  }
  const h = await runMurder(['peer', '--help'])
  assert.equal(h.code, 0)
  assert.match(h.stdout, /Example:/)
  const v = await runMurder(['--version'])
  assert.equal(v.code, 0)
  assert.match(v.stdout, /^\d+\.\d+\.\d+/)
  const pl = await runMurder(['make-torrent', '.', 'h:1', '/tmp/x.torrent', '--piece-length', '1000'])
  assert.equal(pl.code, 2)
})

test('<ip> must be an address: a host name is a usage error at once, not a minute of tracker retries', async () => {
  const d = await work()
  await writeTree(join(d, 'src'), { 'f': 100 })
  assert.equal((await runMurder(['make-torrent', join(d, 'src'), '127.0.0.1:1', join(d, 't.torrent')])).code, 0)
  for (const args of [['seed', join(d, 't.torrent'), join(d, 'src'), 'deploy-host.example'], ['peer', join(d, 't.torrent'), join(d, 'dest'), 'deploy-host']]) {
    const r = await runMurder(args, 10_000)
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /invalid for argument 'ip'\. expected an IPv4 or IPv6 address/)
  }
  assert.deepEqual(await readdir(d), ['src', 't.torrent'], 'the peer did not start: no destination made')
})

test('a port in use is exit 9 for tracker, seed and peer, with one line', async () => {
  const d = await work()
  await writeTree(join(d, 'src'), { 'f': 100 })
  assert.equal((await runMurder(['make-torrent', join(d, 'src'), '127.0.0.1:1', join(d, 't.torrent')])).code, 0)
  // Held by this test on every address, so whatever each command binds collides with it.
  const taken = createServer()
  const port = await new Promise<number>((resolve) => taken.listen(0, () => resolve((taken.address() as { port: number }).port)))
  try {
    for (const args of [
      ['tracker', '--port', String(port)],
      ['tracker', '--port', String(port), '--host', '127.0.0.1'],
      ['seed', join(d, 't.torrent'), join(d, 'src'), '127.0.0.1', '--port', String(port)],
      ['peer', join(d, 't.torrent'), join(d, 'dest'), '127.0.0.1', '--port', String(port)],
    ]) {
      const r = await runMurder([...args, '--log-level', 'silent'], 20_000)
      assert.equal(r.code, 9, `${args[0]}: ${r.stderr}`)
      assertOneLineError(r.stderr, new RegExp(`cannot listen on .*${port}: address in use`))
    }
  } finally {
    taken.close()
  }
})

test('a destination past the OS path limit: exit 4 and one readable line', async () => {
  const d = await work()
  await writeTree(join(d, 'src'), { 'f': 100 })
  assert.equal((await runMurder(['make-torrent', join(d, 'src'), '127.0.0.1:1', join(d, 't.torrent')])).code, 0)
  const dest = join(d, ...Array.from({ length: 40 }, (_, i) => `${i}-${'d'.repeat(200)}`), 'the-end')
  const r = await runMurder(['peer', join(d, 't.torrent'), dest, '127.0.0.1'])
  assert.equal(r.code, 4, r.stderr)
  assertOneLineError(r.stderr, /^murder: destination not writable: path too long for the file system: \/.*…d+\/the-end$/)
  assert.ok(r.stderr.length < 400, `${r.stderr.length} characters (the path alone is ${dest.length})`)
})

test('a seed names the source file that really differs, and how: missing, size, content; or no such folder', async () => {
  const d = await work()
  const src = join(d, 'src')
  // Small files packed into shared 16 KiB pieces, and one file of whole pieces.
  await writeTree(src, { 'bash/CHANGES.gz': 10_000, 'bash/README.abs-guide': 3000, 'bash/tail.txt': 500, 'large.bin': 40_000 })
  assert.equal((await runMurder(['make-torrent', src, '127.0.0.1:1', join(d, 't.torrent'), '--piece-length', '16k'])).code, 0)
  const seed = (source = src) => runMurder(['seed', join(d, 't.torrent'), source, '127.0.0.1', '--log-level', 'silent'], 20_000)

  const missingFolder = await seed(join(d, 'srcc'))
  assert.equal(missingFolder.code, 1, missingFolder.stderr)
  assertOneLineError(missingFolder.stderr, /^murder: no such folder: .*\/srcc$/)
  // A symlink to the source (a release's `current` link) is the source: the check passes, the dead tracker ends it.
  await symlink(src, join(d, 'current'))
  const linked = await runMurder(['seed', join(d, 't.torrent'), join(d, 'current'), '127.0.0.1', '--timeout', '1', '--log-level', 'silent'], 20_000)
  assert.equal(linked.code, 5, linked.stderr)

  // make-torrent recorded each file's mtime; an edit changes it, the neighbours in its piece keep theirs.
  const past = new Date('2020-01-01T00:00:00Z')
  for (const f of ['bash/CHANGES.gz', 'bash/README.abs-guide', 'bash/tail.txt', 'large.bin']) await utimes(join(src, f), past, past)
  assert.equal((await runMurder(['make-torrent', src, '127.0.0.1:1', join(d, 't.torrent'), '--piece-length', '16k'])).code, 0)
  const original = await readFile(join(src, 'bash/README.abs-guide'))
  const fh = await open(join(src, 'bash/README.abs-guide'), 'r+')
  await fh.write(Buffer.from('!'), 0, 1, 1500)
  await fh.close()
  const content = await seed()
  assert.equal(content.code, 7, content.stderr)
  assertOneLineError(content.stderr, /^murder: source does not match the torrent: .*\/bash\/README\.abs-guide differs in content \(modified since the torrent was made; piece 0\)$/)

  // Without the mtimes to tell by, the piece's files are named, none accused.
  await utimes(join(src, 'bash/README.abs-guide'), past, past)
  const unknown = await seed()
  assert.equal(unknown.code, 7, unknown.stderr)
  assertOneLineError(unknown.stderr, /piece 0 differs, in one of the 3 files it holds: .*\/bash\/CHANGES\.gz, .*\/bash\/README\.abs-guide, .*\/bash\/tail\.txt$/)

  await writeFile(join(src, 'bash/README.abs-guide'), original)
  const large = await open(join(src, 'large.bin'), 'r+')
  await large.write(Buffer.from('!'), 0, 1, 20_000)
  await large.close()
  const own = await seed()
  assert.equal(own.code, 7, own.stderr)
  assertOneLineError(own.stderr, /large\.bin differs in content \(piece \d+\)$/)

  await writeFile(join(src, 'bash/tail.txt'), 'shorter')
  const size = await seed()
  assert.equal(size.code, 7, size.stderr)
  assertOneLineError(size.stderr, /bash\/tail\.txt has 7 bytes, the torrent says 500$/)

  await rm(join(src, 'bash/tail.txt'))
  const missing = await seed()
  assert.equal(missing.code, 7, missing.stderr)
  assertOneLineError(missing.stderr, /bash\/tail\.txt is missing$/)
})

test('make-torrent prints a magnet link (and in --json) that the tracker-less command line can use', async () => {
  const d = await work()
  await writeTree(join(d, 'src'), { 'f': 100 })
  const human = await runMurder(['make-torrent', join(d, 'src'), '127.0.0.1:8998', join(d, 't.torrent'), '--tracker', 'http://10.0.0.2:80/announce'])
  assert.equal(human.code, 0, human.stderr)
  const [summary, magnet, ...rest] = human.stdout.split('\n')
  assert.match(summary!, /^[0-9a-f]{40}  1 files/)
  assert.equal(magnet, `magnet:?xt=urn:btih:${summary!.slice(0, 40)}&dn=src&tr=${encodeURIComponent('http://127.0.0.1:8998/announce')}&tr=${encodeURIComponent('http://10.0.0.2:80/announce')}`)
  assert.deepEqual(rest, [''])
  const json = await runMurder(['make-torrent', join(d, 'src'), '127.0.0.1:8998', join(d, 't.torrent'), '--json'])
  assert.match((JSON.parse(json.stdout) as { magnet: string }).magnet, /^magnet:\?xt=urn:btih:[0-9a-f]{40}&dn=src&tr=/)
})
