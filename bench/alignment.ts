/**
 * The cost and the benefit of aligning files to pieces (make-torrent --align), measured on a deploy-like
 * tree: pieces and metainfo size of each policy, and what an update that grows one file in the middle by
 * one byte has to fetch. Run: node dist/bench/alignment.js [--files N]
 */
import { appendFile, cp, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { HashPool } from '../src/storage/hashPool.js'
import { checkExisting } from '../src/storage/checkExisting.js'
import { findExtraneous } from '../src/storage/destinationTree.js'
import { reuseLocalCopies } from '../src/storage/reuseLocal.js'
import { buildTorrent, storageFor } from '../src/torrent/build.js'
import { ALIGN_POLICIES } from '../src/torrent/padding.js'

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}

/** Deterministic sizes: many small files (like node_modules) and a few large ones (like jars and bundles). */
async function makeTree(root: string, smallFiles: number): Promise<string> {
  let x = 42
  const rand = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
  const paths: string[] = []
  for (let i = 0; i < smallFiles; i++) {
    const path = join(root, `node_modules/pkg${i % 97}/lib/file${i}.js`)
    await mkdir(join(path, '..'), { recursive: true })
    await writeFile(path, Buffer.alloc(Math.floor(200 + rand() * 12000), i % 251))
    paths.push(path)
  }
  for (let i = 0; i < 4; i++) await writeFile(join(root, `app-${i}.jar`), Buffer.alloc(8 * 2 ** 20 + i * 12345, i + 1))
  return paths[Math.floor(paths.length / 2)]!
}

async function main(): Promise<void> {
  const files = arg('--files', 5000)
  const work = await mkdtemp(join(tmpdir(), 'murder-align-'))
  const pool = new HashPool()
  try {
    const v1 = join(work, 'v1')
    const middle = await makeTree(v1, files)
    // Update 1: one small file in the middle grows by a byte. Update 2: a package folder and a jar are renamed.
    const grown = join(work, 'grown')
    await cp(v1, grown, { recursive: true })
    await appendFile(middle.replace(v1, grown), '!')
    const moved = join(work, 'moved')
    await cp(v1, moved, { recursive: true })
    await rename(join(moved, 'node_modules/pkg7'), join(moved, 'node_modules/pkg7-renamed'))
    await rename(join(moved, 'app-1.jar'), join(moved, 'app-1.1.jar'))
    const rows = []
    for (const align of ALIGN_POLICIES) {
      const base = await buildTorrent({ source: v1, trackers: ['http://t:1/announce'], exclude: [], align, pool })
      const row: Record<string, unknown> = { align, pieceLength: base.meta.pieceLength, pieces: base.meta.pieceCount, torrentKB: +(base.torrent.length / 1024).toFixed(1) }
      for (const [name, version] of [['grow', grown], ['rename', moved]] as const) {
        const next = await buildTorrent({ source: version, trackers: ['http://t:1/announce'], exclude: [], align, pool })
        // A target holding v1 checks it against the new torrent, reuses renamed content, fetches the rest.
        const target = join(work, `target-${align}-${name}`)
        await cp(v1, target, { recursive: true })
        const storage = storageFor(next.meta, target)
        const check = await checkExisting(next.meta, storage, pool)
        await reuseLocalCopies(next.meta, storage, check.have, (await findExtraneous(target, next.meta)).files, pool)
        let fetch = 0
        for (let i = 0; i < next.meta.pieceCount; i++) if (!check.have.get(i)) fetch += storage.dataPrefix(i)
        row[`${name}KB`] = +(fetch / 1024).toFixed(1)
        await rm(target, { recursive: true, force: true })
      }
      rows.push(row)
    }
    console.log(`tree: ${files} small files (200 B – 12 KB) + 4 files of 8 MiB`)
    console.log('growKB: fetched when one small file in the middle grows by 1 byte; renameKB: when a package folder and a jar are renamed')
    console.table(rows)
    if (process.argv.includes('--json')) console.log(JSON.stringify(rows))
  } finally {
    await pool.close()
    await rm(work, { recursive: true, force: true })
  }
}

await main()
