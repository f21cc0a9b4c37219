// What TLS costs an SSL torrent: `node dist/bench/tls.js [--rounds 3] [--size 1024] [--workdir DIR]`. One seed ->
// one peer on the host's loopback, the same lab-like tree (size in MiB) as a plain torrent and as an SSL torrent
// (make-torrent --ca, certificates made by the deploy's openssl code), plain and TLS each round, in turn first.
// Per transfer: MB/s from the peer's "destination checked" to its "complete" line (pino times), the peer's CPU
// (perf stat task-clock of the whole run) and the seed's CPU over the transfer (/proc/<pid>/stat before and
// after). Needs perf (Debian linux-perf) and openssl.
import { mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { issueCertificate, makeCa } from '../src/deploy/certificates.js'
import { ensurePayload } from './payload.js'
import { cpuSecondsOf, murder, murderCommand, run, start, type Proc } from './proc.js'

const { values: v } = parseArgs({ options: { rounds: { type: 'string' }, workdir: { type: 'string' }, size: { type: 'string' } } })
const rounds = Number(v.rounds ?? 3)
const workdir = v.workdir ?? '/dev/shm/murder-bench'
const size = Number.parseInt(v.size ?? '1024', 10) * 1024 * 1024
const IP = '127.0.0.1'
const TIMEOUT_MS = 300_000

const log = (s: string) => process.stderr.write(`${s}\n`)
const payload = await ensurePayload(join(workdir, 'payloads'), size, 1, log)
const scratch = await mkdtemp(join(workdir, 'tls-'))
const procs: Proc[] = []

interface Sample { mbPerS: number; peerCpu: number; seedCpu: number }
const results = { plain: [] as Sample[], tls: [] as Sample[] }

try {
  const tracker = murder('tls/tracker', ['tracker', '--port', '0', '--host', IP])
  procs.push(tracker)
  const port = (await tracker.waitLine((l) => l.json?.['msg'] === 'tracker listening', 15_000)).json!['port'] as number
  const ca = await makeCa(scratch, 'ca', 'bench CA', 1)
  const seedCert = await issueCertificate(ca, scratch, 'seed', ['*'], 1)
  const peerCert = await issueCertificate(ca, scratch, 'peer', ['*'], 1)
  const variants = {
    plain: { torrent: join(scratch, 'plain.torrent'), make: [], seed: [], peer: [] },
    tls: { torrent: join(scratch, 'tls.torrent'), make: ['--ca', ca.cert], seed: ['--cert', seedCert.cert, '--key', seedCert.key], peer: ['--cert', peerCert.cert, '--key', peerCert.key] },
  }
  for (const x of Object.values(variants)) await run('make-torrent', ...murderCommand(['make-torrent', payload.dir, `${IP}:${port}`, x.torrent, ...x.make]), { timeoutMs: TIMEOUT_MS })

  for (let r = 0; r < rounds; r++) {
    // Which goes first alternates: the first transfer of a series runs slower (bench/README.md, loopback).
    const order = (Object.entries(variants) as [keyof typeof variants, (typeof variants)['tls']][])
    for (const [name, x] of r % 2 === 0 ? order : [...order].reverse()) {
      const seed = murder(`tls/seed-${name}`, ['seed', x.torrent, payload.dir, IP, ...x.seed])
      procs.push(seed)
      await seed.waitLine((l) => l.json?.['msg'] === 'seeding', TIMEOUT_MS)
      const seedBefore = cpuSecondsOf(seed.pid)!
      const dest = join(scratch, `dest-${name}-${r}`)
      const peer = start(`tls/peer-${name}`, 'perf', ['stat', '-x,', '-e', 'task-clock', '--', ...murderCommand([]).flat(), 'peer', x.torrent, dest, IP, '--linger', '0', ...x.peer])
      const e = await peer.waitExit(TIMEOUT_MS)
      const seedCpu = cpuSecondsOf(seed.pid)! - seedBefore
      await seed.stop(10_000)
      await rm(dest, { recursive: true, force: true })
      const time = (msg: string) => peer.lines.find((l) => l.json?.['msg'] === msg)?.json?.['time'] as number | undefined
      const [checked, complete] = [time('destination checked'), time('complete')]
      const clock = peer.lines.find((l) => l.text.includes(',task-clock'))
      if (e.code !== 0 || checked === undefined || complete === undefined || !clock) throw new Error(`${name} round ${r + 1} failed:\n${peer.tail(20)}`)
      const sample = { mbPerS: payload.bytes / 1e6 / ((complete - checked) / 1000), peerCpu: Number(clock.text.split(',')[0]) / 1000, seedCpu }
      results[name].push(sample)
      log(`round ${r + 1} ${name}: ${sample.mbPerS.toFixed(0)} MB/s, peer ${sample.peerCpu.toFixed(2)} s CPU, seed ${sample.seedCpu.toFixed(2)} s CPU`)
    }
  }
} finally {
  await Promise.all(procs.map((p) => p.stop(10_000)))
  await rm(scratch, { recursive: true, force: true })
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const cell = (xs: number[], digits: number) => `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`
console.log(`seed -> peer on loopback, ${payload.files} files, ${(payload.bytes / 2 ** 20).toFixed(0)} MiB, ${rounds} alternating rounds; median (range)`)
console.log('| connection | MB/s | peer CPU s | seed CPU s during the transfer |')
console.log('| --- | --- | --- | --- |')
for (const [name, s] of Object.entries(results)) {
  console.log(`| ${name === 'tls' ? 'TLS (SSL torrent)' : 'plain TCP'} | ${cell(s.map((x) => x.mbPerS), 0)} | ${cell(s.map((x) => x.peerCpu), 2)} | ${cell(s.map((x) => x.seedCpu), 2)} |`)
}
