import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import bencode from 'bencode'
import { parseAnnounce, type AnnounceRequest } from '../src/tracker/announceRequest.js'
import { TrackerFailure, parseAnnounceResponse } from '../src/tracker/announceResponse.js'
import { buildAnnounceUrl, percentEncode } from '../src/tracker/announceUrl.js'
import { formatIp, normalizeIp, parseIp } from '../src/tracker/ip.js'
import { TrackerRequestError, percentDecode } from '../src/tracker/query.js'
import { encodeAnnounce, encodeFailure, encodeScrape } from '../src/tracker/responses.js'
import { parseScrape } from '../src/tracker/scrapeRequest.js'
import { SwarmRegistry } from '../src/tracker/swarmRegistry.js'

/** 20 bytes covering the awkward cases: NUL, '%', '+', '&', '=', high bytes. */
const BINARY_HASH = Uint8Array.from([0x00, 0x25, 0x2b, 0x26, 0x3d, 0xff, 0x80, 0x41, 0x7e, 0x20, ...Array(10).fill(0xab)])
const id = (fill: number): Uint8Array => new Uint8Array(20).fill(fill)
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

function query(fields: Record<string, string | undefined>): string {
  const base: Record<string, string | undefined> = {
    info_hash: percentEncode(BINARY_HASH),
    peer_id: percentEncode(id(0x70)),
    port: '6881',
    uploaded: '0',
    downloaded: '0',
    left: '100',
    ...fields,
  }
  return Object.entries(base)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${v}`)
    .join('&')
}

function rejects(q: string, pattern: RegExp): void {
  assert.throws(() => parseAnnounce(q, '10.0.0.9'), (err: unknown) => err instanceof TrackerRequestError && pattern.test(err.message))
}

function request(overrides: Partial<AnnounceRequest> = {}): AnnounceRequest {
  return {
    infoHash: id(1),
    peerId: id(0x70),
    ip: '10.0.0.1',
    port: 6881,
    uploaded: 0,
    downloaded: 0,
    left: 100,
    event: undefined,
    numwant: 50,
    compact: true,
    site: undefined,
    ...overrides,
  }
}

describe('percentDecode', () => {
  it('decodes escapes of either case and + as space, keeping other characters', () => {
    assert.deepEqual([...percentDecode('%00%ff%FFa+b~')], [0, 255, 255, 0x61, 0x20, 0x62, 0x7e])
  })
  it('rejects truncated or non-hex escapes', () => {
    for (const bad of ['%', '%a', '%zz', 'x%g1']) assert.throws(() => percentDecode(bad), TrackerRequestError)
  })
})

describe('parseAnnounce', () => {
  it('parses binary info_hash and peer_id byte-exactly', () => {
    const req = parseAnnounce(query({ event: 'started' }), '10.0.0.9')
    assert.deepEqual([...req.infoHash], [...BINARY_HASH])
    assert.deepEqual([...req.peerId], [...id(0x70)])
    assert.equal(req.port, 6881)
    assert.equal(req.left, 100)
    assert.equal(req.event, 'started')
    assert.equal(req.ip, '10.0.0.9')
    assert.equal(req.numwant, 50)
    assert.equal(req.compact, true)
    assert.equal(req.site, undefined)
  })

  it('round-trips what the client builds', () => {
    const url = buildAnnounceUrl('http://t/announce?key=1', {
      infoHash: BINARY_HASH,
      peerId: id(0xfe),
      port: 1,
      uploaded: 5,
      downloaded: 6,
      left: 0,
      event: 'completed',
      numwant: 7,
      ip: '2001:db8::1',
      site: 'rack a/1',
    })
    const req = parseAnnounce(url.slice(url.indexOf('?') + 1), undefined)
    assert.deepEqual([...req.infoHash], [...BINARY_HASH])
    assert.deepEqual([...req.peerId], [...id(0xfe)])
    assert.deepEqual(
      [req.port, req.uploaded, req.downloaded, req.left, req.event, req.numwant, req.ip, req.site],
      [1, 5, 6, 0, 'completed', 7, '2001:db8::1', 'rack a/1'],
    )
  })

  it('rejects ids that are not 20 bytes, or missing', () => {
    rejects(query({ info_hash: percentEncode(new Uint8Array(19)) }), /info_hash.*20 bytes, got 19/)
    rejects(query({ info_hash: percentEncode(new Uint8Array(21)) }), /info_hash.*got 21/)
    rejects(query({ peer_id: 'short' }), /peer_id.*got 5/)
    rejects(query({ info_hash: undefined }), /missing info_hash/)
  })

  it('rejects bad ports and counters', () => {
    for (const port of ['0', '65536', '-1', 'abc', '', '1e3']) rejects(query({ port }), /port/)
    rejects(query({ port: undefined }), /missing port/)
    rejects(query({ left: '-5' }), /left/)
    rejects(query({ uploaded: '1.5' }), /uploaded/)
    rejects(query({ downloaded: '9223372036854775808' }), /downloaded.*2\^63-1/)
    rejects(query({ left: '00000000000000000001' }), /left/)
  })

  it('accepts counters up to 2^63-1, as Transmission sends left before it has the metadata', () => {
    const req = parseAnnounce(query({ left: '9223372036854775807', uploaded: '99999999999999999' }), '::1')
    assert.equal(req.left, Number.MAX_SAFE_INTEGER)
    assert.equal(req.uploaded, Number.MAX_SAFE_INTEGER)
    assert.equal(parseAnnounce(query({ left: '9007199254740991' }), '::1').left, 2 ** 53 - 1)
  })

  it('accepts the three events and none, rejects others', () => {
    for (const event of ['started', 'completed', 'stopped']) assert.equal(parseAnnounce(query({ event }), '::1').event, event)
    assert.equal(parseAnnounce(query({ event: '' }), '::1').event, undefined)
    rejects(query({ event: 'paused' }), /event/)
  })

  it('rejects repeated parameters and garbage percent-encoding', () => {
    rejects(`${query({})}&port=1`, /port given more than once/)
    rejects(query({ info_hash: '%zz' }), /percent-encoding/)
  })

  it('defaults numwant to 50 and caps it', () => {
    assert.equal(parseAnnounce(query({ numwant: '1000' }), '::1').numwant, 200)
    assert.equal(parseAnnounce(query({ numwant: '1000' }), '::1', 500).numwant, 500)
    assert.equal(parseAnnounce(query({ numwant: '0' }), '::1').numwant, 0)
    assert.equal(parseAnnounce(query({}), '::1', 20).numwant, 20)
    rejects(query({ numwant: '-1' }), /numwant/)
  })

  it('parses compact', () => {
    assert.equal(parseAnnounce(query({ compact: '0' }), '::1').compact, false)
    assert.equal(parseAnnounce(query({ compact: '1' }), '::1').compact, true)
    rejects(query({ compact: 'yes' }), /compact/)
  })

  it('honours ip, canonicalises it, and strips ::ffff: from the socket address', () => {
    assert.equal(parseAnnounce(query({ ip: '192.168.1.5' }), '10.0.0.9').ip, '192.168.1.5')
    assert.equal(parseAnnounce(query({ ip: '2001:DB8:0:0:0:0:0:1' }), '10.0.0.9').ip, '2001:db8::1')
    assert.equal(parseAnnounce(query({ ip: '%5B::1%5D' }), '10.0.0.9').ip, '::1')
    assert.equal(parseAnnounce(query({}), '::ffff:127.0.0.1').ip, '127.0.0.1')
    rejects(query({ ip: 'example.com' }), /invalid ip/)
    rejects(query({ ip: 'fe80::1%25eth0' }), /invalid ip/)
    assert.throws(() => parseAnnounce(query({}), undefined), /cannot determine your address/)
  })

  it('parses site up to 64 characters', () => {
    assert.equal(parseAnnounce(query({ site: 'dc-east' }), '::1').site, 'dc-east')
    assert.equal(parseAnnounce(query({ site: 'x'.repeat(64) }), '::1').site, 'x'.repeat(64))
    rejects(query({ site: 'x'.repeat(65) }), /site/)
    rejects(query({ site: '%ff' }), /site.*UTF-8/)
  })
})

describe('parseScrape', () => {
  it('returns every info_hash, or none', () => {
    assert.deepEqual(parseScrape(''), [])
    const hashes = parseScrape(`info_hash=${percentEncode(BINARY_HASH)}&info_hash=${percentEncode(id(2))}`)
    assert.deepEqual(hashes.map(hex), [hex(BINARY_HASH), hex(id(2))])
    assert.throws(() => parseScrape('info_hash=abc'), /20 bytes/)
  })
})

describe('ip', () => {
  it('parses and formats IPv4 and IPv6 canonically', () => {
    assert.deepEqual([...(parseIp('1.2.3.4') ?? [])], [1, 2, 3, 4])
    assert.equal(formatIp(parseIp('::') as Uint8Array), '::')
    assert.equal(formatIp(parseIp('1::') as Uint8Array), '1::')
    assert.equal(formatIp(parseIp('0:0:1:0:0:0:0:1') as Uint8Array), '0:0:1::1')
    assert.equal(formatIp(parseIp('1:0:0:2:0:0:0:3') as Uint8Array), '1:0:0:2::3')
    assert.equal(formatIp(parseIp('1:0:2:3:4:5:6:7') as Uint8Array), '1:0:2:3:4:5:6:7')
    assert.equal(formatIp(parseIp('::1.2.3.4') as Uint8Array), '::102:304')
    assert.equal(normalizeIp('::ffff:10.1.2.3'), '10.1.2.3')
    assert.equal(parseIp('host'), undefined)
    assert.equal(parseIp('010.1.1.1'), undefined)
  })
})

describe('SwarmRegistry', () => {
  const registry = (opts: Partial<ConstructorParameters<typeof SwarmRegistry>[0]> = {}): SwarmRegistry =>
    new SwarmRegistry({ peerTtlMs: 1000, random: () => 0.5, ...opts })

  it('returns everyone but the requester, with counts', () => {
    const r = registry()
    r.announce(request({ peerId: id(1), port: 1, left: 0 }), 0)
    r.announce(request({ peerId: id(2), port: 2 }), 0)
    const res = r.announce(request({ peerId: id(3), port: 3 }), 0)
    assert.deepEqual(res.peers.map((p) => p.port).sort(), [1, 2])
    assert.equal(res.complete, 1)
    assert.equal(res.incomplete, 2)
    assert.equal(r.announce(request({ peerId: id(1), port: 1, left: 0 }), 0).peers.length, 2)
  })

  it('replaces a stale entry at the same ip:port (a restarted client)', () => {
    const r = registry()
    r.announce(request({ peerId: id(1), port: 1 }), 0)
    r.announce(request({ peerId: id(2), port: 2 }), 0)
    const res = r.announce(request({ peerId: id(9), port: 1 }), 0)
    assert.deepEqual(res.peers.map((p) => p.port), [2])
    assert.equal(res.incomplete, 2)
  })

  it('limits the list to numwant, sampling without repeats', () => {
    const r = new SwarmRegistry({ peerTtlMs: 1000 })
    for (let i = 1; i <= 30; i++) r.announce(request({ peerId: id(i), port: i }), 0)
    const res = r.announce(request({ peerId: id(100), port: 100, numwant: 10 }), 0)
    assert.equal(res.peers.length, 10)
    assert.equal(new Set(res.peers.map((p) => p.port)).size, 10)
    assert.ok(res.peers.every((p) => p.port !== 100))
  })

  it('removes a peer on stopped without creating swarms', () => {
    const r = registry()
    r.announce(request({ peerId: id(1), port: 1 }), 0)
    r.announce(request({ peerId: id(2), port: 2 }), 0)
    const stopped = r.announce(request({ peerId: id(1), port: 1, event: 'stopped' }), 0)
    assert.deepEqual(stopped.peers, [])
    assert.equal(stopped.incomplete, 1)
    assert.equal(r.announce(request({ peerId: id(2), port: 2 }), 0).peers.length, 0)
    r.announce(request({ infoHash: id(7), event: 'stopped' }), 0)
    assert.equal(r.torrentCount, 1)
  })

  it('counts completed once per peer (not for a peer complete from the start) and turns it into a seeder', () => {
    const r = registry()
    r.announce(request({ peerId: id(1), event: 'started' }), 0)
    r.announce(request({ peerId: id(1), event: 'completed', left: 0 }), 1)
    r.announce(request({ peerId: id(1), event: 'completed', left: 0 }), 2)
    r.announce(request({ peerId: id(3), port: 3 }), 2)
    r.announce(request({ peerId: id(3), port: 3, event: 'completed', left: 0 }), 3)
    // A rerun over a tree already in place: complete from its first announce, it downloaded nothing.
    r.announce(request({ peerId: id(2), port: 2, event: 'completed', left: 0 }), 3)
    // Peer 1 restarted with a new id: the completion it had counted stays counted.
    r.announce(request({ peerId: id(9), left: 50 }), 4)
    r.announce(request({ peerId: id(9), event: 'completed', left: 0 }), 5)
    assert.deepEqual(r.scrape([id(1)]), [{ infoHash: id(1), complete: 3, incomplete: 0, downloaded: 2 }])
  })

  it('expires silent peers and then their empty swarm', () => {
    const r = registry({ peerTtlMs: 1000 })
    r.announce(request({ peerId: id(1), port: 1 }), 0)
    r.announce(request({ peerId: id(2), port: 2 }), 500)
    assert.deepEqual(r.sweep(1000), { peers: 0, torrents: 0 })
    assert.deepEqual(r.sweep(1001), { peers: 1, torrents: 0 })
    assert.equal(r.scrape([id(1)])[0]?.incomplete, 1)
    r.announce(request({ peerId: id(2), port: 2 }), 1200) // refreshes
    assert.deepEqual(r.sweep(2100), { peers: 0, torrents: 0 })
    assert.deepEqual(r.sweep(2201), { peers: 1, torrents: 1 })
    assert.equal(r.torrentCount, 0)
  })

  it('evicts the least recently announced swarm beyond maxTorrents', () => {
    const r = registry({ maxTorrents: 2 })
    r.announce(request({ infoHash: id(1) }), 0)
    r.announce(request({ infoHash: id(2) }), 1)
    r.announce(request({ infoHash: id(1) }), 2) // swarm 1 is now the fresher
    r.announce(request({ infoHash: id(3) }), 3)
    assert.deepEqual(r.scrape().map((t) => t.infoHash[0]), [1, 3])
  })

  it('evicts the least recently seen peer beyond maxPeersPerSwarm', () => {
    const r = registry({ maxPeersPerSwarm: 2 })
    r.announce(request({ peerId: id(1), port: 1 }), 0)
    r.announce(request({ peerId: id(2), port: 2 }), 1)
    r.announce(request({ peerId: id(1), port: 1 }), 2) // peer 2 is now the oldest
    const res = r.announce(request({ peerId: id(3), port: 3 }), 3)
    assert.deepEqual(res.peers.map((p) => p.port), [1])
    assert.equal(res.incomplete, 2)
  })

  it('keeps the site index through completion, expiry, eviction, a restart and a change of site', () => {
    const r = registry({ maxPeersPerSwarm: 6 })
    const at = (n: number, site: string, left = 100, t = n, event?: 'completed') => r.announce(request({ peerId: id(n), port: n, site, left, event }), t)
    const crossOf = (n: number, site: string, left = 100, t = 50) => at(n, site, left, t).peers.filter((p) => p.site !== site).map((p) => p.port).sort()
    at(1, 'a', 0)
    for (const n of [2, 3]) at(n, 'a')
    for (const n of [4, 5]) at(n, 'b')
    assert.deepEqual(crossOf(4, 'b'), [1, 2, 3], 'b\'s bridge gets the source and a\'s peers')
    assert.deepEqual(crossOf(5, 'b'), [], 'not a bridge')
    for (const n of [2, 3, 4, 5]) at(n, n < 4 ? 'a' : 'b', 0, 60, 'completed')
    assert.deepEqual(crossOf(4, 'b', 0, 70), [1, 2, 3], 'completing changes no bridge')
    r.announce(request({ peerId: id(40), port: 4, site: 'b' }), 80) // peer 4 restarted with a new id: it replaces 4
    assert.deepEqual(crossOf(5, 'b', 0, 90), [1, 2, 3], 'the next arrival bridges b')
    at(2, 'c', 0, 100) // a's bridge moved to site c: it leaves a's index
    assert.deepEqual(crossOf(3, 'a', 0, 110), [2, 5], 'a\'s next arrival bridges a')
    assert.deepEqual(r.sweep(1085), { peers: 2, torrents: 0 }, 'the source and peer 40 expire')
    assert.deepEqual(crossOf(5, 'b', 0, 1100), [2, 3], 'without a seed, the other sites\' bridges only')
    for (let n = 10; n < 16; n++) at(n, 'd', 100, 1200 + n) // evicts 2, 3 and 5
    assert.deepEqual(at(10, 'd', 100, 1300).peers.map((p) => p.port).sort(), [11, 12, 13, 14, 15], 'no evicted peer is handed out, as a bridge or not')
  })

  it('does not keep views into the request buffer', () => {
    const r = registry()
    const big = new Uint8Array(8192)
    r.announce(request({ infoHash: big.subarray(0, 20), peerId: big.subarray(20, 40) }), 0)
    const [stats] = r.scrape()
    assert.equal(stats?.infoHash.buffer.byteLength, 20)
    const res = r.announce(request({ infoHash: id(0), peerId: id(9), port: 9 }), 0)
    assert.equal(res.peers[0]?.peerId.buffer.byteLength, 20)
  })

  it('scrapes unknown hashes as zeros', () => {
    assert.deepEqual(registry().scrape([id(5)]), [{ infoHash: id(5), complete: 0, incomplete: 0, downloaded: 0 }])
  })
})

describe('responses', () => {
  const reply = { interval: 10, minInterval: 5, complete: 1, incomplete: 2 }
  const peers = [
    { peerId: id(1), ip: '10.0.0.1', port: 0x1ae1 },
    { peerId: id(2), ip: '2001:db8::2', port: 80 },
  ]

  it('encodes compact peers and peers6', () => {
    const decoded = bencode.decode(encodeAnnounce({ ...reply, peers, compact: true })) as Record<string, unknown>
    assert.equal(decoded.interval, 10)
    assert.equal(decoded['min interval'], 5)
    assert.equal(decoded.complete, 1)
    assert.equal(decoded.incomplete, 2)
    assert.deepEqual([...(decoded.peers as Uint8Array)], [10, 0, 0, 1, 0x1a, 0xe1])
    assert.deepEqual([...(decoded.peers6 as Uint8Array)], [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 2, 0, 80])
  })

  it('always sends peers, and peers6 only when needed', () => {
    const decoded = bencode.decode(encodeAnnounce({ ...reply, peers: [], compact: true })) as Record<string, unknown>
    assert.equal((decoded.peers as Uint8Array).length, 0)
    assert.equal(decoded.peers6, undefined)
  })

  it('encodes dictionary peers when compact=0', () => {
    const decoded = bencode.decode(encodeAnnounce({ ...reply, peers, compact: false })) as Record<string, unknown>
    const list = decoded.peers as { 'peer id': Uint8Array; ip: Uint8Array; port: number }[]
    assert.deepEqual(
      list.map((p) => [hex(p['peer id']), Buffer.from(p.ip).toString(), p.port]),
      [
        [hex(id(1)), '10.0.0.1', 0x1ae1],
        [hex(id(2)), '2001:db8::2', 80],
      ],
    )
  })

  it('encodes a failure reason', () => {
    assert.equal(Buffer.from(encodeFailure('nope')).toString(), 'd14:failure reason4:nopee')
  })

  it('encodes scrape with raw binary keys sorted bytewise, duplicates collapsed', () => {
    // As strings "10,…" < "9,…", so a naive sort of Uint8Array keys gets this order wrong.
    const a = id(9)
    const b = id(10)
    const c = Uint8Array.from([0xff, ...Array(19).fill(0)])
    const file = (infoHash: Uint8Array, n: number) => ({ infoHash, complete: n, incomplete: n + 1, downloaded: n + 2 })
    const encoded = Buffer.from(encodeScrape([file(c, 3), file(b, 2), file(a, 1), file(b, 2)]))
    const entry = (key: Uint8Array, n: number) =>
      Buffer.concat([Buffer.from('20:'), key, Buffer.from(`d8:completei${n}e10:downloadedi${n + 2}e10:incompletei${n + 1}ee`)])
    const expected = Buffer.concat([Buffer.from('d5:filesd'), entry(a, 1), entry(b, 2), entry(c, 3), Buffer.from('ee')])
    assert.deepEqual(encoded, expected)
    assert.equal(Buffer.from(encodeScrape([])).toString(), 'd5:filesdee')
  })
})

describe('parseAnnounceResponse', () => {
  it('reads murder\'s progress interval only when it is shorter than the interval', () => {
    const reply = (progressInterval?: number) => parseAnnounceResponse(encodeAnnounce({ interval: 10, minInterval: 5, complete: 0, incomplete: 1, peers: [], compact: true, progressInterval }))
    assert.equal(reply(1).progressInterval, 1)
    assert.equal(reply(10).progressInterval, undefined)
    assert.equal(reply().progressInterval, undefined)
  })

  const encode = (v: unknown): Uint8Array => bencode.encode(v)

  it('reads compact peers, peers6 and counts', () => {
    const res = parseAnnounceResponse(
      encode({
        interval: 10,
        complete: 3,
        incomplete: 4,
        peers: Uint8Array.from([127, 0, 0, 1, 0x1a, 0xe1, 10, 0, 0, 2, 0, 0]),
        peers6: Uint8Array.from([...Array(15).fill(0), 1, 0, 80]),
      }),
    )
    // A zero port is undialable and dropped.
    assert.deepEqual(res, { interval: 10, complete: 3, incomplete: 4, peers: [{ ip: '127.0.0.1', port: 6881 }, { ip: '::1', port: 80 }] })
  })

  it('reads dictionary peers, skipping unusable entries', () => {
    const res = parseAnnounceResponse(
      encode({
        interval: 5,
        peers: [
          { 'peer id': id(1), ip: '::ffff:10.0.0.1', port: 1 },
          { ip: 'host.example', port: 2 },
          { ip: '10.0.0.3', port: 0 },
          { ip: '10.0.0.4' },
          7,
        ],
      }),
    )
    assert.deepEqual(res.peers, [
      { ip: '10.0.0.1', port: 1 },
      { ip: 'host.example', port: 2 },
    ])
  })

  it('throws TrackerFailure on failure reason', () => {
    assert.throws(() => parseAnnounceResponse(encodeFailure('unregistered torrent')), (err: unknown) => {
      return err instanceof TrackerFailure && err.message === 'tracker failure: unregistered torrent'
    })
  })

  it('throws on malformed replies', () => {
    assert.throws(() => parseAnnounceResponse(Buffer.from('<html>')), /invalid bencode/)
    assert.throws(() => parseAnnounceResponse(new Uint8Array(0)), /not a bencoded dictionary/)
    assert.throws(() => parseAnnounceResponse(encode([1])), /not a bencoded dictionary/)
    assert.throws(() => parseAnnounceResponse(encode({ peers: new Uint8Array(6) })), /interval/)
    assert.throws(() => parseAnnounceResponse(encode({ interval: 1, peers: new Uint8Array(7) })), /multiple of 6/)
    assert.throws(() => parseAnnounceResponse(encode({ interval: 1, peers6: [] })), /peers6/)
  })
})

describe('buildAnnounceUrl', () => {
  const params = { infoHash: id(0), peerId: id(0x41), port: 1, uploaded: 0, downloaded: 0, left: 0 }
  it('joins onto existing queries and encodes bytes', () => {
    assert.match(buildAnnounceUrl('http://t/a', params), /^http:\/\/t\/a\?info_hash=(%00){20}&peer_id=A{20}&/)
    assert.match(buildAnnounceUrl('http://t/a?k=1', params), /^http:\/\/t\/a\?k=1&info_hash=/)
    assert.match(buildAnnounceUrl('http://t/a?', params), /^http:\/\/t\/a\?info_hash=/)
  })
  it('encodes everything but unreserved characters', () => {
    assert.equal(percentEncode(Uint8Array.from([0x41, 0x7a, 0x30, 0x2d, 0x2e, 0x5f, 0x7e, 0x20, 0x2b, 0x25, 0xff])), 'Az0-._~%20%2B%25%FF')
  })
})

describe('a site whose bridge never progresses', () => {
  const INTERVAL = 10_000
  const id = (n: number) => Uint8Array.from({ length: 20 }, (_, i) => (i === 19 ? n : 0))
  const at = (registry: SwarmRegistry, n: number, site: string, left: number, now: number) =>
    registry.announce(request({ peerId: id(n), ip: `10.0.0.${n}`, port: 6881, site, left, numwant: 50, event: undefined }), now)
  const crossSite = (res: { peers: { site: string | undefined }[] }, site: string) => res.peers.filter((p) => p.site !== site).length

  it('gets another bridge an interval later, which gets the other sites at once; a bridge that progresses stays', () => {
    const registry = new SwarmRegistry({ peerTtlMs: 60_000, bridgeStallMs: INTERVAL })
    at(registry, 1, 'a', 0, 0) // the source
    assert.ok(crossSite(at(registry, 2, 'b', 100, 0), 'b') > 0, 'the first arrival of b bridges')
    assert.equal(crossSite(at(registry, 3, 'b', 100, 1), 'b'), 0, 'the second does not')
    assert.ok(crossSite(at(registry, 2, 'b', 100, INTERVAL - 1), 'b') > 0, 'within an interval, still the bridge')
    assert.ok(crossSite(at(registry, 2, 'b', 100, INTERVAL), 'b') === 0, 'no progress for an interval: no longer the bridge')
    assert.ok(crossSite(at(registry, 3, 'b', 100, INTERVAL + 1), 'b') > 0, 'the next arrival bridges at its next announce')
    // It has a whole interval from now, although it made no progress since it arrived.
    assert.ok(crossSite(at(registry, 3, 'b', 100, 2 * INTERVAL), 'b') > 0)
    assert.ok(crossSite(at(registry, 3, 'b', 90, 2 * INTERVAL + 5000), 'b') > 0, 'progress keeps it')
    assert.ok(crossSite(at(registry, 3, 'b', 80, 4 * INTERVAL), 'b') > 0, 'a bridge that progresses is never replaced')
  })

  it("is replaced at its heir's announce, which then gets the other sites; the heir re-announces soon", () => {
    const registry = new SwarmRegistry({ peerTtlMs: 60_000, bridgeStallMs: INTERVAL, sitePolicy: { bridgesPerSite: 1, crossSitePeers: 8 } })
    at(registry, 1, 'a', 0, 0)
    at(registry, 2, 'b', 100, 0)
    const heir = at(registry, 3, 'b', 100, 1)
    assert.equal(heir.soon, true, 'the next in line comes back soon')
    assert.equal(crossSite(heir, 'b'), 0)
    assert.equal(at(registry, 4, 'b', 100, 2).soon, false, 'the one after it does not')
    assert.equal(crossSite(at(registry, 3, 'b', 100, INTERVAL - 1), 'b'), 0, 'within the stall, the bridge stays')
    const took = at(registry, 3, 'b', 100, INTERVAL + 1)
    assert.ok(crossSite(took, 'b') > 0, 'past it, the heir bridges from this answer, without the stalled bridge announcing')
    assert.equal(at(registry, 2, 'b', 100, INTERVAL + 2).soon, false, 'the stalled bridge went to the back of the line')
    assert.equal(at(registry, 4, 'b', 100, INTERVAL + 3).soon, true, 'the next arrival is next in line now')
  })

  it('with bridges by site size, the arrivals a growing site would make bridges come back soon, and bridge once it has grown', () => {
    const registry = new SwarmRegistry({ peerTtlMs: 60_000, bridgeStallMs: INTERVAL })
    at(registry, 1, 'a', 0, 0)
    at(registry, 2, 'b', 100, 0)
    assert.deepEqual([3, 4, 5, 6].map((n) => at(registry, n, 'b', 100, 1).soon), [true, true, true, false], 'the next three in line (up to 4 bridges)')
    for (let n = 7; n <= 42; n++) at(registry, n, 'b', 100, 2)
    assert.equal(crossSite(at(registry, 3, 'b', 100, 3), 'b') > 0, true, 'the 41st peer of b: its second arrival bridges too')
    assert.equal(crossSite(at(registry, 4, 'b', 100, 3), 'b'), 0, 'not yet the third')
  })

  it('a remote bridge short of cross-site peers comes back soon, and no longer once it has them', () => {
    const registry = new SwarmRegistry({ peerTtlMs: 60_000, sitePolicy: { bridgesPerSite: 1, crossSitePeers: 3 } })
    at(registry, 1, 'a', 0, 0)
    const first = at(registry, 2, 'b', 100, 0)
    assert.equal(crossSite(first, 'b'), 1, 'the source only: the source\'s site has no one else yet')
    assert.equal(first.soon, true)
    at(registry, 3, 'a', 100, 1)
    at(registry, 4, 'a', 100, 1)
    assert.equal(at(registry, 3, 'a', 100, 2).soon, false, "the source's site never needs to")
    const later = at(registry, 2, 'b', 100, 2000)
    assert.equal(crossSite(later, 'b'), 3)
    assert.equal(later.soon, false)
  })

  it("a remote bridge that other sites' bridges gave its count, but few of the source's site, comes back soon", () => {
    const registry = new SwarmRegistry({ peerTtlMs: 60_000 })
    at(registry, 1, 'a', 0, 0)
    for (let n = 10; n < 17; n++) at(registry, n, `s${n}`, 100, 0) // the bridges of seven other remote sites
    const first = at(registry, 2, 'b', 100, 0)
    assert.equal(crossSite(first, 'b'), 8, 'the source and seven bridges')
    assert.equal(first.soon, true, "none of the source's site")
    for (let n = 3; n < 9; n++) at(registry, n, 'a', 100, 1)
    const later = at(registry, 2, 'b', 100, 2000)
    assert.ok(later.peers.filter((p) => p.site === 'a').length >= 5, 'the source and four of its site (or five: its bridge may come as a bridge)')
    assert.equal(later.soon, false)
  })

  it('without sites, or without a source, nobody is told to come back soon', () => {
    const registry = new SwarmRegistry({ peerTtlMs: 60_000, bridgeStallMs: INTERVAL })
    for (let n = 2; n < 5; n++) assert.equal(at(registry, n, 'b', 100, n).soon, false, 'no seed anywhere')
    const plain = new SwarmRegistry({ peerTtlMs: 60_000 })
    plain.announce(request({ peerId: id(1), ip: '10.0.0.1', left: 0 }), 0)
    for (let n = 2; n < 5; n++) assert.equal(plain.announce(request({ peerId: id(n), ip: `10.0.0.${n}` }), n).soon, false, 'no site')
  })

  it('is never replaced when the registry is given no stall limit (its default)', () => {
    const registry = new SwarmRegistry({ peerTtlMs: 600_000 })
    at(registry, 1, 'a', 0, 0)
    at(registry, 2, 'b', 100, 0)
    assert.ok(crossSite(at(registry, 2, 'b', 100, 10 * INTERVAL), 'b') > 0)
  })
})
