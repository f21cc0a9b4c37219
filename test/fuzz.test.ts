/**
 * Fuzzing the parsers that take input from other hosts: .torrent files and ut_metadata info dictionaries
 * (parseTorrent, parseInfo) and tracker requests (parseAnnounce, parseScrape). Thousands of mutated inputs
 * from a fixed seed: each either parses into something that satisfies every invariant, or is refused with
 * the parser's own error type and a one-line message. Anything else (a crash, a TypeError, a RangeError, a
 * result that breaks an invariant) fails the test and prints the input to reproduce it.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import bencode from 'bencode'
import { UserError, ExitCode } from '../src/errors.js'
import { encodeTorrent, MAX_TOTAL_LENGTH, parseInfo, parseTorrent, SHA1_LENGTH, type Metainfo } from '../src/torrent/metainfo.js'
import { componentProblem } from '../src/torrent/paths.js'
import { parseAnnounce, DEFAULT_MAX_NUMWANT } from '../src/tracker/announceRequest.js'
import { percentEncode } from '../src/tracker/announceUrl.js'
import { normalizeIp } from '../src/tracker/ip.js'
import { TrackerRequestError } from '../src/tracker/query.js'
import { parseScrape } from '../src/tracker/scrapeRequest.js'
import { prng } from './helpers/prng.js'

const TIMEOUT = { timeout: 60_000 }

/** Deterministic random choices: the same seed replays the same inputs. */
function random(seed: number) {
  const next = prng(seed)
  const int = (n: number) => Math.floor(next() * n)
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!
  return { next, int, pick }
}
type Rand = ReturnType<typeof random>

// ---------------------------------------------------------------------------------------------- torrents

const hashes = (n: number) => Buffer.alloc(20 * n, 0xab)

function seeds(): Uint8Array[] {
  const P = 16384
  const multi = (files: { path: string[]; length: number; attr?: string; symlink?: string }[], extra: Partial<Parameters<typeof encodeTorrent>[0]> = {}) => {
    const total = files.reduce((s, f) => s + f.length, 0)
    return encodeTorrent({ name: 'tree', pieceLength: P, pieceHashes: hashes(Math.ceil(total / P)), files, singleFile: false, ...extra },
      ['http://127.0.0.1:1/announce', 'http://t2:2/announce'])
  }
  return [
    encodeTorrent({ name: 'one.bin', pieceLength: P, pieceHashes: hashes(3), files: [{ path: ['one.bin'], length: 40000 }], singleFile: true }, ['http://t:1/announce']),
    multi([{ path: ['a', 'b.txt'], length: 20000 }, { path: ['c'], length: 0 }, { path: ['d', 'e', 'f'], length: 5 }]),
    multi([{ path: ['x'], length: 100 }, { path: ['.pad', '16284'], length: 16284, attr: 'p' }, { path: ['y'], length: 16384, attr: 'x' }]),
    multi([{ path: ['bin', 'tool'], length: 7, attr: 'x' }, { path: ['link'], length: 0, attr: 'l', symlink: 'bin/tool' }, { path: ['z'], length: 3 }]),
    bencode.encode({ announce: 'http://t/announce', 'announce-list': [['http://a/announce'], ['http://b/announce']], comment: 'c', info: {
      name: 'n', 'piece length': 32768, pieces: hashes(1), files: [{ length: 10, path: ['p', 'q'] }, { length: 20, path: ['r'] }],
    } }),
  ]
}

const SPECIAL_STRINGS = ['', '.', '..', '/', 'a/b', 'a\0b', '\u00e9', '\ud800', 'x'.repeat(300), 'CON', '~', '-', ' ', '\n']
const SPECIAL_INTS = [0, 1, -1, 16383, 16384, 16385, 32768, 2 ** 26, 2 ** 26 * 2, 2 ** 31, 2 ** 32, 2 ** 50, 2 ** 50 + 1, 2 ** 53, Number.MAX_SAFE_INTEGER]

function randomValue(r: Rand, depth = 0): unknown {
  switch (r.int(depth > 2 ? 3 : 5)) {
    case 0: return r.pick(SPECIAL_INTS)
    case 1: return Buffer.from(r.pick(SPECIAL_STRINGS))
    case 2: return Buffer.from(Array.from({ length: r.int(45) }, () => r.int(256)))
    case 3: return Array.from({ length: r.int(4) }, () => randomValue(r, depth + 1))
    default: return Object.fromEntries(Array.from({ length: r.int(4) }, () => [r.pick(['path', 'length', 'name', 'files', 'attr', 'x']), randomValue(r, depth + 1)]))
  }
}

/** Replaces, deletes or duplicates one node somewhere in a decoded torrent. */
function mutateTree(root: unknown, r: Rand): void {
  const containers: (Record<string, unknown> | unknown[])[] = []
  const visit = (v: unknown) => {
    if (v instanceof Uint8Array || typeof v !== 'object' || v === null) return
    containers.push(v as Record<string, unknown>)
    for (const child of Object.values(v)) visit(child)
  }
  visit(root)
  const c = r.pick(containers)
  const keys = Object.keys(c)
  const action = r.int(4)
  if (Array.isArray(c)) {
    const i = r.int(c.length + 1)
    if (action === 0 && c.length > 0) c.splice(i, 1)
    else if (action === 1 && c.length > 0) c.push(structuredClone(c[r.int(c.length)]))
    else c[Math.min(i, c.length)] = randomValue(r)
  } else {
    const key = keys.length > 0 && r.next() < 0.8 ? r.pick(keys) : r.pick(['pieces', 'piece length', 'length', 'path', 'files', 'name', 'attr', 'symlink path', 'directories'])
    if (action === 0) delete c[key]
    else if (action === 1 && typeof c[key] === 'number') c[key] = r.pick(SPECIAL_INTS)
    else if (action === 2 && c[key] instanceof Uint8Array) c[key] = Buffer.from(r.pick(SPECIAL_STRINGS))
    else c[key] = randomValue(r)
  }
}

/** Byte-level damage: bit flips, overwrites, insertions, deletions, duplicated or truncated ranges, digit edits. */
function mutateBytes(input: Uint8Array, r: Rand): Buffer {
  let b = Buffer.from(input)
  for (let k = 0, n = 1 + r.int(3); k < n; k++) {
    const at = r.int(b.length + 1)
    switch (r.int(7)) {
      case 0: if (at < b.length) b[at]! ^= 1 << r.int(8); break
      case 1: if (at < b.length) b[at] = r.pick([0x30, 0x39, 0x3a, 0x65, 0x69, 0x6c, 0x64, 0x2d, 0x00, 0xff, r.int(256)]); break
      case 2: b = Buffer.concat([b.subarray(0, at), Buffer.from(r.pick(['e', 'i1e', 'le', 'de', '0:', '4:path', '999999999:', 'i-0e', 'i00e'])), b.subarray(at)]); break
      case 3: b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + r.int(16))]); break
      case 4: { const from = r.int(b.length); b = Buffer.concat([b.subarray(0, at), b.subarray(from, from + r.int(64)), b.subarray(at)]); break }
      case 5: b = b.subarray(0, at); break
      default: {
        // Rewrite the digits of a number or a string length.
        const digits = b.toString('latin1').slice(at).search(/[0-9]+/)
        if (digits >= 0) {
          const s = b.toString('latin1')
          const start = at + digits
          const end = start + /^[0-9]+/.exec(s.slice(start))![0].length
          b = Buffer.from(s.slice(0, start) + r.pick(['0', '1', '19', '16384', '4294967296', '99999999999999999', '9007199254740993']) + s.slice(end), 'latin1')
        }
      }
    }
  }
  return b
}

/** Everything that must hold for a torrent murder accepts. */
function checkInvariants(m: Metainfo): void {
  assert.ok(m.pieceLength >= 16384 && m.pieceLength <= 64 * 1024 * 1024 && (m.pieceLength & (m.pieceLength - 1)) === 0, 'piece length')
  assert.equal(m.pieceHashes.length, m.pieceCount * SHA1_LENGTH, 'piece hashes')
  assert.equal(m.pieceCount, Math.ceil(m.length / m.pieceLength), 'piece count')
  assert.ok(Number.isSafeInteger(m.length) && m.length >= 0 && m.length <= MAX_TOTAL_LENGTH, 'length')
  assert.ok(m.files.length > 0, 'files')
  let offset = 0
  const seen = new Set<string>()
  for (const f of m.files) {
    assert.equal(f.offset, offset, 'offsets')
    assert.ok(Number.isSafeInteger(f.length) && f.length >= 0)
    offset += f.length
    assert.ok(f.path.length > 0, 'non-empty path')
    for (const c of f.path) assert.equal(componentProblem(c), null, `unsafe component ${JSON.stringify(c)}`)
    if (f.attr.includes('p')) continue
    const key = f.path.join('\0')
    assert.ok(!seen.has(key), `duplicate ${key}`)
    seen.add(key)
  }
  assert.equal(offset, m.length, 'length is the sum of the files')
  for (const f of m.files) {
    if (f.attr.includes('p')) continue
    // A file is never also a folder of another entry.
    for (let n = 1; n < f.path.length; n++) assert.ok(!seen.has(f.path.slice(0, n).join('\0')), `${f.path.join('/')} under a file`)
  }
  assert.equal(m.infoHashHex, createHash('sha1').update(m.infoBytes).digest('hex'), 'info hash of the info bytes')
}

/** Runs one input; returns 'ok' or 'refused', throws with a reproducible description otherwise. */
function tryTorrent(input: Uint8Array, parse: (b: Uint8Array) => Metainfo): 'ok' | 'refused' {
  let m: Metainfo
  try {
    m = parse(input)
  } catch (err) {
    const where = `input (hex): ${Buffer.from(input).toString('hex')}`
    if (!(err instanceof UserError)) assert.fail(`${(err as Error)?.name}: ${(err as Error)?.message}\n${where}`)
    assert.equal(err.exitCode, ExitCode.badTorrent, where)
    assert.match(err.message, /^invalid torrent: \S/, where)
    assert.ok(!err.message.includes('\n') && err.message.length < 400, `not a one-line message: ${err.message}\n${where}`)
    return 'refused'
  }
  try {
    checkInvariants(m)
  } catch (err) {
    assert.fail(`accepted a torrent that breaks an invariant: ${(err as Error).message}\ninput (hex): ${Buffer.from(input).toString('hex')}`)
  }
  return 'ok'
}

test('parseTorrent: thousands of mutated .torrent files are parsed safely or refused with a clear message', TIMEOUT, () => {
  const r = random(0xC0FFEE)
  const base = seeds()
  for (const s of base) assert.equal(tryTorrent(s, parseTorrent), 'ok', 'the seeds are valid')
  const tally = { ok: 0, refused: 0 }
  for (let i = 0; i < 8000; i++) {
    let input: Uint8Array
    if (i % 2 === 0) {
      input = mutateBytes(r.pick(base), r)
    } else {
      const tree = bencode.decode(r.pick(base)) as unknown
      for (let k = 0, n = 1 + r.int(3); k < n; k++) mutateTree(tree, r)
      input = bencode.encode(tree as Parameters<typeof bencode.encode>[0])
    }
    tally[tryTorrent(input, parseTorrent)]++
  }
  // Both outcomes must be common, or the fuzzer is not exploring.
  assert.ok(tally.ok > 400 && tally.refused > 4000, JSON.stringify(tally))
})

test('parseInfo (metadata from the swarm): mutated info dictionaries are parsed safely or refused', TIMEOUT, () => {
  const r = random(0xBADD1C7)
  const infos = seeds().map((t) => {
    const root = bencode.decode(t) as Record<string, unknown>
    return bencode.encode(root['info'] as Parameters<typeof bencode.encode>[0])
  })
  const tally = { ok: 0, refused: 0 }
  for (let i = 0; i < 4000; i++) {
    const input = i % 2 === 0 ? mutateBytes(r.pick(infos), r) : (() => {
      const tree = { info: bencode.decode(r.pick(infos)) as unknown }
      mutateTree(tree, r)
      return bencode.encode((tree.info ?? {}) as Parameters<typeof bencode.encode>[0])
    })()
    tally[tryTorrent(input, (b) => parseInfo(b, []))]++
  }
  assert.ok(tally.ok > 200 && tally.refused > 2000, JSON.stringify(tally))
})

test('hand-picked hostile torrents are refused with a reason', () => {
  const info = (extra: Record<string, unknown>) => ({ name: 'x', 'piece length': 16384, pieces: Buffer.alloc(20), length: 1, ...extra })
  const cases: [string, Uint8Array, RegExp][] = [
    // Two `info` keys: a reader that takes the other one would see other files under the same hash.
    ['duplicate info key', Buffer.concat([Buffer.from('d4:info'), bencode.encode(info({})), Buffer.from('4:info'), bencode.encode(info({ name: 'y' })), Buffer.from('e')]), /duplicate key/],
    ['duplicate key inside info', Buffer.from('d4:infod6:lengthi1e6:lengthi99999e4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee'), /duplicate key/],
    // Not next to its twin: found once the keys are out of order, against all the keys before.
    ['duplicate key after keys out of order', Buffer.from('d4:infod6:lengthi1e4:name1:x6:lengthi99999e12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee'), /duplicate key "length"/],
    ['path too long', bencode.encode({ info: { name: 'x', 'piece length': 16384, pieces: Buffer.alloc(20), files: [{ length: 1, path: Array(3000).fill('ab') }] } }), /longer than/],
    ['nesting bomb', Buffer.from(`d4:info${'l'.repeat(100_000)}${'e'.repeat(100_000)}e`), /not bencoded/],
    ['string length past the end', Buffer.from('d4:info99999999999:xe'), /not bencoded/],
  ]
  for (const [name, input, reason] of cases) {
    assert.throws(() => parseTorrent(input), (err: unknown) => err instanceof UserError && err.exitCode === ExitCode.badTorrent && reason.test(err.message), name)
  }
})

// ---------------------------------------------------------------------------------------------- tracker

const INFO_HASH = Buffer.from('00252b26ff80eeeeeeeeeeeeeeeeeeeeeeeeeeee', 'hex')
const PEER_ID = Buffer.from('-MU0100-abcdefghijkl')
const BASE_ANNOUNCE = `info_hash=${percentEncode(INFO_HASH)}&peer_id=${percentEncode(PEER_ID)}&port=6881&uploaded=0&downloaded=0&left=1000` +
  '&event=started&numwant=30&compact=1&ip=10.0.0.7&site=rack-1'
const QUERY_TOKENS = ['%', '%2', '%zz', '%00', '%FF', '%C3%A9', '%ED%A0%80', '&', '&&', '=', '==', '+', 'info_hash=', '&peer_id=x', '&port=',
  'port=0', 'port=65536', 'left=-1', 'left=1e3', 'left=9007199254740993', 'numwant=99999999999999999999', 'ip=::ffff:1.2.3.4', 'ip=[::1]',
  'ip=fe80::1%25eth0', 'ip=999.1.1.1', 'ip=', 'event=', 'event=paused', 'compact=2', 'compact=', 'site=' + 'x'.repeat(70), '\u00ff', '\u0100', '\ud800', '😀']

function mutateQuery(base: string, r: Rand): string {
  let s = base
  for (let k = 0, n = 1 + r.int(3); k < n; k++) {
    const at = r.int(s.length + 1)
    switch (r.int(6)) {
      case 0: s = s.slice(0, at) + r.pick(QUERY_TOKENS) + s.slice(at); break
      case 1: s = s.slice(0, at) + s.slice(at + 1 + r.int(10)); break
      case 2: s = s.slice(0, at) + String.fromCharCode(r.int(r.next() < 0.9 ? 0x80 : 0x10000)) + s.slice(at + 1); break
      case 3: { const parts = s.split('&'); s = [...parts, r.pick(parts)].join('&'); break }
      case 4: { const parts = s.split('&'); parts.splice(r.int(parts.length), 1); s = parts.join('&'); break }
      default: s = s.slice(0, at)
    }
  }
  return s
}

/** Runs one query through `check`; returns 'ok' or 'refused' (with a clear reason), throws otherwise. */
function tryQuery(input: string, check: () => void): 'ok' | 'refused' {
  try {
    check()
    return 'ok'
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err
    const where = `query: ${JSON.stringify(input)}`
    if (!(err instanceof TrackerRequestError)) assert.fail(`${(err as Error)?.name}: ${(err as Error)?.message}\n${where}`)
    assert.ok(err.message.length > 0 && err.message.length < 300 && !err.message.includes('\n'), `unclear message ${JSON.stringify(err.message)}\n${where}`)
    return 'refused'
  }
}

test('parseAnnounce: mutated announce queries are parsed into valid requests or refused with a reason', TIMEOUT, () => {
  const r = random(0xA770)
  const remotes = ['127.0.0.1', '::1', '::ffff:10.1.2.3', 'fe80::1%eth0', 'garbage', undefined]
  const tally = { ok: 0, refused: 0 }
  for (let i = 0; i < 10000; i++) {
    const q = mutateQuery(BASE_ANNOUNCE, r)
    const remote = r.pick(remotes)
    tally[tryQuery(q, () => {
      const req = parseAnnounce(q, remote, DEFAULT_MAX_NUMWANT)
      const where = JSON.stringify(q)
      assert.equal(req.infoHash.length, 20, where)
      assert.equal(req.peerId.length, 20, where)
      assert.ok(Number.isInteger(req.port) && req.port >= 1 && req.port <= 65535, where)
      for (const n of [req.uploaded, req.downloaded, req.left]) assert.ok(Number.isSafeInteger(n) && n >= 0, where)
      assert.ok(Number.isInteger(req.numwant) && req.numwant >= 0 && req.numwant <= DEFAULT_MAX_NUMWANT, where)
      assert.equal(normalizeIp(req.ip), req.ip, `the ip is a canonical literal: ${where}`)
      assert.ok(req.event === undefined || ['started', 'completed', 'stopped'].includes(req.event), where)
      assert.ok(req.site === undefined || req.site.length <= 64, where)
    })]++
  }
  assert.ok(tally.ok > 500 && tally.refused > 3000, JSON.stringify(tally))
})

test('parseScrape: mutated scrape queries give 20-byte hashes or are refused with a reason', TIMEOUT, () => {
  const r = random(0x5C4A)
  const base = [INFO_HASH, PEER_ID, Buffer.alloc(20, 0x25)].map((h) => `info_hash=${percentEncode(h)}`).join('&')
  const tally = { ok: 0, refused: 0 }
  for (let i = 0; i < 5000; i++) {
    const q = mutateQuery(base, r)
    tally[tryQuery(q, () => {
      for (const h of parseScrape(q)) assert.equal(h.length, 20, JSON.stringify(q))
    })]++
  }
  assert.ok(tally.ok > 500 && tally.refused > 1000, JSON.stringify(tally))
})
