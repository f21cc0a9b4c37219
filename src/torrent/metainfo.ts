import bencode, { type BencodeValue } from 'bencode'
import { sync as sha1 } from 'simple-sha1'
import { UserError, ExitCode } from '../cli/errors.js'
import { assertWellFormed, dictValueSpan } from './bencodeSpan.js'
import { assertSafePath, comparePaths, displayPath } from './paths.js'

export const SHA1_LENGTH = 20
/** Beyond this a torrent is refused before anything is allocated for it (1 PiB). */
export const MAX_TOTAL_LENGTH = 2 ** 50
export const MIN_PIECE_LENGTH = 16 * 1024
export const MAX_PIECE_LENGTH = 64 * 1024 * 1024
export const MAX_FILES = 1_000_000

export interface TorrentFile {
  /** Path relative to the torrent root; for a single-file torrent, `[name]`. */
  readonly path: readonly string[]
  readonly length: number
  /** Offset of the file's first byte in the concatenated piece stream. */
  readonly offset: number
  /** BEP 47 attributes as given (`p` padding, `x` executable, `h` hidden, `l` symlink). */
  readonly attr: string
}

export interface Metainfo {
  readonly name: string
  readonly pieceLength: number
  readonly pieceCount: number
  /** Concatenated 20-byte SHA-1 digests. */
  readonly pieceHashes: Uint8Array
  readonly length: number
  readonly files: readonly TorrentFile[]
  readonly singleFile: boolean
  /** Tracker URLs, announce-list tiers flattened in order, deduplicated. */
  readonly announce: readonly string[]
  readonly infoBytes: Uint8Array
  readonly infoHash: Uint8Array
  readonly infoHashHex: string
}

export function isPadding(file: TorrentFile): boolean {
  return file.attr.includes('p')
}

export function pieceHash(meta: Metainfo, index: number): Uint8Array {
  return meta.pieceHashes.subarray(index * SHA1_LENGTH, (index + 1) * SHA1_LENGTH)
}

export function infoHashOf(infoBytes: Uint8Array): Uint8Array {
  return Buffer.from(sha1(infoBytes), 'hex')
}

const text = new TextDecoder('utf-8', { fatal: true })

type Dict = { [key: string]: BencodeValue }

class Field {
  constructor(private readonly where: string) {}
  fail(reason: string): UserError {
    return new UserError(`invalid torrent: ${this.where}${reason}`, ExitCode.badTorrent)
  }
}

const top = new Field('')

function isDict(v: BencodeValue | undefined): v is Dict {
  return typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && !Array.isArray(v)
}

function str(v: BencodeValue | undefined, what: string): string {
  if (!(v instanceof Uint8Array)) throw top.fail(`${what} is not a string`)
  try {
    return text.decode(v)
  } catch {
    throw top.fail(`${what} is not valid UTF-8`)
  }
}

function int(v: BencodeValue | undefined, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) throw top.fail(`${what} is not a valid size`)
  return v
}

function trackers(root: Dict): string[] {
  const urls: string[] = []
  const list = root['announce-list']
  if (Array.isArray(list)) {
    for (const tier of list) {
      if (!Array.isArray(tier)) continue
      for (const u of tier) if (u instanceof Uint8Array) urls.push(str(u, 'announce-list entry'))
    }
  }
  if (root['announce'] instanceof Uint8Array) urls.unshift(str(root['announce'], 'announce'))
  return [...new Set(urls)]
}

function parseFiles(info: Dict, name: string): { files: TorrentFile[]; singleFile: boolean } {
  if (info['files'] === undefined) {
    return { singleFile: true, files: [{ path: [name], length: int(info['length'], 'length', MAX_TOTAL_LENGTH), offset: 0, attr: attrOf(info) }] }
  }
  const list = info['files']
  if (!Array.isArray(list) || list.length === 0) throw top.fail('files is not a non-empty list')
  if (list.length > MAX_FILES) throw top.fail(`more than ${MAX_FILES} files`)
  const files: TorrentFile[] = []
  let offset = 0
  for (const entry of list) {
    if (!isDict(entry) || !Array.isArray(entry['path'])) throw top.fail('file entry without a path list')
    const path = entry['path'].map((c) => str(c, 'path component'))
    assertSafePath(path, (reason) => top.fail(`unsafe path "${displayPath(path)}": ${reason}`))
    const length = int(entry['length'], `length of ${displayPath(path)}`, MAX_TOTAL_LENGTH)
    files.push({ path, length, offset, attr: attrOf(entry) })
    offset += length
    if (offset > MAX_TOTAL_LENGTH) throw top.fail('total length is absurd')
  }
  assertNoCollisions(files.filter((f) => !isPadding(f)))
  return { singleFile: false, files }
}

function attrOf(d: Dict): string {
  return d['attr'] instanceof Uint8Array ? str(d['attr'], 'attr') : ''
}

/** Two entries with one path, or a file that is also a folder of another entry, cannot both be written. */
function assertNoCollisions(files: readonly TorrentFile[]): void {
  const sorted = files.map((f) => f.path).sort(comparePaths)
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!
    const b = sorted[i]!
    if (a.length <= b.length && a.every((c, j) => c === b[j])) {
      throw top.fail(a.length === b.length ? `duplicate path "${displayPath(a)}"` : `"${displayPath(a)}" is both a file and a folder`)
    }
  }
}

/** Parses and validates a .torrent; every failure is a UserError with exit code badTorrent. */
export function parseTorrent(data: Uint8Array): Metainfo {
  let root: BencodeValue
  try {
    assertWellFormed(data)
    root = bencode.decode(data)
  } catch (err) {
    throw top.fail(`not bencoded data (${(err as Error).message})`)
  }
  if (!isDict(root) || !isDict(root['info'])) throw top.fail('no info dictionary')
  const span = dictValueSpan(data, 'info')!
  return parseInfo(data.subarray(span.start, span.end), trackers(root))
}

/** Parses an info dictionary alone (as fetched with ut_metadata) plus the trackers known from elsewhere. */
export function parseInfo(infoBytes: Uint8Array, announce: readonly string[]): Metainfo {
  let info: BencodeValue
  try {
    assertWellFormed(infoBytes)
    info = bencode.decode(infoBytes)
  } catch (err) {
    throw top.fail(`info is not bencoded data (${(err as Error).message})`)
  }
  if (!isDict(info)) throw top.fail('info is not a dictionary')
  const name = str(info['name'], 'name')
  assertSafePath([name], (reason) => top.fail(`unsafe name "${name}": ${reason}`))
  const pieceLength = int(info['piece length'], 'piece length', MAX_PIECE_LENGTH)
  if (pieceLength < MIN_PIECE_LENGTH || (pieceLength & (pieceLength - 1)) !== 0) {
    throw top.fail(`piece length ${pieceLength} is not a power of two between 16 KiB and 64 MiB`)
  }
  const pieces = info['pieces']
  if (!(pieces instanceof Uint8Array) || pieces.length % SHA1_LENGTH !== 0) throw top.fail('pieces is not a list of SHA-1 digests')
  const { files, singleFile } = parseFiles(info, name)
  const last = files[files.length - 1]!
  const length = last.offset + last.length
  const pieceCount = pieces.length / SHA1_LENGTH
  if (pieceCount !== Math.ceil(length / pieceLength)) {
    throw top.fail(`${pieceCount} piece hashes for ${length} bytes at piece length ${pieceLength}`)
  }
  const infoHash = infoHashOf(infoBytes)
  return {
    name, pieceLength, pieceCount, pieceHashes: pieces, length, files, singleFile,
    announce: [...announce], infoBytes: Uint8Array.from(infoBytes), infoHash, infoHashHex: Buffer.from(infoHash).toString('hex'),
  }
}

export interface InfoInput {
  name: string
  pieceLength: number
  pieceHashes: Uint8Array
  files: readonly { path: readonly string[]; length: number; attr?: string }[]
  singleFile: boolean
}

/** Encodes a torrent. Nothing time- or host-dependent goes in, so one tree gives one info hash everywhere. */
export function encodeTorrent(input: InfoInput, announce: readonly string[]): Uint8Array {
  const withAttr = (o: Record<string, unknown>, attr?: string) => (attr ? { ...o, attr } : o)
  const info: Record<string, unknown> = {
    name: input.name,
    'piece length': input.pieceLength,
    pieces: input.pieceHashes,
  }
  if (input.singleFile) {
    const f = input.files[0]!
    Object.assign(info, withAttr({ length: f.length }, f.attr))
  } else {
    info['files'] = input.files.map((f) => withAttr({ length: f.length, path: [...f.path] }, f.attr))
  }
  const root: Record<string, unknown> = { announce: announce[0], info }
  if (announce.length > 1) root['announce-list'] = announce.map((u) => [u])
  return bencode.encode(root)
}
