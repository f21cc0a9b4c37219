// (c) aria2c seeding and downloading the same .torrent through murder's tracker, tuned for a LAN.
import { chmod, readFile, rm, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { start, type Proc } from '../proc.js'
import { clientFinish, conclude, makeTorrent, Meter, prepareDestinations, startSeeder, targetDest, type LabContext, type ScenarioResult, type Torrent } from './common.js'

/** A trusted LAN: no DHT, LPD or PEX, unlimited peers and rates, nothing extra written. */
export function aria2Options(seedMinutes: number): string[] {
  return [
    '--enable-dht=false', '--enable-dht6=false', '--bt-enable-lpd=false', '--enable-peer-exchange=false',
    '--bt-max-peers=0', '--bt-request-peer-speed-limit=1000M', '--max-overall-upload-limit=0', '--max-upload-limit=0',
    '--file-allocation=none', '--disk-cache=64M', '--auto-file-renaming=false', '--allow-overwrite=true',
    '--seed-ratio=0.0', `--seed-time=${seedMinutes}`, '--bt-stop-timeout=0', '--bt-tracker-connect-timeout=10',
    '--summary-interval=0', '--console-log-level=notice', '--enable-color=false', '--listen-port=6881',
    // Never outlive the bench, even if it is killed.
    `--stop-with-process=${process.pid}`,
  ]
}

const POLL_MS = 50

export async function runAria2(ctx: LabContext, torrentIn?: Torrent): Promise<ScenarioResult> {
  const { lab } = ctx
  await prepareDestinations(ctx, 'aria2c')
  const procs: Proc[] = []
  const seedMinutes = Math.ceil(ctx.timeoutMs / 60_000) + 1
  try {
    const notes: string[] = []
    let torrent = torrentIn ?? await makeTorrent(ctx)
    let makeTorrentS = torrentIn ? 0 : torrent.seconds
    if (torrent.paddingBytes > 0) {
      // aria2c (1.36) has no BEP 47: it looks for the padding files on disk, so it can neither seed such a
      // torrent from the source tree nor download it without writing .pad/ files into the copy.
      notes.push(`murder's torrent has ${torrent.paddingBytes} B of BEP 47 padding, which aria2c cannot use: aria2c ran on a torrent made with --align none`)
      torrent = await makeTorrent(ctx, ['--align', 'none'], 'lab-unaligned.torrent')
      makeTorrentS = torrent.seconds
    }
    // The seeder checks the source tree (-V), then announces.
    const { tracker, seeder, trackerS, seedCheckS } = await startSeeder(ctx, 'aria2c', procs, (root) => ['aria2c', [...aria2Options(seedMinutes), '-V', `--bt-external-ip=${lab.source.ip}`, `--dir=${root}`, torrent.path]])
    const prep = { makeTorrent: makeTorrentS, tracker: trackerS, seedCheck: seedCheckS }
    ctx.log(`  aria2c seeder announced as complete after ${prep.seedCheck.toFixed(2)} s; ${lab.targets.length} × aria2c`)

    const hook = join(ctx.runDir, 'aria2-done.sh')
    // aria2c runs it when the download is complete and verified, before seeding (--on-bt-download-complete).
    await writeFile(hook, '#!/bin/sh\ndate +%s%N > "$MURDER_BENCH_DONE.tmp" && mv "$MURDER_BENCH_DONE.tmp" "$MURDER_BENCH_DONE"\n')
    await chmod(hook, 0o755)
    const doneFiles = new Map(lab.targets.map((h) => [h.name, join(ctx.runDir, `aria2-${h.name}.done`)]))
    // A scenario named twice runs twice in one lab: the first run's marks must not end the second at once.
    await Promise.all([...doneFiles.values()].map((f) => rm(f, { force: true })))
    const meter = new Meter(lab, ctx.probes)
    const deadline = performance.now() + ctx.timeoutMs
    const clients = lab.targets.map((h) => {
      const doneFile = doneFiles.get(h.name)!
      const p = start(`aria2c/${h.name}`, 'aria2c', [...aria2Options(seedMinutes), `--bt-external-ip=${h.ip}`, `--on-bt-download-complete=${hook}`,
        `--dir=${targetDest(ctx, 'aria2c', h)}`, torrent.path], {
        ns: h.ns,
        log: join(ctx.logDir, `aria2c-${h.name}.log`),
        env: { MURDER_BENCH_DONE: doneFile },
      })
      procs.push(p)
      return { h, p, doneFile }
    })
    const doneEpochMs = new Map<string, number>()
    while (performance.now() < deadline) {
      for (const c of clients) {
        if (doneEpochMs.has(c.h.name)) continue
        const s = await readFile(c.doneFile, 'utf8').catch(() => null)
        if (s !== null) {
          doneEpochMs.set(c.h.name, Number(BigInt(s.trim()) / 1_000_000n))
          ctx.log(`    ${c.h.name} done at ${((doneEpochMs.get(c.h.name)! - meter.epoch0) / 1000).toFixed(2)} s`)
        }
      }
      if (clients.every((c) => doneEpochMs.has(c.h.name) || c.p.exit)) break
      await new Promise((r) => setTimeout(r, POLL_MS))
    }
    meter.markDone()
    const finish = clientFinish('aria2c', clients, new Map([...doneEpochMs].map(([h, at]) => [h, (at - meter.epoch0) / 1000])))
    await Promise.all(clients.map(({ p }) => p.stop(10_000)))
    const seedCpu = seeder.cpuSeconds()
    await seeder.stop(10_000)
    await tracker.stop()
    return await conclude(ctx, meter, { scenario: 'aria2c', prep, notes, extra: { sourceCpuSeconds: seedCpu } }, finish,
      new Map(lab.targets.map((h) => [h.name, join(targetDest(ctx, 'aria2c', h), basename(ctx.payload.dir))])))
  } finally {
    for (const p of procs) p.kill('SIGKILL')
  }
}
