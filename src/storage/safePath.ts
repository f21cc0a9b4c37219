import { constants } from 'node:fs'
import { lstat, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { UserError, ExitCode, fsError } from '../cli/errors.js'

export const O_NOFOLLOW = constants.O_NOFOLLOW

/**
 * Makes sure every folder from `root` down to the parent of `components` is a real folder, creating the
 * missing ones. A symlink on the way is refused: following it could write outside the destination.
 * Returns the full path of the file.
 */
export async function ensureParents(root: string, components: readonly string[], create: boolean): Promise<string> {
  let dir = root
  for (let i = 0; i < components.length - 1; i++) {
    dir = join(dir, components[i]!)
    const st = await lstat(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null
      throw fsError(err, dir)
    })
    if (st === null) {
      if (!create) return join(dir, ...components.slice(i + 1))
      await mkdir(dir).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'EEXIST') throw fsError(err, dir) })
      continue
    }
    if (st.isSymbolicLink()) throw new UserError(`refusing to write through symlink ${dir}`, ExitCode.destination)
    if (!st.isDirectory()) throw new UserError(`${dir} is in the way: the torrent needs a folder there`, ExitCode.destination)
  }
  return join(root, ...components)
}
