/**
 * The tracker over HTTPS (--tls-cert/--tls-key): an SSL torrent's seed and peers accept it only with a
 * certificate its own CA signed (the CA in the torrent is the tracker's whole identity), so the passkey and the
 * peer list never cross the network in clear, and a tracker with another CA's certificate gets no announce.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import https from 'node:https'
import { join } from 'node:path'
import { issueCertificate, makeCa } from '../src/deploy/certificates.js'
import { runMurder } from './helpers/proc.js'
import { fileScope, startSeed, startTracker } from './helpers/swarm.js'
import { snapshot, tempDir, writeTree } from './helpers/tree.js'

const { dirs } = fileScope()

test('tracker --tls-cert: an SSL torrent announces over HTTPS to a tracker its CA signed, and refuses one another CA signed', { timeout: 90_000 }, async () => {
  const work = await tempDir('https')
  dirs.push(work)
  const src = join(work, 'src')
  await writeTree(src, { 'conf/secrets.env': 3000, 'bin/app': 300_000 })
  const ca = await makeCa(work, 'ca', 'fleet CA', 2)
  const otherCa = await makeCa(work, 'other-ca', 'other CA', 2)
  const tls = async (signer: typeof ca, stem: string) => {
    const c = await issueCertificate(signer, work, stem, ['tracker'], 2)
    return ['--tls-cert', c.cert, '--tls-key', c.key]
  }
  const good = await startTracker(await tls(ca, 'tracker'))
  const rogue = await startTracker(await tls(otherCa, 'rogue'))
  assert.equal((await good.proc.logLine((l) => l['msg'] === 'tracker listening'))['https'], true)

  const torrentFor = async (port: number, name: string) => {
    const torrent = join(work, name)
    const made = await runMurder(['make-torrent', src, `https://127.0.0.1:${port}/announce`, torrent, '--ca', ca.cert])
    assert.equal(made.code, 0, made.stderr)
    return torrent
  }
  const seedCert = await issueCertificate(ca, work, 'seed', ['src'], 2)
  const peerCert = await issueCertificate(ca, work, 'peer', ['*'], 2)
  const withCert = (c: typeof ca) => ['--cert', c.cert, '--key', c.key]

  const torrent = await torrentFor(good.port, 'good.torrent')
  await startSeed(torrent, src, withCert(seedCert))
  const dest = join(work, 'dest')
  const ok = await runMurder(['peer', torrent, dest, '127.0.0.1', '--linger', '0', ...withCert(peerCert)], 60_000)
  assert.equal(ok.code, 0, ok.stderr)
  assert.deepEqual(await snapshot(dest), await snapshot(src))

  // The same tree behind a tracker whose certificate another CA signed: no announce goes through.
  const refused = await runMurder(['peer', await torrentFor(rogue.port, 'rogue.torrent'), join(work, 'dest2'), '127.0.0.1', '--timeout', '2', ...withCert(peerCert)], 30_000)
  assert.equal(refused.code, 5, refused.stderr)
  assert.match(refused.stderr.trimEnd().split('\n').pop()!, /^murder: tracker unreachable.*(certificate|verify)/i)
  // Nothing reached the rogue tracker: the handshake failed before any request.
  const stats = await new Promise<string>((resolve, reject) => {
    https.get(`https://127.0.0.1:${rogue.port}/stats`, { ca: readFileSync(otherCa.cert), checkServerIdentity: () => undefined }, (res) => {
      let body = ''
      res.on('data', (d: Buffer) => (body += d))
      res.on('end', () => resolve(body))
    }).on('error', reject)
  })
  assert.deepEqual((JSON.parse(stats) as { torrents: unknown[] }).torrents, [])
})
