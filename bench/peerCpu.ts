// What a peer costs: `node dist/bench/peerCpu.js [--size 64] [--seed-rate 4M] [--peers 1] [--rounds 3]
// [--variants murder,aria2c,libtorrent,/other/checkout/bin/murder.js] [--together] [--workdir /dev/shm/murder-bench]`.
// A murder tracker and seed per lane on the host's loopback, the seed limited to --seed-rate (a paced transfer:
// the costly case, many small reads and wake-ups), and each round, for each variant in turn (the order rotates),
// --peers peers of that variant fetching the lab tree at once. With --together the variants run at the same
// time, each in its own lane (its own tracker, seed and torrent, so they never meet), the lanes swapping each
// round: what the shared machine's load does, it does to all of them. Per peer: CPU seconds (user + sys of the
// whole process, its threads included, from /usr/bin/time's rusage) and peak RSS. A variant is `murder` (this
// checkout, as bin/murder.js runs), `aria2c`, `libtorrent` (bench/scenarios/ltclient.py --lan, Debian's
// python3-libtorrent), or the path of another checkout's bin/murder.js.
import { mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { aria2Options } from './scenarios/aria2c.js'
import { libtorrentCommand } from './scenarios/libtorrent.js'
import { ensurePayload } from './payload.js'
import { murder, murderCommand, run, start, type Proc } from './proc.js'

const { values: v } = parseArgs({
  options: {
    rounds: { type: 'string' }, workdir: { type: 'string' }, size: { type: 'string' }, peers: { type: 'string' },
    'seed-rate': { type: 'string' }, variants: { type: 'string' }, together: { type: 'boolean' },
  },
})
const rounds = Number(v.rounds ?? 3)
const peers = Number(v.peers ?? 1)
const workdir = v.workdir ?? '/dev/shm/murder-bench'
const size = Number.parseInt(v.size ?? '64', 10) * 1024 * 1024
const seedRate = v['seed-rate'] ?? '4M'
const variants = (v.variants ?? 'murder,aria2c').split(',')
const IP = '127.0.0.1'
const TIMEOUT_MS = 600_000
// /usr/bin/time's last stderr line: user s, sys s, peak RSS KiB.
const TIME_FORMAT = 'BENCH-RUSAGE %U %S %M'

const log = (s: string) => process.stderr.write(`${s}\n`)
const payload = await ensurePayload(join(workdir, 'payloads'), size, 1, log)
const scratch = await mkdtemp(join(workdir, 'peercpu-'))
const procs: Proc[] = []

interface Sample { cpu: number; rssMB: number; seconds: number }
const results = new Map<string, Sample[]>(variants.map((x) => [x, []]))

/** The command line of one peer of `variant` into `dest`. */
function peerCommand(variant: string, torrent: string, dest: string, port: number): string[] {
  if (variant === 'aria2c') return ['aria2c', ...aria2Options(1), '--seed-time=0', `--listen-port=${port}`, `--dir=${dest}`, torrent]
  if (variant === 'libtorrent') return libtorrentCommand(['get', torrent, dest], IP).flat()
  const args = ['peer', torrent, dest, IP, '--linger', '0']
  if (variant === 'murder') return murderCommand(args).flat()
  return [variant, ...args]
}

/** A tracker and a rate-limited seed of the payload, with a torrent naming that tracker. */
async function lane(n: number): Promise<string> {
  const tracker = murder(`peercpu/tracker-${n}`, ['tracker', '--port', '0', '--host', IP])
  procs.push(tracker)
  const port = (await tracker.waitLine((l) => l.json?.['msg'] === 'tracker listening', 15_000)).json!['port'] as number
  // aria2c (1.36) has no BEP 47: every variant gets the same unpadded torrent.
  const torrent = join(scratch, `lane-${n}.torrent`)
  await run('make-torrent', ...murderCommand(['make-torrent', payload.dir, `${IP}:${port}`, torrent, '--align', 'none']), { timeoutMs: TIMEOUT_MS })
  const seed = murder(`peercpu/seed-${n}`, ['seed', torrent, payload.dir, IP, '--max-upload-rate', seedRate])
  procs.push(seed)
  await seed.waitLine((l) => l.json?.['msg'] === 'seeding', TIMEOUT_MS)
  return torrent
}

/** --peers peers of `variant` from the lane of `torrent`, at once; records each one's sample. */
async function fetch(variant: string, torrent: string, round: number, lane: number): Promise<void> {
  const started = performance.now()
  const ps = Array.from({ length: peers }, (_, i) => {
    const dest = join(scratch, `dest-${lane}-${i}`)
    const p = start(`peercpu/${variant}-${i}`, '/usr/bin/time', ['-f', TIME_FORMAT, '--', ...peerCommand(variant, torrent, dest, 6881 + lane * peers + i)])
    procs.push(p)
    return { p, dest }
  })
  for (const { p, dest } of ps) {
    const e = await p.waitExit(TIMEOUT_MS)
    const usage = p.lines.find((l) => l.text.startsWith('BENCH-RUSAGE '))?.text.split(' ')
    if (e.code !== 0 || !usage) throw new Error(`${variant} round ${round + 1} failed (code ${e.code}):\n${p.tail(20)}`)
    const sample = { cpu: Number(usage[1]) + Number(usage[2]), rssMB: (Number(usage[3]) * 1024) / 1e6, seconds: (e.at - started) / 1000 }
    results.get(variant)!.push(sample)
    log(`round ${round + 1} ${variant}: ${sample.cpu.toFixed(2)} s CPU, peak RSS ${sample.rssMB.toFixed(1)} MB, ${sample.seconds.toFixed(1)} s`)
    await rm(dest, { recursive: true, force: true })
  }
}

try {
  const torrents: string[] = []
  for (let n = 0; n < (v.together ? variants.length : 1); n++) torrents.push(await lane(n))
  for (let r = 0; r < rounds; r++) {
    const order = variants.map((_, i) => variants[(i + r) % variants.length]!)
    if (v.together) await Promise.all(order.map((variant, n) => fetch(variant, torrents[n]!, r, n)))
    else for (const variant of order) await fetch(variant, torrents[0]!, r, 0)
  }
} finally {
  await Promise.all(procs.map((p) => p.stop(10_000)))
  await rm(scratch, { recursive: true, force: true })
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const cell = (xs: number[], digits: number) => `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`
const references = ['aria2c', 'libtorrent'].filter((r) => results.has(r))
console.log(`seed (--max-upload-rate ${seedRate}) -> ${peers} peer(s) on loopback, ${payload.files} files, ${(payload.bytes / 2 ** 20).toFixed(0)} MiB, ${rounds} rounds, variants ${v.together ? 'at once, in rotating lanes' : 'in rotating order'}; per peer, median (range)`)
console.log(`| peer | CPU s (user + sys) | peak RSS MB | wall s |${references.map((r) => ` CPU / ${r} | RSS / ${r} |`).join('')}`)
console.log(`| --- | --- | --- | --- |${' --- | --- |'.repeat(references.length)}`)
for (const [name, s] of results) {
  const ratios = references.map((r) => {
    const ref = results.get(r)!
    return ` ${(median(s.map((x) => x.cpu)) / median(ref.map((x) => x.cpu))).toFixed(2)} | ${(median(s.map((x) => x.rssMB)) / median(ref.map((x) => x.rssMB))).toFixed(2)} |`
  }).join('')
  console.log(`| ${name} | ${cell(s.map((x) => x.cpu), 2)} | ${cell(s.map((x) => x.rssMB), 1)} | ${cell(s.map((x) => x.seconds), 1)} |${ratios}`)
}
