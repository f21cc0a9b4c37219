/**
 * Tracker access (--key-file): announces, scrapes and every page need a passkey in the path
 * (`/<passkey>/announce`); without one, or with a wrong one, a client gets the same bencoded failure and
 * nothing about any swarm, while peers with the key replicate as usual.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import bencode from 'bencode'
import { parsePasskeys, PASSKEY_REQUIRED, unlockPath } from '../src/tracker/passkey.js'
import { shownTrackerUrl } from '../src/tracker/announceUrl.js'
import { percentEncode } from '../src/tracker/announceUrl.js'
import { UserError } from '../src/errors.js'
import { runMurder } from './helpers/proc.js'
import { fileScope, makeTorrent, startSeed, startTracker } from './helpers/swarm.js'
import { snapshot, tempDir, writeTree } from './helpers/tree.js'

const { dirs } = fileScope()
const KEY = 'k3y-0f-the-fleet_7Qz9'
const OTHER = 'an0ther-key-for-rotation'

test('parsePasskeys: one a line, comments, at least 16 URL-safe characters, not empty', () => {
  assert.deepEqual(parsePasskeys(`# fleet\n${KEY}\n\n  ${OTHER}  # next\n`, 'f'), [KEY, OTHER])
  assert.throws(() => parsePasskeys('short\n', 'f'), (e: unknown) => e instanceof UserError && e.exitCode === 2 && /line 1/.test(e.message))
  assert.throws(() => parsePasskeys('with/slash-0123456789\n', 'f'), UserError)
  assert.throws(() => parsePasskeys('# nothing\n', 'f'), /holds no passkey/)
})

test('unlockPath: the first segment must be a passkey; the rest is routed', () => {
  assert.equal(unlockPath(`/${KEY}/announce`, [OTHER, KEY]), '/announce')
  assert.equal(unlockPath(`/${OTHER}/stats`, [OTHER, KEY]), '/stats')
  assert.equal(unlockPath(`/${KEY}/`, [KEY]), '/')
  for (const p of ['/announce', `/${KEY}`, `/${KEY.slice(0, -1)}/announce`, `/${KEY}x/announce`, `//${KEY}/announce`, '', `${KEY}/announce`]) assert.equal(unlockPath(p, [KEY]), null, p)
})

test('shownTrackerUrl: a passkey in the path is not logged', () => {
  assert.equal(shownTrackerUrl(`http://10.0.0.1:8998/${KEY}/announce`), 'http://10.0.0.1:8998/…/announce')
  assert.equal(shownTrackerUrl(`https://t.example/${KEY}/announce?x=1`), 'https://t.example/…/announce')
  assert.equal(shownTrackerUrl('http://10.0.0.1:8998/announce'), 'http://10.0.0.1:8998/announce')
})

async function get(url: string): Promise<{ status: number; body: Buffer }> {
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => http.get(url, { agent: false }, resolve).on('error', reject))
  const chunks: Buffer[] = []
  for await (const c of res) chunks.push(c as Buffer)
  return { status: res.statusCode ?? 0, body: Buffer.concat(chunks) }
}

test('tracker --key-file: without the passkey nothing is learnt (announce, scrape, /stats, the live page, /metrics); with it, peers replicate', { timeout: 90_000 }, async () => {
  const work = await tempDir('tracker-access')
  dirs.push(work)
  const keyFile = join(work, 'keys')
  await writeFile(keyFile, `${KEY}\n`)
  const tracker = await startTracker(['--key-file', keyFile, '--interval', '1'])
  const base = `http://127.0.0.1:${tracker.port}`
  const src = join(work, 'src')
  await writeTree(src, { 'etc/secret.conf': 3000, 'bin/app': 400_000 })
  const made = await makeTorrent(src, tracker.port, join(work, 't.torrent'))
  const keyed = await runMurder(['make-torrent', src, `${base}/${KEY}/announce`, join(work, 'k.torrent')])
  assert.equal(keyed.code, 0, keyed.stderr)
  await startSeed(join(work, 'k.torrent'), src)
  const r = await runMurder(['peer', join(work, 'k.torrent'), join(work, 'dest'), '127.0.0.1', '--linger', '0'])
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(await snapshot(join(work, 'dest')), await snapshot(src))

  // The keyed tracker lists the swarm; nothing else does.
  const stats = JSON.parse((await get(`${base}/${KEY}/stats`)).body.toString()) as { torrents: { infoHash: string }[] }
  assert.deepEqual(stats.torrents.map((t) => t.infoHash), [made.infoHash])
  const hash = percentEncode(made.meta.infoHash)
  const announce = `info_hash=${hash}&peer_id=-XX0000-000000000000&port=6881&uploaded=0&downloaded=0&left=0&compact=1`
  for (const path of ['/announce', `/${OTHER}/announce`, `/${KEY.slice(1)}/announce`, '/scrape', `/${OTHER}/scrape`, `/${OTHER}/scrape?info_hash=${hash}`]) {
    const res = await get(`${base}${path}${path.includes('?') ? '' : `?${path.endsWith('announce') ? announce : `info_hash=${hash}`}`}`)
    assert.equal(res.status, 200, path)
    assert.deepEqual(Object.keys(bencode.decode(res.body) as object), ['failure reason'], path)
    assert.equal(Buffer.from((bencode.decode(res.body) as Record<string, Uint8Array>)['failure reason']!).toString(), PASSKEY_REQUIRED)
  }
  // The live page and /metrics are there for the key only, like every page.
  for (const path of ['/', '/metrics']) assert.equal((await get(`${base}/${KEY}${path}`)).status, 200, path)
  for (const path of ['/stats', `/${OTHER}/stats`, '/', '/metrics', `/${OTHER}/metrics`, `/${OTHER}/`, `/${made.infoHash}`]) {
    const res = await get(`${base}${path}`)
    assert.equal(res.status, 404, path)
    assert.ok(!res.body.toString().includes(made.infoHash), path)
  }
  // The peer list only ever had the keyed peers: the refused announce (port 6881) was not recorded.
  const listed = bencode.decode((await get(`${base}/${KEY}/announce?${announce.replace('port=6881', 'port=6999')}`)).body) as { peers: Uint8Array }
  const ports = []
  for (let i = 0; i < listed.peers.length; i += 6) ports.push(Buffer.from(listed.peers).readUInt16BE(i + 4))
  assert.ok(!ports.includes(6881), String(ports))

  // A peer with the torrent that carries no passkey is refused, and says so in one line.
  const refused = await runMurder(['peer', made.torrent, join(work, 'dest2'), '127.0.0.1', '--timeout', '2'])
  assert.equal(refused.code, 5)
  assert.match(refused.stderr, /^murder: tracker unreachable: .*passkey required/m)
  // A wrong passkey is not echoed into logs or messages.
  const wrong = await runMurder(['peer', made.magnet.replace(/tr=[^&]*/, `tr=${encodeURIComponent(`${base}/${OTHER}/announce`)}`), join(work, 'dest3'), '127.0.0.1', '--timeout', '2'])
  assert.equal(wrong.code, 5)
  assert.ok(!wrong.stderr.includes(OTHER), wrong.stderr)
})
