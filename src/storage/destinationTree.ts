import type { Dirent } from 'node:fs'
import { join } from 'node:path'
import { DirectoryListings } from './safePath.js'
import { isPadding } from '../torrent/attributes.js'
import type { Metainfo } from '../torrent/metainfo.js'

export interface Extraneous {
  /** Top-most entries under the destination that the torrent does not name (what `--delete` removes). */
  readonly entries: string[]
  /** Every entry at or below those: what `--delete` would remove, counted as rsync's `--max-delete` does. */
  count: number
  /** Regular files found at or below those entries: candidates for renamed content. */
  readonly files: string[]
}

/** Every path the torrent names, folders implied by file paths included, as `a/b/c` keys. */
function expectedPaths(meta: Metainfo): { all: Set<string>; dirs: Set<string> } {
  const all = new Set<string>()
  const dirs = new Set<string>()
  for (const f of meta.files) {
    if (isPadding(f)) continue
    all.add(f.path.join('/'))
    for (let i = 1; i < f.path.length; i++) dirs.add(f.path.slice(0, i).join('/'))
  }
  for (const d of meta.directories) if (d.path.length > 0) dirs.add(d.path.join('/'))
  for (const d of dirs) all.add(d)
  return { all, dirs }
}

/**
 * Walks the destination without following symlinks and reports what the torrent does not name. `listings`
 * may be the start-up check's, so that a folder it already read is not read again.
 */
export async function findExtraneous(root: string, meta: Metainfo, listings = new DirectoryListings(root)): Promise<Extraneous> {
  const { all, dirs } = expectedPaths(meta)
  const out: Extraneous = { entries: [], count: 0, files: [] }
  async function collectFiles(full: string, entry: Dirent): Promise<void> {
    out.count++
    if (entry.isFile()) {
      out.files.push(full)
    } else if (entry.isDirectory()) {
      for (const [n, e] of (await listings.list(full).catch(() => null)) ?? []) await collectFiles(join(full, n), e)
    }
  }
  async function visit(dir: string, rel: string): Promise<void> {
    for (const [name, entry] of (await listings.list(dir)) ?? []) {
      const key = rel ? `${rel}/${name}` : name
      const full = join(dir, name)
      if (!all.has(key)) {
        out.entries.push(full)
        await collectFiles(full, entry)
      } else if (dirs.has(key) && entry.isDirectory()) {
        await visit(full, key)
      }
    }
  }
  await visit(root, '')
  return out
}
