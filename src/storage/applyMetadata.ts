import {
  chmodSync, chownSync, closeSync, constants, fchmodSync, fchownSync, fstatSync, futimesSync, lchownSync, lstatSync, lutimesSync,
  openSync, readlinkSync, statSync, symlinkSync, utimesSync, type Stats,
} from 'node:fs'
import { ExitCode, UserError, fsError, fsSync } from '../errors.js'
import { isPadding, isSymlink } from '../torrent/attributes.js'
import type { EntryMeta, Metainfo } from '../torrent/metainfo.js'
import { comparePaths } from '../torrent/paths.js'
import { Folders, O_NOFOLLOW, removeEntrySync, under } from './safePath.js'

/** The entries of a torrent that carry metadata: all applyMetadata reads. */
type MetadataTree = Pick<Metainfo, 'files' | 'directories'>

export interface ApplyOptions {
  /** Apply numeric uid/gid (needs root). */
  owner: boolean
}

interface Target {
  stat(): Stats
  chown(u: number, g: number): void
  chmod(m: number): void
  utimes(a: number, m: number): void
}

/**
 * Sets only what differs, so a rerun on a complete destination changes nothing (not even ctimes).
 * chown goes first: it clears setuid/setgid bits that chmod then restores.
 */
function applyTo(target: Target, m: EntryMeta, opts: ApplyOptions, what: string): void {
  try {
    const st = target.stat()
    if (opts.owner && m.uid !== undefined && m.gid !== undefined && (st.uid !== m.uid || st.gid !== m.gid)) target.chown(m.uid, m.gid)
    if (m.mode !== undefined && (st.mode & 0o7777) !== m.mode) target.chmod(m.mode)
    if (m.mtime !== undefined && st.mtimeMs !== m.mtime * 1000) target.utimes(m.mtime, m.mtime)
  } catch (err) {
    throw fsError(err, what)
  }
}

/** Opens a folder without following a symlink, so metadata never lands on a link's target. */
function applyToFolder(path: string, m: EntryMeta, opts: ApplyOptions): void {
  const fd = fsSync(path, () => openSync(path, constants.O_RDONLY | O_NOFOLLOW | constants.O_DIRECTORY))
  try {
    applyTo({ stat: () => fstatSync(fd), chown: (u, g) => fchownSync(fd, u, g), chmod: (mode) => fchmodSync(fd, mode), utimes: (a, t) => futimesSync(fd, a, t) }, m, opts, path)
  } finally {
    closeSync(fd)
  }
}

/**
 * A file the download just wrote: lstat proves it is a regular file (not a link), then path calls set what
 * differs. Cheaper than a descriptor per file on trees of thousands of files, and a rerun costs one lstat.
 */
function applyToFile(path: string, m: EntryMeta, opts: ApplyOptions): void {
  const st = fsSync(path, () => lstatSync(path))
  if (!st.isFile()) throw new UserError(`${path} is not the regular file the torrent names`, ExitCode.mismatch)
  applyTo({ stat: () => st, chown: (u, g) => chownSync(path, u, g), chmod: (mode) => chmodSync(path, mode), utimes: (a, t) => utimesSync(path, a, t) }, m, opts, path)
}

function makeSymlink(path: string, target: string): void {
  const st = fsSync(path, () => lstatSync(path, { throwIfNoEntry: false }))
  if (st?.isSymbolicLink() && fsSync(path, () => readlinkSync(path)) === target) return
  if (st) removeEntrySync(path)
  fsSync(path, () => symlinkSync(target, path))
}

/** Longest the event loop runs metadata calls without serving the sockets. */
const SLICE_MS = 5

/**
 * Gives the destination what `rsync -a` would: symlinks as links, empty folders, modes, mtimes and (with
 * `owner`) numeric owners. Runs once every piece is verified and written; folders go last, deepest first,
 * because creating entries changes a folder's mtime. Synchronous calls, a few tens of microseconds per entry
 * (libuv's thread pool cost tens per call more), made on the event loop in slices of SLICE_MS: seconds on a
 * tree of 100 000 files, during which the peer keeps serving the peers still downloading between slices. (A
 * worker thread for it cost a peer ~0.1 s of CPU to start, and ~12 MB, at the end of every download.)
 */
export async function applyMetadata(meta: MetadataTree, fileRoot: string, singleFilePath: string | null, opts: ApplyOptions): Promise<void> {
  const steps = metadataSteps(meta, fileRoot, singleFilePath, opts)
  let sliceEnd = performance.now() + SLICE_MS
  while (!steps.next().done) {
    if (performance.now() < sliceEnd) continue
    await new Promise((resolve) => setImmediate(resolve))
    sliceEnd = performance.now() + SLICE_MS
  }
}

/** applyMetadata's work, an entry a step. */
function* metadataSteps(meta: MetadataTree, fileRoot: string, singleFilePath: string | null, opts: ApplyOptions): Generator<void> {
  if (singleFilePath !== null) {
    applyToFile(singleFilePath, withExecutable(meta.files[0]!), opts)
    return
  }
  const folders = new Folders(fileRoot)
  for (const f of meta.files) {
    if (isPadding(f)) continue
    const path = folders.resolve(f.path, true)!
    if (isSymlink(f)) {
      makeSymlink(path, f.symlink!)
      applyTo({ stat: () => lstatSync(path), chown: (u, g) => lchownSync(path, u, g), chmod: () => undefined, utimes: (a, m) => lutimesSync(path, a, m) }, f, opts, path)
    } else {
      applyToFile(path, withExecutable(f), opts)
    }
    yield
  }
  const dirs = [...meta.directories].sort((a, b) => comparePaths(b.path, a.path))
  for (const d of dirs) {
    if (d.path.length === 0) {
      // The destination root itself may be a symlink the operator chose; it is used as given.
      applyTo({ stat: () => statSync(fileRoot), chown: (u, g) => chownSync(fileRoot, u, g), chmod: (m) => chmodSync(fileRoot, m), utimes: (a, m) => utimesSync(fileRoot, a, m) }, d, opts, fileRoot)
      continue
    }
    // Making the parents of a child entry makes the folder itself a real folder (replacing a link or file).
    folders.resolve([...d.path, 'child'], true)
    applyToFolder(under(fileRoot, ...d.path), d, opts)
    yield
  }
}

/** A torrent from another tool may mark executables with attr `x` and carry no mode. */
function withExecutable(f: Metainfo['files'][number]): EntryMeta {
  return f.mode === undefined && f.attr.includes('x') ? { ...f, mode: 0o755 } : f
}
