import { lstat, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { UserError, fsError } from '../cli/errors.js'
import type { Matcher } from './glob.js'
import { comparePaths, componentProblem } from './paths.js'

export interface SourceFile {
  readonly path: readonly string[]
  readonly length: number
}

function kindOf(st: { isSymbolicLink(): boolean; isFile(): boolean; isDirectory(): boolean }): string {
  if (st.isSymbolicLink()) return 'a symlink'
  return 'a special file (socket, fifo or device)'
}

/**
 * Lists the regular files under `root`, sorted byte-wise by path. Symlinks and special files are an error
 * naming the path: copying a link's target instead of the link would silently change the tree.
 */
export async function walkTree(root: string, exclude: Matcher): Promise<SourceFile[]> {
  const files: SourceFile[] = []
  async function visit(dir: string, rel: string[]): Promise<void> {
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
      const st = await lstat(full).catch((err) => { throw fsError(err, full) })
      if (st.isDirectory()) await visit(full, path)
      else if (st.isFile()) files.push({ path, length: st.size })
      else throw new UserError(`${full} is ${kindOf(st)}; murder copies regular files and folders only`)
    }
  }
  await visit(root, [])
  return files.sort((a, b) => comparePaths(a.path, b.path))
}
