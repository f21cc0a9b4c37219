/**
 * The tracker under abuse, through its HTTP server in a real `murder tracker` process: floods of info hashes
 * and peer ids stay within the caps, slow and oversize requests are cut off, only allow-listed torrents are
 * served, and mutated requests never make it fail.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import http from 'node:http'
import net from 'node:net'
import { join } from 'node:path'
import bencode from 'bencode'
import { percentEncode } from '../src/tracker/announceUrl.js'
import { runMurder } from './helpers/proc.js'
import { killAll, logLines, startTracker } from './helpers/swarm.js'
import { prng } from './helpers/prng.js'
import { cleanup, tempDir, writeTree } from './helpers/tree.js'

const TIMEOUT = { timeout: 60_000 }
const dirs: string[] = []
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 })
after(async () => {
  agent.destroy()
  await killAll()
  await cleanup(...dirs)
})


const id = (tag: string): Buffer => createHash('sha1').update(tag).digest()

function announceQuery(p: { hash: Buffer; peer: Buffer; port: number; left?: number; numwant?: number; event?: string }): string {
  return `/announce?info_hash=${percentEncode(p.hash)}&peer_id=${percentEncode(p.peer)}&port=${p.port}&uploaded=0&downloaded=0` +
    `&left=${p.left ?? 100}&compact=1&ip=127.0.0.1${p.numwant === undefined ? '' : `&numwant=${p.numwant}`}${p.event ? `&event=${p.event}` : ''}`
}

function get(port: number, path: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    }).on('error', reject)
  })
}

function decoded(body: Buffer): Record<string, unknown> {
  return bencode.decode(body) as Record<string, unknown>
}

function failure(body: Buffer): string | undefined {
  const reason = decoded(body)['failure reason']
  return reason instanceof Uint8Array ? Buffer.from(reason).toString() : undefined
}

/** Runs `count` jobs, `width` at a time. */
async function pool(count: number, width: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < count) await job(next++)
  }))
}

async function stats(port: number): Promise<{ infoHash: string; seeders: number; leechers: number }[]> {
  const r = await get(port, '/stats')
  assert.equal(r.status, 200)
  return (JSON.parse(r.body.toString()) as { torrents: { infoHash: string; seeders: number; leechers: number }[] }).torrents
}

test('a flood of unique info hashes keeps at most --max-torrents swarms, the most recent ones', TIMEOUT, async () => {
  const t = await startTracker(['--max-torrents', '100'])
  const FLOOD = 4000
  await pool(FLOOD, 16, async (i) => {
    const r = await get(t.port, announceQuery({ hash: id(`flood ${i}`), peer: id(`peer ${i}`), port: 1000 + (i % 60000) }))
    assert.equal(failure(r.body), undefined)
  })
  // Then, one at a time, the torrents of a real deploy: they are the most recent, so they are kept.
  for (let i = 0; i < 50; i++) assert.equal(failure((await get(t.port, announceQuery({ hash: id(`deploy ${i}`), peer: id('host'), port: 80 }))).body), undefined)
  const torrents = await stats(t.port)
  assert.equal(torrents.length, 100)
  const kept = new Set(torrents.map((x) => x.infoHash))
  for (let i = 0; i < 50; i++) assert.ok(kept.has(id(`deploy ${i}`).toString('hex')), `recent torrent ${i} kept`)
  assert.ok(!kept.has(id('flood 0').toString('hex')), 'the oldest was evicted')
})

test('a flood of peer ids keeps at most --max-peers-per-torrent peers per torrent', TIMEOUT, async () => {
  const t = await startTracker(['--max-peers-per-torrent', '50'])
  const hash = id('one torrent')
  await pool(2000, 16, async (i) => {
    await get(t.port, announceQuery({ hash, peer: id(`sybil ${i}`), port: 1024 + i }))
  })
  const [torrent] = await stats(t.port)
  assert.equal(torrent!.seeders + torrent!.leechers, 50)
  const r = await get(t.port, announceQuery({ hash, peer: id('late'), port: 9, numwant: 200 }))
  const peers = decoded(r.body)['peers'] as Uint8Array
  assert.equal(peers.length / 6, 49, 'the newcomer is handed the other 49')
})

/** A raw TCP client: writes `head`, then trickles one byte every `everyMs`; resolves when the server closes. */
function slowClient(port: number, head: string, everyMs: number): Promise<{ ms: number; response: string }> {
  return new Promise((resolve) => {
    const started = Date.now()
    const socket = net.connect({ host: '127.0.0.1', port })
    let response = ''
    socket.on('data', (d) => (response += d.toString()))
    socket.on('error', () => undefined)
    socket.write(head)
    const drip = setInterval(() => {
      if (!socket.destroyed) socket.write('a')
    }, everyMs)
    socket.on('close', () => {
      clearInterval(drip)
      resolve({ ms: Date.now() - started, response })
    })
    // Bounded, in case the server never cuts it off (the assertion below then fails).
    setTimeout(() => socket.destroy(), 15_000).unref()
  })
}

test('slowloris: clients that send their headers slowly are cut off, others are served meanwhile', TIMEOUT, async () => {
  const t = await startTracker(['--request-timeout', '1'])
  const slow = Array.from({ length: 40 }, () => slowClient(t.port, 'GET /announce?info_hash=', 100))
  const served = await get(t.port, announceQuery({ hash: id('x'), peer: id('y'), port: 5 }))
  assert.equal(served.status, 200)
  assert.equal(failure(served.body), undefined)
  for (const r of await Promise.all(slow)) {
    assert.ok(r.ms < 5_000, `cut off after ${r.ms} ms`)
    assert.ok(r.ms >= 900, `not before the timeout (${r.ms} ms)`)
    assert.ok(r.response === '' || /^HTTP\/1\.1 408/.test(r.response), r.response)
  }
})

/** Sends raw bytes, resolves with what came back once the server closed or answered. */
function raw(port: number, bytes: Buffer | string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    let response = ''
    socket.on('data', (d) => {
      response += d.toString('latin1')
      // One response is all we want: stop at the end of its body.
      const m = /content-length: (\d+)\r\n[\s\S]*?\r\n\r\n/i.exec(response)
      if (m && response.length >= m.index + m[0].length + Number(m[1])) socket.destroy()
    })
    socket.on('error', () => undefined)
    socket.on('close', () => resolve(response))
    socket.end(bytes)
    setTimeout(() => socket.destroy(), 10_000).unref()
  })
}

test('oversize requests are refused without being buffered', TIMEOUT, async () => {
  const t = await startTracker()
  const bigHeaders = await raw(t.port, `GET /announce HTTP/1.1\r\nHost: x\r\nX-Junk: ${'a'.repeat(32 * 1024)}\r\n\r\n`)
  assert.match(bigHeaders, /^HTTP\/1\.1 431/)
  const longUrl = await get(t.port, `${announceQuery({ hash: id('a'), peer: id('b'), port: 7 })}&pad=${'z'.repeat(9000)}`)
  assert.match(failure(longUrl.body) ?? '', /URL longer than/)
  const post = await raw(t.port, `POST /announce HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello`)
  assert.match(post, /^HTTP\/1\.1 405/)
  // Still serving.
  assert.equal((await get(t.port, announceQuery({ hash: id('a'), peer: id('b'), port: 7 }))).status, 200)
})


test('mutated requests over HTTP never make the tracker fail (no 500, no error log)', TIMEOUT, async () => {
  const t = await startTracker()
  const rand = prng(2024)
  const int = (n: number) => Math.floor(rand() * n)
  const base = Buffer.from(`${announceQuery({ hash: id('h'), peer: id('p'), port: 6881, numwant: 10, event: 'started' })}&site=rack1`)
  const tokens = ['%', '%0', '%zz', '&', '=', '==', '+', '?', '#', 'info_hash=', '&info_hash=', 'port=0', 'port=65536', 'left=-1',
    'numwant=99999999999999999999', 'ip=::ffff:1.2.3.4', 'ip=[::1]', 'ip=999.1.1.1', 'event=paused', 'compact=2', '%00', '%FF', '\u00ff']
  const statuses = new Map<number, number>()
  await pool(1500, 8, async () => {
    const b = Buffer.from(base)
    let s = b.toString('latin1')
    for (let k = 0, n = 1 + int(4); k < n; k++) {
      const at = int(s.length)
      const r = rand()
      if (r < 0.3) s = s.slice(0, at) + tokens[int(tokens.length)]! + s.slice(at)
      else if (r < 0.5) s = s.slice(0, at) + s.slice(at + 1 + int(8))
      else if (r < 0.7) s = s.slice(0, at) + String.fromCharCode(0x21 + int(0x5e)) + s.slice(at + 1)
      else if (r < 0.85) s = s.slice(0, at) + s.slice(int(s.length))
      else s = (['/announce', '/scrape', '/stats', '/x'][int(4)]!) + s.slice(s.indexOf('?'))
    }
    const res = await raw(t.port, `GET ${s.replace(/[\s]/g, '')} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(res)?.[1] ?? 0)
    statuses.set(status, (statuses.get(status) ?? 0) + 1)
    assert.notEqual(status, 500, `internal error for ${JSON.stringify(s)}`)
    if (status === 200 && /^\/(announce|scrape)/.test(s)) {
      const body = Buffer.from(res.slice(res.indexOf('\r\n\r\n') + 4), 'latin1')
      const d = decoded(body)
      const reason = d['failure reason']
      if (reason !== undefined) assert.ok(Buffer.from(reason as Uint8Array).toString().length > 0)
    }
  })
  assert.ok((statuses.get(200) ?? 0) > 100, `some requests were valid: ${JSON.stringify([...statuses])}`)
  assert.equal(t.proc.child.exitCode, null)
  const errors = t.proc.stderr().split('\n').filter((l) => /"level":(50|60)/.test(l))
  assert.deepEqual(errors, [])
})

test('--allow serves only the listed info hashes, is re-read on SIGHUP, and refuses a bad file', TIMEOUT, async () => {
  const work = await tempDir('allow')
  dirs.push(work)
  const [a, b, c] = [id('allowed a'), id('allowed b'), id('never')]
  const file = join(work, 'allowed')
  await writeFile(file, `# deploys\n${a.toString('hex').toUpperCase()}   # build 1\n\n   \n`)
  const t = await startTracker(['--allow', file, '--interval', '1'])
  await t.proc.logLine((l) => l['msg'] === 'allow list loaded' && l['torrents'] === 1)

  const okA = await get(t.port, announceQuery({ hash: a, peer: id('p1'), port: 10 }))
  assert.equal(failure(okA.body), undefined)
  for (const h of [b, c]) {
    const refused = await get(t.port, announceQuery({ hash: h, peer: id('p2'), port: 11 }))
    assert.equal(failure(refused.body), 'torrent not allowed')
  }
  const scrape = decoded((await get(t.port, `/scrape?info_hash=${percentEncode(b)}`)).body)
  assert.deepEqual(Object.keys(scrape['files'] as object), [])
  assert.deepEqual((await stats(t.port)).map((x) => x.infoHash), [a.toString('hex')])

  // A murder peer whose torrent is not listed gets the reason, not a generic failure.
  const src = join(work, 'src')
  await writeTree(src, { f: 1000 })
  assert.equal((await runMurder(['make-torrent', src, `127.0.0.1:${t.port}`, join(work, 't.torrent')])).code, 0)
  const peer = await runMurder(['peer', join(work, 't.torrent'), join(work, 'dest'), '127.0.0.1', '--timeout', '1', '--log-level', 'silent'])
  assert.equal(peer.code, 5, peer.stderr)
  assert.match(peer.stderr, /torrent not allowed/)

  // Add b, drop a: the running tracker follows the file after SIGHUP.
  await writeFile(file, `${b.toString('hex')}\n`)
  t.proc.kill('SIGHUP')
  await t.proc.logLine((l) => l['msg'] === 'allow list reloaded' && l['torrents'] === 1)
  assert.equal(failure((await get(t.port, announceQuery({ hash: b, peer: id('p3'), port: 12 }))).body), undefined)
  assert.equal(failure((await get(t.port, announceQuery({ hash: a, peer: id('p1'), port: 10 }))).body), 'torrent not allowed')
  assert.deepEqual((await stats(t.port)).map((x) => x.infoHash), [b.toString('hex')])
  // A broken edit keeps the previous list.
  await writeFile(file, 'not a hash\n')
  t.proc.kill('SIGHUP')
  const kept = await t.proc.logLine((l) => l['msg'] === 'allow list not reloaded; keeping the previous one')
  assert.match(String(kept['err']), /line 1/)
  assert.equal(failure((await get(t.port, announceQuery({ hash: b, peer: id('p3'), port: 12 }))).body), undefined)
  assert.equal(logLines(t.proc.stderr(), 'allow list reloaded').length, 1)

  // At startup, a bad file is a usage error naming the line.
  await writeFile(file, `${a.toString('hex')}\n${a.toString('hex')}ff\n`)
  const bad = await runMurder(['tracker', '--port', '0', '--allow', file])
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /^murder: allow list .*line 2: expected a 40-hex-digit info hash/m)
  const missing = await runMurder(['tracker', '--port', '0', '--allow', join(work, 'nope')])
  assert.equal(missing.code, 2)
  assert.match(missing.stderr, /cannot read allow list .*ENOENT/)
})
