// The single executable (`npm run binary`, dist/murder) alone: copied to an empty folder and run in private
// mount namespaces where node is masked, so nothing of Node.js, node_modules or the build tree can serve it.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { appendFile, chmod, copyFile, cp, mkdir, open, realpath } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { start, type Proc } from './helpers/proc.js'
import { completeStats, killAll, track } from './helpers/swarm.js'
import { cleanup, sampleTree, snapshot, tempDir, writeTree } from './helpers/tree.js'

const BUILT = fileURLToPath(new URL('../murder', import.meta.url))
const PIECE = 32 * 1024
// `$0` is node's path, bound over by /dev/null in this process's own mount namespace before murder runs.
const MASK_NODE = 'mount --bind /dev/null "$0" && exec "$@"'

let work = ''
let binary = ''
let node = ''
after(async () => {
  await killAll()
  await cleanup(work)
})

before(async () => {
  work = await tempDir('binary')
  binary = join(work, 'bin', 'murder')
  await mkdir(join(work, 'bin'))
  await copyFile(BUILT, binary)
  await chmod(binary, 0o755)
  node = await realpath(process.execPath)
})

/** Runs `command` in a mount namespace of its own where node is /dev/null, from the binary's empty folder. */
function masked(command: string[]): Proc {
  return track(start('unshare', ['-m', '--propagation', 'private', 'sh', '-c', MASK_NODE, node, ...command], {
    cwd: join(work, 'bin'),
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', NODE_PATH: '', HOME: work },
  }))
}

const murder = (args: string[]) => masked([binary, ...args])

async function finish(p: Proc): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { code } = await p.exited
  return { code, stdout: p.stdout(), stderr: p.stderr() }
}

async function swarm(name: string, files: Record<string, number>) {
  const dir = join(work, name)
  const src = join(dir, 'src')
  await writeTree(src, files)
  const tracker = murder(['tracker', '--port', '0', '--host', '127.0.0.1'])
  const port = (await tracker.logLine((l) => l['msg'] === 'tracker listening'))['port'] as number
  const torrent = join(dir, 't.torrent')
  const made = await finish(murder(['make-torrent', src, `127.0.0.1:${port}`, torrent, '--json', '--piece-length', String(PIECE)]))
  assert.equal(made.code, 0, made.stderr)
  const infoHash = (JSON.parse(made.stdout) as { infoHash: string }).infoHash
  const seed = murder(['seed', torrent, src, '127.0.0.1'])
  await seed.logLine((l) => l['msg'] === 'seeding')
  return { dir, src, torrent, port, infoHash }
}

test('node is unreachable where the binary runs', async () => {
  const r = await finish(masked(['sh', '-c', 'node --version; exit $?']))
  assert.notEqual(r.code, 0, `node ran: ${r.stdout}`)
  const v = await finish(murder(['--version']))
  assert.equal(v.code, 0, v.stderr)
  assert.match(v.stdout, /^\d+\.\d+\.\d+\n$/)
})

test('binary alone: make-torrent, tracker, seed and 2 peers replicate a tree exactly', async () => {
  const s = await swarm('two', sampleTree(PIECE))
  const dests = [1, 2].map((i) => join(s.dir, `dest${i}`))
  const results = await Promise.all(dests.map((d) => finish(murder(['peer', s.torrent, d, '127.0.0.1', '--linger', '5']))))
  const expected = await snapshot(s.src)
  for (const [i, r] of results.entries()) {
    assert.equal(r.code, 0, r.stderr)
    // Nothing but murder's own JSON lines: no warning from Node about the executable.
    for (const line of r.stderr.split('\n').filter(Boolean)) assert.doesNotThrow(() => JSON.parse(line), line)
    assert.equal(r.stdout, 'Done and done\n')
    assert.deepEqual(await snapshot(dests[i]!), expected)
  }
})

test('binary alone: a magnet link fetches the metadata from the swarm', async () => {
  const s = await swarm('magnet', { 'one.bin': PIECE * 3 + 3, 'two/three.txt': 999 })
  const dest = join(s.dir, 'dest')
  const magnet = `magnet:?xt=urn:btih:${s.infoHash}&tr=${encodeURIComponent(`http://127.0.0.1:${s.port}/announce`)}`
  const r = await finish(murder(['peer', magnet, dest, '127.0.0.1', '--linger', '0']))
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout, 'Done and done\n')
  assert.deepEqual(await snapshot(dest), await snapshot(s.src))
})

test('binary alone: the start-up check of a partial destination hashes on its workers and fetches only bad pieces', async () => {
  const s = await swarm('partial', { 'keep.bin': PIECE * 40, 'modified.bin': PIECE * 4, 'long.bin': PIECE * 4 })
  const dest = join(s.dir, 'dest')
  await cp(s.src, dest, { recursive: true })
  const fh = await open(join(dest, 'modified.bin'), 'r+')
  await fh.write(Buffer.from('changed!'), 0, 8, PIECE + 100)
  await fh.close()
  await appendFile(join(dest, 'long.bin'), Buffer.alloc(999, 1))
  const r = await finish(murder(['peer', s.torrent, dest, '127.0.0.1', '--linger', '0']))
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(await snapshot(dest), await snapshot(s.src))
  const done = completeStats(r.stderr)
  assert.equal(done.downloaded, PIECE, 'only the modified piece is fetched')
})
