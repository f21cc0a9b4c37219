/**
 * Interoperability of SSL torrents with libtorrent (Debian python3-libtorrent, driven by
 * test/helpers/libtorrentSsl.py): murder seeds and libtorrent downloads with its certificate, libtorrent seeds
 * and murder downloads, with a torrent made by murder (make-torrent --ca) and one made by libtorrent
 * (create_torrent.set_root_cert).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { issueCertificate, makeCa, type KeyPair } from '../src/deploy/certificates.js'
import { runMurder, start } from './helpers/proc.js'
import { exitWithin, fileScope, makeTorrent, startSeed, startTracker, track } from './helpers/swarm.js'
import { snapshot, tempDir, writeTree } from './helpers/tree.js'

const { dirs } = fileScope()
// The system's python, which has Debian's libtorrent module (a pyenv python on PATH would not).
const PYTHON = '/usr/bin/python3'
const SCRIPT = fileURLToPath(new URL('../../test/helpers/libtorrentSsl.py', import.meta.url))
const withCert = (c: KeyPair) => ['--cert', c.cert, '--key', c.key]

async function lab(name: string) {
  const work = await tempDir(`lt-ssl-${name}`)
  dirs.push(work)
  // The torrent is named after this folder: libtorrent saves it as <save-path>/tree.
  const src = join(work, 'tree')
  await writeTree(src, { 'conf/keys.env': 3000, 'bin/app': 700_001, 'lib/x.so': 200_000 })
  const ca = await makeCa(work, 'ca', 'interop CA', 2)
  const tracker = await startTracker(['--interval', '1'])
  return {
    work, src, ca, tracker,
    // murder's names the torrent, libtorrent's is a "*" certificate: both forms of libtorrent's rule.
    murderCert: await issueCertificate(ca, work, 'murder', ['tree'], 2),
    libtorrentCert: await issueCertificate(ca, work, 'libtorrent', ['*'], 2),
  }
}

type Lab = Awaited<ReturnType<typeof lab>>

function libtorrent(mode: 'seed' | 'download', torrent: string, savePath: string, c: KeyPair) {
  return track(start(PYTHON, [SCRIPT, mode, torrent, savePath, c.cert, c.key]))
}

async function bothWays(l: Lab, torrent: string): Promise<void> {
  // murder seeds, libtorrent downloads.
  const seed = await startSeed(torrent, l.src, withCert(l.murderCert))
  const down = libtorrent('download', torrent, join(l.work, 'lt'), l.libtorrentCert)
  const { code } = await exitWithin(down, 90_000)
  assert.equal(code, 0, down.stderr())
  assert.match(down.stdout(), /^started\ndone\n$/)
  assert.deepEqual(await snapshot(join(l.work, 'lt', 'tree')), await snapshot(l.src))
  seed.kill('SIGTERM')
  await seed.exited
  // libtorrent seeds (the copy it just made), murder downloads.
  libtorrent('seed', torrent, join(l.work, 'lt'), l.libtorrentCert)
  const r = await runMurder(['peer', torrent, join(l.work, 'murder'), '127.0.0.1', '--linger', '0', ...withCert(l.murderCert)], 90_000)
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(await snapshot(join(l.work, 'murder')), await snapshot(l.src))
}

test('libtorrent and murder exchange an SSL torrent made by murder (make-torrent --ca), both ways', { timeout: 200_000 }, async () => {
  const l = await lab('murder-made')
  const made = await makeTorrent(l.src, l.tracker.port, join(l.work, 't.torrent'), ['--ca', l.ca.cert, '--piece-length', '65536'])
  await bothWays(l, made.torrent)
})

test('libtorrent and murder exchange an SSL torrent made by libtorrent (set_root_cert), both ways', { timeout: 200_000 }, async () => {
  const l = await lab('libtorrent-made')
  const torrent = join(l.work, 'lt.torrent')
  const made = await exitWithin(start(PYTHON, [SCRIPT, 'make', l.src, l.tracker.url, l.ca.cert, torrent]), 30_000)
  assert.equal(made.code, 0)
  await bothWays(l, torrent)
})
