import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import dgram from 'node:dgram'
import net from 'node:net'
import { join } from 'node:path'
import { runMurder, start } from './helpers/proc.js'
import { killAll, logLines, startSeed, track, treeWithTracker } from './helpers/swarm.js'
import { cleanup, snapshot, tempDir } from './helpers/tree.js'
import { ARIA2 } from './helpers/aria2.js'

const dirs: string[] = []
after(async () => {
  await killAll()
  await cleanup(...dirs)
})

async function setup(align: 'all' | 'none') {
  const work = await tempDir('interop')
  dirs.push(work)
  const { src, made } = await treeWithTracker(work, { 'a.bin': 300_000, 'sub/b.txt': 1234, 'sub/deeper/c.bin': 700_001, 'empty': 0 },
    ['--piece-length', '65536', '--align', align], ['--interval', '1'])
  return { work, src, torrent: made.torrent, name: made.meta.name, infoHash: made.infoHash }
}

test('aria2c downloads from murder seed through murder tracker', async () => {
  const s = await setup('all')
  await startSeed(s.torrent, s.src)
  const out = join(s.work, 'aria')
  const aria = track(start('aria2c', [...ARIA2, '--seed-time=0', `--dir=${out}`, s.torrent]))
  const timer = setTimeout(() => aria.kill('SIGKILL'), 60_000)
  const { code } = await aria.exited
  clearTimeout(timer)
  assert.equal(code, 0, aria.stdout() + aria.stderr())
  // aria2c predates BEP 47 padding: it stores the padding files (zeros) under .pad/; the contents are exact.
  const got = await snapshot(join(out, s.name))
  const pads = Object.keys(got).filter((k) => k.startsWith('.pad/'))
  assert.ok(pads.length > 0)
  for (const k of pads) delete got[k]
  assert.deepEqual(got, await snapshot(s.src))
})

test('murder peer downloads from an aria2c seeder', async () => {
  // A torrent as other tools make it (no padding), so that aria2c holds every piece of it.
  const s = await setup('none')
  // aria2c checks the existing copy (-V) and seeds it; the tree lives at <dir>/<torrent name>.
  track(start('aria2c', [...ARIA2, '-V', '--seed-ratio=0.0', '--seed-time=5', `--dir=${s.work}`, s.torrent]))
  const dest = join(s.work, 'dest')
  const r = await runMurder(['peer', s.torrent, dest, '127.0.0.1', '--linger', '0'], 60_000)
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout, 'Done and done\n')
  assert.deepEqual(await snapshot(dest), await snapshot(s.src))
})

test('outgoing connections come from the announced address when it is local (clients that track peers by address)', async () => {
  const s = await setup('none')
  const seed = await startSeed(s.torrent, s.src, ['--log-level', 'debug'])
  const dest = join(s.work, 'dest')
  // 127.0.0.2 is this host's (all of 127/8 is), but not the source address the system would pick for 127.0.0.1.
  const r = await runMurder(['peer', s.torrent, dest, '127.0.0.2', '--linger', '0'], 60_000)
  assert.equal(r.code, 0, r.stderr)
  const connected = logLines(seed.stderr(), 'peer connected').map((l) => String(l['peer']))
  assert.ok(connected.length > 0 && connected.every((a) => /^(::ffff:)?127\.0\.0\.2:/.test(a)), connected.join(' '))
})

test('a uTP SYN to the listening port is answered with a reset, so that libtorrent falls back to TCP at once', async () => {
  const s = await setup('none')
  const seed = await startSeed(s.torrent, s.src)
  const port = (await seed.logLine((l) => l['msg'] === 'seeding'))['port'] as number
  const udp = dgram.createSocket('udp4')
  try {
    const syn = Buffer.alloc(20)
    syn[0] = 0x41 // ST_SYN, version 1
    syn.writeUInt16BE(0x1234, 2)
    syn.writeUInt16BE(77, 16)
    const reply = new Promise<Buffer>((resolve) => udp.once('message', resolve))
    udp.send(syn, port, '127.0.0.1')
    const reset = await reply
    assert.deepEqual([reset.length, reset[0], reset.readUInt16BE(2), reset.readUInt16BE(18)], [20, 0x31, 0x1234, 77])
  } finally {
    udp.close()
  }
})

test('a uTP SYN of libutp (Transmission\'s) gets no answer, and the seed dials its sender over TCP, complete as it is', async () => {
  const s = await setup('none')
  const seed = await startSeed(s.torrent, s.src)
  const port = (await seed.logLine((l) => l['msg'] === 'seeding'))['port'] as number
  // The client's TCP listener and its uTP socket share a port, as Transmission's do.
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const clientPort = (server.address() as net.AddressInfo).port
  const udp = dgram.createSocket('udp4')
  const answers: Buffer[] = []
  udp.on('message', (m) => answers.push(m))
  try {
    await new Promise<void>((resolve) => udp.bind(clientPort, '127.0.0.1', resolve))
    const handshake = new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no dial back within 10 s')), 10_000)
      server.once('connection', (socket) => socket.once('data', (d) => {
        clearTimeout(timer)
        socket.destroy()
        resolve(d)
      }))
    })
    const syn = Buffer.alloc(30)
    syn[0] = 0x41 // ST_SYN, version 1
    syn[1] = 2 // libutp's extension bits
    udp.send(syn, port, '127.0.0.1')
    const d = await handshake
    assert.equal(d.subarray(0, 20).toString('latin1'), '\x13BitTorrent protocol')
    assert.equal(d.subarray(28, 48).toString('hex'), s.infoHash)
    assert.deepEqual(answers, [], 'the SYN is left unanswered')
  } finally {
    udp.close()
    server.close()
  }
})
