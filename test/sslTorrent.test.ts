/**
 * SSL torrents (libtorrent's manual, "SSL torrents"): make-torrent --ca, seed/peer --cert/--key. Honest peers
 * complete over TLS (torrent file and magnet link); every hostile connection — no certificate, a self-signed
 * one, another CA's, one whose names do not cover the torrent, a wrong or missing SNI, a plain BitTorrent
 * handshake, fuzzed ClientHellos — gets nothing of the torrent and is named in a warn line; a rogue peer that
 * the tracker names is refused by the peer that dials it.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import tls from 'node:tls'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import bencode from 'bencode'
import { makeCa, issueCertificate, type KeyPair } from '../src/deploy/certificates.js'
import { murder, runMurder } from './helpers/proc.js'
import { fileScope, logLines, startSeed, track, treeWithTracker } from './helpers/swarm.js'
import { announcePeer, testPeerId } from './helpers/wirePeer.js'
import { prng } from './helpers/prng.js'
import { snapshot, tempDir } from './helpers/tree.js'

const TIMEOUT = { timeout: 90_000 }
const { dirs, closers } = fileScope()

interface Lab {
  work: string
  src: string
  torrent: string
  infoHash: string
  magnet: string
  trackerUrl: string
  ca: KeyPair
  seedCert: KeyPair
  peerCert: KeyPair
  /** Certificates that must get nothing. */
  otherCa: KeyPair
  otherCaPeer: KeyPair
  wrongName: KeyPair
}

async function lab(name: string): Promise<Lab> {
  const work = await tempDir(`ssl-${name}`)
  dirs.push(work)
  const ca = await makeCa(work, 'ca', 'test CA', 2)
  const otherCa = await makeCa(work, 'other-ca', 'other CA', 2)
  const { src, tracker, made } = await treeWithTracker(work, { 'conf/secrets.env': 5000, 'bin/app': 900_000 }, ['--piece-length', '65536', '--ca', ca.cert], ['--interval', '1'])
  return {
    work, src, torrent: made.torrent, infoHash: made.infoHash, magnet: made.magnet, trackerUrl: tracker.url, ca, otherCa,
    // The seed's names the torrent (its folder is `src`); the peer's is a "star" certificate.
    seedCert: await issueCertificate(ca, work, 'seed', ['src'], 2),
    peerCert: await issueCertificate(ca, work, 'peer', ['*'], 2),
    otherCaPeer: await issueCertificate(otherCa, work, 'intruder', ['*'], 2),
    wrongName: await issueCertificate(ca, work, 'wrong-name', ['another-torrent'], 2),
  }
}

const withCert = (c: KeyPair) => ['--cert', c.cert, '--key', c.key]

async function honestPeer(l: Lab, dest: string, source = l.torrent): Promise<void> {
  const r = await runMurder(['peer', source, join(l.work, dest), '127.0.0.1', '--linger', '0', ...withCert(l.peerCert)], 60_000)
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout, 'Done and done\n')
  assert.deepEqual(await snapshot(join(l.work, dest)), await snapshot(l.src))
}

/** Everything a connection got before it closed: decrypted bytes for TLS, raw bytes otherwise. */
async function drain(socket: net.Socket, onOpen: () => void): Promise<Buffer> {
  const got: Buffer[] = []
  socket.on('data', (d: Buffer) => got.push(d))
  socket.on('error', () => undefined)
  socket.once(socket instanceof tls.TLSSocket ? 'secureConnect' : 'connect', onOpen)
  let timedOut = false
  socket.setTimeout(15_000, () => {
    timedOut = true
    socket.destroy()
  })
  await new Promise((resolve) => socket.once('close', resolve))
  assert.ok(!timedOut, 'the seed neither answered nor closed the connection')
  return Buffer.concat(got)
}

function btHandshake(infoHash: string): Buffer {
  return Buffer.concat([Buffer.from('\x13BitTorrent protocol'), Buffer.alloc(8), Buffer.from(infoHash, 'hex'), testPeerId('ssl-intruder')])
}

/** A TLS client that, if the handshake lets it through, sends a BitTorrent handshake and asks for metadata. */
async function tlsAttempt(port: number, opts: tls.ConnectionOptions, infoHash: string): Promise<Buffer> {
  const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts })
  return drain(socket, () => socket.write(btHandshake(infoHash)))
}

async function read(path: string): Promise<string> {
  return readFile(path, 'utf8')
}

test('make-torrent --ca: the CA certificate is in the info dictionary (ssl-cert), the torrent is private (BEP 27)', TIMEOUT, async () => {
  const l = await lab('make')
  const torrent = bencode.decode(await readFile(l.torrent)) as { info: Record<string, unknown> }
  assert.equal(Buffer.from(torrent.info['ssl-cert'] as Uint8Array).toString(), (await read(l.ca.cert)).replace(/\r/g, ''))
  assert.equal(torrent.info['private'], 1)
  // A certificate that is no CA's cannot make an SSL torrent.
  const bad = await runMurder(['make-torrent', l.src, '127.0.0.1:1', join(l.work, 'bad.torrent'), '--ca', l.peerCert.cert])
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /^murder: .*is not a CA certificate/)
})

test('SSL torrent: peers complete over TLS; a peer without --cert, or whose certificate is not for it, stops with exit 2', TIMEOUT, async () => {
  const l = await lab('honest')
  await startSeed(l.torrent, l.src, withCert(l.seedCert))
  await honestPeer(l, 'a')
  const none = await runMurder(['peer', l.torrent, join(l.work, 'b'), '127.0.0.1', '--linger', '0'])
  assert.equal(none.code, 2)
  assert.match(none.stderr, /^murder: torrent [0-9a-f]{40} is an SSL torrent: its peers need --cert and --key/)
  for (const c of [l.otherCaPeer, l.wrongName]) {
    const r = await runMurder(['peer', l.torrent, join(l.work, 'b'), '127.0.0.1', '--linger', '0', ...withCert(c)])
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /^murder: .*(not signed by the torrent's CA|names do not cover the torrent's name)/)
  }
  const mismatch = await runMurder(['peer', l.torrent, join(l.work, 'b'), '127.0.0.1', '--cert', l.peerCert.cert, '--key', l.seedCert.key])
  assert.equal(mismatch.code, 2)
  assert.match(mismatch.stderr, /is not the key of/)
})

test('SSL torrent: hostile connections get nothing and are logged; honest peers still complete', TIMEOUT, async () => {
  const l = await lab('hostile')
  const seed = await startSeed(l.torrent, l.src, withCert(l.seedCert))
  const port = (await seed.logLine((j) => j['msg'] === 'seeding'))['port'] as number
  const [ownCert, ownKey, otherCert, otherKey, wrongCert, wrongKey, caCert, caKey] = await Promise.all(
    [l.peerCert.cert, l.peerCert.key, l.otherCaPeer.cert, l.otherCaPeer.key, l.wrongName.cert, l.wrongName.key, l.otherCa.cert, l.otherCa.key].map(read))
  const sni = l.infoHash
  const attempts: Record<string, () => Promise<Buffer>> = {
    'no certificate': () => tlsAttempt(port, { servername: sni }, l.infoHash),
    'self-signed certificate': () => tlsAttempt(port, { servername: sni, cert: caCert, key: caKey }, l.infoHash),
    "another CA's certificate": () => tlsAttempt(port, { servername: sni, cert: otherCert, key: otherKey }, l.infoHash),
    "the CA's certificate for another torrent": () => tlsAttempt(port, { servername: sni, cert: wrongCert, key: wrongKey }, l.infoHash),
    'wrong SNI': () => tlsAttempt(port, { servername: 'f'.repeat(40), cert: ownCert, key: ownKey }, l.infoHash),
    'no SNI': () => tlsAttempt(port, { cert: ownCert, key: ownKey }, l.infoHash),
    'plain BitTorrent handshake': () => {
      const socket = net.connect(port, '127.0.0.1')
      return drain(socket, () => socket.write(btHandshake(l.infoHash)))
    },
  }
  for (const [what, attempt] of Object.entries(attempts)) {
    const got = await attempt()
    if (what === 'plain BitTorrent handshake') assert.ok(!got.includes('BitTorrent protocol') && !got.includes(Buffer.from(l.infoHash, 'hex')), `${what}: got ${got.toString('hex')}`)
    else assert.equal(got.length, 0, `${what}: got ${got.length} bytes`)
  }
  const refused = await seed.logLine((j) => j['msg'] === 'refused TLS peer' && logLines(seed.stderr(), 'refused TLS peer').length >= Object.keys(attempts).length)
  assert.ok(refused)
  const reasons = logLines(seed.stderr(), 'refused TLS peer').map((j) => String(j['reason'])).join('\n')
  for (const r of ['no certificate', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'is not this torrent', 'no SNI naming the torrent', "certificate names do not cover the torrent's name", 'wrong version number']) assert.ok(reasons.includes(r), `${r} not in:\n${reasons}`)
  assert.equal(logLines(seed.stderr(), 'peer connected').length, 0)
  await honestPeer(l, 'after')
})

test('SSL torrent: fuzzed ClientHellos from a raw socket do not crash the seed', TIMEOUT, async () => {
  const l = await lab('fuzz')
  const seed = await startSeed(l.torrent, l.src, withCert(l.seedCert))
  const port = (await seed.logLine((j) => j['msg'] === 'seeding'))['port'] as number
  // A genuine ClientHello (SNI, key shares, ...) to mutate.
  const capture = net.createServer()
  const hello = new Promise<Buffer>((resolve) => capture.once('connection', (s) => s.once('data', (d: Buffer) => {
    resolve(d)
    s.destroy()
  })))
  capture.listen(0, '127.0.0.1')
  await once(capture, 'listening')
  const probe = tls.connect({ host: '127.0.0.1', port: (capture.address() as net.AddressInfo).port, servername: l.infoHash, rejectUnauthorized: false })
  probe.on('error', () => undefined)
  const genuine = await hello
  capture.close()
  const rnd = prng(19)
  const mutate = (): Buffer => {
    const b = Buffer.from(genuine)
    switch (Math.floor(rnd() * 4)) {
      case 0: for (let i = 0; i < 1 + rnd() * 8; i++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256); return b
      case 1: return b.subarray(0, Math.floor(rnd() * b.length))
      case 2: b.writeUInt16BE(Math.floor(rnd() * 65536), 3 + Math.floor(rnd() * 2) * 4 > b.length - 2 ? 3 : 3 + Math.floor(rnd() * 2) * 4); return b
      default: return Buffer.concat([b, Buffer.from(Array.from({ length: Math.floor(rnd() * 4096) }, () => Math.floor(rnd() * 256)))])
    }
  }
  const CASES = 300
  for (let i = 0; i < CASES; i += 20) {
    await Promise.all(Array.from({ length: 20 }, async () => {
      const s = net.connect(port, '127.0.0.1')
      const got = await drain(s, () => s.end(mutate()))
      assert.ok(!got.includes('BitTorrent protocol'))
    }))
  }
  assert.equal(seed.child.exitCode, null, seed.stderr())
  await honestPeer(l, 'after-fuzz')
})

test('SSL torrent: a magnet link gets the metadata over authenticated TLS only', TIMEOUT, async () => {
  const l = await lab('magnet')
  const seed = await startSeed(l.torrent, l.src, withCert(l.seedCert))
  await honestPeer(l, 'magnet-ok', l.magnet)
  for (const extra of [[], withCert(l.otherCaPeer)]) {
    const r = await runMurder(['peer', l.magnet, join(l.work, 'magnet-no'), '127.0.0.1', '--linger', '0', '--timeout', '4', ...extra], 30_000)
    assert.equal(r.code, 5, r.stderr)
    assert.match(r.stderr, /no peer delivered the metadata/)
  }
  assert.ok(logLines(seed.stderr(), 'refused TLS peer').length >= 2)
})

test('SSL torrent: a rogue peer the tracker names is refused by the peer that dials it', TIMEOUT, async () => {
  const l = await lab('rogue')
  await startSeed(l.torrent, l.src, withCert(l.seedCert))
  const [cert, key] = await Promise.all([read(l.otherCaPeer.cert), read(l.otherCaPeer.key)])
  let received = 0
  const rogue = tls.createServer({ cert, key }, (s) => s.on('data', (d: Buffer) => { received += d.length }))
  rogue.on('tlsClientError', () => undefined)
  rogue.listen(0, '127.0.0.1')
  await once(rogue, 'listening')
  closers.push(() => new Promise((r) => rogue.close(() => r())))
  const rport = (rogue.address() as net.AddressInfo).port
  closers.push(await announcePeer(l.trackerUrl, { infoHash: Buffer.from(l.infoHash, 'hex'), peerId: testPeerId('rogue'), port: rport, left: 0 }))
  const peer = track(murder(['peer', l.torrent, join(l.work, 'rogue-dest'), '127.0.0.1', '--linger', '0', ...withCert(l.peerCert)]))
  const line = await peer.logLine((j) => j['msg'] === 'refused TLS peer' && String(j['peer']).endsWith(`:${rport}`))
  assert.ok(String(line['reason']).length > 0)
  const { code } = await peer.exited
  assert.equal(code, 0, peer.stderr())
  assert.equal(received, 0)
  assert.deepEqual(await snapshot(join(l.work, 'rogue-dest')), await snapshot(l.src))
})
