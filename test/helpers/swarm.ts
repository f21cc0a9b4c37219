/** Building blocks for end-to-end tests: a tracker, a torrent, a seed, and murder's JSON log lines. */
import assert from 'node:assert/strict'
import { after } from 'node:test'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseTorrent, type Metainfo } from '../../src/torrent/metainfo.js'
import { murder, runMurder, type Proc } from './proc.js'
import { cleanup, writeTree } from './tree.js'

/** Processes started through these helpers or passed to `track`, for the test file's `after` to kill. */
const started: Proc[] = []

/** Registers a process the test started itself, so `killAll` ends it too. */
export function track(p: Proc): Proc {
  started.push(p)
  return p
}

/**
 * What a test file leaves behind, undone after its tests: tracked processes killed, then `closers` run (servers
 * and announcers the test made), then `dirs` removed.
 */
export function fileScope(): { dirs: string[]; closers: (() => Promise<void>)[] } {
  const scope = { dirs: [] as string[], closers: [] as (() => Promise<void>)[] }
  after(async () => {
    await killAll()
    for (const c of scope.closers) await c().catch(() => undefined)
    await cleanup(...scope.dirs)
  })
  return scope
}

/** Kills every tracked process and waits until they are gone. */
export async function killAll(): Promise<void> {
  const procs = started.splice(0)
  for (const p of procs) p.kill('SIGKILL')
  await Promise.all(procs.map((p) => p.exited))
}

export interface TrackerProc {
  proc: Proc
  port: number
  url: string
}

/** Starts `murder tracker` on loopback (any free port unless given) and waits until it listens. */
export async function startTracker(extra: string[] = [], port = 0): Promise<TrackerProc> {
  const proc = track(murder(['tracker', '--port', String(port), '--host', '127.0.0.1', ...extra]))
  const line = await proc.logLine((l) => l['msg'] === 'tracker listening')
  const p = line['port'] as number
  return { proc, port: p, url: `http://127.0.0.1:${p}/announce` }
}

export interface Made {
  torrent: string
  meta: Metainfo
  infoHash: string
  /** The magnet link make-torrent printed. */
  magnet: string
}

export async function makeTorrent(src: string, trackerPort: number, torrent: string, extra: string[] = []): Promise<Made> {
  const r = await runMurder(['make-torrent', src, `127.0.0.1:${trackerPort}`, torrent, '--json', ...extra])
  assert.equal(r.code, 0, r.stderr)
  const meta = parseTorrent(await readFile(torrent))
  return { torrent, meta, infoHash: meta.infoHashHex, magnet: (JSON.parse(r.stdout) as { magnet: string }).magnet }
}

/** Bytes of real file data in a torrent (padding files excluded): what a peer downloads and counts. */
export function dataLength(meta: Metainfo): number {
  return meta.files.reduce((sum, f) => sum + (f.attr.includes('p') ? 0 : f.length), 0)
}

/** A tree written under `dir/src`, a tracker for it, and its torrent at `dir/t.torrent`. */
export async function treeWithTracker(dir: string, files: Record<string, number>, makeArgs: string[], trackerArgs: string[] = []): Promise<{ src: string; tracker: TrackerProc; made: Made }> {
  const src = join(dir, 'src')
  await writeTree(src, files)
  const tracker = await startTracker(trackerArgs)
  const made = await makeTorrent(src, tracker.port, join(dir, 't.torrent'), makeArgs)
  return { src, tracker, made }
}

/** The torrent's byte stream as a seed serves it: files in torrent order, padding files as zeros. */
export async function streamOf(meta: Metainfo, root: string): Promise<Buffer> {
  const parts: Buffer[] = []
  for (const f of meta.files) {
    if (f.length === 0) continue
    if (f.attr.includes('p')) parts.push(Buffer.alloc(f.length))
    else parts.push(await readFile(meta.singleFile ? root : join(root, ...f.path)))
  }
  const data = Buffer.concat(parts)
  assert.equal(data.length, meta.length)
  return data
}

/** Starts `murder seed` (announcing `ip`) and waits until it has announced itself. */
export async function startSeed(torrent: string, src: string, extra: string[] = [], ip = '127.0.0.1'): Promise<Proc> {
  const seed = track(murder(['seed', torrent, src, ip, ...extra]))
  await seed.logLine((l) => l['msg'] === 'seeding')
  return seed
}

/** Every JSON log line of a process's stderr whose `msg` is `msg`. */
export function logLines(stderr: string, msg: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = []
  for (const l of stderr.split('\n')) {
    if (!l.startsWith('{')) continue
    try {
      const j = JSON.parse(l) as Record<string, unknown>
      if (j['msg'] === msg) out.push(j)
    } catch { /* partial line */ }
  }
  return out
}

export interface CompleteStats {
  downloaded: number
  received: number
  receivedCrossSite: number
  uploaded: number
  hashFailures: number
  pieces: number
  pieceCount: number
}

/** The counters of the peer's `complete` log line. */
export function completeStats(stderr: string): CompleteStats {
  const line = logLines(stderr, 'complete')[0]
  assert.ok(line, `no "complete" log line in:\n${stderr}`)
  return line as unknown as CompleteStats
}

/** Fails the test if a process is still running after `ms`, killing it; resolves with its exit. */
export async function exitWithin(p: Proc, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      p.kill('SIGKILL')
      reject(new Error(`process did not exit within ${ms} ms:\n${p.stderr()}`))
    }, ms)
  })
  try {
    return await Promise.race([p.exited, limit])
  } finally {
    clearTimeout(timer)
  }
}
