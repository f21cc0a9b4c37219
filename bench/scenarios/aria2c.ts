// (c) aria2c seeding and downloading the same .torrent through murder's tracker, tuned for a LAN.
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { run, start, type Proc } from '../proc.js'
import { conclude, makeTorrent, Meter, prepareDestinations, startTracker, targetDest, type LabContext, type ScenarioResult, type Torrent } from './common.js'

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
    // aria2c writes into the tree it seeds when it finds something missing: give it a hard-linked copy.
    const seedRoot = join(ctx.runDir, 'aria2c-source')
    await rm(seedRoot, { recursive: true, force: true })
    await mkdir(seedRoot, { recursive: true })
    await run('cp -al', 'cp', ['-al', ctx.payload.dir, join(seedRoot, 'payload')])
    let t = performance.now()
    const tracker = await startTracker(ctx, 'aria2c')
    procs.push(tracker)
    const trackerS = (performance.now() - t) / 1000
    t = performance.now()
    // The seeder checks the source tree (-V) and announces left=0 once it has.
    const seeder = start('aria2c/seed', 'aria2c', [...aria2Options(seedMinutes), '-V', `--bt-external-ip=${lab.source.ip}`, `--dir=${seedRoot}`, torrent.path], {
      ns: lab.source.ns,
      log: join(ctx.logDir, 'aria2c-seed.log'),
    })
    procs.push(seeder)
    // aria2c's first announce comes after its check: left > 0 means it did not accept the source as complete.
    const first = await tracker.waitLine((l) => l.json?.['msg'] === 'announce' && l.json['ip'] === lab.source.ip, ctx.timeoutMs)
    if (first.json!['left'] !== 0) {
      throw new Error(`the aria2c seeder checked the source and announced left=${String(first.json!['left'])}: it cannot seed this torrent (BEP 47 padding files it looks for on disk?)`)
    }
    const prep = { makeTorrent: makeTorrentS, tracker: trackerS, seedCheck: (performance.now() - t) / 1000 }
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
    const finish = new Map(clients.map(({ h, p }) => {
      const at = doneEpochMs.get(h.name)
      const early = p.exit ? `aria2c exited early (code ${p.exit.code}): ${p.tail(3)}` : undefined
      return [h.name, {
        seconds: at === undefined ? null : (at - meter.epoch0) / 1000,
        exitCode: p.exit?.code ?? null,
        extra: { cpuSeconds: p.cpuSeconds(), peakMemory: p.peakMemory() },
        ...(at === undefined ? { note: early ?? 'not complete before the timeout' } : {}),
      }] as const
    }))
    await Promise.all(clients.map(({ p }) => p.stop(10_000)))
    const seedCpu = seeder.cpuSeconds()
    await seeder.stop(10_000)
    await tracker.stop()
    return await conclude(ctx, meter, { scenario: 'aria2c', prep, notes, extra: { sourceCpuSeconds: seedCpu } }, finish,
      new Map(lab.targets.map((h) => [h.name, join(targetDest(ctx, 'aria2c', h), 'payload')])))
  } finally {
    for (const p of procs) p.kill('SIGKILL')
  }
}
