// Many real peers on one machine: a tracker, a seed and N `murder peer` processes on loopback, each on its own
// address (127.0.0.2 …), every one rate-limited up and down so that the limits stand in for the links. Reports
// what the source uploaded (in copies of the tree), when the last peer was done and exited, and the most
// connections each process held at once. Used by test/manyPeers.test.ts, and as a benchmark:
//
//   node dist/bench/manyPeers.js [--peers 100] [--size 4M] [--rate 256k] [--max-peers 20] [--runs 1]
//                                [--seed-arg=--no-spread-first ...] [--timeout 240] [--json]
//
// No namespaces and no root: Linux routes all of 127.0.0.0/8 to lo.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { snapshot, writeTree } from '../test/helpers/tree.js'
import { killAll, murder, murderCommand, run, type Line, type Proc } from './proc.js'

export interface ManyPeersOptions {
  peers: number
  /** Bytes in the tree: four files. */
  size: number
  /** Every process's upload and download limit, as murder takes it (`2M`). */
  rate: string
  /** Given to the seed and to every peer. */
  maxPeers: number
  pieceLength: number
  /** Peers between their spawn and their 'destination checked' at once. */
  startAtOnce: number
  /** Further options for the seed (`--no-spread-first`). */
  seedArgs: string[]
  /** Bound on the whole run, from the spawn of the peers to the last exit. */
  timeoutMs: number
  /** Where the trees go (a temporary folder made and removed here). */
  parent: string
}

export const MANY_PEERS_DEFAULTS: ManyPeersOptions = {
  peers: 100,
  size: 4 * 1024 * 1024,
  rate: '256k',
  maxPeers: 20,
  pieceLength: 64 * 1024,
  startAtOnce: 4,
  seedArgs: [],
  timeoutMs: 240_000,
  parent: tmpdir(),
}

export interface PeerOutcome {
  address: string
  code: number | null
  /** Seconds from the spawn of all peers: the destination checked, `Done and done`, the exit. */
  checkedAt: number
  doneAt: number
  exitAt: number
  peakPeers: number
  uploaded: number
  /** The destination holds exactly the source's files. */
  exact: boolean
  /** stdout was `Done and done`, and nothing else. */
  doneAndDone: boolean
  stderrTail: string
}

export interface ManyPeersResult {
  peers: PeerOutcome[]
  /** Bytes the seed uploaded over the tree's size. */
  copies: number
  refused: number
  seedPeakPeers: number
  /** Seconds from the spawn of the peers until the last destination was checked (start-up on a busy machine). */
  lastChecked: number
  lastDone: number
  lastExit: number
}

const jsonOf = (msg: string) => (l: Line) => l.json?.['msg'] === msg

/** Runs one swarm to the end; every process it started is gone when it returns or throws. */
export async function manyPeers(o: ManyPeersOptions): Promise<ManyPeersResult> {
  const work = await mkdtemp(join(o.parent, 'murder-many-'))
  const started: Proc[] = []
  try {
    const src = join(work, 'src')
    await writeTree(src, { 'a.bin': o.size / 2, 'b/c.bin': o.size / 4, 'b/d.bin': o.size / 8, 'b/e/f.bin': o.size / 8 })
    const tracker = murder('tracker', ['tracker', '--port', '0', '--host', '127.0.0.1', '--interval', '2'])
    started.push(tracker)
    const port = (await tracker.waitLine(jsonOf('tracker listening'), 30_000)).json!['port'] as number
    const torrent = join(work, 't.torrent')
    await run('make-torrent', ...murderCommand(['make-torrent', src, `127.0.0.1:${port}`, torrent, '--piece-length', String(o.pieceLength)]))
    const limits = ['--max-upload-rate', o.rate, '--max-download-rate', o.rate, '--max-peers', String(o.maxPeers)]
    const seed = murder('seed', ['seed', torrent, src, '127.0.0.1', ...limits, ...o.seedArgs])
    started.push(seed)
    await seed.waitLine(jsonOf('seeding'), 30_000)
    const t0 = performance.now()
    const deadline = setTimeout(() => {
      const done = peers.filter(({ p }) => p.lines.some((l) => l.stream === 'stdout' && l.text === 'Done and done')).length
      const codes = peers.filter(({ p }) => p.exit).map(({ p }) => p.exit!.code)
      const startS = peers.map(({ p }) => ((p.lines.find(jsonOf('destination checked'))?.at ?? NaN) - p.startedAt) / 1000).filter((x) => !isNaN(x)).sort((a, b) => a - b)
      console.error(`manyPeers: timed out after ${o.timeoutMs / 1000} s: ${peers.length} started, ${done} done, exits ${JSON.stringify(codes)}; spawn to checked median ${startS[startS.length >> 1]?.toFixed(1)} s`)
      for (const p of started) p.kill('SIGKILL')
    }, o.timeoutMs)
    const peers: { address: string; p: Proc }[] = []
    try {
      // Hosts of a fleet start on CPUs of their own; here they share the machine's, and 100 node processes
      // starting at once starved the tracker (announces unanswered for 5 s, 28 peers out of 100 gave up). So
      // only a few start at a time, as deploy's --parallel does over ssh.
      const starting = new Set<Promise<unknown>>()
      for (let i = 0; i < o.peers; i++) {
        while (starting.size >= o.startAtOnce) await Promise.race(starting)
        const address = `127.0.0.${i + 2}`
        const p = murder(address, ['peer', torrent, join(work, `d${i}`), address, ...limits, '--linger', '60'])
        started.push(p)
        peers.push({ address, p })
        const up: Promise<unknown> = p.waitLine(jsonOf('destination checked'), o.timeoutMs).catch(() => undefined).finally(() => starting.delete(up))
        starting.add(up)
      }
      await Promise.all(peers.map(({ p }) => p.exited))
    } finally {
      clearTimeout(deadline)
    }
    seed.kill('SIGTERM')
    const stop = (await seed.waitLine(jsonOf('seed stopping'), 10_000)).json!
    const expected = JSON.stringify(await snapshot(src))
    const at = (p: Proc, msg: string) => ((p.lines.find(jsonOf(msg))?.at ?? NaN) - t0) / 1000
    const outcomes: PeerOutcome[] = []
    for (const { address, p } of peers) {
      const stats = p.lines.find(jsonOf('peer stopping'))?.json ?? {}
      outcomes.push({
        address,
        code: p.exit!.code,
        checkedAt: at(p, 'destination checked'),
        doneAt: ((p.lines.find((l) => l.stream === 'stdout' && l.text === 'Done and done')?.at ?? NaN) - t0) / 1000,
        exitAt: (p.exit!.at - t0) / 1000,
        peakPeers: Number(stats['peakPeers'] ?? NaN),
        uploaded: Number(stats['uploaded'] ?? NaN),
        exact: JSON.stringify(await snapshot(join(work, `d${outcomes.length}`))) === expected,
        doneAndDone: p.lines.filter((l) => l.stream === 'stdout').map((l) => l.text).join('\n') === 'Done and done',
        stderrTail: p.tail(10),
      })
    }
    const last = (k: 'checkedAt' | 'doneAt' | 'exitAt') => Math.max(...outcomes.map((x) => x[k]))
    return {
      peers: outcomes,
      copies: (stop['uploaded'] as number) / o.size,
      refused: stop['refused'] as number,
      seedPeakPeers: stop['peakPeers'] as number,
      lastChecked: last('checkedAt'),
      lastDone: last('doneAt'),
      lastExit: last('exitAt'),
    }
  } finally {
    for (const p of started) p.kill('SIGKILL')
    await Promise.all(started.map((p) => p.exited))
    await rm(work, { recursive: true, force: true })
  }
}

const SIZE_UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      peers: { type: 'string' }, size: { type: 'string' }, rate: { type: 'string' }, 'max-peers': { type: 'string' }, 'start-at-once': { type: 'string' }, timeout: { type: 'string' },
      runs: { type: 'string', default: '1' }, 'seed-arg': { type: 'string', multiple: true, default: [] }, json: { type: 'boolean', default: false },
    },
  })
  const size = values.size ? /^(\d+)([KMG]?)$/i.exec(values.size) : null
  if (values.size && !size) throw new Error(`--size ${values.size}: a number of bytes, with K, M or G`)
  const o: ManyPeersOptions = {
    ...MANY_PEERS_DEFAULTS,
    peers: Number(values.peers ?? MANY_PEERS_DEFAULTS.peers),
    size: size ? Number(size[1]) * SIZE_UNITS[size[2]!.toUpperCase()]! : MANY_PEERS_DEFAULTS.size,
    rate: values.rate ?? MANY_PEERS_DEFAULTS.rate,
    maxPeers: Number(values['max-peers'] ?? MANY_PEERS_DEFAULTS.maxPeers),
    startAtOnce: Number(values['start-at-once'] ?? MANY_PEERS_DEFAULTS.startAtOnce),
    seedArgs: values['seed-arg'],
    timeoutMs: Number(values.timeout ?? MANY_PEERS_DEFAULTS.timeoutMs / 1000) * 1000,
  }
  const results: ManyPeersResult[] = []
  for (let i = 0; i < Number(values.runs); i++) {
    const r = await manyPeers(o)
    results.push(r)
    const failed = r.peers.filter((p) => p.code !== 0 || !p.exact)
    const peaks = r.peers.map((p) => p.peakPeers).sort((a, b) => a - b)
    console.error(`run ${i + 1}: ${r.peers.length - failed.length}/${r.peers.length} exact; source ${r.copies.toFixed(2)} copies (${r.refused} refused, ${r.seedPeakPeers} connections at most); ` +
      `last checked ${r.lastChecked.toFixed(1)} s, last done ${r.lastDone.toFixed(1)} s, last exit ${r.lastExit.toFixed(1)} s; ` +
      `connections per peer at most: median ${peaks[peaks.length >> 1]}, max ${peaks[peaks.length - 1]}`)
    for (const f of failed.slice(0, 3)) console.error(`  ${f.address} exit ${f.code}, exact ${f.exact}:\n${f.stderrTail}`)
  }
  if (values.json) console.log(JSON.stringify({ options: o, results: results.map(({ peers, ...rest }) => ({ ...rest, peakPeers: peers.map((p) => p.peakPeers), doneAt: peers.map((p) => p.doneAt) })) }, null, 2))
}

// Run as a script, not imported by the test.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch(async (err: unknown) => {
    await killAll()
    console.error(err instanceof Error ? err.message : String(err))
    process.exit(1)
  })
}
