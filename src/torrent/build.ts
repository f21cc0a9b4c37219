import { stat } from 'node:fs/promises'
import { basename, dirname, resolve } from 'node:path'
import { UserError, fsError } from '../cli/errors.js'
import { FileStorage } from '../storage/fileStorage.js'
import { hashPieces } from '../storage/hashPieces.js'
import type { HashPool } from '../storage/hashPool.js'
import { excludeMatcher } from './glob.js'
import { encodeTorrent, parseTorrent, SHA1_LENGTH, type Metainfo } from './metainfo.js'
import { choosePieceLength } from './pieceLength.js'
import { walkTree } from './walk.js'

export interface BuildOptions {
  source: string
  trackers: readonly string[]
  pieceLength?: number
  exclude: readonly string[]
  pool: HashPool
}

/** Where the files of a torrent live on disk: a folder for a multi-file torrent, the file itself otherwise. */
export function storageFor(meta: Pick<Metainfo, 'files' | 'singleFile' | 'pieceLength'>, location: string, writable: boolean): FileStorage {
  const root = meta.singleFile ? dirname(resolve(location)) : resolve(location)
  const files = meta.files.map((f) => ({
    path: meta.singleFile ? [basename(resolve(location))] : f.path,
    length: f.length,
    offset: f.offset,
    padding: f.attr.includes('p'),
  }))
  return new FileStorage(root, files, meta.pieceLength, writable)
}

/** Builds a torrent of a folder or a single file, streaming its bytes through the hash pool. */
export async function buildTorrent(opts: BuildOptions): Promise<{ torrent: Uint8Array; meta: Metainfo }> {
  const source = resolve(opts.source)
  const st = await stat(source).catch((err) => { throw fsError(err, opts.source) })
  const singleFile = !st.isDirectory()
  if (singleFile && !st.isFile()) throw new UserError(`${opts.source} is neither a folder nor a regular file`)
  const listed = singleFile ? [{ path: [basename(source)], length: st.size }] : await walkTree(source, excludeMatcher(opts.exclude))
  let offset = 0
  const files = listed.map((f) => {
    const file = { ...f, offset, attr: '' }
    offset += f.length
    return file
  })
  if (offset === 0) throw new UserError(`${opts.source} holds no data to share (no files, or only empty ones)`)
  const pieceLength = opts.pieceLength ?? choosePieceLength(offset)
  const pieceCount = Math.ceil(offset / pieceLength)
  const pieceHashes = new Uint8Array(pieceCount * SHA1_LENGTH)
  const storage = storageFor({ files, singleFile, pieceLength }, source, false)
  try {
    await hashPieces(storage, opts.pool, Array.from({ length: pieceCount }, (_, i) => i), (i, digest) => pieceHashes.set(digest, i * SHA1_LENGTH))
  } finally {
    await storage.close()
  }
  const torrent = encodeTorrent({ name: basename(source), pieceLength, pieceHashes, files, singleFile }, opts.trackers)
  return { torrent, meta: parseTorrent(torrent) }
}
