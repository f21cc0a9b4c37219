import { constants } from 'node:fs'
import type { Dirent } from 'node:fs'
import { lstat, mkdir, readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { fsError } from '../cli/errors.js'

export const O_NOFOLLOW = constants.O_NOFOLLOW

/** Removes a file, symlink or folder tree at `path`; symlinks are unlinked, never followed. */
export async function removeEntry(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true }).catch((err) => { throw fsError(err, path) })
}

/**
 * Resolves `components` under `root` so that every folder on the way is a real folder. When `create` is
 * set, missing folders are made and a symlink or file in the way is replaced by a folder (following it
 * could write outside the destination); otherwise null is returned when the path cannot exist as named.
 * `known` caches folders already found real, so a tree of many files costs one check per folder.
 */
export async function ensureParents(root: string, components: readonly string[], create: boolean, known?: Set<string>): Promise<string | null> {
  let dir = root
  for (let i = 0; i < components.length - 1; i++) {
    dir = join(dir, components[i]!)
    if (known?.has(dir)) continue
    const st = await lstat(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null
      throw fsError(err, dir)
    })
    if (!st?.isDirectory()) {
      if (!create) return null
      if (st) await removeEntry(dir)
      await mkdir(dir).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'EEXIST') throw fsError(err, dir) })
    }
    known?.add(dir)
  }
  return join(root, ...components)
}

/**
 * Folder checks for one root, cached (a tree of many files costs one lstat per folder) and run one at a
 * time: two callers replacing the same link at once could remove each other's work.
 */
export class Folders {
  private readonly known = new Set<string>()
  private queue: Promise<unknown> = Promise.resolve()

  constructor(private readonly root: string) {}

  resolve(components: readonly string[], create: boolean): Promise<string | null> {
    const next = this.queue.then(() => ensureParents(this.root, components, create, this.known))
    this.queue = next.catch(() => undefined)
    return next
  }
}

/** Folder listings under one root, each read once: what is at a path, without following any symlink. */
export class DirectoryListings {
  private readonly listings = new Map<string, Promise<Map<string, Dirent> | null>>()

  constructor(private readonly root: string) {}

  /** The entry at `components`, or null when it or a folder on its way is missing or not a real folder. */
  async entry(components: readonly string[]): Promise<Dirent | null> {
    let dir = this.root
    for (let i = 0; i < components.length; i++) {
      const found = (await this.list(dir))?.get(components[i]!)
      if (i === components.length - 1) return found ?? null
      if (!found?.isDirectory()) return null
      dir = join(dir, components[i]!)
    }
    return null
  }

  private list(dir: string): Promise<Map<string, Dirent> | null> {
    let listing = this.listings.get(dir)
    if (!listing) {
      listing = readdir(dir, { withFileTypes: true }).then(
        (entries) => new Map(entries.map((e) => [e.name, e])),
        (err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return null
          throw fsError(err, dir)
        })
      this.listings.set(dir, listing)
    }
    return listing
  }
}
