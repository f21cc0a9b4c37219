// (d) libtorrent 2.0 (Debian's python3-libtorrent, driven by ltclient.py --lan) seeding and downloading murder's
// .torrent through murder's tracker.
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { start, type Proc } from '../proc.js'
import { allSettledBy, clientFinish, conclude, makeTorrent, Meter, prepareDestinations, startSeeder, targetDest, type LabContext, type ScenarioResult, type Torrent } from './common.js'

/** The script, beside this file's source (this file compiles to dist/bench/scenarios/libtorrent.js). */
const SCRIPT = fileURLToPath(new URL('../../../bench/scenarios/ltclient.py', import.meta.url))
/** Debian's interpreter, the one python3-libtorrent is built for (a python3 earlier on the PATH may not see it). */
const PYTHON = '/usr/bin/python3'

/** The command line of a libtorrent client: `get` (then exit, or `--seed` on) or `seed`, tuned for a LAN. */
export function libtorrentCommand(args: string[], ip: string): [string, string[]] {
  return [PYTHON, [SCRIPT, ...args, '--lan', '--interface', ip]]
}

export async function runLibtorrent(ctx: LabContext, torrentIn?: Torrent): Promise<ScenarioResult> {
  const { lab } = ctx
  await prepareDestinations(ctx, 'libtorrent')
  const procs: Proc[] = []
  try {
    // libtorrent 2.0 reads BEP 47 padding: murder's torrent as it is.
    const torrent = torrentIn ?? await makeTorrent(ctx)
    // It checks the tree, then starts (and announces).
    const { tracker, seeder, trackerS, seedCheckS } = await startSeeder(ctx, 'libtorrent', procs, (root) => libtorrentCommand(['seed', torrent.path, root], lab.source.ip))
    const prep = { makeTorrent: torrentIn ? 0 : torrent.seconds, tracker: trackerS, seedCheck: seedCheckS }
    ctx.log(`  libtorrent seeder announced as complete after ${prep.seedCheck.toFixed(2)} s; ${lab.targets.length} × libtorrent`)

    const meter = new Meter(lab, ctx.probes)
    const clients = lab.targets.map((h) => {
      const p = start(`libtorrent/${h.name}`, ...libtorrentCommand(['get', torrent.path, targetDest(ctx, 'libtorrent', h), '--seed'], h.ip), {
        ns: h.ns,
        log: join(ctx.logDir, `libtorrent-${h.name}.log`),
      })
      procs.push(p)
      return { h, p, done: p.waitLine((l) => l.json?.['msg'] === 'done', ctx.timeoutMs) }
    })
    const doneSeconds = new Map<string, number>()
    await allSettledBy(clients.map(({ h, done }) => done.then((l) => {
      doneSeconds.set(h.name, meter.seconds(l.at))
      ctx.log(`    ${h.name} done at ${meter.seconds(l.at).toFixed(2)} s`)
    })), performance.now() + ctx.timeoutMs)
    meter.markDone()
    // They seed until every target is done, as aria2c's do.
    const finish = clientFinish('libtorrent', clients, doneSeconds)
    await Promise.all(clients.map(({ p }) => p.stop(10_000)))
    const seedCpu = seeder.cpuSeconds()
    await seeder.stop(10_000)
    await tracker.stop()
    return await conclude(ctx, meter, { scenario: 'libtorrent', prep, notes: [], extra: { sourceCpuSeconds: seedCpu } }, finish,
      new Map(lab.targets.map((h) => [h.name, join(targetDest(ctx, 'libtorrent', h), basename(ctx.payload.dir))])))
  } finally {
    for (const p of procs) p.kill('SIGKILL')
  }
}
