import { writeFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { choosePieceLength } from '../../src/torrent/pieceLength.js'
import { MOST_BRIDGES, parseBridgesPerSite } from '../../src/tracker/sitePolicy.js'
import { mbit, parseSize } from '../units.js'
import { table } from '../report.js'
import { configOfLab, measured, readLab } from './fromLab.js'
import { DEFAULT_SIM, simulate, type SimConfig, type SimReport } from './simulation.js'
import { formatTimeline } from './timeline.js'

const USAGE = `npm run bench -- sim [--preset lab|sites|scale|scale5000] [options]
  --targets <a,b,...>   targets per site; the source is in the first (default 8)
  --rate <mbit>         each target's link, up and down (default 100)
  --source-rate <mbit>  the source's link (default: --rate)
  --wan-rate <mbit>     each site's WAN link, each way (default 50)
  --wan-delay <ms>      one-way delay across sites (default 40)
  --delay <ms>          one-way delay within a site (default 0.05)
  --size <bytes>        tree size (default 128M)
  --piece-length <b>    default: as make-torrent chooses for the size
  --max-peers <n>       connections per peer (default as murder's)
  --max-uploads <n>     peers each host serves at once (default as murder's)
  --interval <s>        the tracker's announce interval (default 10)
  --dead-bridges        each remote site's first arrival announces and never serves
  --no-wan-first        peers do not hold back uploads to their site while a peer across fetches from them
  --rate-limit <mbit>   --max-upload-rate and --max-download-rate on every host (default none)
  --no-sites            the tracker has no site map
  --bridges-per-site <n|auto>, --cross-site-peers <n>  the tracker's (defaults as murder's)
  --sizes-unknown       the tracker learns each site's size as its peers arrive (a tracker on its own), not from
                        the start (deploy's, from its hosts file)
  --tick <ms>           network model step (default 10)
  --cpu <cores>:<s/MB>  model the lab's machine: every host on <cores> cores, each MB moved costing <s/MB> of
                        CPU, sender and receiver together (the lab's targets + source CPU over the bytes received)
  --rtt-bias <q>:<a>    share links as TCP does: each flow in proportion to (round trip + q ms)^-a (default: fairly)
  --start-spread <ms>   targets start spread over this long (default 400; the lab's peers' start-up)
  --block <bytes>       bytes per request (default 16K, as murder asks; up to 128K runs large fleets faster)
  --timeline <ms>       every <ms> of simulated time, the source's uplink and each site's median and least
                        advanced target, what crossed into it and its targets' uplink and downlink use (also in
                        the JSON report)
  --runs <n>            runs (default 1), seeded --seed, --seed + 1, ...
  --seed <n>            seeds every random choice (default 1): a run replays exactly
  --json, --out <file>  JSON report on stdout / also to a file
  --from-lab <file>     simulate the configuration of a lab or sites report (--json of npm run bench -- lab|sites)
                        and compare with what it measured; the lab machine's CPU per MB and start-up come from
                        --calibrate <file> (default: the same report)`

/** The configurations issue 17 names: the lab's two layouts, and fleets of 1000 and 5000. */
const PRESETS: Record<string, Record<string, string>> = {
  lab: { targets: '8', rate: '100', size: '128M' },
  sites: { targets: '4,4', rate: '100', 'wan-rate': '50', 'wan-delay': '40', size: '128M' },
  scale: { targets: Array(10).fill('100').join(','), rate: '100', 'wan-rate': '1000', 'wan-delay': '40', size: '1G', tick: '20', block: '128K' },
  scale5000: { targets: Array(20).fill('250').join(','), rate: '100', 'wan-rate': '1000', 'wan-delay': '40', size: '1G', tick: '50', block: '128K' },
}

function bridgesPerSite(value: string): number | 'auto' {
  const parsed = parseBridgesPerSite(value)
  if (parsed === null) throw new Error(`--bridges-per-site must be auto or a whole number from 1 to ${MOST_BRIDGES}`)
  return parsed
}

function timelineOf(ms: number): number {
  if (!(ms > 0)) throw new Error('--timeline takes a period in ms > 0, e.g. 1000')
  return ms
}

function configOf(v: Record<string, string | boolean | undefined>): SimConfig {
  const preset = v['preset'] === undefined ? {} : PRESETS[v['preset'] as string]
  if (!preset) throw new Error(`unknown preset "${String(v['preset'])}" (${Object.keys(PRESETS).join(', ')})`)
  const get = (k: string, d: string) => (v[k] as string | undefined) ?? preset[k] ?? d
  const num = (k: string, d: string) => {
    const n = Number(get(k, d))
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${k} must be a number ≥ 0`)
    return n
  }
  const rate = (k: string, d: string) => mbit(num(k, d))
  const size = parseSize(get('size', '128M'))
  const counts = get('targets', '8').split(',').map((t) => Number(t))
  if (counts.some((n) => !Number.isInteger(n) || n < 0)) throw new Error('--targets takes counts per site: 8 or 4,4')
  const sites = counts.map((targets, i) => ({ name: String.fromCharCode(97 + i), targets, wanRate: rate('wan-rate', '50'), wanDelayMs: num('wan-delay', '40') }))
  const hostRate = rate('rate', '100')
  return {
    ...DEFAULT_SIM,
    sites,
    size,
    hostRate,
    sourceRate: v['source-rate'] === undefined ? hostRate : rate('source-rate', '100'),
    lanDelayMs: num('delay', '0.05'),
    pieceLength: v['piece-length'] === undefined ? choosePieceLength(size) : parseSize(v['piece-length'] as string),
    maxPeers: num('max-peers', String(DEFAULT_SIM.maxPeers)),
    maxUploads: num('max-uploads', String(DEFAULT_SIM.maxUploads)),
    siteAware: v['no-sites'] !== true,
    sitePolicy: { bridgesPerSite: bridgesPerSite(get('bridges-per-site', String(DEFAULT_SIM.sitePolicy.bridgesPerSite))), crossSitePeers: num('cross-site-peers', String(DEFAULT_SIM.sitePolicy.crossSitePeers)) },
    interval: num('interval', String(DEFAULT_SIM.interval)),
    deadBridges: v['dead-bridges'] === true,
    sizesKnown: v['sizes-unknown'] !== true,
    wanFirst: v['no-wan-first'] !== true,
    rateLimit: v['rate-limit'] === undefined ? Infinity : rate('rate-limit', '0'),
    tickMs: num('tick', '10'),
    blockLength: parseSize(get('block', '16K')),
    startSpreadMs: num('start-spread', String(DEFAULT_SIM.startSpreadMs)),
    cpu: cpuOf(v['cpu'] as string | undefined),
    rttBias: rttBiasOf(v['rtt-bias'] as string | undefined),
    ...(v['timeline'] !== undefined && { timelineMs: timelineOf(num('timeline', '0')) }),
  }
}

function cpuOf(text: string | undefined): SimConfig['cpu'] {
  if (text === undefined) return undefined
  const [cores, perMB] = text.split(':').map(Number)
  if (!(cores! > 0) || !(perMB! > 0)) throw new Error('--cpu takes <cores>:<seconds per MB>, e.g. 2:0.027')
  return { cores: cores!, secondsPerMB: perMB! }
}

function rttBiasOf(text: string | undefined): SimConfig['rttBias'] {
  if (text === undefined) return undefined
  const [queueMs, alpha] = text.split(':').map(Number)
  if (!(queueMs! >= 0) || !(alpha! > 0)) throw new Error('--rtt-bias takes <queue ms>:<alpha>, e.g. 50:1')
  return { queueMs: queueMs!, alpha: alpha! }
}

const f2 = (n: number | null) => (n === null ? '—' : n.toFixed(2))

function format(c: SimConfig, r: SimReport): string {
  const done = r.finishS.filter((f): f is number => f !== null).sort((a, b) => a - b)
  const wan = Object.entries(r.wanCopies).map(([s, x]) => `${s} ${x.toFixed(2)}`).join(', ')
  return [
    `targets ${r.targets} in ${c.sites.length} site(s), ${(c.size / 2 ** 20).toFixed(0)} MiB, pieces of ${c.pieceLength / 1024} KiB`,
    `  all done ${f2(r.allDoneS)} s, bound ${f2(r.lowerBoundS)} s, ratio ${r.allDoneS === null ? '—' : (r.allDoneS / r.lowerBoundS).toFixed(2)}` +
      ` (first ${f2(done[0] ?? null)}, median ${f2(done[Math.floor(done.length / 2)] ?? null)}; ${r.targets - done.length} not done)`,
    `  source uploaded ${r.sourceCopies.toFixed(2)} copies${wan ? `; WAN copies in: ${wan}` : ''}`,
    `  most connections of a peer ${r.maxConnections} (--max-peers ${r.maxPeers})`,
    `  ran ${r.wallS.toFixed(1)} s, ${r.events} events`,
  ].join('\n')
}

/** Runs the simulator on a lab report's configuration and prints measured against simulated. */
async function compareWithLab(labPath: string, calibrationPath: string, runs: number, seed: number, rttBias: SimConfig['rttBias']): Promise<number> {
  const lab = await readLab(labPath)
  const calibration = measured(await readLab(calibrationPath))
  const m = measured(lab)
  if (m.length === 0 || calibration.length === 0) throw new Error('no completed murder scenario in the lab report')
  const config = { ...configOfLab(lab, calibration), rttBias }
  const rows: string[][] = m.map((x, i) => [`lab ${i + 1}`, x.allDoneS.toFixed(2), x.sourceCopies.toFixed(2), x.wanCopies?.toFixed(2) ?? '—'])
  for (let i = 0; i < runs; i++) {
    const r = await simulate({ ...config, seed: seed + i })
    rows.push([`sim ${i + 1}`, f2(r.allDoneS), r.sourceCopies.toFixed(2), r.wanCopies['b']?.toFixed(2) ?? '—'])
  }
  process.stdout.write(`${lab.kind} report ${labPath}; CPU ${config.cpu!.secondsPerMB.toFixed(4)} s/MB on 2 cores and start-up over ${(config.startSpreadMs / 1000).toFixed(2)} s from ${calibrationPath}\n`)
  process.stdout.write(`${table(rows, ['run', 'all done (s)', 'source copies', 'WAN copies'])}\n`)
  return 0
}

async function main(): Promise<number> {
  const { values: v } = parseArgs({
    args: process.argv.slice(2),
    options: {
      preset: { type: 'string' }, targets: { type: 'string' }, rate: { type: 'string' }, 'source-rate': { type: 'string' },
      'wan-rate': { type: 'string' }, 'wan-delay': { type: 'string' }, delay: { type: 'string' }, size: { type: 'string' },
      'piece-length': { type: 'string' }, 'max-peers': { type: 'string' }, 'max-uploads': { type: 'string' }, 'rate-limit': { type: 'string' }, interval: { type: 'string' }, 'dead-bridges': { type: 'boolean' }, 'sizes-unknown': { type: 'boolean' }, 'no-wan-first': { type: 'boolean' }, 'no-sites': { type: 'boolean' }, 'bridges-per-site': { type: 'string' }, 'cross-site-peers': { type: 'string' }, tick: { type: 'string' }, block: { type: 'string' }, cpu: { type: 'string' }, 'rtt-bias': { type: 'string' }, 'start-spread': { type: 'string' }, timeline: { type: 'string' },
      runs: { type: 'string' }, 'from-lab': { type: 'string' }, calibrate: { type: 'string' }, seed: { type: 'string' }, json: { type: 'boolean' }, out: { type: 'string' }, help: { type: 'boolean' },
    },
  })
  if (v.help) {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  if (v['from-lab']) return compareWithLab(v['from-lab'], v.calibrate ?? v['from-lab'], Number(v.runs ?? 3), Number(v.seed ?? 1), rttBiasOf(v['rtt-bias']))
  const config = configOf(v)
  const reports: SimReport[] = []
  for (let i = 0; i < Number(v.runs ?? 1); i++) {
    const r = await simulate({ ...config, seed: Number(v.seed ?? 1) + i })
    reports.push(r)
    if (!v.json) process.stdout.write(`${format(config, r)}\n${r.timeline ? `${formatTimeline(r.timeline)}\n` : ''}`)
  }
  const json = JSON.stringify({ kind: 'sim', config, reports }, null, 2)
  if (v.json) process.stdout.write(`${json}\n`)
  if (v.out) await writeFile(v.out, json)
  return 0
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`bench sim: ${err.message}\n`)
    process.exit(2)
  },
)
