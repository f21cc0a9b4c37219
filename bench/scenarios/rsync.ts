// (a) What users run today: an rsync daemon on the source, `rsync -a` on every target at once.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { start, type Proc } from '../proc.js'
import { conclude, Meter, prepareDestinations, targetDest, type LabContext, type ScenarioResult } from './common.js'

const RSYNC_PORT = 873

export async function runRsync(ctx: LabContext): Promise<ScenarioResult> {
  const { lab } = ctx
  await prepareDestinations(ctx, 'rsync')
  const conf = join(ctx.runDir, 'rsyncd.conf')
  await writeFile(conf, [
    'use chroot = no',
    'reverse lookup = no',
    'max connections = 0',
    `pid file = ${join(ctx.runDir, 'rsyncd.pid')}`,
    '[payload]',
    `  path = ${ctx.payload.dir}`,
    '  read only = yes',
    '  uid = root',
    '  gid = root',
    '',
  ].join('\n'))
  const t = performance.now()
  const daemon = start('rsync/daemon', 'rsync', ['--daemon', '--no-detach', `--config=${conf}`, `--address=${lab.source.ip}`, `--port=${RSYNC_PORT}`, '--log-file=/dev/stderr'], {
    ns: lab.source.ns,
    log: join(ctx.logDir, 'rsync-daemon.log'),
  })
  const procs: Proc[] = [daemon]
  try {
    // The daemon's log is buffered: ask for its module list (from the source itself, so over its loopback).
    for (let i = 0; ; i++) {
      const probe = start('rsync/probe', 'rsync', [`rsync://${lab.source.ip}:${RSYNC_PORT}/`], { ns: lab.source.ns })
      if ((await probe.waitExit(5000)).code === 0) break
      if (i >= 100 || daemon.exit) throw new Error(`the rsync daemon did not come up:\n${daemon.tail()}`)
      await new Promise((r) => setTimeout(r, 100))
    }
    const prep = { daemon: (performance.now() - t) / 1000 }
    ctx.log(`  rsync daemon up; ${lab.targets.length} × rsync -a`)
    const meter = new Meter(lab, ctx.probes)
    const clients = lab.targets.map((h) => {
      const p = start(`rsync/${h.name}`, 'rsync', ['-a', `rsync://${lab.source.ip}:${RSYNC_PORT}/payload/`, `${targetDest(ctx, 'rsync', h)}/`], {
        ns: h.ns,
        log: join(ctx.logDir, `rsync-${h.name}.log`),
      })
      procs.push(p)
      return { h, p }
    })
    const finish = new Map<string, { seconds: number | null; exitCode: number | null; note?: string; extra?: Record<string, unknown> }>()
    await Promise.all(clients.map(async ({ h, p }) => {
      const e = await p.waitExit(ctx.timeoutMs)
      const ok = e.code === 0
      finish.set(h.name, {
        seconds: ok ? meter.seconds(e.at) : null,
        exitCode: e.code,
        ...(ok ? {} : { note: `rsync exit ${e.code ?? e.signal}: ${p.tail(3)}` }),
        extra: { cpuSeconds: p.cpuSeconds() },
      })
    }))
    meter.markDone()
    const daemonCpu = daemon.cpuSeconds()
    await daemon.stop()
    return await conclude(ctx, meter, { scenario: 'rsync', prep, notes: [], extra: { sourceCpuSeconds: daemonCpu } }, finish,
      new Map(lab.targets.map((h) => [h.name, targetDest(ctx, 'rsync', h)])))
  } finally {
    for (const p of procs) p.kill('SIGKILL')
  }
}
