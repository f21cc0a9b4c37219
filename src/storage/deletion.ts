import { realpathSync } from 'node:fs'
import { homedir } from 'node:os'
import { relative, resolve } from 'node:path'
import { ExitCode, UserError } from '../errors.js'
import type { Extraneous } from './destinationTree.js'

/**
 * Folders `--delete` refuses as a destination: `/`, the top-level folders of the Filesystem Hierarchy Standard
 * and the main ones below /usr and /var. A typo there (`/srv` for `/srv/app`) would remove everything the
 * torrent does not name, on every host of a deploy.
 */
const SYSTEM_FOLDERS = new Set([
  '/', '/bin', '/boot', '/dev', '/etc', '/home', '/lib', '/lib32', '/lib64', '/libx32', '/media', '/mnt', '/opt',
  '/proc', '/root', '/run', '/sbin', '/srv', '/sys', '/tmp', '/usr', '/var',
  '/usr/bin', '/usr/lib', '/usr/local', '/usr/sbin', '/usr/share', '/var/lib', '/var/log',
])

/** Paths named in a line about deleted entries; the rest are counted. */
export const FIRST_PATHS = 5

/** Why `--delete` must not run on a destination (its absolute path, and its real one), or null. Pure. */
export function deleteRefusal(paths: readonly string[], home: string): string | null {
  for (const p of paths) {
    if (SYSTEM_FOLDERS.has(p)) return `${p} is a system folder`
    if (p === home) return `${p} is a home folder`
  }
  return null
}

/** Refuses `--delete` into `/`, a system folder or the home folder, also when reached through a symlink. */
export function assertDeletable(destination: string): void {
  const absolute = resolve(destination)
  let real = absolute
  try {
    real = realpathSync(absolute)
  } catch { /* not there yet: created empty, nothing to delete in it */ }
  const why = deleteRefusal([absolute, real], homedir())
  if (why) throw new UserError(`--delete refused: ${why}; name the folder that receives the tree (e.g. /srv/app)`, ExitCode.usage)
}

/** The first few of the entries, relative to the destination, for a log line. */
export function firstPaths(root: string, entries: readonly string[]): string[] {
  return entries.slice(0, FIRST_PATHS).map((e) => relative(root, e))
}

/** Stops before removing more than `max` entries, like rsync's --max-delete, and removes none of them. */
export function assertMaxDelete(root: string, extra: Extraneous, max: number): void {
  if (extra.count <= max) return
  throw new UserError(`--delete would remove ${extra.count} entries, more than --max-delete ${max} (${firstPaths(root, extra.entries).join(', ')}${extra.entries.length > FIRST_PATHS ? ', …' : ''}); nothing removed`, ExitCode.maxDelete)
}
