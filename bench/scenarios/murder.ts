// (b) murder: make-torrent, tracker and seed on the source, `murder peer` on every target at once.
import { join } from 'node:path'
import type { HostSpec } from '../netns.js'
import { murder, watchStall, type Proc } from '../proc.js'
import { issueCertificate, makeCa, type KeyPair } from '../../src/deploy/certificates.js'

/** A peer with no new bytes for this long is stuck: it is stopped and reported. */
const STALL_MS = 60_000
import { allSettledBy, conclude, makeTorrent, Meter, prepareDestinations, startTracker, targetDest, type LabContext, type ScenarioResult, type Torrent } from './common.js'

/** A CA and one "*" certificate of it that the seed and every peer present (libtorrent's name rule allows "*"). */
async function labCertificates(dir: string): Promise<{ ca: KeyPair; host: KeyPair }> {
  const ca = await makeCa(dir, 'lab-ca', 'murder bench CA', 2)
  return { ca, host: await issueCertificate(ca, dir, 'lab-host', ['*'], 2) }
}

/** `--site <name>` for a host of the two-site lab when the bench asks for site flags. */
function siteArgs(ctx: LabContext, h: HostSpec): string[] {
  return ctx.siteFlags && h.site ? ['--site', h.site] : []
}

/**
 * `ssl`: the same as an SSL torrent (make-torrent --ca, every peer and the seed with a certificate of that CA),
 * so that every connection is TLS: what encryption costs in the lab. Its torrent is its own.
 */
export async function runMurder(ctx: LabContext, torrentIn?: Torrent, ssl = false): Promise<{ result: ScenarioResult; torrent: Torrent }> {
  const { lab } = ctx
  const name = ssl ? 'murder-ssl' : 'murder'
  await prepareDestinations(ctx, name)
  const procs: Proc[] = []
  try {
    const certs = ssl ? await labCertificates(ctx.runDir) : null
    const torrent = certs ? await makeTorrent(ctx, ['--ca', certs.ca.cert], 'lab-ssl.torrent') : torrentIn ?? await makeTorrent(ctx)
    const certArgs = certs ? ['--cert', certs.host.cert, '--key', certs.host.key] : []
    ctx.log(`  make-torrent: ${torrent.files} files, ${torrent.bytes} bytes, ${torrent.pieces} pieces of ${torrent.pieceLength} B in ${torrent.seconds.toFixed(2)} s`)
    let t = performance.now()
    const tracker = await startTracker(ctx, name, ctx.sitesFile ? ['--sites', ctx.sitesFile] : [])
    procs.push(tracker)
    const trackerS = (performance.now() - t) / 1000
    t = performance.now()
    const seed = murder('murder/seed', ['seed', torrent.path, ctx.payload.dir, lab.source.ip, ...siteArgs(ctx, lab.source), ...ctx.seedArgs, ...certArgs], { ns: lab.source.ns, log: join(ctx.logDir, 'murder-seed.log') })
    procs.push(seed)
    await seed.waitLine((l) => l.json?.['msg'] === 'seeding', ctx.timeoutMs)
    const prep = { makeTorrent: torrent.seconds, tracker: trackerS, seedCheck: (performance.now() - t) / 1000 }
    ctx.log(`  seed ready after ${prep.seedCheck.toFixed(2)} s; ${lab.targets.length} × murder peer`)

    const meter = new Meter(lab, ctx.probes)
    const deadline = performance.now() + ctx.timeoutMs
    const peers = lab.targets.map((h) => {
      const p = murder(`murder/${h.name}`, ['peer', torrent.path, targetDest(ctx, name, h), h.ip, '--linger', String(ctx.linger), ...siteArgs(ctx, h), ...ctx.peerArgs, ...certArgs], {
        ns: h.ns,
        log: join(ctx.logDir, `murder-${h.name}.log`),
      })
      procs.push(p)
      return { h, p, done: p.waitLine((l) => l.stream === 'stdout' && l.text === 'Done and done', ctx.timeoutMs) }
    })
    const stalled = new Map<string, string>()
    const unwatch = peers.map(({ h, p, done }) => {
      const stop = watchStall(p, STALL_MS, (d) => {
        stalled.set(h.name, d)
        ctx.log(`    ${h.name} ${d}: stopping it`)
        p.kill('SIGTERM')
      })
      void done.then(stop, stop)
      return stop
    })
    const doneAt = new Map<string, number>()
    const failures = new Map<string, string>()
    await allSettledBy(peers.map(({ h, done }) => done.then(
      (l) => { doneAt.set(h.name, l.at); ctx.log(`    ${h.name} done at ${meter.seconds(l.at).toFixed(2)} s`) },
      (err: Error) => { failures.set(h.name, err.message.split('\n')[0]!) },
    )), deadline)
    for (const stop of unwatch) stop()
    meter.markDone()
    const lastDone = doneAt.size ? Math.max(...doneAt.values()) : performance.now()

    // The peers linger while the tracker counts incomplete peers: they should all leave soon after the last copy.
    await allSettledBy(peers.map(({ p }) => p.exited), performance.now() + (ctx.linger + 15) * 1000)
    const notes: string[] = []
    const finish = new Map(peers.map(({ h, p }) => {
      const complete = [...p.lines].reverse().find((l) => l.json?.['msg'] === 'complete')?.json
      const exitAfterLast = p.exit ? (p.exit.at - lastDone) / 1000 : null
      const at = doneAt.get(h.name)
      const extra: Record<string, unknown> = {
        downloaded: complete?.['downloaded'],
        received: complete?.['received'],
        receivedCrossSite: complete?.['receivedCrossSite'],
        uploaded: complete?.['uploaded'],
        hashFailures: complete?.['hashFailures'],
        exitSecondsAfterLastCopy: exitAfterLast === null ? null : Number(exitAfterLast.toFixed(2)),
        cpuSeconds: p.cpuSeconds(),
        peakMemory: p.peakMemory(),
      }
      if (!p.exit) notes.push(`${h.name}: still running ${ctx.linger + 15} s after the last copy (linger ${ctx.linger} s)`)
      else if (p.exit.code !== 0) notes.push(`${h.name}: exit code ${p.exit.code}`)
      const warn = p.lines.filter((l) => { const lv = l.json?.['level']; return typeof lv === 'number' && lv >= 40 })
      if (warn.length) notes.push(`${h.name}: ${warn.length} warn/error log lines, first: ${warn[0]!.text.slice(0, 300)}`)
      const stray = p.strayStderr()
      if (stray.length) notes.push(`${h.name}: ${stray.length} non-JSON stderr lines, first: ${stray[0]!.slice(0, 200)}`)
      // The bench never signals a peer before it is done: a signal came from outside (e.g. someone's pkill).
      if (stalled.has(h.name)) notes.push(`${h.name}: ${stalled.get(h.name)!}`)
      else if (!doneAt.has(h.name) && stray.some((l) => l.includes('interrupted by SIG'))) notes.push(`${h.name}: killed by a signal from outside the bench`)
      const untilChecked = p.lines.find((l) => l.json?.['msg'] === 'destination checked')
      if (untilChecked) extra['startupSeconds'] = Number(meter.seconds(untilChecked.at).toFixed(2))
      return [h.name, {
        seconds: at === undefined ? null : meter.seconds(at),
        exitCode: p.exit?.code ?? null,
        ...(failures.has(h.name) ? { note: stalled.get(h.name) ?? failures.get(h.name)! } : {}),
        extra,
      }] as const
    }))
    if (tracker.exit) notes.push(`tracker exited during the run (code ${tracker.exit.code}): killed from outside the bench?`)
    if (seed.exit) notes.push(`seed exited during the run (code ${seed.exit.code}): killed from outside the bench?`)
    const seedCpu = seed.cpuSeconds()
    await seed.stop()
    const seedStray = seed.strayStderr()
    if (seedStray.length) notes.push(`seed: ${seedStray.length} non-JSON stderr lines, first: ${seedStray[0]!.slice(0, 200)}`)
    const stopping = seed.lines.find((l) => l.json?.['msg'] === 'seed stopping')?.json
    const seedWarn = seed.lines.filter((l) => { const lv = l.json?.['level']; return typeof lv === 'number' && lv >= 40 })
    if (seedWarn.length) notes.push(`seed: ${seedWarn.length} warn/error log lines, first: ${seedWarn[0]!.text.slice(0, 300)}`)
    await tracker.stop()
    const result = await conclude(ctx, meter, {
      scenario: name,
      prep,
      notes,
      extra: { seedUploaded: stopping?.['uploaded'], seedRefused: stopping?.['refused'], sourceCpuSeconds: seedCpu, pieces: torrent.pieces, pieceLength: torrent.pieceLength, torrentBytes: torrent.bytes, torrentFiles: torrent.files },
    }, finish, new Map(lab.targets.map((h) => [h.name, targetDest(ctx, name, h)])))
    return { result, torrent }
  } finally {
    for (const p of procs) p.kill('SIGKILL')
  }
}
