import { lstat, readdir, readlink } from 'node:fs/promises'
import { join } from 'node:path'
import type { Stats } from 'node:fs'
import { UserError, fsError } from '../cli/errors.js'
import type { Matcher } from './glob.js'
import type { EntryMeta } from './metainfo.js'
import { comparePaths, componentProblem } from './paths.js'

export interface SourceEntry extends EntryMeta {
  readonly path: readonly string[]
  readonly kind: 'file' | 'symlink' | 'dir'
  readonly length: number
  readonly symlink?: string
}

/** The metadata `rsync -a` keeps: permission bits, whole-second mtime, numeric owner. */
export function metaOfStats(st: Stats): Required<EntryMeta> {
  return { mode: st.mode & 0o7777, mtime: Math.floor(st.mtimeMs / 1000), uid: st.uid, gid: st.gid }
}

/**
 * Lists the tree under `root` (the root folder itself as `[]`): regular files, symlinks (kept as links,
 * never followed) and folders, sorted byte-wise by path. Special files are an error naming the path.
 */
export async function walkTree(root: string, exclude: Matcher): Promise<SourceEntry[]> {
  const entries: SourceEntry[] = []
  async function visit(dir: string, rel: string[], st: Stats): Promise<void> {
    entries.push({ path: rel, kind: 'dir', length: 0, ...metaOfStats(st) })
    let names: string[]
    try {
      names = await readdir(dir)
    } catch (err) {
      throw fsError(err, dir)
    }
    for (const name of names) {
      const path = [...rel, name]
      if (exclude(path)) continue
      const full = join(dir, name)
      const problem = componentProblem(name)
      if (problem) throw new UserError(`cannot put ${full} in a torrent: ${problem}`)
      const child = await lstat(full).catch((err) => { throw fsError(err, full) })
      if (child.isDirectory()) await visit(full, path, child)
      else if (child.isFile()) entries.push({ path, kind: 'file', length: child.size, ...metaOfStats(child) })
      else if (child.isSymbolicLink()) {
        const target = await readlink(full).catch((err) => { throw fsError(err, full) })
        entries.push({ path, kind: 'symlink', length: 0, symlink: target, ...metaOfStats(child) })
      } else throw new UserError(`${full} is a special file (socket, fifo or device); murder copies files, folders and symlinks`)
    }
  }
  const st = await lstat(root).catch((err) => { throw fsError(err, root) })
  await visit(root, [], st)
  return entries.sort((a, b) => comparePaths(a.path, b.path))
}
