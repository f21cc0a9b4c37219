import bencode, { type BencodeValue } from 'bencode'
import { sync as sha1 } from 'simple-sha1'
import { UserError, ExitCode } from '../errors.js'
import { decodeChecked } from './bencodeSpan.js'
import { assertSafePath, comparePaths, displayPath } from './paths.js'
import { isPadding, isSymlink } from './attributes.js'
import { encodeLink, linkText, treeEntries } from './symlinks.js'

export const SHA1_LENGTH = 20
/** Beyond this a torrent is refused before anything is allocated for it (1 PiB). */
export const MAX_TOTAL_LENGTH = 2 ** 50
export const MIN_PIECE_LENGTH = 16 * 1024
export const MAX_PIECE_LENGTH = 64 * 1024 * 1024
export const MAX_FILES = 1_000_000

/** What `rsync -a` preserves besides contents; absent in torrents made by other tools. */
export interface EntryMeta {
  /** Permission bits including setuid/setgid/sticky (`mode & 0o7777`). */
  readonly mode?: number
  /** Modification time, whole seconds since the epoch. */
  readonly mtime?: number
  readonly uid?: number
  readonly gid?: number
}

export interface TorrentFile extends EntryMeta {
  /** Path relative to the torrent root; for a single-file torrent, `[name]`. */
  readonly path: readonly string[]
  readonly length: number
  /** Offset of the file's first byte in the concatenated piece stream. */
  readonly offset: number
  /**
   * BEP 47 attributes as given (`p` padding, `x` executable, `h` hidden, `l` symlink), plus `p` for an old
   * BitComet padding file (named `_____padding_file_…`, no attr), which libtorrent also treats as padding.
   */
  readonly attr: string
  /** The symlink's target as stored on the source (relative to the link's folder, or absolute): see symlinks.ts. */
  readonly symlink?: string
}

/** A folder of the tree (the root is `[]`): carries empty folders and folder modes. */
export interface TorrentDir extends EntryMeta {
  readonly path: readonly string[]
}

export interface Metainfo {
  readonly name: string
  readonly pieceLength: number
  readonly pieceCount: number
  /** Concatenated 20-byte SHA-1 digests. */
  readonly pieceHashes: Uint8Array
  readonly length: number
  readonly files: readonly TorrentFile[]
  readonly directories: readonly TorrentDir[]
  readonly singleFile: boolean
  /** Tracker URLs, announce-list tiers flattened in order, deduplicated. */
  readonly announce: readonly string[]
  readonly infoBytes: Uint8Array
  readonly infoHash: Uint8Array
  readonly infoHashHex: string
  /** An SSL torrent's CA certificate (PEM, libtorrent's `ssl-cert`): its peers talk TLS only, see swarm/tls.ts. */
  readonly sslCert?: string
  /**
   * Attributes murder cannot use (a string mtime, a mode out of range), each "<key> of <path>": ignored, as
   * standard clients ignore them, rather than refusing a torrent other tools made (archive.org's give mtime
   * as a string).
   */
  readonly ignored: readonly string[]
}


export function pieceHash(meta: Metainfo, index: number): Uint8Array {
  return meta.pieceHashes.subarray(index * SHA1_LENGTH, (index + 1) * SHA1_LENGTH)
}

export function infoHashOf(infoBytes: Uint8Array): Uint8Array {
  return Buffer.from(sha1(infoBytes), 'hex')
}

const text = new TextDecoder('utf-8', { fatal: true })

type Dict = { [key: string]: BencodeValue }

/** Longest error message: names from a hostile torrent are shortened in the middle beyond it. */
const MAX_MESSAGE_LENGTH = 300

/**
 * An error quotes names taken from the torrent: control characters (newlines, terminal escapes) are escaped
 * and a very long name is cut in the middle, so the message stays one readable line.
 */
function oneLine(text: string): string {
  const escaped = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  if (escaped.length <= MAX_MESSAGE_LENGTH) return escaped
  const half = Math.floor((MAX_MESSAGE_LENGTH - 1) / 2)
  return `${escaped.slice(0, half)}…${escaped.slice(-half)}`
}

class Field {
  constructor(private readonly where: string) {}
  fail(reason: string): UserError {
    return new UserError(`invalid torrent: ${oneLine(`${this.where}${reason}`)}`, ExitCode.badTorrent)
  }
}

const top = new Field('')

function isDict(v: BencodeValue | undefined): v is Dict {
  return typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && !Array.isArray(v)
}

/** ASCII bytes as a string, or null when there is another byte: most names are ASCII, and a TextDecoder call costs more than this loop. */
function ascii(v: Uint8Array): string | null {
  for (let i = 0; i < v.length; i++) if (v[i]! > 0x7f) return null
  return String.fromCharCode.apply(null, v as unknown as number[])
}

function str(v: BencodeValue | undefined, what: string): string {
  if (!(v instanceof Uint8Array)) throw top.fail(`${what} is not a string`)
  if (v.length <= 256) {
    const s = ascii(v)
    if (s !== null) return s
  }
  try {
    return text.decode(v)
  } catch {
    throw top.fail(`${what} is not valid UTF-8`)
  }
}

/** What a field is, for an error message: a thunk where the name costs work (it is wanted only on failure). */
type What = string | (() => string)

const named = (what: What) => (typeof what === 'string' ? what : what())

function isSize(v: BencodeValue | undefined, max: number): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max
}

function int(v: BencodeValue | undefined, what: What, max = Number.MAX_SAFE_INTEGER): number {
  if (!isSize(v, max)) throw top.fail(`${named(what)} is not a valid size`)
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

/** An optional attribute: undefined when absent, or (noted in `ignored`) when it is not an integer murder can use. */
function optionalInt(d: Dict, key: string, what: What, ignored: string[], max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = d[key]
  if (v === undefined || isSize(v, max)) return v
  ignored.push(`${key} of ${named(what)}`)
  return undefined
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/** Sets the entry's metadata fields that `d` gives (absent ones stay absent, not undefined). */
function addMeta(entry: Mutable<EntryMeta>, d: Dict, what: What, ignored: string[]): void {
  const mode = optionalInt(d, 'mode', what, ignored, 0o7777)
  const mtime = optionalInt(d, 'mtime', what, ignored)
  const uid = optionalInt(d, 'uid', what, ignored, 2 ** 32 - 1)
  const gid = optionalInt(d, 'gid', what, ignored, 2 ** 32 - 1)
  if (mode !== undefined) entry.mode = mode
  if (mtime !== undefined) entry.mtime = mtime
  if (uid !== undefined) entry.uid = uid
  if (gid !== undefined) entry.gid = gid
}

function pathOf(v: BencodeValue | undefined, what: string): string[] {
  if (!Array.isArray(v)) throw top.fail(`${what} without a path list`)
  const path = v.map((c) => str(c, 'path component'))
  assertSafePath(path, (reason) => top.fail(`unsafe path "${displayPath(path)}": ${reason}`))
  return path
}

function parseDirectories(info: Dict, ignored: string[]): TorrentDir[] {
  const list = info['directories']
  if (list === undefined) return []
  if (!Array.isArray(list) || list.length > MAX_FILES) throw top.fail('directories is not a list')
  return list.map((entry) => {
    if (!isDict(entry)) throw top.fail('directory entry is not a dictionary')
    // The root folder has an empty path; every other path obeys the usual rules.
    const path = Array.isArray(entry['path']) && entry['path'].length === 0 ? [] : pathOf(entry['path'], 'directory entry')
    const dir: Mutable<TorrentDir> = { path }
    addMeta(dir, entry, () => displayPath(path) || '.', ignored)
    return dir
  })
}

/** A symlink's `symlink path` components, and its exact text when the torrent gives it. */
type LinkKeys = { components: string[]; exact: string | undefined }

function parseFiles(info: Dict, name: string, ignored: string[]): { files: TorrentFile[]; singleFile: boolean; links: Map<Mutable<TorrentFile>, LinkKeys> } {
  if (info['files'] === undefined) {
    const file: Mutable<TorrentFile> = { path: [name], length: int(info['length'], 'length', MAX_TOTAL_LENGTH), offset: 0, attr: attrOf(info) }
    addMeta(file, info, name, ignored)
    if (isSymlink(file) || isPadding(file)) throw top.fail('a single-file torrent must hold a regular file')
    return { singleFile: true, files: [file], links: new Map() }
  }
  const list = info['files']
  if (!Array.isArray(list) || list.length === 0) throw top.fail('files is not a non-empty list')
  if (list.length > MAX_FILES) throw top.fail(`more than ${MAX_FILES} files`)
  const files: TorrentFile[] = []
  const links = new Map<Mutable<TorrentFile>, LinkKeys>()
  let offset = 0
  for (const entry of list) {
    if (!isDict(entry)) throw top.fail('file entry is not a dictionary')
    const path = pathOf(entry['path'], 'file entry')
    const what = () => displayPath(path)
    const length = int(entry['length'], () => `length of ${what()}`, MAX_TOTAL_LENGTH)
    const file: Mutable<TorrentFile> = { path, length, offset, attr: attrOf(entry, path) }
    addMeta(file, entry, what, ignored)
    if (isSymlink(file)) {
      links.set(file, symlinkKeys(entry, what, ignored))
      if (length !== 0) throw top.fail(`symlink ${what()} has a length`)
    }
    files.push(file)
    offset += length
    if (offset > MAX_TOTAL_LENGTH) throw top.fail('total length is absurd')
  }
  return { singleFile: false, files, links }
}

const BITCOMET_PADDING = '_____padding_file_'

function attrOf(d: Dict, path?: readonly string[]): string {
  const attr = d['attr'] instanceof Uint8Array ? str(d['attr'], 'attr') : ''
  return path?.at(-1)!.startsWith(BITCOMET_PADDING) && !attr.includes('p') ? `${attr}p` : attr
}

function symlinkKeys(d: Dict, what: () => string, ignored: string[]): LinkKeys {
  const target = d['symlink path']
  if (!Array.isArray(target) || target.length === 0) throw top.fail(`symlink ${what()} without a symlink path`)
  const components = target.map((c) => str(c, 'symlink path component'))
  if (components.some((c) => c.includes('\0') || c.includes('/'))) throw top.fail(`symlink ${what()} has an invalid target`)
  const exact = d['symlink target']
  if (exact === undefined) return { components, exact: undefined }
  const text = exact instanceof Uint8Array ? str(exact, 'symlink target') : ''
  if (text !== '' && !text.includes('\0')) return { components, exact: text }
  ignored.push(`symlink target of ${what()}`)
  return { components, exact: undefined }
}

/** Gives each symlink its text, once every path of the tree is known (a BEP 47 target is looked up among them). */
function resolveLinks(links: Map<Mutable<TorrentFile>, LinkKeys>, files: readonly TorrentFile[], dirs: readonly TorrentDir[]): void {
  if (links.size === 0) return
  const entries = treeEntries(files.filter((f) => !isPadding(f)), dirs)
  for (const [file, { components, exact }] of links) file.symlink = exact ?? linkText(file.path, components, entries)
}

/**
 * Two entries with one path, or a file (or symlink) that is also a folder of another entry, cannot both be
 * written. Folders may contain entries; they may not be files themselves.
 */
function assertNoCollisions(files: readonly TorrentFile[], dirs: readonly TorrentDir[]): void {
  const entries = [
    ...files.filter((f) => !isPadding(f)).map((f) => ({ path: f.path, dir: false })),
    ...dirs.map((d) => ({ path: d.path, dir: true })),
  ].sort((x, y) => comparePaths(x.path, y.path))
  for (let i = 1; i < entries.length; i++) {
    const a = entries[i - 1]!
    const b = entries[i]!
    const prefix = a.path.length <= b.path.length && a.path.every((c, j) => c === b.path[j])
    if (prefix && a.path.length === b.path.length) throw top.fail(`duplicate path "${displayPath(a.path)}"`)
    if (prefix && !a.dir) throw top.fail(`"${displayPath(a.path)}" is both a file and a folder`)
  }
}

/** Parses and validates a .torrent; every failure is a UserError with exit code badTorrent. */
export function parseTorrent(data: Uint8Array): Metainfo {
  let decoded: ReturnType<typeof decodeChecked>
  try {
    decoded = decodeChecked(data, 'info')
  } catch (err) {
    throw top.fail(`not bencoded data (${(err as Error).message})`)
  }
  const root = decoded.value
  if (!isDict(root) || !isDict(root['info'])) throw top.fail('no info dictionary')
  return metainfoOf(data.subarray(decoded.start, decoded.end), root['info'], trackers(root))
}

/** Parses an info dictionary alone (as fetched with ut_metadata) plus the trackers known from elsewhere. */
export function parseInfo(infoBytes: Uint8Array, announce: readonly string[]): Metainfo {
  let info: BencodeValue
  try {
    info = decodeChecked(infoBytes).value
  } catch (err) {
    throw top.fail(`info is not bencoded data (${(err as Error).message})`)
  }
  if (!isDict(info)) throw top.fail('info is not a dictionary')
  return metainfoOf(infoBytes, info, announce)
}

/** The metainfo of an info dictionary decoded from `infoBytes` (its strings are views of those bytes). */
function metainfoOf(infoBytes: Uint8Array, info: Dict, announce: readonly string[]): Metainfo {
  const name = str(info['name'], 'name')
  assertSafePath([name], (reason) => top.fail(`unsafe name "${name}": ${reason}`))
  const pieceLength = int(info['piece length'], 'piece length', MAX_PIECE_LENGTH)
  if (pieceLength < MIN_PIECE_LENGTH || (pieceLength & (pieceLength - 1)) !== 0) {
    throw top.fail(`piece length ${pieceLength} is not a power of two between 16 KiB and 64 MiB`)
  }
  const pieces = info['pieces']
  if (!(pieces instanceof Uint8Array) || pieces.length % SHA1_LENGTH !== 0) throw top.fail('pieces is not a list of SHA-1 digests')
  const ignored: string[] = []
  const { files, singleFile, links } = parseFiles(info, name, ignored)
  const directories = singleFile ? [] : parseDirectories(info, ignored)
  resolveLinks(links, files, directories)
  assertNoCollisions(files, directories)
  const last = files[files.length - 1]!
  const length = last.offset + last.length
  const pieceCount = pieces.length / SHA1_LENGTH
  if (pieceCount !== Math.ceil(length / pieceLength)) {
    throw top.fail(`${pieceCount} piece hashes for ${length} bytes at piece length ${pieceLength}`)
  }
  const infoHash = infoHashOf(infoBytes)
  return {
    name, pieceLength, pieceCount, pieceHashes: new Uint8Array(pieces), length, files, directories, singleFile,
    announce: [...announce], infoBytes: Uint8Array.from(infoBytes), infoHash, infoHashHex: Buffer.from(infoHash).toString('hex'),
    ...(info['ssl-cert'] === undefined ? {} : { sslCert: str(info['ssl-cert'], 'ssl-cert') }),
    ignored,
  }
}

export interface InfoInput {
  name: string
  pieceLength: number
  pieceHashes: Uint8Array
  files: readonly (Omit<TorrentFile, 'offset' | 'attr'> & { attr?: string })[]
  directories?: readonly TorrentDir[]
  singleFile: boolean
  /** CA certificate (PEM) of an SSL torrent; such a torrent is also marked private (BEP 27). */
  sslCert?: string
}

/** Bencode-ready fields of an entry's metadata, in a fixed shape so the encoding is deterministic. */
function encodeMeta(m: EntryMeta): Record<string, number> {
  const out: Record<string, number> = {}
  if (m.mode !== undefined) out['mode'] = m.mode
  if (m.mtime !== undefined) out['mtime'] = m.mtime
  if (m.uid !== undefined) out['uid'] = m.uid
  if (m.gid !== undefined) out['gid'] = m.gid
  return out
}

function encodeFile(f: InfoInput['files'][number], withPath: boolean, entries: () => ReadonlySet<string>): Record<string, unknown> {
  const o: Record<string, unknown> = { length: f.length, ...encodeMeta(f) }
  if (withPath) o['path'] = [...f.path]
  if (f.attr) o['attr'] = f.attr
  if (f.symlink !== undefined) Object.assign(o, encodeLink(f.path, f.symlink, entries()))
  return o
}

/** Encodes a torrent. Nothing time- or host-dependent goes in, so one tree gives one info hash everywhere. */
export function encodeTorrent(input: InfoInput, announce: readonly string[]): Uint8Array {
  const info: Record<string, unknown> = {
    name: input.name,
    'piece length': input.pieceLength,
    pieces: input.pieceHashes,
  }
  let entries: ReadonlySet<string> | undefined
  const tree = () => (entries ??= treeEntries(input.files.filter((f) => !isPadding({ attr: f.attr ?? '' })), input.directories ?? []))
  if (input.singleFile) Object.assign(info, encodeFile(input.files[0]!, false, tree))
  else {
    info['files'] = input.files.map((f) => encodeFile(f, true, tree))
    if (input.directories?.length) info['directories'] = input.directories.map((d) => ({ path: [...d.path], ...encodeMeta(d) }))
  }
  // Private (BEP 27): standard clients then find peers through the tracker only, no DHT or peer exchange.
  if (input.sslCert !== undefined) Object.assign(info, { 'ssl-cert': input.sslCert, private: 1 })
  const root: Record<string, unknown> = { announce: announce[0], info }
  if (announce.length > 1) root['announce-list'] = announce.map((u) => [u])
  return bencode.encode(root)
}
