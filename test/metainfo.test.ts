import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import bencode from 'bencode'
import { encodeTorrent, parseTorrent } from '../src/torrent/metainfo.js'
import { UserError } from '../src/errors.js'
import { choosePieceLength } from '../src/torrent/pieceLength.js'
import { excludeMatcher } from '../src/torrent/glob.js'
import { trackerUrl } from '../src/torrent/trackerUrl.js'
import { parseTorrentSource } from '../src/torrent/source.js'
import { comparePaths } from '../src/torrent/paths.js'
import { isPadding } from '../src/torrent/attributes.js'
import { prng } from './helpers/prng.js'

const hashes = (n: number) => new Uint8Array(20 * n).fill(7)

function torrentWith(files: { path: string[]; length: number }[], pieceLength = 16384): Uint8Array {
  const total = files.reduce((s, f) => s + f.length, 0)
  return encodeTorrent({ name: 'tree', pieceLength, pieceHashes: hashes(Math.ceil(total / pieceLength)), files, singleFile: false }, ['http://t:1/announce'])
}

function rawTorrent(info: Record<string, unknown>): Uint8Array {
  return bencode.encode({ announce: 'http://t:1/announce', info })
}

test('round trip keeps files, offsets, trackers; the info hash is the SHA-1 of the raw info bytes', () => {
  const t = encodeTorrent(
    { name: 'tree', pieceLength: 16384, pieceHashes: hashes(2), files: [{ path: ['a', 'é x'], length: 20000 }, { path: ['b'], length: 0 }, { path: ['c'], length: 5 }], singleFile: false },
    ['http://t:1/announce', 'http://u:2/announce'],
  )
  const m = parseTorrent(t)
  assert.equal(m.name, 'tree')
  assert.deepEqual(m.files.map((f) => [f.path.join('/'), f.length, f.offset]), [['a/é x', 20000, 0], ['b', 0, 20000], ['c', 5, 20000]])
  assert.deepEqual(m.announce, ['http://t:1/announce', 'http://u:2/announce'])
  assert.equal(m.pieceCount, 2)
  assert.equal(m.infoHashHex.length, 40)
  assert.deepEqual(parseTorrent(t).infoHash, m.infoHash, 'deterministic')
})

test('non-canonical info dict: the hash is of the bytes as sent, not of a re-encoding', () => {
  // Keys out of order: a re-encode would sort them and change the hash.
  const info = 'd12:piece lengthi16384e4:name1:x6:pieces20:aaaaaaaaaaaaaaaaaaaa6:lengthi5ee'
  const data = Buffer.from(`d8:announce3:x:14:info${info}e`)
  const m = parseTorrent(data)
  assert.equal(m.infoHashHex, createHash('sha1').update(info).digest('hex'))
})

test('attributes of the wrong type or out of range are ignored and listed, not fatal (archive.org writes mtime as a string)', () => {
  const m = parseTorrent(rawTorrent({
    name: 'x', 'piece length': 16384, pieces: hashes(1),
    files: [
      { path: ['a'], length: 1, mtime: '1487256944', mode: 0o644 },
      { path: ['b'], length: 1, mode: 0o17777, uid: -1, gid: 5, mtime: 7 },
    ],
    directories: [{ path: ['d'], mtime: ['x'] }],
  }))
  assert.deepEqual(m.files.map(({ path, mode, mtime, uid, gid }) => ({ path: path.join('/'), mode, mtime, uid, gid })), [
    { path: 'a', mode: 0o644, mtime: undefined, uid: undefined, gid: undefined },
    { path: 'b', mode: undefined, mtime: 7, uid: undefined, gid: 5 },
  ])
  assert.equal(m.directories[0]!.mtime, undefined)
  assert.deepEqual(m.ignored, ['mtime of a', 'mode of b', 'uid of b', 'mtime of d'])
  assert.deepEqual(parseTorrent(torrentWith([{ path: ['a'], length: 1 }])).ignored, [])
})

test('old BitComet padding files (_____padding_file_…, no attr) are padding, as libtorrent reads them', () => {
  const m = parseTorrent(rawTorrent({
    name: 'x', 'piece length': 16384, pieces: hashes(2),
    files: [
      { path: ['a'], length: 100 },
      { path: ['_____padding_file_0_if you see this file, please update to BitComet 0.85 or above____'], length: 16284 },
      { path: ['b'], length: 10 },
      { path: ['sub', '_____padding_file_1'], length: 6, attr: 'x' },
    ],
  }))
  assert.deepEqual(m.files.map((f) => isPadding(f)), [false, true, false, true])
})

const bad: [string, () => Uint8Array, RegExp][] = [
  ['garbage', () => Buffer.from('not a torrent'), /not bencoded/],
  ['truncated', () => torrentWith([{ path: ['a'], length: 1 }]).subarray(0, 30), /not bencoded/],
  ['traversal', () => torrentWith([{ path: ['..', 'etc', 'passwd'], length: 1 }]), /unsafe path/],
  ['slash in component', () => torrentWith([{ path: ['a/b'], length: 1 }]), /contains "\/"/],
  ['empty component', () => torrentWith([{ path: ['a', ''], length: 1 }]), /empty path component/],
  ['NUL', () => torrentWith([{ path: ['a\0b'], length: 1 }]), /NUL/],
  ['duplicate', () => torrentWith([{ path: ['a'], length: 1 }, { path: ['a'], length: 1 }]), /duplicate path/],
  ['file and folder', () => torrentWith([{ path: ['a'], length: 1 }, { path: ['a', 'b'], length: 1 }]), /both a file and a folder/],
  ['name not UTF-8', () => rawTorrent({ name: Buffer.from([0x61, 0xff]), 'piece length': 16384, pieces: hashes(1), length: 1 }), /name is not valid UTF-8/],
  ['unsafe name', () => rawTorrent({ name: '..', 'piece length': 16384, pieces: hashes(1), length: 1 }), /unsafe name/],
  ['piece length not a power of two', () => rawTorrent({ name: 'x', 'piece length': 20000, pieces: hashes(1), length: 1 }), /power of two/],
  ['zero piece length', () => rawTorrent({ name: 'x', 'piece length': 0, pieces: hashes(1), length: 1 }), /power of two/],
  ['piece count mismatch', () => rawTorrent({ name: 'x', 'piece length': 16384, pieces: hashes(3), length: 1 }), /3 piece hashes/],
  ['absurd size', () => rawTorrent({ name: 'x', 'piece length': 16384, pieces: hashes(1), length: 2 ** 53 }), /valid size/],
  ['negative size', () => rawTorrent({ name: 'x', 'piece length': 16384, pieces: hashes(1), length: -1 }), /valid size/],
  ['no info', () => bencode.encode({ announce: 'x' }), /no info/],
  ['deep nesting', () => Buffer.from('l'.repeat(10000) + 'e'.repeat(10000)), /nesting too deep|not bencoded/],
]
for (const [name, make, message] of bad) {
  test(`invalid torrent is refused with a clear error: ${name}`, () => {
    assert.throws(() => parseTorrent(make()), (err: unknown) => err instanceof UserError && message.test(err.message) && !err.message.includes('\n'))
  })
}

test('piece length is a bounded power of two aiming at ~1500 pieces', () => {
  assert.equal(choosePieceLength(1), 256 * 1024)
  assert.equal(choosePieceLength(128 * 2 ** 20), 256 * 1024)
  assert.equal(choosePieceLength(2 * 2 ** 30), 2 * 2 ** 20)
  assert.equal(choosePieceLength(2 ** 45), 16 * 2 ** 20)
  for (const size of [1e6, 1e8, 1e9, 1e10, 1e11]) {
    const pl = choosePieceLength(size)
    assert.equal(pl & (pl - 1), 0)
    assert.ok(size / pl <= 1500 || pl === 16 * 2 ** 20)
  }
})

test('exclude globs: names anywhere, or paths', () => {
  const m = excludeMatcher(['.git*', 'logs/**', '*.tmp', 'a?c'])
  assert.ok(m(['.git']) && m(['x', '.gitignore']) && m(['logs', 'a', 'b']) && m(['d', 'e.tmp']) && m(['abc']))
  assert.ok(!m(['git']) && !m(['x', 'logs']) && !m(['e.tmpx']) && !m(['.env']))
})

test('tracker specs and magnet links', () => {
  assert.equal(trackerUrl('host:8998'), 'http://host:8998/announce')
  assert.equal(trackerUrl('http://h:1/a?x=1'), 'http://h:1/a?x=1')
  assert.throws(() => trackerUrl('udp://h:1'), /only http/)
  const hex = 'c12fe1c06bba254a9dc9f519b335aa7c1367a88a'
  assert.deepEqual(parseTorrentSource(hex, ['h:1']), { kind: 'hash', infoHash: Buffer.from(hex, 'hex'), trackers: ['http://h:1/announce'] })
  const m = parseTorrentSource(`magnet:?xt=urn:btih:${hex}&tr=${encodeURIComponent('http://t:2/announce')}`, [])
  assert.deepEqual(m, { kind: 'hash', infoHash: Buffer.from(hex, 'hex'), trackers: ['http://t:2/announce'] })
  const b32 = parseTorrentSource('YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK', [])
  assert.equal(b32.kind === 'hash' && Buffer.from(b32.infoHash).toString('hex'), hex)
  assert.throws(() => parseTorrentSource('magnet:?xt=urn:btih:zz', []), /invalid magnet/)
  assert.deepEqual(parseTorrentSource('/tmp/x.torrent', []), { kind: 'file', path: '/tmp/x.torrent' })
})

test('comparePaths orders components as their UTF-8 bytes do, surrogate pairs included', () => {
  const random = prng(47)
  // ASCII, Latin-1, a BMP character above the surrogates, and astral characters (surrogate pairs).
  const alphabet = ['a', 'b', 'é', '\uffee', '\u{1f600}', '\u{10400}', 'z']
  const word = () => Array.from({ length: Math.floor(random() * 4) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('')
  const bytes = (p: string[]) => p.map((c) => Buffer.from(c))
  const byBytes = (a: string[], b: string[]) => {
    const [x, y] = [bytes(a), bytes(b)]
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      const c = Buffer.compare(x[i]!, y[i]!)
      if (c !== 0) return c
    }
    return x.length - y.length
  }
  for (let i = 0; i < 5000; i++) {
    const a = Array.from({ length: 1 + Math.floor(random() * 2) }, word)
    const b = random() < 0.2 ? [...a] : Array.from({ length: 1 + Math.floor(random() * 2) }, word)
    assert.equal(Math.sign(comparePaths(a, b)), Math.sign(byBytes(a, b)), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`)
  }
})
