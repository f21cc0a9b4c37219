import { lstat } from 'node:fs/promises'
import { basename, dirname, resolve } from 'node:path'
import { UserError, fsError } from '../errors.js'
import { FileStorage } from '../storage/fileStorage.js'
import { hashPieces } from '../storage/hashPieces.js'
import type { HashPool } from '../storage/hashPool.js'
import { excludeMatcher } from './glob.js'
import { encodeTorrent, parseTorrent, SHA1_LENGTH, type Metainfo } from './metainfo.js'
import { isPadding, isSymlink } from './attributes.js'
import { placeFiles, type AlignPolicy } from './padding.js'
import { choosePieceLength } from './pieceLength.js'
import { metaOfStats, walkTree, type SourceEntry } from './walk.js'

export interface BuildOptions {
  source: string
  trackers: readonly string[]
  pieceLength?: number
  exclude: readonly string[]
  align: AlignPolicy
  pool: HashPool
  /** CA certificate (PEM) making an SSL torrent. */
  sslCert?: string
}

/** Where the files of a torrent live on disk: a folder for a multi-file torrent, the file itself otherwise. */
export function storageFor(meta: Pick<Metainfo, 'files' | 'singleFile' | 'pieceLength'>, location: string): FileStorage {
  const root = meta.singleFile ? dirname(resolve(location)) : resolve(location)
  const files = meta.files.map((f) => ({
    path: meta.singleFile ? [basename(resolve(location))] : f.path,
    length: f.length,
    offset: f.offset,
    kind: isPadding(f) ? ('padding' as const) : isSymlink(f) ? ('symlink' as const) : ('file' as const),
  }))
  return new FileStorage(root, files, meta.pieceLength)
}

function attrOf(e: SourceEntry): string {
  if (e.kind === 'symlink') return 'l'
  return (e.mode ?? 0) & 0o111 ? 'x' : ''
}

/** Builds a torrent of a folder or a single file, streaming its bytes through the hash pool. */
export async function buildTorrent(opts: BuildOptions): Promise<{ torrent: Uint8Array; meta: Metainfo }> {
  const source = resolve(opts.source)
  const st = await lstat(source).catch((err) => { throw fsError(err, opts.source) })
  const singleFile = !st.isDirectory()
  if (singleFile && !st.isFile()) throw new UserError(`${opts.source} is neither a folder nor a regular file`)
  const listed: SourceEntry[] = singleFile
    ? [{ path: [basename(source)], kind: 'file', length: st.size, ...metaOfStats(st) }]
    : walkTree(source, excludeMatcher(opts.exclude))
  const entries = listed.filter((e) => e.kind !== 'dir')
  const total = entries.reduce((sum, e) => sum + e.length, 0)
  if (total === 0) throw new UserError(`${opts.source} holds no data to share (no files, or only empty ones)`)
  const pieceLength = opts.pieceLength ?? choosePieceLength(total)
  const placed = placeFiles(entries, pieceLength, singleFile ? 'none' : opts.align)
  const files = placed.map((p) => (p.entry
    ? { path: p.path, length: p.length, offset: p.offset, attr: attrOf(p.entry), mode: p.entry.mode, mtime: p.entry.mtime, uid: p.entry.uid, gid: p.entry.gid, symlink: p.entry.symlink }
    : { path: p.path, length: p.length, offset: p.offset, attr: 'p' }))
  const length = placed.reduce((sum, p) => sum + p.length, 0)
  const pieceCount = Math.ceil(length / pieceLength)
  const pieceHashes = new Uint8Array(pieceCount * SHA1_LENGTH)
  const storage = storageFor({ files, singleFile, pieceLength }, source)
  await hashPieces(storage, opts.pool, Array.from({ length: pieceCount }, (_, i) => i), (i, digest) => pieceHashes.set(digest, i * SHA1_LENGTH))
  const directories = listed.filter((e) => e.kind === 'dir').map(({ path, mode, mtime, uid, gid }) => ({ path, mode, mtime, uid, gid }))
  const torrent = encodeTorrent({ name: basename(source), pieceLength, pieceHashes, files, directories, singleFile, sslCert: opts.sslCert }, opts.trackers)
  return { torrent, meta: parseTorrent(torrent) }
}
