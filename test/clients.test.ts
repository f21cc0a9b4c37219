// Interoperability with the mainstream clients, in network namespaces (Transmission refuses peers on 127.x):
// the source host runs murder's tracker, opentracker and the murder seeds; each client runs on a target host of
// its own. For each client: murder seeds it (padded torrent and --align none), it seeds murder, magnet links
// both ways, and murder's seed through opentracker; then one swarm of murder peers, a qBittorrent seed and
// every client. Every client runs with its defaults for uTP. Needs root, iproute2 and the clients' Debian
// packages (as CI has).
import { test, before } from 'node:test'
import assert from 'node:assert/strict'
import { readlinkSync } from 'node:fs'
import { chmod, cp, lstat, mkdir, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createLab, type HostSpec, type Lab } from '../bench/netns.js'
import { murder, start, type Proc } from '../bench/proc.js'
import { runMurder } from './helpers/proc.js'
import { netnsScope } from './helpers/netnsScope.js'
import { snapshot, tempDir, writeTree } from './helpers/tree.js'
import { aria2, libtorrent, qbittorrent, rtorrent, transmission, type Client } from './helpers/clients.js'

const { prefix: PREFIX, dirs } = netnsScope('mcli')
const CLIENTS: Client[] = [transmission, libtorrent, aria2, rtorrent, qbittorrent]
const TRACKER_PORT = 8998
const OPENTRACKER_PORT = 6969
/**
 * murder fetching the tree from a client, from its first verified piece to its last: generous for a loaded CI
 * machine but short of the 9 s a download held at 1 MiB/s (issue 21, item 3) takes. Not from the start, which
 * waits on the client's choker (Transmission unchokes a new peer at its next 10 s round). Whole cases only get
 * a bound that catches a hang.
 */
const MURDER_TRANSFER_MS = 6_000
const CASE_MS = 60_000
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'

let lab: Lab
let work: string
let src: string
let expected: Record<string, string>
const torrents: Record<string, { path: string; infoHash: string; name: string }> = {}

async function make(name: string, tracker: string, args: string[]): Promise<void> {
  const path = join(work, `${name}.torrent`)
  const r = await runMurder(['make-torrent', src, tracker, path, '--json', ...args])
  assert.equal(r.code, 0, r.stderr)
  const summary = JSON.parse(r.stdout) as { infoHash: string; torrentBytes: number }
  assert.ok(summary.torrentBytes > 3 * 16384, `${summary.torrentBytes} bytes: fewer than 4 metadata pieces`)
  torrents[name] = { path, infoHash: summary.infoHash, name: 'src' }
}

const magnet = (t: string, tracker = `http://${lab.source.ip}:${TRACKER_PORT}/announce`) =>
  `magnet:?xt=urn:btih:${torrents[t]!.infoHash}&tr=${encodeURIComponent(tracker)}`

const LINK = 'sub/tool'

/** The files with data of a copy (what the clients keep of the link, modes, empty files and folders is reported apart). */
async function dataOf(root: string): Promise<Record<string, string>> {
  const all = await snapshot(root)
  return Object.fromEntries(Object.entries(all).filter(([k, v]) => !k.startsWith('.pad/') && k !== LINK && v !== EMPTY_SHA256))
}

/** What a copy kept of murder's attributes, for the README's table. */
async function attributesOf(root: string): Promise<string> {
  const link = await lstat(join(root, LINK)).then((st) => (st.isSymbolicLink() ? `link -> ${readlinkSync(join(root, LINK))}` : st.isFile() ? `file of ${st.size} bytes` : 'other'), () => 'missing')
  const exec = ((await stat(join(root, 'bin/tool'))).mode & 0o111) !== 0
  const folder = await stat(join(root, 'void')).then(() => true, () => false)
  const empty = await stat(join(root, 'empty')).then(() => true, () => false)
  const pads = Object.keys(await snapshot(root)).some((k) => k.startsWith('.pad/'))
  return `symlink: ${link}; executable bit: ${exec ? 'kept' : 'lost'}; empty file: ${empty ? 'kept' : 'lost'}; empty folder: ${folder ? 'kept' : 'lost'}; padding files on disk: ${pads ? 'yes' : 'no'}`
}

before(async () => {
  work = await tempDir('clients')
  dirs.push(work)
  src = join(work, 'src')
  // 600 small files besides: an info dictionary of 4 metadata pieces, which rtorrent serves one request at a time.
  const small = Object.fromEntries(Array.from({ length: 600 }, (_, i) => [`many/folder-${i % 7}/file-with-a-long-name-${i}.txt`, 10 + i]))
  await writeTree(src, { 'big.bin': 6 * 1024 * 1024, 'sub/a.txt': 1234, 'sub/deeper/c.bin': 3 * 1024 * 1024 + 1, 'bin/tool': 5000, 'empty': 0, ...small })
  await chmod(join(src, 'bin/tool'), 0o755)
  await symlink('../bin/tool', join(src, 'sub/tool'))
  await mkdir(join(src, 'void'))
  expected = await dataOf(src)
  // A host per client, two for murder peers, one for the mixed swarm's qBittorrent seed.
  lab = createLab({ prefix: PREFIX, n: CLIENTS.length + 3, rateBps: 0, sourceRateBps: 0, shaper: 'tbf' })
  const s = lab.source
  const ours = `${s.ip}:${TRACKER_PORT}`
  await make('padded', ours, ['--piece-length', '65536'])
  await make('none', ours, ['--piece-length', '65536', '--align', 'none'])
  await make('ot', `http://${s.ip}:${OPENTRACKER_PORT}/announce`, ['--piece-length', '65536', '--align', 'none'])
  // One torrent per client for the cases it seeds, so that no murder seed serves them.
  for (const [i, c] of CLIENTS.entries()) await make(`solo-${c.name}`, ours, ['--piece-length', String(32768 << i), '--align', 'none'])
  const tracker = murder('tracker', ['tracker', '--port', String(TRACKER_PORT), '--host', s.ip, '--interval', '1'], { ns: s.ns })
  await tracker.waitLine((l) => l.json?.['msg'] === 'tracker listening', 15_000)
  // Debian builds opentracker with a whitelist of info hashes; it chroots to -d and reads the list there.
  const otRoot = join(work, 'opentracker')
  await mkdir(otRoot, { mode: 0o755 })
  await writeFile(join(otRoot, 'whitelist'), `${torrents['ot']!.infoHash}\n`)
  start('opentracker', 'opentracker', ['-i', s.ip, '-p', String(OPENTRACKER_PORT), '-P', String(OPENTRACKER_PORT), '-d', otRoot, '-w', '/whitelist'], { ns: s.ns })
  for (const t of ['padded', 'none', 'ot']) {
    const seed = murder(`seed-${t}`, ['seed', torrents[t]!.path, src, s.ip], { ns: s.ns })
    await seed.waitLine((l) => l.json?.['msg'] === 'seeding', 15_000)
  }
})

/** A copy of the tree for a client to seed, without the link: clients that know no links would write through it, libtorrent refuses to replace it. */
async function heldCopy(label: string): Promise<string> {
  const held = join(work, `${label}-seeds`)
  await cp(src, join(held, 'src'), { recursive: true, filter: (from) => from !== join(src, LINK) })
  return held
}

async function clientGets(t: { diagnostic: (m: string) => void }, c: Client, host: HostSpec, what: string, label: string): Promise<void> {
  const dir = join(work, `${c.name}-${label}`)
  const t0 = performance.now()
  await c.get(host, what, dir, work, CASE_MS)
  const ms = performance.now() - t0
  t.diagnostic(`${c.name} ${label}: ${(ms / 1000).toFixed(1)} s; ${await attributesOf(join(dir, 'src'))}`)
  assert.deepEqual(await dataOf(join(dir, 'src')), expected)
  assert.ok(ms < CASE_MS, `${c.name} ${label} took ${(ms / 1000).toFixed(1)} s`)
}

async function murderGets(t: { diagnostic: (m: string) => void }, host: HostSpec, what: string, label: string): Promise<void> {
  const dest = join(work, `murder-${label}`)
  const t0 = performance.now()
  const p: Proc = murder(`peer-${label}`, ['peer', what, dest, host.ip, '--linger', '0', '--timeout', '30', '--log-level', 'debug'], { ns: host.ns })
  const e = await p.waitExit(CASE_MS)
  const ms = performance.now() - t0
  const verified = p.lines.filter((l) => l.json?.['msg'] === 'piece verified').map((l) => l.json!['time'] as number)
  const transferMs = Math.max(...verified) - Math.min(...verified)
  t.diagnostic(`murder ${label}: ${(ms / 1000).toFixed(1)} s, first to last piece ${(transferMs / 1000).toFixed(1)} s`)
  assert.equal(e.code, 0, p.tail(40))
  assert.deepEqual(await dataOf(dest), expected)
  assert.ok(transferMs < MURDER_TRANSFER_MS, `murder ${label}: first to last piece ${(transferMs / 1000).toFixed(1)} s`)
}

for (const [i, c] of CLIENTS.entries()) {
  const host = () => lab.targets[i]!
  const murderHost = () => lab.targets[CLIENTS.length]!
  test(`${c.name} downloads from a murder seed (padded torrent)`, async (t) => clientGets(t, c, host(), torrents['padded']!.path, 'padded'))
  test(`${c.name} downloads from a murder seed (--align none)`, async (t) => clientGets(t, c, host(), torrents['none']!.path, 'none'))
  test(`${c.name} fetches a magnet's metadata and data from a murder seed`, async (t) => clientGets(t, c, host(), magnet('padded'), 'magnet'))
  test(`${c.name} downloads from a murder seed through opentracker`, async (t) => clientGets(t, c, host(), torrents['ot']!.path, 'opentracker'))
  test(`murder downloads from a ${c.name} seed, by .torrent and by magnet`, async (t) => {
    const solo = torrents[`solo-${c.name}`]!
    const stop = await c.seed(host(), solo.path, await heldCopy(c.name), work)
    try {
      await murderGets(t, murderHost(), solo.path, `from-${c.name}`)
      await murderGets(t, murderHost(), magnet(`solo-${c.name}`), `magnet-from-${c.name}`)
    } finally {
      await stop()
    }
  })
}

test('one swarm of a murder seed, a qBittorrent seed, two murder peers and every client: all complete with exact copies', async (t) => {
  const what = torrents['none']!.path
  const stop = await qbittorrent.seed(lab.targets[CLIENTS.length + 2]!, what, await heldCopy('mixed-qbittorrent'), work)
  t.after(stop)
  const t0 = performance.now()
  const murders = [CLIENTS.length, CLIENTS.length + 1].map((i) => {
    const h = lab.targets[i]!
    const dest = join(work, `mixed-murder-${h.name}`)
    return { dest, p: murder(`mixed-${h.name}`, ['peer', what, dest, h.ip, '--linger', '10'], { ns: h.ns }) }
  })
  const clients = CLIENTS.map(async (c, i) => {
    const dir = join(work, `mixed-${c.name}`)
    await c.get(lab.targets[i]!, what, dir, work, CASE_MS)
    assert.deepEqual(await dataOf(join(dir, 'src')), expected, `${c.name}'s copy`)
  })
  const exits = await Promise.all(murders.map(({ p }) => p.waitExit(CASE_MS)))
  await Promise.all(clients)
  t.diagnostic(`all done in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  for (const [i, { p, dest }] of murders.entries()) {
    assert.equal(exits[i]!.code, 0, p.tail())
    assert.deepEqual(await dataOf(dest), expected)
  }
})
