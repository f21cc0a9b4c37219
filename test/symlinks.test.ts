import { test } from 'node:test'
import assert from 'node:assert/strict'
import bencode from 'bencode'
import { encodeTorrent, parseTorrent } from '../src/torrent/metainfo.js'

const hashes = (n: number) => new Uint8Array(20 * n).fill(7)
const data = [{ path: ['a'], length: 3 }, { path: ['sub', 'x'], length: 2 }]

/** The info dict's file entries of a torrent murder made with these links (path → exact text). */
function made(links: Record<string, string>) {
  const files = [...data, ...Object.entries(links).map(([p, symlink]) => ({ path: p.split('/'), length: 0, attr: 'l', symlink }))]
  const torrent = encodeTorrent({ name: 't', pieceLength: 16384, pieceHashes: hashes(1), files, directories: [{ path: ['empty'] }], singleFile: false }, ['http://t:1/a'])
  const raw = (bencode.decode(torrent) as { info: { files: Record<string, unknown>[] } }).info.files
  const keys = Object.fromEntries(raw.slice(data.length).map((f) => [
    (f['path'] as Uint8Array[]).map((c) => Buffer.from(c).toString()).join('/'),
    { path: (f['symlink path'] as Uint8Array[]).map((c) => Buffer.from(c).toString()), target: f['symlink target'] === undefined ? undefined : Buffer.from(f['symlink target'] as Uint8Array).toString() },
  ]))
  const parsed = Object.fromEntries(parseTorrent(torrent).files.filter((f) => f.symlink !== undefined).map((f) => [f.path.join('/'), f.symlink]))
  return { keys, parsed }
}

test('links inside the tree are written relative to the root (BEP 47); murder reads back the exact text', () => {
  const links = {
    'sub/l': '../a', 'sub/m': 'x', 'sub/deep/p': '../x', 'sub/deep/q': '..', 'top': 'sub/x', 'sub/e': '../empty',
    'sub/dot': './x', 'sub/abs': '/etc/hostname', 'sub/out': '../../outside', 'sub/gone': 'nothere', 'sub/root': '..',
  }
  const { keys, parsed } = made(links)
  assert.deepEqual(parsed, links)
  assert.deepEqual(keys, {
    'sub/l': { path: ['a'], target: undefined },
    'sub/m': { path: ['sub', 'x'], target: undefined },
    'sub/deep/p': { path: ['sub', 'x'], target: undefined },
    'sub/deep/q': { path: ['sub'], target: undefined },
    'top': { path: ['sub', 'x'], target: undefined },
    'sub/e': { path: ['empty'], target: undefined },
    // Not the shortest text to a target in the tree, or no target in it: the exact text in a key others ignore.
    'sub/dot': { path: ['sub', 'x'], target: './x' },
    'sub/abs': { path: ['etc', 'hostname'], target: '/etc/hostname' },
    'sub/out': { path: ['..', '..', 'outside'], target: undefined },
    'sub/gone': { path: ['nothere'], target: undefined },
    'sub/root': { path: ['..'], target: undefined },
  })
})

test('links of torrents made by others: BEP 47 root-relative targets, and libtorrent 2.0\'s link-relative ones', () => {
  const file = (path: string, target: string[], extra: Record<string, unknown> = {}) => ({ length: 0, attr: 'l', path: path.split('/'), 'symlink path': target, ...extra })
  const torrent = bencode.encode({ announce: 'http://t:1/a', info: { name: 't', 'piece length': 16384, pieces: hashes(1), files: [
    { length: 3, path: ['a'] }, { length: 2, path: ['sub', 'x'] },
    file('sub/l', ['a']), file('sub/m', ['sub', 'x']), file('sub/d/q', ['sub']),
    file('sub/k', ['..', 'a']), file('sub/y', ['x']), file('abs', ['', 'etc', 'hostname']),
    file('sub/bad', ['a'], { 'symlink target': 5 }),
  ] } })
  const m = parseTorrent(torrent)
  assert.deepEqual(Object.fromEntries(m.files.filter((f) => f.symlink !== undefined).map((f) => [f.path.join('/'), f.symlink])), {
    'sub/l': '../a', 'sub/m': 'x', 'sub/d/q': '..',
    'sub/k': '../a', // libtorrent 2.0's own maker writes the link's text; it escapes the root, so it is read as that text
    'sub/y': 'x', // names no entry from the root: the link's text
    'abs': '/etc/hostname', // murder's earlier torrents
    'sub/bad': '../a',
  })
  assert.deepEqual(m.ignored, ['symlink target of sub/bad'])
})
