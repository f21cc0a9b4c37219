import { createHash, randomBytes } from 'node:crypto'
import { existsSync, realpathSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { isSea } from 'node:sea'
import { promisify } from 'node:util'
import { gzip } from 'node:zlib'
import { ExitCode, UserError, fsError } from '../../errors.js'
import type { Logger } from '../../log.js'
import { Fleet, type StopReason } from '../../deploy/fleet.js'
import { parseHostsFile, type Target } from '../../deploy/hostsFile.js'
import { HostSession } from '../../deploy/hostSession.js'
import { issueCertificate, makeCa, type KeyPair } from '../../deploy/certificates.js'
import { remoteCommand, secretsBlock } from '../../deploy/remoteScript.js'
import { fleetTotals, liveView, summaryRows, summaryTable, type FleetTotals } from '../../deploy/view.js'
import { HashPool } from '../../storage/hashPool.js'
import { Bitfield } from '../../bitfield.js'
import { buildTorrent, storageFor } from '../../torrent/build.js'
import type { AlignPolicy } from '../../torrent/padding.js'
import { loadSiteMap } from '../../tracker/siteMap.js'
import { startTracker } from '../../tracker/server.js'
import { HEAP_FLAGS } from '../../v8Flags.js'
import { DEFAULT_SWARM_SETTINGS } from '../session.js'
import { readIdentity } from '../../swarm/tls.js'
import { startSeeding, type Seeding } from './seed.js'

export interface DeployOptions {
  exclude: string[]
  align: AlignPolicy
  pieceLength?: number
  port: number
  interval: number
  sites?: string
  bridgesPerSite: number | 'auto'
  crossSitePeers: number
  site?: string
  delete: boolean
  owner: boolean
  linger: number
  maxUploadRate?: string
  maxDownloadRate?: string
  identity?: string
  sshOption: string[]
  ssh: string
  parallel: number
  sourceIp?: string
  deadline?: number
  retries: number
  binary?: string
  json: boolean
  logDir?: string
  /** A plain torrent and an open tracker, as before SSL torrents. */
  insecure: boolean
}

/** Days the deploy's certificates are valid: the CA's key is gone once the deploy ends, so only a long --deadline needs more. */
const CERT_DAYS = 7

/**
 * A deploy's own CA (made here, its key never leaves this host and is deleted with the deploy), a certificate
 * for the seed and one per host, all "*" certificates (the CA serves this one torrent), and a tracker passkey.
 */
interface DeploySecrets {
  ca: KeyPair
  passkey: string
  dir: string
}

async function makeSecrets(): Promise<DeploySecrets> {
  const dir = await mkdtemp(join(tmpdir(), 'murder-deploy-ca-')) // mode 700
  const ca = await makeCa(dir, 'ca', `murder deploy ${new Date().toISOString()}`, CERT_DAYS).catch(async (err) => {
    await rm(dir, { recursive: true, force: true })
    throw err
  })
  return { dir, ca, passkey: randomBytes(24).toString('base64url') }
}

const REDRAW_MS = 1000
const LOG_EVERY_MS = 5000

/** The executable to push: this one when it is the single executable, else the one `npm run binary` built. */
function defaultBinary(): string {
  if (isSea()) return process.execPath
  // bin/murder.js, through the links npm link or a global install make.
  const built = resolve(dirname(realpathSync(process.argv[1] ?? '.')), '../dist/murder')
  if (!existsSync(built)) throw new UserError('no single executable to push to the targets: run npm run binary, or give --binary <file>', ExitCode.usage)
  return built
}

/** ssh with the user's program and options first (ssh keeps the first value it is given for an option). */
function sshCommand(o: DeployOptions): string[] {
  const [program, ...args] = o.ssh.trim().split(/\s+/)
  if (!program) throw new UserError('--ssh is empty', ExitCode.usage)
  return [program, ...args, ...o.sshOption.flatMap((opt) => ['-o', opt]), ...(o.identity ? ['-i', o.identity] : []),
    '-T', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', '-o', 'ServerAliveInterval=5', '-o', 'ServerAliveCountMax=3']
}

function peerOptions(o: DeployOptions, site: string | undefined): string[] {
  return [
    '--linger', String(o.linger),
    ...(site ? ['--site', site] : []),
    ...(o.delete ? ['--delete'] : []),
    ...(o.owner ? ['--owner'] : []),
    ...(o.maxUploadRate ? ['--max-upload-rate', o.maxUploadRate] : []),
    ...(o.maxDownloadRate ? ['--max-download-rate', o.maxDownloadRate] : []),
  ]
}

/** Redraws the live view in place on a terminal, or logs a JSON progress line every few seconds. */
function startView(totals: () => FleetTotals, logger: Logger): () => void {
  const tty = process.stderr.isTTY === true
  let shown = 0
  let last = { at: Date.now(), have: totals().have }
  let lastLog = 0
  const draw = (final: boolean) => {
    const now = Date.now()
    const t = totals()
    const rate = Math.max(0, ((t.have - last.have) * 1000) / Math.max(1, now - last.at))
    last = { at: now, have: t.have }
    if (tty) {
      const lines = liveView(t, rate)
      process.stderr.write(`${shown ? `\x1b[${shown}F` : ''}\x1b[J${lines.join('\n')}\n`)
      shown = lines.length
    } else if (final || now - lastLog >= LOG_EVERY_MS) {
      lastLog = now
      logger.info({ done: t.done, running: t.running, failed: t.failed, waiting: t.waiting, have: t.have, left: t.left, sites: t.sites, slowest: t.slowest, rate: Math.round(rate) }, 'deploy progress')
    }
  }
  const timer = setInterval(() => draw(false), REDRAW_MS)
  // The last frame stays above the summary: how the fleet ended.
  return () => {
    clearInterval(timer)
    draw(true)
  }
}

/** Hosts per site named in the hosts file: the tracker sizes each site's bridges from its first arrivals. */
function siteSizes(targets: readonly Target[]): Map<string, number> {
  const sizes = new Map<string, number>()
  for (const t of targets) if (t.site !== undefined) sizes.set(t.site, (sizes.get(t.site) ?? 0) + 1)
  return sizes
}

/**
 * Replicates `source` to every host of the hosts file over ssh: makes the torrent in memory, runs the tracker
 * and the seed here, and on each target (through the system's ssh) makes sure murder's single executable is
 * there, then runs `murder peer` with the magnet's info hash. Prints a summary; exit 0 only if every host is done.
 */
export async function deployCommand(source: string, hostsFile: string, destination: string, o: DeployOptions, logger: Logger): Promise<void> {
  const targets = parseHostsFile(await readFile(hostsFile, 'utf8').catch((err) => { throw fsError(err, hostsFile) }))
  const ssh = sshCommand(o)
  const binaryPath = o.binary ?? defaultBinary()
  const binary = await readFile(binaryPath).catch((err) => { throw fsError(err, binaryPath) })
  const sha256 = createHash('sha256').update(binary).digest('hex')
  const logDir = o.logDir ?? await mkdtemp(join(tmpdir(), 'murder-deploy-'))
  await mkdir(logDir, { recursive: true }).catch((err) => { throw fsError(err, logDir) })
  // On a terminal the live view owns stderr: the tracker's and the seed's routine lines would break it.
  const partLogger = (part: string) => logger.child({ part }, process.stderr.isTTY ? { level: 'warn' } : {})
  const pool = new HashPool()
  const sites = o.sites === undefined ? undefined : await loadSiteMap(o.sites)
  const secrets = o.insecure ? null : await makeSecrets()
  let seeding: Seeding | null = null
  const tracker = await (async () => {
    // A secure deploy's tracker speaks HTTPS with a certificate of the deploy's CA, which peers check it against.
    const tls = secrets ? await issueCertificate(secrets.ca, secrets.dir, 'tracker', ['*'], CERT_DAYS).then(async (p) => ({ cert: await readFile(p.cert, 'utf8'), key: await readFile(p.key, 'utf8') })) : undefined
    return startTracker({ port: o.port, interval: o.interval, sites, sitePolicy: { bridgesPerSite: o.bridgesPerSite, crossSitePeers: o.crossSitePeers, sizes: siteSizes(targets) }, passkeys: secrets ? [secrets.passkey] : undefined, tls, logger: partLogger('tracker') })
  })().catch(async (err) => {
    if (secrets) await rm(secrets.dir, { recursive: true, force: true })
    throw err
  })
  try {
    const keyPath = secrets ? `/${secrets.passkey}` : ''
    const scheme = secrets ? 'https' : 'http'
    const sslCert = secrets ? await readFile(secrets.ca.cert, 'utf8') : undefined
    const { meta } = await buildTorrent({ source, trackers: [`${scheme}://127.0.0.1:${tracker.port}${keyPath}/announce`], pieceLength: o.pieceLength, exclude: o.exclude, align: o.align, pool, sslCert })
    let hostCerts = 0
    const hostSecrets = secrets ? async () => {
      const pair = await issueCertificate(secrets.ca, secrets.dir, `host-${++hostCerts}`, ['*'], CERT_DAYS)
      const [cert, key] = await Promise.all([readFile(pair.cert, 'utf8'), readFile(pair.key, 'utf8')])
      await Promise.all([rm(pair.key), rm(pair.cert)]) // sent once, kept nowhere here
      return secretsBlock(cert, key, sslCert!, secrets.passkey)
    } : undefined
    // Compressed once, when the first target lacks it (~3 s of CPU for 100 MB; 35 MB less to send to each).
    let packed: Promise<Buffer> | null = null
    const torrentBytes = meta.length
    logger.info({ infoHash: meta.infoHashHex, pieces: meta.pieceCount, bytes: torrentBytes, hosts: targets.length, page: `${scheme}://${o.sourceIp ?? hostname()}:${tracker.port}${keyPath}/`, logDir, secure: secrets !== null }, 'deploy started')

    // The seed announces the address the targets reach this host at: --source-ip, or what the first target
    // to answer saw ssh come from. Every peer waits for it, so none asks the tracker before the seed is there.
    let seedStarted: Promise<void> | null = null
    const seenAddresses = new Set<string>()
    const ensureSeed = (seen: string): Promise<void> => {
      if (seen) seenAddresses.add(seen)
      if (seedStarted) return seedStarted
      seedStarted = (async () => {
        const have = new Bitfield(meta.pieceCount)
        for (let i = 0; i < meta.pieceCount; i++) have.set(i)
        // The torrent was hashed from this tree a moment ago: no second check.
        const identity = secrets ? await issueCertificate(secrets.ca, secrets.dir, 'seed', ['*'], CERT_DAYS).then((p) => readIdentity(p.cert, p.key)) : undefined
        seeding = await startSeeding({
          meta, storage: storageFor(meta, source), have, pool, ip: o.sourceIp ?? seen,
          opts: { port: o.port === 0 ? 0 : o.port + 1, timeout: 60, identity, settings: { ...DEFAULT_SWARM_SETTINGS, site: o.site, spreadFirst: true } },
          logger: partLogger('seed'),
          progress: false,
        })
        void seeding.fatal.catch((err: Error) => stop('interrupted', err))
      })()
      // No seed, no deploy: its error (a port in use, say) ends every session and is the deploy's.
      seedStarted.catch((err: Error) => stop('interrupted', err))
      return seedStarted
    }

    const failure: { err?: Error } = {}
    const fleet: Fleet = new Fleet({
      targets,
      parallel: o.parallel,
      retries: o.retries,
      now: Date.now,
      open: (r, hooks) => new HostSession({
        ssh,
        target: r.target,
        remoteCommand: remoteCommand({ sha256, peerArgs: [meta.infoHashHex, destination, ...peerOptions(o, r.target.site)], trackerPort: tracker.port, sourceIp: o.sourceIp, nodeOptions: HEAP_FLAGS.join(' '), secure: secrets !== null }),
        secrets: hostSecrets,
        logFile: join(logDir, `${r.target.name.replace(/[^\w.@-]/g, '_')}.log`),
        onHello: async (seen, cached) => {
          r.pushed = !cached
          if (!cached) packed ??= promisify(gzip)(binary)
          await ensureSeed(seen)
          return cached ? null : packed
        },
        onProgress: hooks.onProgress,
        onStarted: hooks.onStarted,
      }),
    })
    const stop = (reason: StopReason, err?: Error) => {
      failure.err ??= err
      fleet.stop(reason)
    }
    const onSignal = () => stop('interrupted')
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
    const deadline = o.deadline === undefined ? undefined : setTimeout(() => stop('deadline'), o.deadline * 1000)
    const stopView = startView(() => fleetTotals(fleet.reports, torrentBytes, Date.now()), logger)

    fleet.start()
    const reports = await fleet.finished
    stopView()
    clearTimeout(deadline)
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    if (seenAddresses.size > 1 && !o.sourceIp) logger.warn({ addresses: [...seenAddresses] }, 'targets reach this host at several addresses; the seed announced the first (give --source-ip)')

    const rows = summaryRows(reports, Date.now())
    process.stdout.write(o.json ? `${JSON.stringify({ infoHash: meta.infoHashHex, bytes: torrentBytes, logDir, hosts: rows })}\n` : summaryTable(rows))
    if (failure.err) throw failure.err
    const notDone = rows.filter((r) => r.status !== 'done')
    if (notDone.length > 0) {
      const named = notDone.slice(0, 10).map((r) => `${r.host} (${r.status}${r.reason ? `: ${r.reason}` : ''})`).join(', ')
      throw new UserError(`${notDone.length} of ${rows.length} hosts not done: ${named}${notDone.length > 10 ? ', ...' : ''}`, ExitCode.hostsNotDone)
    }
  } finally {
    await (seeding as Seeding | null)?.stop()
    await tracker.close()
    await pool.close()
    // The CA's key with it: no certificate of this deploy can be made again.
    if (secrets) await rm(secrets.dir, { recursive: true, force: true })
  }
}
