import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander'
import { UserError, ExitCode, fsError } from '../errors.js'
import { createLogger, LOG_LEVELS } from '../log.js'
import { isValidPieceLength } from '../torrent/pieceLength.js'
import { ALIGN_POLICIES } from '../torrent/padding.js'
import { DEFAULT_SITE_POLICY, MOST_BRIDGES, parseBridgesPerSite } from '../tracker/sitePolicy.js'
import { parseRate } from '../swarm/rateLimiter.js'
import { normalizeIp } from '../tracker/ip.js'
import { makeTorrentCommand } from './commands/makeTorrent.js'
import { trackerCommand } from './commands/tracker.js'
import { seedCommand } from './commands/seed.js'
import { peerCommand } from './commands/peer.js'
import { deployCommand } from './commands/deploy.js'
import { DEFAULT_SWARM_SETTINGS, type SwarmSettings } from './session.js'
import { readIdentity, type PeerIdentity } from '../swarm/tls.js'

// The bundle (scripts/bundle.mjs) has the version built in; the compiled modules read it from package.json.
const version = process.env['MURDER_VERSION'] ?? (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version

function integer(min: number, max = Number.MAX_SAFE_INTEGER, or = '') {
  return (value: string): number => {
    const n = Number(value)
    if (!/^\d+$/.test(value) || n < min || n > max) throw new InvalidArgumentError(`expected ${or}a whole number from ${min} to ${max}`)
    return n
  }
}

function bridgesPerSite(value: string): number | 'auto' {
  const parsed = parseBridgesPerSite(value)
  if (parsed === null) throw new InvalidArgumentError(`expected auto or a whole number from 1 to ${MOST_BRIDGES}`)
  return parsed
}

function byteSize(value: string): number {
  const m = /^(\d+)([kKmM]i?[bB]?)?$/.exec(value)
  if (!m) throw new InvalidArgumentError('expected bytes, e.g. 262144, 256k or 4m')
  const unit = (m[2] ?? '').toLowerCase()[0]
  const n = Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1024 * 1024 : 1)
  if (!isValidPieceLength(n)) throw new InvalidArgumentError('piece length must be a power of two from 16k to 64m')
  return n
}

const collect = (value: string, previous: string[]) => [...previous, value]

function withCommon(cmd: Command): Command {
  return cmd.addOption(new Option('--log-level <level>', 'log level of the JSON lines on stderr').choices(LOG_LEVELS).default('info'))
}

/** How a tree becomes a torrent: make-torrent's, and deploy's (which makes its torrent in memory). */
function torrentOptions(cmd: Command): Command {
  return cmd
    .option('--piece-length <bytes>', 'piece length, a power of two (default: chosen from the size)', byteSize)
    .option('--exclude <glob>', 'leave out matching names or paths (e.g. ".git*"); may repeat', collect, [])
    .addOption(new Option('--align <policy>', 'put files on piece boundaries (BEP 47 padding) so updates move only what changed: large files, all, or none').choices(ALIGN_POLICIES).default('large'))
}

/** The tracker's sites: tracker's, and deploy's (which runs its tracker). */
function sitePolicyOptions(cmd: Command): Command {
  return cmd
    .option('--sites <file>', 'site of each address range, for site-aware peer lists ("10.1.0.0/16 paris" a line)')
    .option('--bridges-per-site <n|auto>', 'peers per site, besides its seeds, that are given peers of other sites; auto: one per 40 fetching peers of the site, up to 4', bridgesPerSite, DEFAULT_SITE_POLICY.bridgesPerSite)
    .option('--cross-site-peers <n>', 'peers of other sites handed to a bridge (bridges, then peers of the source\'s site)', integer(1, 100), DEFAULT_SITE_POLICY.crossSitePeers)
}

function swarmOptions(cmd: Command): Command {
  const d = DEFAULT_SWARM_SETTINGS
  return cmd
    .option('--port <port>', 'TCP port to listen on for peers (0: any free port)', integer(0, 65535), 0)
    .option('--timeout <s>', 'give up when no tracker answers for this long', integer(1), 60)
    .option('--max-peers <n>', 'connections held at most, dialed and accepted', integer(1), d.maxPeers)
    .option('--max-uploads <n>', 'peers served at once', integer(1), d.maxUploads)
    .option('--site <name>', 'site (datacenter, region) of this host, for site-aware peer selection', siteName)
    .option('--max-upload-rate <rate>', 'upload limit for all connections, bytes/s: 500k, 12.5M, 100mbit (default: none)', rate)
    .option('--max-download-rate <rate>', 'download limit for all connections, same units (default: none)', rate)
    .option('--cert <pem>', "this peer's certificate, signed by an SSL torrent's CA (see Security)")
    .option('--key <pem>', 'the private key of --cert')
    .option('--tracker-ca <pem>', "the CA an https tracker's certificate must chain to (default: an SSL torrent's own, else the system's)")
}

async function trackerCaOf(o: { trackerCa?: string }): Promise<string | undefined> {
  return o.trackerCa === undefined ? undefined : readFile(o.trackerCa, 'utf8').catch((err) => { throw fsError(err, o.trackerCa!) })
}

/** --tracker-file: one URL a line; blank lines and `#` comments are skipped. */
async function trackersIn(file: string | undefined): Promise<string[]> {
  if (file === undefined) return []
  const text = await readFile(file, 'utf8').catch((err) => { throw fsError(err, file) })
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
}

/** --cert and --key go together. */
async function identityOf(o: { cert?: string; key?: string }): Promise<PeerIdentity | undefined> {
  if ((o.cert === undefined) !== (o.key === undefined)) throw new UserError('--cert and --key go together', ExitCode.usage)
  return o.cert === undefined ? undefined : readIdentity(o.cert, o.key!)
}

function siteName(value: string): string {
  if (!/^[\w.-]{1,64}$/.test(value)) throw new InvalidArgumentError('expected 1 to 64 letters, digits, ".", "_" or "-"')
  return value
}

/** Other peers dial this address as given: a host name would cost the whole --timeout before the tracker refuses it. */
function address(value: string): string {
  if (isIP(value) === 0) throw new InvalidArgumentError('expected an IPv4 or IPv6 address such as 10.0.0.7 (not a host name)')
  return value
}

function rate(value: string): number {
  const r = parseRate(value)
  if (r === null || r <= 0) throw new InvalidArgumentError('expected a rate such as 500k, 12.5M or 100mbit')
  return r
}

/** A rate checked here but passed on as written, to the peers' command lines. */
function rateText(value: string): string {
  rate(value)
  return value
}

function ipAddress(value: string): string {
  if (normalizeIp(value) === undefined) throw new InvalidArgumentError('expected an IPv4 or IPv6 address')
  return value
}

function settingsOf(o: { maxPeers: number; maxUploads: number; maxUploadRate?: number; maxDownloadRate?: number; site?: string }): SwarmSettings {
  return {
    ...DEFAULT_SWARM_SETTINGS,
    site: o.site,
    maxPeers: o.maxPeers,
    maxUploads: o.maxUploads,
    maxUploadRate: o.maxUploadRate ?? Infinity,
    maxDownloadRate: o.maxDownloadRate ?? Infinity,
  }
}

const program = new Command('murder')
  .description('Replicate a directory tree from one host to many, fast, with BitTorrent.')
  .version(version)
  // One line, as every other error: the whole help after it buried the line that says what was wrong.
  .configureOutput({ outputError: (str, write) => write(`murder: ${str.replace(/^error: /, '').trimEnd()} (see --help)\n`) })
  .exitOverride()

torrentOptions(withCommon(program.command('make-torrent')))
  .description('make a .torrent of a folder or a file')
  .argument('<source>', 'folder or file to share')
  .argument('<tracker>', 'host:port of the tracker, or its announce URL')
  .argument('<torrent-file>', 'where to write the .torrent')
  .option('--tracker <url>', 'another tracker (announce-list); may repeat', collect, [])
  .option('--json', 'print the summary as JSON', false)
  .option('--ca <pem>', 'make an SSL torrent: this CA certificate goes into the torrent, which is marked private; its peers need --cert/--key')
  .addHelpText('after', '\nExample:\n  murder make-torrent ./build tracker-host:8998 /tmp/build.torrent')
  .action(async (source: string, tracker: string, out: string, o) => makeTorrentCommand(source, tracker, out, o))

sitePolicyOptions(withCommon(program.command('tracker')))
  .description('run the HTTP tracker')
  .option('--port <port>', 'port to listen on (0: any free port)', integer(0, 65535), 8998)
  .option('--host <addr>', 'address to bind (default: all)')
  .option('--interval <s>', 'announce interval given to peers', integer(1, 3600), 10)
  .option('--allow <file>', 'serve only the info hashes listed in this file (40 hex digits a line, # comments); re-read on SIGHUP')
  .option('--max-torrents <n>', 'torrents tracked at most; the least recently announced is forgotten first', integer(1), 10_000)
  .option('--max-peers-per-torrent <n>', 'peers kept per torrent at most; the least recently seen is forgotten first', integer(1), 5_000)
  .option('--request-timeout <s>', 'cut off a client that has not sent its whole request by then', integer(1, 3600), 10)
  .option('--key-file <file>', 'passkeys, one a line: every request must carry one in its path (http://host:port/<passkey>/announce)')
  .option('--tls-cert <pem>', "serve HTTPS with this certificate (an SSL torrent's peers check it against the torrent's CA)")
  .option('--tls-key <pem>', "the certificate's private key")
  .addHelpText('after', '\nExample:\n  murder tracker --port 8998 --allow /etc/murder/allowed &')
  .action(async (o) => trackerCommand(o, createLogger(o.logLevel, 'tracker')))

swarmOptions(withCommon(program.command('seed')))
  .description('serve a source tree that matches the torrent, until SIGINT/SIGTERM')
  .argument('<torrent>', '.torrent file')
  .argument('<source>', 'the folder (or file) the torrent was made from')
  .argument('<ip>', 'address the peers should connect to', address)
  .option('--super-seed', 'reveal pieces a few at a time (BEP 16) so the source uploads about one copy', false)
  .option('--no-spread-first', 'serve every request, even for pieces other peers hold or are being sent')
  .addHelpText('after', '\nExample:\n  murder seed /tmp/build.torrent ./build 10.0.0.1')
  .action(async (torrent: string, source: string, ip: string, o) =>
    seedCommand(torrent, source, ip, { port: o.port, timeout: o.timeout, identity: await identityOf(o), trackerCa: await trackerCaOf(o), settings: { ...settingsOf(o), superSeed: o.superSeed, spreadFirst: o.spreadFirst } }, createLogger(o.logLevel, 'seed')))

swarmOptions(withCommon(program.command('peer')))
  .description('download the torrent into a destination, helping the other peers, then print "Done and done"')
  .argument('<torrent>', '.torrent file, magnet link, or info hash (with --tracker)')
  .argument('<destination>', 'folder to fill (created if missing; existing content is checked and reused)')
  .argument('<ip>', 'address the other peers should connect to', address)
  .option('--linger <s>', 'after completing, keep serving while peers are incomplete, at most this long', integer(0), 30)
  .option('--tracker <url>', 'tracker for a magnet link or info hash; may repeat', collect, [])
  .option('--tracker-file <file>', 'trackers as --tracker, one URL a line, from a file: a passkey stays out of ps')
  .option('--stall-timeout <s>', 'give up (exit 8) when no piece came and no peer held a missing one for this long; 0: never', integer(0), 300)
  .option('--fsync', 'flush the files to disk before printing "Done and done"', false)
  .option('--delete', 'remove files and folders in the destination that the torrent does not name (refused for / and system folders)', false)
  .option('--max-delete <n>', 'with --delete: remove nothing and exit 10 when more than n entries would go', integer(0))
  .option('--owner', 'apply the numeric owner and group of every entry (as root)', false)
  .addHelpText('after', '\nExample:\n  murder peer /tmp/build.torrent /srv/app 10.0.0.7')
  .action(async (torrent: string, destination: string, ip: string, o) =>
    peerCommand(torrent, destination, ip, { port: o.port, timeout: o.timeout, linger: o.linger, fsync: o.fsync, delete: o.delete, maxDelete: o.maxDelete ?? Infinity, owner: o.owner, tracker: [...o.tracker, ...await trackersIn(o.trackerFile)], stallTimeout: o.stallTimeout, identity: await identityOf(o), trackerCa: await trackerCaOf(o), settings: settingsOf(o) }, createLogger(o.logLevel, 'peer')))

sitePolicyOptions(torrentOptions(withCommon(program.command('deploy'))))
  .description('replicate a tree to every host of a hosts file over ssh: tracker and seed here, a peer on each host')
  .argument('<source>', 'folder (or file) to replicate')
  .argument('<hosts-file>', 'one target a line: [user@]host[:port] [site]; # comments')
  .argument('<destination>', 'folder to fill on every target')
  .option('--port <port>', 'tracker port, the seed on the next one (0: any free ports)', integer(0, 65534), 0)
  .option('--interval <s>', 'announce interval given to the peers', integer(1, 3600), 10)
  .option('--site <name>', "this (the source) host's site", siteName)
  .option('--delete', 'remove what the torrent does not name from the destinations', false)
  .option('--owner', 'apply the numeric owner and group of every entry (as root)', false)
  .option('--linger <s>', 'peers keep serving the others at most this long after they are done', integer(0), 30)
  .option('--max-upload-rate <rate>', "each peer's upload limit: 500k, 12.5M, 100mbit", rateText)
  .option('--max-download-rate <rate>', "each peer's download limit, same units", rateText)
  .option('--identity <file>', 'ssh identity (private key) file')
  .option('--ssh-option <option>', 'an ssh -o option, e.g. StrictHostKeyChecking=yes; may repeat', collect, [])
  .option('--ssh <command>', 'the ssh program, with options of its own', 'ssh')
  .option('--parallel <n>', 'ssh sessions being set up at once', integer(1, 10_000), 64)
  .option('--source-ip <ip>', 'address the targets reach this host at (default: the one each sees ssh come from)', ipAddress)
  .option('--deadline <s>', 'stop hosts not done after this long', integer(1))
  .option('--retries <n>', 'further attempts for a host whose ssh or peer failed', integer(0, 100), 1)
  .option('--binary <file>', 'the single executable to push (default: this one, or dist/murder)')
  .option('--log-dir <dir>', "where each host's log goes (default: a new temporary folder)")
  .option('--json', 'print the summary as JSON', false)
  .option('--insecure', 'a plain torrent and an open tracker: no TLS between peers, no passkey', false)
  .addHelpText('after', '\nExample:\n  murder deploy ./build hosts.txt /srv/app --identity ~/.ssh/deploy --delete')
  .action(async (source: string, hosts: string, destination: string, o) => deployCommand(source, hosts, destination, o, createLogger(o.logLevel, 'deploy')))

// No top-level await: the single executable runs this module as CommonJS (Node 20's SEA has no ESM entry).
program.parseAsync().then(() => process.exit(ExitCode.ok), exitOnError)

function exitOnError(err: unknown): never {
  if (err instanceof CommanderError) {
    // commander has printed the message (or the help) already.
    const ok = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help'
    process.exit(ok ? ExitCode.ok : ExitCode.usage)
  }
  if (err instanceof UserError) {
    process.stderr.write(`murder: ${err.message}\n`)
    process.exit(err.exitCode)
  }
  process.stderr.write(`murder: unexpected error: ${(err as Error)?.message ?? String(err)}\n`)
  if (process.env['MURDER_DEBUG']) process.stderr.write(`${(err as Error)?.stack}\n`)
  process.exit(ExitCode.failure)
}
