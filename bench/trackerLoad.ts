// Tracker load benchmark: announces per second that a bounded client on loopback gets from murder's tracker,
// compared in the same run with bittorrent-tracker's server (webtorrent's, Node) and opentracker (C), when
// they are available. Each tracker runs as its own process; the client keeps a fixed number of connections,
// each with one request in flight, replaying pre-built announces from a pool of peers over a few torrents.
//
//   node dist/bench/trackerLoad.js [--seconds 5] [--connections 32] [--peers 2000] [--torrents 10]
//                                  [--numwant 50] [--mode keep-alive|close|both] [--only murder,bittorrent-tracker,opentracker]
//                                  [--sites 0] [--btt-dir <dir with node_modules/bittorrent-tracker>] [--json]
//
// --sites N adds a case to murder's: torrents of their own whose announces each name one of N sites (peer p in
// site p % N), served by the same tracker process, the two kinds taking turns a second at a time so that a
// machine busy with something else slows both alike; the cost of site-aware selection is the ratio of the two
// murder rows.
//
// bittorrent-tracker is not a dependency of murder: without --btt-dir it is installed with
// `npm install --no-save --ignore-scripts bittorrent-tracker` into a temporary folder (deleted afterwards).
// opentracker is used if `opentracker` is on the PATH (Debian: apt-get install opentracker).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { murderCommand } from './proc.js'

interface Options {
  seconds: number
  warmup: number
  connections: number
  peers: number
  torrents: number
  numwant: number
  sites: number
  modes: Mode[]
  only: string[] | null
  bttDir: string | null
  json: boolean
}
type Mode = 'keep-alive' | 'close'

function parseArgs(argv: string[]): Options {
  const o: Options = { seconds: 5, warmup: 1, connections: 32, peers: 2000, torrents: 10, numwant: 50, sites: 0, modes: ['keep-alive', 'close'], only: null, bttDir: null, json: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    const v = () => {
      const value = argv[++i]
      if (value === undefined) throw new Error(`${a} needs a value`)
      return value
    }
    const n = () => {
      const x = Number(v())
      if (!Number.isFinite(x) || x <= 0) throw new Error(`${a} needs a positive number`)
      return x
    }
    if (a === '--seconds') o.seconds = n()
    else if (a === '--warmup') o.warmup = n()
    else if (a === '--connections') o.connections = Math.floor(n())
    else if (a === '--peers') o.peers = Math.floor(n())
    else if (a === '--torrents') o.torrents = Math.floor(n())
    else if (a === '--numwant') o.numwant = Math.floor(n())
    else if (a === '--sites') o.sites = Math.floor(n())
    else if (a === '--mode') {
      const m = v()
      o.modes = m === 'both' ? ['keep-alive', 'close'] : [m as Mode]
      if (!o.modes.every((x) => x === 'keep-alive' || x === 'close')) throw new Error('--mode is keep-alive, close or both')
    } else if (a === '--only') o.only = v().split(',')
    else if (a === '--btt-dir') o.bttDir = v()
    else if (a === '--json') o.json = true
    else if (a === '--help' || a === '-h') {
      process.stdout.write(`${readHeader()}\n`)
      process.exit(0)
    } else throw new Error(`unknown option ${a}`)
  }
  return o
}

function readHeader(): string {
  return 'usage: node dist/bench/trackerLoad.js [--seconds 5] [--warmup 1] [--connections 32] [--peers 2000] [--torrents 10] ' +
    '[--numwant 50] [--mode keep-alive|close|both] [--only murder,bittorrent-tracker,opentracker] [--sites N] [--btt-dir DIR] [--json]'
}

// ------------------------------------------------------------------------------------------- processes

interface Running {
  port: number
  pid: number
  stop(): Promise<void>
}

interface Target {
  name: string
  start(): Promise<Running>
}

const children = new Set<ChildProcess>()
process.on('exit', () => { for (const c of children) c.kill('SIGKILL') })
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130))

function launch(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): { child: ChildProcess; output: () => string; stop: () => Promise<void> } {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  let out = ''
  child.stdout!.on('data', (d: Buffer) => { out = (out + d.toString()).slice(-20_000) })
  child.stderr!.on('data', (d: Buffer) => { out = (out + d.toString()).slice(-20_000) })
  const exited = new Promise<void>((resolve) => child.once('exit', () => { children.delete(child); resolve() }))
  return {
    child,
    output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
      await exited
      clearTimeout(timer)
    },
  }
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1')
  await new Promise((r) => s.once('listening', r))
  const { port } = s.address() as net.AddressInfo
  await new Promise((r) => s.close(r))
  return port
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port })
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => resolve(false))
  })
}

const murderTarget: Target = {
  name: 'murder',
  async start() {
    const p = launch(...murderCommand(['tracker', '--port', '0', '--host', '127.0.0.1', '--log-level', 'info', '--max-peers-per-torrent', '100000']))
    const port = await waitFor('murder tracker', 10_000, () => {
      const m = /"port":(\d+)/.exec(p.output())
      if (p.child.exitCode !== null) throw new Error(`murder tracker exited: ${p.output()}`)
      return m ? Number(m[1]) : undefined
    })
    return { port, pid: p.child.pid!, stop: p.stop }
  },
}

function bttTarget(serverJs: string): Target {
  // The server alone: importing the package's index would also load its WebRTC client.
  const script = `
    const { default: Server } = await import(process.env.BTT_SERVER)
    const server = new Server({ udp: false, ws: false, stats: false, trustProxy: false })
    server.on('error', (e) => console.error('error', e.message))
    server.on('warning', () => {})
    server.listen(0, '127.0.0.1', () => console.log('port ' + server.http.address().port))
    process.on('SIGTERM', () => server.close(() => process.exit(0)))`
  return {
    name: 'bittorrent-tracker',
    async start() {
      const p = launch(process.execPath, ['--input-type=module', '-e', script], { env: { BTT_SERVER: serverJs } })
      const port = await waitFor('bittorrent-tracker', 10_000, () => {
        if (p.child.exitCode !== null) throw new Error(`bittorrent-tracker exited: ${p.output()}`)
        const m = /port (\d+)/.exec(p.output())
        return m ? Number(m[1]) : undefined
      })
      return { port, pid: p.child.pid!, stop: p.stop }
    },
  }
}

/**
 * Debian builds opentracker with a whitelist (WANT_ACCESSLIST_WHITE): the bench's info hashes are listed in
 * it, the equivalent of murder's --allow. It chroots to its folder, so the list is named relative to it.
 */
function opentrackerTarget(bin: string, infoHashesHex: string[], probe: Buffer): Target {
  return {
    name: 'opentracker',
    async start() {
      const dir = await mkdtemp(join(tmpdir(), 'murder-opentracker-'))
      // It drops privileges (to nobody) after the chroot: the folder and the list must be readable.
      await chmod(dir, 0o755)
      await writeFile(join(dir, 'whitelist'), `${infoHashesHex.join('\n')}\n`, { mode: 0o644 })
      const port = await freePort()
      const p = launch(bin, ['-i', '127.0.0.1', '-p', String(port), '-P', String(port), '-d', dir, '-w', 'whitelist'], { cwd: dir })
      const stop = async () => {
        await p.stop()
        await rm(dir, { recursive: true, force: true })
      }
      // The list is read by a thread of its own: wait until an announce is accepted.
      await waitFor('opentracker', 10_000, async () => {
        if (p.child.exitCode !== null) throw new Error(`opentracker exited: ${p.output()}`)
        if (!(await canConnect(port))) return undefined
        return (await load(port, [probe], 1, 50)).ok > 0 ? true : undefined
      }).catch(async (err: Error) => {
        await stop()
        throw new Error(`${err.message}: ${p.output().trim()}`)
      })
      return { port, pid: p.child.pid!, stop }
    },
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK
}
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100

// ---------------------------------------------------------------------------------------------- client

function percentEncode(bytes: Uint8Array): string {
  let out = ''
  for (const b of bytes) {
    const plain = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e
    out += plain ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

const sha = (s: string) => createHash('sha1').update(s).digest()

function torrentHashes(o: Options, sites = 0): Buffer[] {
  return Array.from({ length: o.torrents }, (_, t) => sha(sites > 0 ? `torrent ${t} in ${sites} sites` : `torrent ${t}`))
}

/** Pre-built announces: peer p belongs to torrent p % torrents (and site p % sites); a third are seeders. */
function buildRequests(o: Options, mode: Mode, count = 8192, sites = 0): Buffer[] {
  const hashes = torrentHashes(o, sites).map(percentEncode)
  let x = 12345
  const rand = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32
  return Array.from({ length: count }, () => {
    const p = Math.floor(rand() * o.peers)
    const peerId = percentEncode(Buffer.concat([Buffer.from('-BN0001-'), sha(`peer ${p}`).subarray(0, 12)]))
    const left = p % 3 === 0 ? 0 : 1_000_000
    const path = `/announce?info_hash=${hashes[p % o.torrents]}&peer_id=${peerId}&port=${10000 + p}&uploaded=0&downloaded=0&left=${left}&compact=1&numwant=${o.numwant}${sites > 0 ? `&site=s${p % sites}` : ''}`
    return Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${mode === 'close' ? 'Connection: close\r\n' : ''}\r\n`)
  })
}

interface LoadResult { ok: number; failed: number; errors: number; reconnects: number }

/**
 * `connections` sockets, each with one request in flight; reconnects whenever the server closes (HTTP/1.0,
 * `Connection: close`). A response counts as ok if it is a 200 with a `peers` key and no `failure reason`.
 */
function load(port: number, requests: Buffer[], connections: number, ms: number): Promise<LoadResult> {
  const result: LoadResult = { ok: 0, failed: 0, errors: 0, reconnects: 0 }
  const stopAt = performance.now() + ms
  let next = 0
  const one = () => new Promise<void>((resolve) => {
    let socket: net.Socket
    let buf: Buffer = Buffer.alloc(0)
    let awaiting = false
    const connect = () => {
      socket = net.connect({ host: '127.0.0.1', port })
      socket.setNoDelay(true)
      buf = Buffer.alloc(0)
      socket.on('connect', send)
      socket.on('data', onData)
      socket.on('error', () => { result.errors++ })
      socket.on('close', () => {
        if (awaiting && buf.length > 0) complete(buf.length)
        if (performance.now() >= stopAt) return resolve()
        result.reconnects++
        awaiting = false
        connect()
      })
    }
    const send = () => {
      if (performance.now() >= stopAt) {
        socket.destroy()
        return
      }
      awaiting = true
      socket.write(requests[next++ % requests.length]!)
    }
    const complete = (end: number) => {
      const response = buf.subarray(0, end)
      buf = buf.subarray(end)
      awaiting = false
      const head = response.subarray(0, 16).toString('latin1')
      const good = /^HTTP\/1\.[01] 200/.test(head) && response.includes('5:peers') && !response.includes('failure reason')
      if (good) result.ok++
      else result.failed++
      return good
    }
    const onData = (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d])
      const headEnd = buf.indexOf('\r\n\r\n')
      if (headEnd < 0) return
      const head = buf.subarray(0, headEnd).toString('latin1')
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(head)
      if (!m) return // no length: the body ends when the server closes
      const end = headEnd + 4 + Number(m[1])
      if (buf.length < end) return
      complete(end)
      const closing = /\r\nconnection:\s*close/i.test(head) || (/^HTTP\/1\.0/.test(head) && !/\r\nconnection:\s*keep-alive/i.test(head))
      if (closing) socket.end()
      else send()
    }
    connect()
  })
  return Promise.all(Array.from({ length: connections }, one)).then(() => result)
}

// ---------------------------------------------------------------------------------------------- main

interface Row {
  tracker: string
  mode: Mode
  seconds: number
  announcesPerSecond: number
  trackerCpuPercent: number
  announcesPerCpuSecond: number
  failed: number
  errors: number
}

function row(tracker: string, mode: Mode, r: LoadResult, elapsed: number, cpu: number): Row {
  return {
    tracker,
    mode,
    seconds: Number(elapsed.toFixed(2)),
    announcesPerSecond: Math.round(r.ok / elapsed),
    trackerCpuPercent: Math.round((100 * cpu) / elapsed),
    announcesPerCpuSecond: cpu > 0 ? Math.round(r.ok / cpu) : 0,
    failed: r.failed,
    errors: r.errors,
  }
}

/** One row per kind of request, each kind loading the tracker for `seconds` in all, taking turns a second at a time. */
async function measure(target: Target, mode: Mode, o: Options, kinds: { name: string; requests: Buffer[] }[]): Promise<Row[]> {
  const running = await target.start()
  try {
    const totals = kinds.map(() => ({ result: { ok: 0, failed: 0, errors: 0, reconnects: 0 }, elapsed: 0, cpu: 0 }))
    for (const k of kinds) {
      const warm = await load(running.port, k.requests, o.connections, o.warmup * 1000)
      if (warm.ok === 0) throw new Error(`${k.name}: no successful announce during warm-up (${JSON.stringify(warm)})`)
    }
    const slice = kinds.length > 1 ? 1 : o.seconds
    for (let done = 0; done < o.seconds; done += slice) {
      for (const [i, k] of kinds.entries()) {
        const total = totals[i]!
        const cpu0 = await cpuSeconds(running.pid)
        const t0 = performance.now()
        const r = await load(running.port, k.requests, o.connections, Math.min(slice, o.seconds - done) * 1000)
        total.elapsed += (performance.now() - t0) / 1000
        total.cpu += (await cpuSeconds(running.pid)) - cpu0
        for (const key of ['ok', 'failed', 'errors', 'reconnects'] as const) total.result[key] += r[key]
      }
    }
    return kinds.map((k, i) => row(k.name, mode, totals[i]!.result, totals[i]!.elapsed, totals[i]!.cpu))
  } finally {
    await running.stop()
  }
}

async function findBtt(o: Options, log: (s: string) => void): Promise<{ serverJs: string; cleanup: () => Promise<void> } | null> {
  const inDir = (dir: string) => join(dir, 'node_modules', 'bittorrent-tracker', 'server.js')
  if (o.bttDir) {
    if (!existsSync(inDir(o.bttDir))) throw new Error(`no bittorrent-tracker under ${o.bttDir}`)
    return { serverJs: inDir(o.bttDir), cleanup: async () => undefined }
  }
  const dir = await mkdtemp(join(tmpdir(), 'murder-btt-'))
  await writeFile(join(dir, 'package.json'), '{"name":"btt-bench","private":true}\n')
  log(`installing bittorrent-tracker into ${dir} ...`)
  // --ignore-scripts: its optional WebRTC dependency builds native code the HTTP server does not need.
  const r = spawnSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--ignore-scripts', 'bittorrent-tracker'], { cwd: dir, encoding: 'utf8' })
  if (r.status !== 0 || !existsSync(inDir(dir))) {
    log(`bittorrent-tracker unavailable (npm install failed): ${(r.stderr || '').trim().split('\n').slice(-3).join(' ')}`)
    await rm(dir, { recursive: true, force: true })
    return null
  }
  return { serverJs: inDir(dir), cleanup: () => rm(dir, { recursive: true, force: true }) }
}

function which(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' })
  return r.status === 0 ? r.stdout.trim() : null
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2))
  const log = (s: string) => process.stderr.write(`${s}\n`)
  const wanted = (name: string) => o.only === null || o.only.includes(name)
  const targets: Target[] = []
  const cleanups: (() => Promise<void>)[] = []
  if (wanted('murder')) targets.push(murderTarget)
  const sitesName = `murder, ${o.sites} sites`
  if (wanted('bittorrent-tracker')) {
    const btt = await findBtt(o, log)
    if (btt) {
      targets.push(bttTarget(btt.serverJs))
      cleanups.push(btt.cleanup)
    }
  }
  if (wanted('opentracker')) {
    const bin = which('opentracker')
    if (bin) targets.push(opentrackerTarget(bin, torrentHashes(o).map((h) => h.toString('hex')), buildRequests(o, 'close', 1)[0]!))
    else log('opentracker not found on the PATH (Debian: apt-get install opentracker): skipped')
  }
  const rows: Row[] = []
  try {
    for (const mode of o.modes) {
      for (const t of targets) {
        const kinds = [{ name: t.name, requests: buildRequests(o, mode) }]
        if (t === murderTarget && o.sites > 0) kinds.push({ name: sitesName, requests: buildRequests(o, mode, undefined, o.sites) })
        log(`${kinds.map((k) => k.name).join(' and ')}, ${mode}: ${o.connections} connections, ${o.seconds} s${kinds.length > 1 ? ' each' : ''} ...`)
        rows.push(...(await measure(t, mode, o, kinds)))
      }
    }
  } finally {
    for (const c of cleanups) await c()
  }
  const ratios = o.modes.map((mode) => {
    const of = (name: string) => rows.find((r) => r.tracker === name && r.mode === mode)
    const m = of('murder')
    const ratio = (name: string) => {
      const other = of(name)
      return m && other && other.announcesPerSecond > 0 ? Number((m.announcesPerSecond / other.announcesPerSecond).toFixed(2)) : null
    }
    const cpuRatio = (name: string) => {
      const other = of(name)
      return m && other && other.announcesPerCpuSecond > 0 ? Number((m.announcesPerCpuSecond / other.announcesPerCpuSecond).toFixed(2)) : null
    }
    const sited = of(sitesName)
    return { mode, sitesVsNoSites: m && sited && m.announcesPerSecond > 0 ? Number((sited.announcesPerSecond / m.announcesPerSecond).toFixed(2)) : null,
      murderVsBittorrentTracker: ratio('bittorrent-tracker'), murderVsOpentracker: ratio('opentracker'),
      perCpuVsBittorrentTracker: cpuRatio('bittorrent-tracker'), perCpuVsOpentracker: cpuRatio('opentracker') }
  })
  const params = { seconds: o.seconds, connections: o.connections, peers: o.peers, torrents: o.torrents, numwant: o.numwant, sites: o.sites, cpus: (await import('node:os')).availableParallelism() }
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ params, rows, ratios }, null, 2)}\n`)
    return
  }
  const header = ['tracker', 'mode', 'announces/s', 'tracker CPU %', 'announces/CPU-s', 'failed', 'errors']
  const table = [header, ...rows.map((r) => [r.tracker, r.mode, String(r.announcesPerSecond), String(r.trackerCpuPercent), String(r.announcesPerCpuSecond), String(r.failed), String(r.errors)])]
  const widths = header.map((_, i) => Math.max(...table.map((row) => row[i]!.length)))
  process.stdout.write(`tracker load: ${JSON.stringify(params)}\n`)
  for (const row of table) process.stdout.write(`${row.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')}\n`)
  for (const r of ratios) {
    process.stdout.write(`${r.mode}: murder / bittorrent-tracker = ${r.murderVsBittorrentTracker ?? 'n/a'} (per tracker CPU-s ${r.perCpuVsBittorrentTracker ?? 'n/a'}), ` +
      `murder / opentracker = ${r.murderVsOpentracker ?? 'n/a'} (per tracker CPU-s ${r.perCpuVsOpentracker ?? 'n/a'})` +
      `${r.sitesVsNoSites === null ? '' : `, murder with ${o.sites} sites / without = ${r.sitesVsNoSites}`}\n`)
  }
}

main().catch((err: Error) => {
  process.stderr.write(`trackerLoad: ${err.message}\n`)
  process.exit(1)
})
