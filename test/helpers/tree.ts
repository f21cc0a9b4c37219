import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile, lstat, readlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'

/** Deterministic pseudo-random bytes, so a failing comparison can be reproduced. */
export function bytes(seed: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length)
  let block = Buffer.alloc(0)
  let counter = 0
  for (let i = 0; i < length; i += 32) {
    block = createHash('sha256').update(`${seed}:${counter++}`).digest()
    block.copy(out, i, 0, Math.min(32, length - i))
  }
  return out
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `murder-${prefix}-`))
}

export async function writeTree(root: string, files: Record<string, number | Buffer>): Promise<void> {
  let seed = 1
  for (const [path, content] of Object.entries(files)) {
    const full = join(root, path)
    await mkdir(dirname(full), { recursive: true })
    await writeFile(full, typeof content === 'number' ? bytes(seed++, content) : content)
  }
}

/** Relative path → SHA-256 of content, for every regular file below root (symlinks reported as such). */
export async function snapshot(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  async function visit(dir: string, rel: string): Promise<void> {
    for (const name of (await readdir(dir)).sort()) {
      const full = join(dir, name)
      const r = rel ? `${rel}/${name}` : name
      const st = await lstat(full)
      if (st.isDirectory()) await visit(full, r)
      else if (st.isSymbolicLink()) out[r] = `symlink -> ${await readlink(full)}`
      else out[r] = createHash('sha256').update(await readFile(full)).digest('hex')
    }
  }
  await visit(root, '')
  return out
}

export async function cleanup(...dirs: string[]): Promise<void> {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
}

/** A tree with the awkward cases: nesting, empty files, sizes around the piece length, unicode and spaces. */
export function sampleTree(pieceLength: number): Record<string, number> {
  return {
    'README': 1234,
    '.hidden/config': 77,
    'empty': 0,
    'a/b/c/deep.bin': pieceLength * 3 + 17,
    'a/b/empty-too': 0,
    'a/small': 5,
    'big file with spaces.dat': pieceLength * 5 - 1,
    'ünïcödé/名前.txt': 4321,
    'x/exact': pieceLength,
    'z': 1,
  }
}
