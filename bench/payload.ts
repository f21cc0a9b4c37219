// A deterministic payload tree (a few large files, thousands of small ones, nested folders, some empty files)
// and a digest of a tree, used to check every copy byte for byte.
import { createCipheriv, createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { prng } from '../test/helpers/prng.js'

const VERSION = 'v2'
const KiB = 1024
const MiB = 1024 * KiB

export interface PayloadFile {
  path: string
  size: number
  /** Permission bits (walkFiles only). */
  mode?: number
}

export interface TreeDigest {
  digest: string
  files: number
  bytes: number
}

export interface Payload extends TreeDigest {
  /** The tree's root; its basename ("payload") is the torrent's name. */
  dir: string
  smallFiles: number
  generatedSeconds: number | null
}

/** The list of files (relative paths and sizes) of a payload of exactly `total` bytes. */
export function planPayload(total: number, seed: number): PayloadFile[] {
  const rnd = prng(seed)
  const files: PayloadFile[] = []
  // Thousands of small files (~10% of the bytes, 8 KiB on average at most), in nested folders.
  const smallCount = Math.max(50, Math.min(5000, Math.round(total / (40 * KiB))))
  const smallAvg = Math.max(1, Math.min(8 * KiB, Math.floor((total * 0.1) / smallCount)))
  let used = 0
  for (let i = 0; i < smallCount; i++) {
    const size = i % 500 === 7 ? 0 : Math.floor(rnd() * 2 * smallAvg)
    const deep = i % 5 === 0 ? 'deep/er/' : ''
    files.push({ path: `src/m${String(i % 23).padStart(2, '0')}/p${Math.floor(i / 23) % 9}/${deep}f${String(i).padStart(5, '0')}.txt`, size })
    used += size
  }
  // Medium files (~10%): 64 KiB to 2 MiB, odd sizes.
  const mediumBudget = Math.floor(total * 0.1)
  let medium = 0
  for (let i = 0; medium < mediumBudget; i++) {
    const size = Math.min(mediumBudget - medium, 64 * KiB + Math.floor(rnd() * 2 * MiB))
    files.push({ path: `lib/pkg${i % 7}/${i % 3 === 0 ? 'dist/' : ''}m${String(i).padStart(4, '0')}.bin`, size })
    medium += size
  }
  used += medium
  // Large files: the rest, in three unequal parts whose boundaries fall inside pieces.
  const rest = Math.max(0, total - used)
  const a = Math.floor(rest * 0.5) + 12_345
  const b = Math.floor(rest * 0.3) - 6_789
  const sizes = rest > 100_000 ? [a, b, rest - a - b] : [rest, 0, 0]
  files.push({ path: 'data/big-1.img', size: sizes[0]! })
  files.push({ path: 'data/blobs/big-2.tar', size: sizes[1]! })
  files.push({ path: 'data/blobs/big-3.dat', size: sizes[2]! })
  files.push({ path: 'empty.flag', size: 0 })
  return files
}

/** Writes the content of one file: AES-256-CTR keystream keyed by the seed, nonce from the path. */
async function writeContent(root: string, f: PayloadFile, key: Buffer): Promise<void> {
  const file = join(root, f.path)
  const iv = createHash('sha256').update(f.path).digest().subarray(0, 16)
  const cipher = createCipheriv('aes-256-ctr', key, iv)
  if (f.size <= MiB) {
    await writeFile(file, f.size ? cipher.update(Buffer.alloc(f.size)) : Buffer.alloc(0))
    return
  }
  const zeros = Buffer.alloc(4 * MiB)
  const fh = await open(file, 'w')
  try {
    for (let off = 0; off < f.size;) {
      const n = Math.min(zeros.length, f.size - off)
      const chunk = cipher.update(n === zeros.length ? zeros : zeros.subarray(0, n))
      await fh.write(chunk, 0, chunk.length)
      off += n
    }
  } finally {
    await fh.close()
  }
}

export async function generateTree(root: string, total: number, seed: number): Promise<PayloadFile[]> {
  const files = planPayload(total, seed)
  const key = createHash('sha256').update(`murder-bench:${VERSION}:${seed}`).digest()
  const dirs = new Set(files.map((f) => dirname(join(root, f.path))))
  for (const d of [...dirs].sort()) await mkdir(d, { recursive: true })
  const queue = [...files]
  const worker = async () => {
    for (let f = queue.shift(); f; f = queue.shift()) await writeContent(root, f, key)
  }
  await Promise.all(Array.from({ length: 16 }, worker))
  return files
}

/** Every regular file under `root`, sorted by path bytes; a symlink or special file is an error. */
export async function walkFiles(root: string): Promise<PayloadFile[]> {
  const out: PayloadFile[] = []
  const visit = async (rel: string) => {
    const entries = await readdir(join(root, rel), { withFileTypes: true })
    entries.sort((x, y) => Buffer.compare(Buffer.from(x.name), Buffer.from(y.name)))
    for (const e of entries) {
      const p = rel ? `${rel}/${e.name}` : e.name
      if (e.isDirectory()) await visit(p)
      else if (e.isFile()) {
        const st = await stat(join(root, p))
        out.push({ path: p, size: st.size, mode: st.mode & 0o7777 })
      }
      else throw new Error(`not a regular file or folder: ${join(root, p)}`)
    }
  }
  await visit('')
  return out
}

async function fileHash(path: string): Promise<string> {
  const h = createHash('sha256')
  for await (const chunk of createReadStream(path, { highWaterMark: MiB })) h.update(chunk as Buffer)
  return h.digest('hex')
}

/** SHA-256 over every file's path, size, permission bits and content hash, in path order (empty folders are not counted). */
export async function treeDigest(root: string): Promise<TreeDigest> {
  const files = await walkFiles(root)
  const h = createHash('sha256')
  let bytes = 0
  for (const f of files) {
    h.update(`${f.path}\0${f.size}\0${(f.mode ?? 0).toString(8)}\0${await fileHash(join(root, f.path))}\n`)
    bytes += f.size
  }
  return { digest: h.digest('hex'), files: files.length, bytes }
}

/** Digest of `root`, or null if it is missing or unreadable (a failed copy). */
export async function treeDigestOrNull(root: string): Promise<TreeDigest | null> {
  try {
    return await treeDigest(root)
  } catch {
    return null
  }
}

/**
 * The payload of `total` bytes for `seed`, generated once under `cacheDir` and reused (it is deterministic);
 * its manifest records the digest measured right after generation.
 */
export async function ensurePayload(cacheDir: string, total: number, seed: number, log: (s: string) => void): Promise<Payload> {
  const base = join(cacheDir, `payload-${total}-s${seed}-${VERSION}`)
  const dir = join(base, 'payload')
  const manifest = join(base, 'manifest.json')
  const smallFiles = planPayload(total, seed).filter((f) => f.path.startsWith('src/')).length
  try {
    const m = JSON.parse(await readFile(manifest, 'utf8')) as TreeDigest
    const problem = await payloadProblem(dir, total, seed)
    if (!problem) return { ...m, dir, smallFiles, generatedSeconds: null }
    log(`cached payload changed (${problem}): generating it again`)
  } catch { /* generate below */ }
  await rm(base, { recursive: true, force: true })
  log(`generating a ${(total / MiB).toFixed(0)} MiB payload in ${dir}`)
  const t0 = performance.now()
  await generateTree(dir, total, seed)
  const d = await treeDigest(dir)
  if (d.bytes !== total) throw new Error(`payload is ${d.bytes} bytes, expected ${total}`)
  await writeFile(manifest, JSON.stringify(d) + '\n')
  return { ...d, dir, smallFiles, generatedSeconds: (performance.now() - t0) / 1000 }
}

/** Why the tree at `dir` is not the planned payload (a file added, missing or resized), or null. Cheap: no reads. */
export async function payloadProblem(dir: string, total: number, seed: number): Promise<string | null> {
  const want = planPayload(total, seed).map((f) => `${f.path}\0${f.size}`).sort()
  let have: string[]
  try {
    have = (await walkFiles(dir)).map((f) => `${f.path}\0${f.size}`).sort()
  } catch (err) {
    return (err as Error).message
  }
  const w = new Set(want)
  const extra = have.find((x) => !w.has(x))
  if (extra) return `unexpected ${extra.replace('\0', ', ')} B`
  const h = new Set(have)
  const missing = want.find((x) => !h.has(x))
  return missing ? `missing ${missing.replace('\0', ', ')} B` : null
}
