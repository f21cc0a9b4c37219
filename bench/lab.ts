// The benchmark lab's command line: `npm run bench -- [lab|loopback|all|cleanup] [options]`.
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { runLoopback, formatLoopback, type LoopbackReport } from './loopback.js'
import { createLab, createSitesLab, destroyNamespaces, requireRoot, type Lab, type Shaper } from './netns.js'
import { startProbes } from './timeline.js'
import { ensurePayload, payloadProblem } from './payload.js'
import { killAll, sh } from './proc.js'
import { parseSize } from './units.js'
import { formatLab, formatSites, lowerBound, sitesLowerBound, type LabReport, type SitesReport } from './report.js'
import { runAria2 } from './scenarios/aria2c.js'
import { runLibtorrent } from './scenarios/libtorrent.js'
import { ALL_SCENARIOS, SCENARIOS, type LabContext, type ScenarioName, type ScenarioResult, type Torrent } from './scenarios/common.js'
import { runMurder } from './scenarios/murder.js'
import { runRsync } from './scenarios/rsync.js'

const USAGE = `usage: npm run bench -- [lab|sites|loopback|all|cleanup] [options]

  lab        1 source + N targets in network namespaces on a shaped bridge: rsync, murder, aria2c (default);
             libtorrent when named
  sites      two sites (bridges) joined by a shaped WAN link: the source + --n-a targets in site A, --n-b targets
             in site B; rsync, murder (tracker --sites), aria2c; time and bytes across the WAN
  loopback   one seed -> one peer on an isolated loopback, unshaped: throughput murder vs aria2c, make-torrent
             hashing vs openssl, the peer's check of a complete destination, the peer's peak memory
  all        lab, then loopback
  cleanup    delete namespaces left by a bench that was killed (names starting with "mbench")

lab options:
  --n <N>               targets (default 8)
  --rate <Mbit/s>       upload and download limit of every target (default 100; 0: unshaped)
  --source-rate <Mbit/s> the source's limits (default: --rate)
  --size <bytes>        payload size, e.g. 32M, 128M, 1G (default 128M)
  --scenarios <list>    comma-separated subset of rsync,murder,aria2c (default: all three), libtorrent (Debian's
                        python3-libtorrent 2.0, tuned for a LAN: bench/scenarios/ltclient.py --lan), or
                        murder-ssl (an SSL torrent: TLS between all peers); a name may repeat
  --shaper <tbf|htb>    qdisc on the veth ends (default tbf)
  --delay <ms>          one-way delay between two hosts (default 0): each host's link delays D/2 each way, so a
                        round trip between two hosts takes 2·D. Added by a userspace relay (bench/delayRelay.c,
                        built with gcc; no netem in this kernel) on tap pairs instead of veth pairs
  --interval <s>        tracker announce interval (default: murder's)
  --align <policy>      pass --align <policy> to make-torrent (BEP 47 padding: all|none; default: murder's)
  --linger <s>          murder peer --linger (default 30)
  --super-seed          run murder's seed with --super-seed (BEP 16)
  --seed-rate <rate>    run murder's seed with --max-upload-rate <rate> (murder's units: 4M = 4 MB/s)
  --peer-rate <rate>    run murder's peers with --max-download-rate <rate>
  --timeout <s>         per-scenario limit (default: from the rsync estimate)
sites options (and --rate, --source-rate, --delay inside each site, --scenarios, --shaper, --interval, --align,
--linger, --timeout):
  --n-a <N>             targets in site A, with the source (default 2)
  --n-b <N>             targets in site B (default 4)
  --wan-rate <Mbit/s>   WAN rate in each direction (default 50)
  --wan-delay <ms>      one-way delay the WAN adds (default 0), by the same relay: a host of A to a host of B
                        takes --delay + --wan-delay one way, a round trip twice that
  --murder-sites <how>  map: tracker --sites only; flags: also --site on murder's seed and peers (default map)
  --size <bytes>        payload size (default 64M for sites)
loopback options:
  --loop-size <bytes>   throughput / hashing / check payload (default 2G)
  --mem-size <bytes>    peak-memory payload (default 4G)
common:
  --seed <n>            payload seed (default 1)
  --workdir <dir>       scratch and payload cache (default /tmp/murder-bench)
  --keep                keep the copies and torrents of this run
  --json                print JSON instead of tables on stdout (progress goes to stderr)
  --out <file>          also write the JSON report to <file>
  --timeline            (lab, sites) every 0.5 s of each scenario: cores busy, the source's and the WAN's rate,
                        MB received by each target`


function num(v: string | undefined, name: string, dflt: number, min = 0): number {
  if (v === undefined) return dflt
  const n = Number(v)
  if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number ≥ ${min}, got "${v}"`)
  return n
}

const log = (s: string) => process.stderr.write(`[bench] ${s}\n`)

const PREFIX = process.env['MURDER_BENCH_PREFIX'] ?? `mbench${process.pid}`

let cleaning: Promise<void> | null = null
function cleanupAll(): Promise<void> {
  cleaning ??= (async () => {
    await killAll()
    destroyNamespaces(PREFIX)
  })()
  return cleaning
}

/** Runs the scenarios in turn on a lab that is up (a failed scenario is reported, the next one runs). */
async function runScenarios(ctx: LabContext, scenarios: ScenarioName[], size: number, seed: number, tMin: number): Promise<ScenarioResult[]> {
  const { payload } = ctx
  const results: ScenarioResult[] = []
  let torrent: Torrent | undefined
  for (const s of scenarios) {
    log(`scenario ${s}`)
    let r: ScenarioResult
    try {
      const problem = await payloadProblem(payload.dir, size, seed)
      if (problem) throw new Error(`the source payload was changed by an earlier scenario: ${problem}`)
      if (s === 'rsync') r = await runRsync(ctx)
      else if (s === 'murder-ssl') r = (await runMurder(ctx, undefined, true)).result
      else if (s === 'murder') {
        let m = await runMurder(ctx, torrent)
        // Others on a shared machine may pkill murder processes: one more try, noted in the report.
        if (m.result.notes.some((n) => n.includes('from outside the bench'))) {
          log('  murder processes were killed from outside the bench: trying once more')
          const first = m.result
          m = await runMurder(ctx, m.torrent)
          m.result.notes.unshift(`first attempt discarded: its processes were killed from outside the bench (${first.notes.filter((n) => n.includes('outside')).length} peers)`)
        }
        torrent = m.torrent
        r = m.result
      } else if (s === 'libtorrent') r = await runLibtorrent(ctx, torrent)
      else r = await runAria2(ctx, torrent)
    } catch (err) {
      log(`  ${s} failed: ${(err as Error).message}`)
      r = { scenario: s, ok: false, error: (err as Error).message.split('\n')[0], prep: {}, seconds: null, hosts: [], sourceTxBytes: 0, sourceRxBytes: 0, shaperDrops: 0, cpuBusy: null, notes: [(err as Error).message], extra: {} }
      await killAll()
    }
    log(`  ${s}: ${r.seconds === null ? 'FAILED' : `${r.seconds.toFixed(2)} s`} (T_min ${tMin.toFixed(2)} s), source sent ${(r.sourceTxBytes / 1e6).toFixed(1)} MB${r.wan ? `, WAN A→B ${(r.wan.aToB / 1e6).toFixed(1)} MB (${(r.wan.aToB / payload.bytes).toFixed(2)}×F), B→A ${(r.wan.bToA / 1e6).toFixed(1)} MB` : ''}`)
    results.push(r)
  }
  return results
}

type Values = Record<string, string | boolean | undefined>

/** Options both lab commands take, with their defaults. */
function scenarioOptions(v: Values, defaultSize: string) {
  const size = parseSize((v['size'] as string | undefined) ?? defaultSize)
  const shaper = ((v['shaper'] as string | undefined) ?? 'tbf') as Shaper
  if (shaper !== 'tbf' && shaper !== 'htb') throw new Error('--shaper must be tbf or htb')
  const scenarios = ((v['scenarios'] as string | undefined) ?? SCENARIOS.join(',')).split(',').map((s) => s.trim()) as ScenarioName[]
  for (const s of scenarios) if (!ALL_SCENARIOS.includes(s)) throw new Error(`unknown scenario "${s}" (${ALL_SCENARIOS.join(', ')})`)
  const interval = v['interval'] === undefined ? undefined : num(v['interval'] as string, 'interval', 10, 1)
  const linger = num(v['linger'] as string | undefined, 'linger', 30)
  const seed = num(v['seed'] as string | undefined, 'seed', 1)
  return { size, shaper, scenarios, interval, linger, seed }
}

/** The payload and this run's folders. */
async function prepareRun(workdir: string, stamp: string, size: number, seed: number) {
  const payload = await ensurePayload(join(workdir, 'payloads'), size, seed, log)
  log(`payload ${payload.dir}: ${payload.files} files, ${payload.bytes} bytes${payload.generatedSeconds !== null ? ` (generated in ${payload.generatedSeconds.toFixed(1)} s)` : ' (cached)'}`)
  const runDir = join(workdir, `run-${stamp}`)
  const logDir = join(workdir, `logs-${stamp}`)
  await mkdir(runDir, { recursive: true })
  await mkdir(logDir, { recursive: true })
  return { payload, runDir, logDir }
}

/** What every scenario of a lab needs, from the options both `lab` and `sites` take. */
function labContext(v: Values, lab: Lab, run: Awaited<ReturnType<typeof prepareRun>>, timeoutS: number, linger: number, interval: number | undefined): LabContext {
  return {
    lab, ...run, timeoutMs: timeoutS * 1000, trackerPort: 8998, linger, log,
    makeTorrentArgs: v['align'] === undefined ? [] : ['--align', v['align'] as string],
    seedArgs: [...(v['super-seed'] ? ['--super-seed'] : []), ...(v['seed-rate'] ? ['--max-upload-rate', v['seed-rate'] as string] : [])],
    peerArgs: v['peer-rate'] ? ['--max-download-rate', v['peer-rate'] as string] : [],
    ...(interval ? { trackerInterval: interval } : {}),
  }
}

/** Runs the scenarios in a lab that is already built, then always removes its namespaces and scratch. */
async function runInLab(v: Values, ctx: LabContext, o: ReturnType<typeof scenarioOptions>, tMin: number): Promise<ScenarioResult[]> {
  try {
    if (v['timeline']) ctx.probes = await startProbes(ctx.lab)
    return await runScenarios(ctx, o.scenarios, o.size, o.seed, tMin)
  } finally {
    destroyNamespaces(PREFIX)
    if (!v['keep']) await rm(ctx.runDir, { recursive: true, force: true })
  }
}

async function labCommand(v: Values, stamp: string, workdir: string): Promise<LabReport> {
  const n = num(v['n'] as string | undefined, 'n', 8, 1)
  const rate = num(v['rate'] as string | undefined, 'rate', 100)
  const sourceRate = num(v['source-rate'] as string | undefined, 'source-rate', rate)
  const delay = num(v['delay'] as string | undefined, 'delay', 0)
  const o = scenarioOptions(v, '128M')
  const { size, shaper, interval, linger } = o
  // rsync sends N copies through the source's uplink: the slowest scenario by design.
  const rsyncEstimate = sourceRate > 0 ? (n * size * 8) / (sourceRate * 1e6) : 10
  const timeoutS = num(v['timeout'] as string | undefined, 'timeout', Math.max(120, Math.ceil(4 * rsyncEstimate + 60)), 1)

  const { payload, runDir, logDir } = await prepareRun(workdir, stamp, size, o.seed)
  log(`creating namespaces ${PREFIX}-*: source + ${n} targets, ${rate} Mbit/s (source ${sourceRate}), ${delay} ms one way, ${shaper}`)
  const lab = createLab({ prefix: PREFIX, n, rateBps: rate * 1e6, sourceRateBps: sourceRate * 1e6, shaper, delayMs: delay })
  const ctx = labContext(v, lab, { payload, runDir, logDir }, timeoutS, linger, interval)
  const bound = lowerBound(payload.bytes, n, lab.source.upBps, lab.targets.map((t) => t.upBps), lab.targets.map((t) => t.downBps))
  const results = await runInLab(v, ctx, o, bound.tMin)
  return {
    kind: 'lab',
    params: {
      n, rateMbit: rate, sourceRateMbit: sourceRate, delayMs: delay, payloadBytes: payload.bytes, payloadFiles: payload.files,
      smallFiles: payload.smallFiles, shaper, trackerInterval: interval ?? null, linger, align: (v['align'] as string | undefined) ?? null,
    },
    payloadDigest: payload.digest,
    bound,
    scenarios: results.map((r) => ({ ...r, ratio: r.seconds === null ? null : r.seconds / bound.tMin })),
    logDir,
  }
}

async function sitesCommand(v: Values, stamp: string, workdir: string): Promise<SitesReport> {
  const nA = num(v['n-a'] as string | undefined, 'n-a', 2, 0)
  const nB = num(v['n-b'] as string | undefined, 'n-b', 4, 1)
  const rate = num(v['rate'] as string | undefined, 'rate', 100)
  const sourceRate = num(v['source-rate'] as string | undefined, 'source-rate', rate)
  const wanRate = num(v['wan-rate'] as string | undefined, 'wan-rate', 50)
  if (!(wanRate > 0)) throw new Error('--wan-rate must be > 0 Mbit/s (the WAN is what this lab is about)')
  const delay = num(v['delay'] as string | undefined, 'delay', 0)
  const wanDelay = num(v['wan-delay'] as string | undefined, 'wan-delay', 0)
  if (v['n'] !== undefined) throw new Error('sites takes --n-a and --n-b, not --n')
  const o = scenarioOptions(v, '64M')
  const { size, shaper, interval, linger } = o
  const murderSites = (v['murder-sites'] as string | undefined) ?? 'map'
  if (murderSites !== 'map' && murderSites !== 'flags') throw new Error('--murder-sites must be map or flags')
  const n = nA + nB
  // rsync: N copies through the source's uplink, N_B of them through the WAN.
  const rsyncEstimate = Math.max(sourceRate > 0 ? (n * size * 8) / (sourceRate * 1e6) : 0, (nB * size * 8) / (wanRate * 1e6))
  const timeoutS = num(v['timeout'] as string | undefined, 'timeout', Math.max(120, Math.ceil(4 * rsyncEstimate + 60)), 1)

  const { payload, runDir, logDir } = await prepareRun(workdir, stamp, size, o.seed)
  log(`creating namespaces ${PREFIX}-*: site A = source + ${nA} targets, site B = ${nB} targets, ${rate} Mbit/s (source ${sourceRate}), WAN ${wanRate} Mbit/s ${wanDelay} ms, ${delay} ms inside a site, ${shaper}`)
  const lab = createSitesLab({ prefix: PREFIX, nA, nB, rateBps: rate * 1e6, sourceRateBps: sourceRate * 1e6, wanRateBps: wanRate * 1e6, shaper, delayMs: delay, wanDelayMs: wanDelay })
  const sitesFile = join(runDir, 'sites.txt')
  await writeFile(sitesFile, lab.sites!.map((s) => `${s.cidr} ${s.name}`).join('\n') + '\n')
  const ctx: LabContext = { ...labContext(v, lab, { payload, runDir, logDir }, timeoutS, linger, interval), sitesFile, siteFlags: murderSites === 'flags' }
  const bound = sitesLowerBound(payload.bytes, n, lab.source.upBps, lab.targets.map((t) => t.upBps), lab.targets.map((t) => t.downBps), lab.wan!.rateBps)
  const results = await runInLab(v, ctx, o, bound.tMin)
  return {
    kind: 'sites',
    params: {
      nA, nB, rateMbit: rate, sourceRateMbit: sourceRate, wanRateMbit: wanRate, wanDelayMs: wanDelay, delayMs: delay, payloadBytes: payload.bytes, payloadFiles: payload.files,
      smallFiles: payload.smallFiles, shaper, sites: lab.sites!, murderSites: murderSites === 'flags' ? 'map+flags' : 'map',
      trackerInterval: interval ?? null, linger, align: (v['align'] as string | undefined) ?? null,
    },
    payloadDigest: payload.digest,
    bound,
    scenarios: results.map((r) => ({ ...r, ratio: r.seconds === null ? null : r.seconds / bound.tMin })),
    logDir,
  }
}

function checkTools(): void {
  for (const [tool, args] of [['ip', ['-V']], ['tc', ['-V']], ['rsync', ['--version']], ['aria2c', ['--version']], ['openssl', ['version']]] as const) {
    try {
      sh(tool, [...args])
    } catch {
      throw new Error(`${tool} is missing: apt-get install -y iproute2 rsync aria2 openssl`)
    }
  }
}

async function main(): Promise<number> {
  const { values: v, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      n: { type: 'string' }, rate: { type: 'string' }, 'source-rate': { type: 'string' }, size: { type: 'string' },
      scenarios: { type: 'string' }, shaper: { type: 'string' }, delay: { type: 'string' }, interval: { type: 'string' },
      linger: { type: 'string' }, 'n-a': { type: 'string' }, 'n-b': { type: 'string' }, 'wan-rate': { type: 'string' }, 'wan-delay': { type: 'string' }, 'murder-sites': { type: 'string' }, 'super-seed': { type: 'boolean' }, 'seed-rate': { type: 'string' }, 'peer-rate': { type: 'string' }, align: { type: 'string' }, timeout: { type: 'string' }, 'loop-size': { type: 'string' }, 'mem-size': { type: 'string' },
      seed: { type: 'string' }, workdir: { type: 'string' }, out: { type: 'string' }, keep: { type: 'boolean' }, json: { type: 'boolean' }, timeline: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  })
  const cmd = positionals[0] ?? 'lab'
  if (v.help || !['lab', 'sites', 'loopback', 'all', 'cleanup'].includes(cmd) || positionals.length > 1) {
    process.stderr.write(`${USAGE}\n`)
    return v.help ? 0 : 2
  }
  requireRoot()
  if (cmd === 'cleanup') {
    const gone = destroyNamespaces('mbench')
    log(gone.length ? `deleted ${gone.join(', ')}` : 'nothing to clean up')
    return 0
  }
  checkTools()
  const workdir = (v.workdir as string | undefined) ?? '/tmp/murder-bench'
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  const reports: { lab?: LabReport; sites?: SitesReport; loopback?: LoopbackReport } = {}
  if (cmd === 'lab' || cmd === 'all') reports.lab = await labCommand(v, stamp, workdir)
  if (cmd === 'sites') reports.sites = await sitesCommand(v, stamp, workdir)
  if (cmd === 'loopback' || cmd === 'all') {
    reports.loopback = await runLoopback({
      prefix: PREFIX,
      workdir,
      stamp,
      loopSize: parseSize((v['loop-size'] as string | undefined) ?? '2G'),
      memSize: parseSize((v['mem-size'] as string | undefined) ?? '4G'),
      seed: num(v['seed'] as string | undefined, 'seed', 1),
      keep: Boolean(v.keep),
      log,
    })
  }
  const json = JSON.stringify(cmd === 'all' ? reports : reports.lab ?? reports.sites ?? reports.loopback, null, 2) + '\n'
  if (v.out) await writeFile(v.out as string, json)
  if (v.json) process.stdout.write(json)
  else {
    const parts: string[] = []
    if (reports.lab) parts.push(formatLab(reports.lab))
    if (reports.sites) parts.push(formatSites(reports.sites))
    if (reports.loopback) parts.push(formatLoopback(reports.loopback))
    process.stdout.write(parts.join('\n\n') + '\n')
  }
  const failed = (reports.lab?.scenarios.some((s) => !s.ok) ?? false) || (reports.sites?.scenarios.some((s) => !s.ok) ?? false) || (reports.loopback?.ok === false)
  return failed ? 1 : 0
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    log(`${sig}: stopping processes and deleting namespaces`)
    void cleanupAll().finally(() => process.exit(130))
  })
}
process.on('exit', () => {
  // Last resort (synchronous): namespaces must not outlive the bench.
  destroyNamespaces(PREFIX)
})

main().then(
  async (code) => {
    await cleanupAll()
    process.exit(code)
  },
  async (err: Error) => {
    log(`error: ${err.message}`)
    await cleanupAll()
    process.exit(1)
  },
)
