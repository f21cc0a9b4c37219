import { test } from 'node:test'
import assert from 'node:assert/strict'
import { placeFiles } from '../src/torrent/padding.js'
import { encodeTorrent, parseTorrent } from '../src/torrent/metainfo.js'

const entries = [
  { path: ['a'], length: 10 },
  { path: ['b'], length: 0 },
  { path: ['c'], length: 32 },
  { path: ['d'], length: 17 },
  { path: ['e'], length: 0 },
]

test('policy all: every file with data starts on a piece boundary; nothing pads the last one', () => {
  const placed = placeFiles(entries, 16, 'all')
  assert.deepEqual(placed.map((p) => [p.path.join('/'), p.offset, p.length, p.padding]), [
    ['a', 0, 10, false],
    ['.pad/6', 10, 6, true],
    ['b', 16, 0, false],
    ['c', 16, 32, false],
    ['d', 48, 17, false],
    ['e', 65, 0, false],
  ])
})

test('policy none: plain concatenation', () => {
  const placed = placeFiles(entries, 16, 'none')
  assert.deepEqual(placed.map((p) => p.offset), [0, 10, 10, 42, 59])
  assert.ok(placed.every((p) => !p.padding))
})

test('an unchanged file keeps its pieces when an earlier file grows', () => {
  const v1 = placeFiles([{ path: ['a'], length: 100 }, { path: ['b'], length: 50 }], 64, 'all')
  const v2 = placeFiles([{ path: ['a'], length: 101 }, { path: ['b'], length: 50 }], 64, 'all')
  assert.equal(v1[2]!.offset % 64, 0)
  assert.equal(v1[2]!.offset, v2[2]!.offset)
})

test('metadata round trip: modes, mtimes, owners, symlinks (relative and absolute), folders, padding', () => {
  const torrent = encodeTorrent({
    name: 'tree',
    pieceLength: 16384,
    pieceHashes: new Uint8Array(40),
    singleFile: false,
    files: [
      { path: ['bin', 'run'], length: 100, attr: 'x', mode: 0o755, mtime: 981173106, uid: 0, gid: 0 },
      { path: ['.pad', '16284'], length: 16284, attr: 'p' },
      { path: ['link'], length: 0, attr: 'l', symlink: '../bin/run', mode: 0o777, mtime: 5 },
      { path: ['abs'], length: 0, attr: 'l', symlink: '/etc/hostname' },
      { path: ['z'], length: 1, mode: 0o444 },
    ],
    directories: [{ path: [], mode: 0o755, mtime: 1 }, { path: ['empty'], mode: 0o2775, mtime: 2 }],
  }, ['http://t:1/announce'])
  const m = parseTorrent(torrent)
  assert.deepEqual(m.files.map((f) => [f.path.join('/'), f.offset, f.attr, f.mode, f.mtime, f.symlink]), [
    ['bin/run', 0, 'x', 0o755, 981173106, undefined],
    ['.pad/16284', 100, 'p', undefined, undefined, undefined],
    ['link', 16384, 'l', 0o777, 5, '../bin/run'],
    ['abs', 16384, 'l', undefined, undefined, '/etc/hostname'],
    ['z', 16384, '', 0o444, undefined, undefined],
  ])
  assert.deepEqual(m.directories.map((d) => [d.path.join('/'), d.mode, d.mtime]), [['', 0o755, 1], ['empty', 0o2775, 2]])
})

test('folders cannot collide with files, and folder paths are checked', () => {
  const base = { name: 't', pieceLength: 16384, pieceHashes: new Uint8Array(20), singleFile: false, files: [{ path: ['a'], length: 1 }] }
  assert.throws(() => parseTorrent(encodeTorrent({ ...base, directories: [{ path: ['a'] }] }, ['http://t:1/a'])), /duplicate path/)
  assert.throws(() => parseTorrent(encodeTorrent({ ...base, directories: [{ path: ['a', 'b'] }] }, ['http://t:1/a'])), /both a file and a folder/)
  assert.throws(() => parseTorrent(encodeTorrent({ ...base, directories: [{ path: ['..'] }] }, ['http://t:1/a'])), /unsafe path/)
  assert.throws(() => parseTorrent(encodeTorrent({ ...base, files: [{ path: ['l'], length: 1, attr: 'l', symlink: 'x' }] }, ['http://t:1/a'])), /symlink l has a length/)
})

test('policy large: files of a piece or more start and end on boundaries, small ones are packed', () => {
  const placed = placeFiles([{ path: ['s1'], length: 5 }, { path: ['big'], length: 40 }, { path: ['s2'], length: 3 }, { path: ['s3'], length: 4 }, { path: ['big2'], length: 16 }], 16, 'large')
  assert.deepEqual(placed.map((p) => [p.path.join('/'), p.offset, p.length]), [
    ['s1', 0, 5],
    ['.pad/11', 5, 11],
    ['big', 16, 40],
    ['.pad/8', 56, 8],
    ['s2', 64, 3],
    ['s3', 67, 4],
    ['.pad/9', 71, 9],
    ['big2', 80, 16],
  ])
})
