// Unshaped single-machine measurements, on the loopback of a namespace of our own (nothing else listens
// there, so fixed ports are safe): seed -> peer throughput (murder vs aria2c), make-torrent hashing vs
// `openssl dgst -sha1`, the peer's start-up check of a complete destination, and the peer's peak memory.
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { createLoopbackNs, deleteNamespace } from './netns.js'
import { ensurePayload, treeDigestOrNull, walkFiles, type Payload } from './payload.js'
import { murder, murderCommand, run, start, watchPeakMemory, watchStall, type Proc } from './proc.js'
import { table } from './report.js'
import { aria2Options } from './scenarios/aria2c.js'

const IP = '127.0.0.1'
const TRACKER_PORT = 8998
const TIMEOUT_MS = 600_000
/** A transfer with no new bytes for this long is stuck: stop it and report. */
const STALL_MS = 60_000

export interface LoopbackOptions {
  prefix: string
  workdir: string
  stamp: string
  loopSize: number
  memSize: number
  seed: number
  keep: boolean
  log: (s: string) => void
}

interface Transfer {
  tool: string
  error?: string
  bytes: number
  /** Seed ready (source checked, announced) -> copy complete and verified by the client. */
  seconds: number | null
  mbPerS: number | null
  verified: boolean
  seedCheckSeconds: number
  peerPeakKiB?: number
  seedPeakKiB?: number
}

export interface LoopbackReport {
  kind: 'loopback'
  ok: boolean
  hashing: {
    bytes: number
    files: number
    /** make-torrent with its defaults, and with --align none when the default pads (BEP 47). */
    murder: { args: string[]; pieceLength: number; pieces: number; paddingBytes: number; seconds: number; wallSeconds: number }[]
    opensslSeconds: number
  } | null
  throughput: Transfer[]
  startupCheck: {
    bytes: number
    murder: { torrentArgs: string[]; seconds: number; checkSeconds: number | null; downloaded: number | null; received: number | null; exitCode: number | null; have: unknown } | null
    aria2c: { seconds: number; exitCode: number | null } | null
  }
  memory: {
    torrentArgs: string[]
    bytes: number
    peerMaxRssKiB: number | null
    peerHwmPolledKiB: number
    seedHwmPolledKiB: number
    seconds: number | null
    mbPerS: number | null
    verified: boolean
  } | null
  notes: string[]
  logDir: string
}

class Loop {
  readonly procs: Proc[] = []
  constructor(readonly ns: string, readonly logDir: string, readonly log: (s: string) => void) {}

  log_(name: string) {
    return join(this.logDir, `loopback-${name}.log`)
  }

  async tracker(): Promise<Proc> {
    const p = murder('loop/tracker', ['tracker', '--port', String(TRACKER_PORT), '--host', IP, '--log-level', 'debug'], { ns: this.ns, log: this.log_('tracker') })
    this.procs.push(p)
    await p.waitLine((l) => l.json?.['msg'] === 'tracker listening', 15_000)
    return p
  }

  async makeTorrent(payload: Payload, out: string, extra: string[] = []): Promise<MadeTorrent> {
    const r = await run('make-torrent', ...murderCommand(['make-torrent', payload.dir, `${IP}:${TRACKER_PORT}`, out, '--json', ...extra]), { ns: this.ns, log: this.log_('make-torrent'), timeoutMs: TIMEOUT_MS })
    const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as { seconds: number; pieces: number; pieceLength: number; paddingBytes?: number }
    return { path: out, args: extra, seconds: j.seconds, wall: r.ms / 1000, pieces: j.pieces, pieceLength: j.pieceLength, paddingBytes: j.paddingBytes ?? 0 }
  }

  /** Stops every process started here but `keep`. */
  async stopAll(keep?: Proc): Promise<void> {
    const stopping = this.procs.filter((p) => p !== keep)
    await Promise.all(stopping.map((p) => p.stop(10_000)))
    this.procs.splice(0, this.procs.length, ...(keep && !keep.exit ? [keep] : []))
  }
}

interface MadeTorrent {
  path: string
  args: string[]
  seconds: number
  wall: number
  pieces: number
  pieceLength: number
  paddingBytes: number
}

const mbps = (bytes: number, s: number | null) => (s ? bytes / 1e6 / s : null)

async function murderTransfer(L: Loop, payload: Payload, torrent: string, dest: string, opts: { timeWrapper?: string }): Promise<Transfer & { maxRssKiB: number | null; seed: Proc }> {
  const t = performance.now()
  const seed = murder('loop/seed', ['seed', torrent, payload.dir, IP], { ns: L.ns, log: L.log_('murder-seed') })
  L.procs.push(seed)
  await seed.waitLine((l) => l.json?.['msg'] === 'seeding', TIMEOUT_MS)
  const seedCheckSeconds = (performance.now() - t) / 1000
  const seedMem = watchPeakMemory(seed.pid)
  const args = ['peer', torrent, dest, IP, '--linger', '0']
  const peer = opts.timeWrapper
    ? start('loop/peer', '/usr/bin/time', ['-v', '-o', opts.timeWrapper, ...murderCommand(args).flat()], { ns: L.ns, log: L.log_('murder-peer-mem') })
    : murder('loop/peer', args, { ns: L.ns, log: L.log_('murder-peer') })
  L.procs.push(peer)
  // Under /usr/bin/time the node process is its child: poll that one.
  let peerMem = opts.timeWrapper ? null : watchPeakMemory(peer.pid)
  let peerPid = 0
  if (opts.timeWrapper) {
    for (let i = 0; i < 100 && !peerMem; i++) {
      const kids = await readFile(`/proc/${peer.pid}/task/${peer.pid}/children`, 'utf8').catch(() => '')
      const k = Number(kids.trim().split(/\s+/)[0])
      if (k > 0) {
        peerPid = k
        peerMem = watchPeakMemory(k)
      } else await new Promise((r) => setTimeout(r, 20))
    }
  }
  const t0 = performance.now()
  let seconds: number | null = null
  let stalled: string | null = null
  const unwatch = watchStall(peer, STALL_MS, (d) => {
    stalled = d
    L.log(`  murder peer ${d}: stopping it`)
    // Under /usr/bin/time, signal the node process itself (time would die and leave it running).
    if (peerPid) {
      try { process.kill(peerPid, 'SIGTERM') } catch { /* gone */ }
    } else peer.kill('SIGTERM')
  })
  try {
    const done = await peer.waitLine((l) => l.stream === 'stdout' && l.text === 'Done and done', TIMEOUT_MS)
    seconds = (done.at - t0) / 1000
  } catch (err) {
    L.log(`  murder peer failed: ${(err as Error).message.split('\n')[0]}`)
  } finally {
    unwatch()
  }
  await peer.waitExit(30_000)
  const peerPeakKiB = peerMem?.stop() ?? 0
  const seedPeakKiB = seedMem.stop()
  let maxRssKiB: number | null = null
  if (opts.timeWrapper) {
    const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(await readFile(opts.timeWrapper, 'utf8').catch(() => ''))
    maxRssKiB = m ? Number(m[1]) : null
  }
  L.log(`  verifying the copy`)
  const d = await treeDigestOrNull(dest)
  const verified = d !== null && d.digest === payload.digest
  return { tool: 'murder', ...(stalled ? { error: stalled } : {}), bytes: payload.bytes, seconds, mbPerS: mbps(payload.bytes, seconds), verified, seedCheckSeconds, peerPeakKiB, seedPeakKiB, maxRssKiB, seed }
}

export async function runLoopback(o: LoopbackOptions): Promise<LoopbackReport> {
  const logDir = join(o.workdir, `logs-${o.stamp}`)
  const runDir = join(o.workdir, `loop-${o.stamp}`)
  const { mkdir } = await import('node:fs/promises')
  await mkdir(logDir, { recursive: true })
  await mkdir(runDir, { recursive: true })
  const ns = createLoopbackNs(o.prefix)
  const L = new Loop(ns, logDir, o.log)
  const notes: string[] = []
  const report: LoopbackReport = { kind: 'loopback', ok: true, hashing: null, throughput: [], startupCheck: { bytes: o.loopSize, murder: null, aria2c: null }, memory: null, notes, logDir }
  const fail = (what: string, err: unknown) => {
    report.ok = false
    notes.push(`${what}: ${(err as Error).message.split('\n').slice(0, 4).join(' | ')}`)
    o.log(`  ${what} failed: ${(err as Error).message}`)
  }
  try {
    const payload = await ensurePayload(join(o.workdir, 'payloads'), o.loopSize, o.seed, o.log)
    const torrent = join(runDir, 'loop.torrent')

    // make-torrent vs openssl over the same bytes (both from the page cache: the payload was just written or digested).
    o.log(`hashing: make-torrent vs openssl dgst -sha1 over ${(payload.bytes / 2 ** 20).toFixed(0)} MiB`)
    const files = (await walkFiles(payload.dir)).map((f) => join(payload.dir, f.path))
    await run('openssl-warm', 'openssl', ['dgst', '-sha1', '-r', ...files], { timeoutMs: TIMEOUT_MS })
    const mt = await L.makeTorrent(payload, torrent)
    // aria2c has no BEP 47: it gets an unpadded torrent of the same tree when murder's default pads.
    const plain = mt.paddingBytes > 0 ? await L.makeTorrent(payload, join(runDir, 'loop-none.torrent'), ['--align', 'none']) : mt
    const ossl = await run('openssl', 'openssl', ['dgst', '-sha1', '-r', ...files], { timeoutMs: TIMEOUT_MS })
    const row = (m: MadeTorrent) => ({ args: m.args, pieceLength: m.pieceLength, pieces: m.pieces, paddingBytes: m.paddingBytes, seconds: m.seconds, wallSeconds: m.wall })
    report.hashing = { bytes: payload.bytes, files: files.length, murder: plain === mt ? [row(mt)] : [row(mt), row(plain)], opensslSeconds: ossl.ms / 1000 }
    if (plain !== mt) notes.push(`make-torrent's default pads ${mt.paddingBytes} B (BEP 47); aria2c ran on the --align none torrent`)

    // Throughput and the start-up check, murder: its default torrent, and the unpadded one if the default pads.
    const tracker = await L.tracker()
    const mDest = join(runDir, 'murder-dest')
    // The first transfer of a series ran 20-35% slower whichever torrent came first (by hand, alternating the two):
    // one unreported transfer first, so that murder's variants are measured warm, as aria2c (run after them) is.
    o.log('throughput: a warm-up transfer, not reported')
    try {
      await murderTransfer(L, payload, plain.path, mDest, {})
    } catch (err) {
      fail('warm-up transfer', err)
    }
    await L.stopAll(tracker)
    await rm(mDest, { recursive: true, force: true })
    for (const variant of plain === mt ? [mt] : [mt, plain]) {
      const label = variant.args.length ? `murder ${variant.args.join(' ')}` : 'murder'
      o.log(`throughput: murder seed -> murder peer${variant.args.length ? `, ${variant.args.join(' ')}` : ''}`)
      try {
        const { maxRssKiB: _m, seed, ...tr } = await murderTransfer(L, payload, variant.path, mDest, {})
        report.throughput.push({ ...tr, tool: label })
        if (!tr.verified) throw new Error(`the copy is not complete and verified${tr.error ? ` (${tr.error})` : ''}`)
        if (!report.startupCheck.murder) {
          o.log(`start-up check: ${label} peer on the complete destination (seed still up)`)
          const t = performance.now()
          const again = murder('loop/peer-check', ['peer', variant.path, mDest, IP, '--linger', '0'], { ns, log: L.log_('murder-peer-check') })
          L.procs.push(again)
          const e = await again.waitExit(TIMEOUT_MS)
          const checked = again.lines.find((l) => l.json?.['msg'] === 'destination checked')
          const complete = again.lines.find((l) => l.json?.['msg'] === 'complete')?.json
          report.startupCheck.murder = {
            torrentArgs: variant.args,
            seconds: (e.at - t) / 1000,
            checkSeconds: checked ? (checked.at - t) / 1000 : null,
            downloaded: typeof complete?.['downloaded'] === 'number' ? complete['downloaded'] : null,
            received: typeof complete?.['received'] === 'number' ? complete['received'] : null,
            exitCode: e.code,
            have: checked?.json?.['have'],
          }
          if (e.code !== 0 || complete?.['received'] !== 0) {
            fail('start-up check', new Error(`expected exit 0 with 0 bytes received, got exit ${e.code}, ${JSON.stringify(complete)}`))
          }
        }
        await seed.stop(10_000)
      } catch (err) {
        fail(`${label} loopback`, err)
      }
      await L.stopAll(tracker)
      await rm(mDest, { recursive: true, force: true })
    }

    // Throughput and the check, aria2c (same torrent, same tracker).
    o.log('throughput: aria2c seeder -> aria2c')
    const aDir = join(runDir, 'aria2c-dest')
    try {
      // aria2c writes into the tree it seeds when it finds something missing: give it a hard-linked copy.
      const seedRoot = join(runDir, 'aria2c-source')
      await mkdir(seedRoot, { recursive: true })
      await run('cp -al', 'cp', ['-al', payload.dir, join(seedRoot, 'payload')])
      const t = performance.now()
      const seeder = start('loop/aria2c-seed', 'aria2c', [...aria2Options(15), '-V', `--dir=${seedRoot}`, plain.path], { ns, log: L.log_('aria2c-seed') })
      L.procs.push(seeder)
      const first = await tracker.waitLine((l) => l.json?.['msg'] === 'announce' && l.json['port'] === 6881, TIMEOUT_MS)
      if (first.json!['left'] !== 0) throw new Error(`the aria2c seeder checked the source and announced left=${String(first.json!['left'])}: it cannot seed this torrent`)
      const seedCheckSeconds = (performance.now() - t) / 1000
      const seedMem = watchPeakMemory(seeder.pid)
      const t0 = performance.now()
      const leech = start('loop/aria2c', 'aria2c', [...aria2Options(0), '--listen-port=6882', `--dir=${aDir}`, plain.path], { ns, log: L.log_('aria2c-peer') })
      L.procs.push(leech)
      const peerMem = watchPeakMemory(leech.pid)
      const e = await leech.waitExit(TIMEOUT_MS)
      const seconds = e.code === 0 ? (e.at - t0) / 1000 : null
      const d = await treeDigestOrNull(join(aDir, 'payload'))
      report.throughput.push({ tool: 'aria2c', bytes: payload.bytes, seconds, mbPerS: mbps(payload.bytes, seconds), verified: d?.digest === payload.digest, seedCheckSeconds, peerPeakKiB: peerMem.stop(), seedPeakKiB: seedMem.stop() })
      o.log('start-up check: aria2c -V on the complete destination')
      const t1 = performance.now()
      const check = start('loop/aria2c-check', 'aria2c', [...aria2Options(0), '--listen-port=6883', '-V', `--dir=${aDir}`, plain.path], { ns, log: L.log_('aria2c-check') })
      L.procs.push(check)
      const e2 = await check.waitExit(TIMEOUT_MS)
      report.startupCheck.aria2c = { seconds: (e2.at - t1) / 1000, exitCode: e2.code }
      await seeder.stop(10_000)
    } catch (err) {
      fail('aria2c loopback', err)
    }
    await rm(aDir, { recursive: true, force: true })
    await L.stopAll()

    // Peak memory of a peer on a large payload (the unpadded torrent if the default one does not complete).
    o.log(`peak memory: murder peer on ${(o.memSize / 2 ** 30).toFixed(1)} GiB`)
    try {
      const big = await ensurePayload(join(o.workdir, 'payloads'), o.memSize, o.seed, o.log)
      const first = await L.makeTorrent(big, join(runDir, 'mem.torrent'))
      const variants = first.paddingBytes > 0 ? [first, null] : [first]
      for (const v of variants) {
        const variant = v ?? await L.makeTorrent(big, join(runDir, 'mem-none.torrent'), ['--align', 'none'])
        await L.tracker()
        const dest = join(runDir, 'mem-dest')
        const m = await murderTransfer(L, big, variant.path, dest, { timeWrapper: join(runDir, 'peer.time') })
        report.memory = { torrentArgs: variant.args, bytes: big.bytes, peerMaxRssKiB: m.maxRssKiB, peerHwmPolledKiB: m.peerPeakKiB ?? 0, seedHwmPolledKiB: m.seedPeakKiB ?? 0, seconds: m.seconds, mbPerS: m.mbPerS, verified: m.verified }
        await L.stopAll()
        await rm(dest, { recursive: true, force: true })
        if (m.verified) break
        fail(`peak memory run${variant.args.length ? ` (${variant.args.join(' ')})` : ''}`, new Error(`the copy is not complete and verified${m.error ? ` (${m.error})` : ''}`))
      }
    } catch (err) {
      fail('peak memory run', err)
    }
  } finally {
    await L.stopAll().catch(() => undefined)
    deleteNamespace(ns)
    if (!o.keep) await rm(runDir, { recursive: true, force: true })
  }
  return report
}

const f2 = (x: number | null | undefined, d = 2) => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(d))
const mib = (kib: number | null | undefined) => (kib ? `${(kib / 1024).toFixed(0)} MiB` : '—')

export function formatLoopback(r: LoopbackReport): string {
  const out: string[] = ['loopback (one namespace, 127.0.0.1, unshaped)']
  if (r.hashing) {
    const h = r.hashing
    out.push('')
    out.push(`hashing ${(h.bytes / 2 ** 20).toFixed(0)} MiB of files (${h.files} files), page cache warm; MB/s counts the files' bytes:`)
    const rows: string[][] = []
    for (const m of h.murder) {
      const name = `murder make-torrent${m.args.length ? ` ${m.args.join(' ')}` : ''}`
      const shape = `${m.pieces} × ${m.pieceLength / 1024} KiB, padding ${(m.paddingBytes / 1e6).toFixed(0)} MB`
      rows.push([`${name} (its timer)`, f2(m.seconds), f2(h.bytes / 1e6 / m.seconds, 0), shape])
      rows.push([`${name} (process wall)`, f2(m.wallSeconds), f2(h.bytes / 1e6 / m.wallSeconds, 0), ''])
    }
    rows.push(['openssl dgst -sha1 (1 core)', f2(h.opensslSeconds), f2(h.bytes / 1e6 / h.opensslSeconds, 0), ''])
    out.push(table(rows, ['', 'seconds', 'MB/s', 'pieces']))
  }
  if (r.throughput.length) {
    out.push('')
    out.push('throughput, one seed -> one peer (clock: seed ready -> copy complete):')
    out.push(table(r.throughput.map((t) => [t.tool + (t.error ? ` (${t.error.split(':')[0]})` : ''), f2(t.seconds), f2(t.mbPerS, 0), t.verified ? 'yes' : 'NO', f2(t.seedCheckSeconds), mib(t.peerPeakKiB), mib(t.seedPeakKiB)]),
      ['tool', 'seconds', 'MB/s', 'verified', 'seed check s', 'peer peak RSS', 'seed peak RSS']))
  }
  const s = r.startupCheck
  if (s.murder || s.aria2c) {
    out.push('')
    out.push(`start-up check of a complete ${(s.bytes / 2 ** 30).toFixed(1)} GiB destination:`)
    const rows: string[][] = []
    if (s.murder) rows.push([`murder peer --linger 0${s.murder.torrentArgs.length ? ` (torrent ${s.murder.torrentArgs.join(' ')})` : ''}`, f2(s.murder.seconds), f2(s.murder.checkSeconds), String(s.murder.downloaded), String(s.murder.received), String(s.murder.exitCode)])
    if (s.aria2c) rows.push(['aria2c -V --seed-time=0', f2(s.aria2c.seconds), '—', '—', '—', String(s.aria2c.exitCode)])
    out.push(table(rows, ['', 'total s', 'check done s', 'downloaded B', 'received B', 'exit']))
  }
  if (r.memory) {
    const m = r.memory
    out.push('')
    out.push(`peak memory, murder peer receiving ${(m.bytes / 2 ** 30).toFixed(1)} GiB${m.torrentArgs.length ? ` (torrent ${m.torrentArgs.join(' ')})` : ''}: max RSS ${mib(m.peerMaxRssKiB)} (/usr/bin/time -v), VmHWM ${mib(m.peerHwmPolledKiB)} (polled); seed VmHWM ${mib(m.seedHwmPolledKiB)}; ${f2(m.seconds)} s, ${f2(m.mbPerS, 0)} MB/s, verified ${m.verified ? 'yes' : 'NO'}`)
  }
  for (const n of r.notes) out.push(`note: ${n}`)
  out.push(`logs: ${r.logDir}`)
  return out.join('\n')
}
