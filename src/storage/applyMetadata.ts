import { constants } from 'node:fs'
import { join } from 'node:path'
import { chmod, chown, lchown, lstat, lutimes, open, readlink, stat, symlink, utimes } from 'node:fs/promises'
import type { Stats } from 'node:fs'
import { ExitCode, UserError, fsError } from '../cli/errors.js'
import { isPadding, isSymlink, type EntryMeta, type Metainfo } from '../torrent/metainfo.js'
import { comparePaths } from '../torrent/paths.js'
import { mapLimit } from './mapLimit.js'
import { Folders, O_NOFOLLOW, removeEntry } from './safePath.js'

/** Files whose metadata is checked and set at once: deploy trees have thousands. */
const FILES_AT_ONCE = 32

export interface ApplyOptions {
  /** Apply numeric uid/gid (needs root). */
  owner: boolean
}

interface Target {
  stat(): Promise<Stats>
  chown(u: number, g: number): Promise<void>
  chmod(m: number): Promise<void>
  utimes(a: number, m: number): Promise<void>
}

/**
 * Sets only what differs, so a rerun on a complete destination changes nothing (not even ctimes).
 * chown goes first: it clears setuid/setgid bits that chmod then restores.
 */
async function applyTo(target: Target, m: EntryMeta, opts: ApplyOptions, what: string): Promise<void> {
  try {
    const st = await target.stat()
    if (opts.owner && m.uid !== undefined && m.gid !== undefined && (st.uid !== m.uid || st.gid !== m.gid)) await target.chown(m.uid, m.gid)
    if (m.mode !== undefined && (st.mode & 0o7777) !== m.mode) await target.chmod(m.mode)
    if (m.mtime !== undefined && st.mtimeMs !== m.mtime * 1000) await target.utimes(m.mtime, m.mtime)
  } catch (err) {
    throw fsError(err, what)
  }
}

/** Opens a folder without following a symlink, so metadata never lands on a link's target. */
async function applyToFolder(path: string, m: EntryMeta, opts: ApplyOptions): Promise<void> {
  const fh = await open(path, constants.O_RDONLY | O_NOFOLLOW | constants.O_DIRECTORY).catch((err) => { throw fsError(err, path) })
  try {
    await applyTo(fh, m, opts, path)
  } finally {
    await fh.close()
  }
}

/**
 * A file the download just wrote: lstat proves it is a regular file (not a link), then path calls set what
 * differs. Cheaper than a descriptor per file on trees of thousands of files, and a rerun costs one lstat.
 */
async function applyToFile(path: string, m: EntryMeta, opts: ApplyOptions): Promise<void> {
  const st = await lstat(path).catch((err) => { throw fsError(err, path) })
  if (!st.isFile()) throw new UserError(`${path} is not the regular file the torrent names`, ExitCode.mismatch)
  await applyTo({ stat: async () => st, chown: (u, g) => chown(path, u, g), chmod: (mode) => chmod(path, mode), utimes: (a, t) => utimes(path, a, t) }, m, opts, path)
}

async function makeSymlink(path: string, target: string): Promise<void> {
  const st = await lstat(path).catch(() => null)
  if (st?.isSymbolicLink() && (await readlink(path)) === target) return
  if (st) await removeEntry(path)
  await symlink(target, path).catch((err) => { throw fsError(err, path) })
}

/**
 * Gives the destination what `rsync -a` would: symlinks as links, empty folders, modes, mtimes and (with
 * `owner`) numeric owners. Runs once every piece is verified and written; folders go last, deepest first,
 * because creating entries changes a folder's mtime.
 */
export async function applyMetadata(meta: Metainfo, fileRoot: string, singleFilePath: string | null, opts: ApplyOptions): Promise<void> {
  if (singleFilePath !== null) {
    const f = meta.files[0]!
    await applyToFile(singleFilePath, withExecutable(f), opts)
    return
  }
  const folders = new Folders(fileRoot)
  await mapLimit(meta.files.filter((f) => !isPadding(f)), FILES_AT_ONCE, async (f) => {
    const path = (await folders.resolve(f.path, true))!
    if (isSymlink(f)) {
      await makeSymlink(path, f.symlink!)
      const link = { stat: () => lstat(path), chown: (u: number, g: number) => lchown(path, u, g), chmod: async () => undefined, utimes: (a: number, m: number) => lutimes(path, a, m) }
      await applyTo(link, f, opts, path)
    } else {
      await applyToFile(path, withExecutable(f), opts)
    }
  })
  const dirs = [...meta.directories].sort((a, b) => comparePaths(b.path, a.path))
  for (const d of dirs) {
    if (d.path.length === 0) {
      // The destination root itself may be a symlink the operator chose; it is used as given.
      await applyTo({ stat: () => stat(fileRoot), chown: (u, g) => chown(fileRoot, u, g), chmod: (m) => chmod(fileRoot, m), utimes: (a, m) => utimes(fileRoot, a, m) }, d, opts, fileRoot)
      continue
    }
    // Making the parents of a child entry makes the folder itself a real folder (replacing a link or file).
    await folders.resolve([...d.path, 'child'], true)
    await applyToFolder(join(fileRoot, ...d.path), d, opts)
  }
}

/** A torrent from another tool may mark executables with attr `x` and carry no mode. */
function withExecutable(f: Metainfo['files'][number]): EntryMeta {
  return f.mode === undefined && f.attr.includes('x') ? { ...f, mode: 0o755 } : f
}
