import http from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { ExitCode, UserError } from '../errors.js'
import type { Logger } from '../log.js'
import { DEFAULT_MAX_NUMWANT, parseAnnounce } from './announceRequest.js'
import { torrentView, type TorrentView } from './fleet.js'
import { LiveView } from './liveView.js'
import { TrackerMetrics, type RequestKind } from './metrics.js'
import { TrackerRequestError } from './query.js'
import { encodeAnnounce, encodeFailure, encodeScrape } from './responses.js'
import { parseScrape } from './scrapeRequest.js'
import { PASSKEY_REQUIRED, unlockPath } from './passkey.js'
import type { SiteMap } from './siteMap.js'
import type { SitePolicy } from './sitePolicy.js'
import { announceInterval, bridgeStallFor, SwarmRegistry } from './swarmRegistry.js'

export interface TrackerOptions {
  port: number
  /** Omitted: all interfaces. */
  host?: string
  /** Announce interval in seconds handed to clients. */
  interval: number
  maxNumwant?: number
  /** Swarms kept at most (least recently announced evicted first). */
  maxTorrents?: number
  /** Peers kept per swarm at most (least recently seen evicted first). */
  maxPeersPerTorrent?: number
  /** A request (headers included) must arrive within this long, or the connection is cut: slowloris. */
  requestTimeoutMs?: number
  /** Serve only these info hashes (lower-case hex); undefined: any. */
  allow?: ReadonlySet<string>
  /** Passkeys (--key-file): every request must start with `/<passkey>/`; undefined: open. */
  passkeys?: readonly string[]
  /** HTTPS with this certificate and key (PEM); undefined: plain HTTP. */
  tls?: { cert: string; key: string }
  /** Sites of peers that announce none themselves, by address range. */
  sites?: SiteMap
  /** How sites are put in touch (defaults: DEFAULT_SITE_POLICY). */
  sitePolicy?: SitePolicy
  logger: Logger
}

export interface RunningTracker {
  port: number
  /** Replaces the allow list (undefined: allow any torrent), e.g. after the file was edited. */
  setAllow(allow: ReadonlySet<string> | undefined): void
  close(): Promise<void>
}

/** Requests are one short GET line; anything longer is junk or abuse. */
const MAX_URL_LENGTH = 8 * 1024
/** Request line plus headers; Node answers 431 beyond it. */
const MAX_HEADER_BYTES = 16 * 1024
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000
/** Sent instead of peers for an info hash that is not on the allow list (BitTornado's wording). */
export const NOT_ALLOWED = 'torrent not allowed'
/** Slack on top of two missed intervals before a silent peer is forgotten. */
const EXPIRY_GRACE_MS = 10_000
/**
 * Progress reports per second that a swarm's downloading peers send together at most, in between announces
 * (one per peer per second in swarms of up to this many).
 */
const PROGRESS_REPORTS_PER_SECOND = 500
/**
 * How stale the page's view of the swarms may be: at most four builds a second (30 ms each for 5000 hosts),
 * however many browsers watch a fleet that announces all the time; an announce still shows within a second.
 */
const PAGE_VIEW_MAX_AGE_MS = 250
const KINDS = new Map<string, RequestKind>([['/announce', 'announce'], ['/scrape', 'scrape'], ['/stats', 'stats'], ['/metrics', 'metrics'], ['/', 'page']])

interface Snapshot {
  /** The registry's version and the wall-clock second it was built for. */
  version: number
  second: number
  /** performance.now() when built. */
  builtAt: number
  wallNow: number
  torrents: TorrentView[]
}

interface Reply {
  status: number
  type: string
  body: string | Uint8Array
  headers?: Record<string, string>
}

/** Starts the HTTP tracker (GET /announce, /scrape, /stats, /metrics, and the live page at /); resolves once it is listening. */
export async function startTracker(opts: TrackerOptions): Promise<RunningTracker> {
  const { logger } = opts
  if (!Number.isInteger(opts.interval) || opts.interval < 1) {
    throw new RangeError(`tracker interval must be a positive number of seconds, got ${opts.interval}`)
  }
  const intervalMs = opts.interval * 1000
  const maxNumwant = opts.maxNumwant ?? DEFAULT_MAX_NUMWANT
  const registry = new SwarmRegistry({
    peerTtlMs: 2 * intervalMs + EXPIRY_GRACE_MS,
    maxTorrents: opts.maxTorrents,
    maxPeersPerSwarm: opts.maxPeersPerTorrent,
    sitePolicy: opts.sitePolicy,
    bridgeStallMs: bridgeStallFor(intervalMs),
  })
  const requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
  let allow = opts.allow
  const allowed = (infoHash: Uint8Array): boolean =>
    allow === undefined || allow.has(Buffer.from(infoHash.buffer, infoHash.byteOffset, infoHash.byteLength).toString('hex'))
  // Monotonic: the registry's expiry assumes time never goes backwards, which wall-clock time can.
  const now = (): number => performance.now()
  const metrics = new TrackerMetrics()
  const clock = { intervalMs, wallOffset: Date.now() - now() }
  // The swarms as the page, /stats and /metrics show them: rebuilt when they changed, or the second did (the
  // page's clocks and stalled hosts move with time), so that viewers share one view of 5000 hosts.
  let snapshot: Snapshot | undefined
  /** `maxAgeMs`: a view that old may be given though the swarms changed since (a fleet announces all the time). */
  const views = (maxAgeMs = 0): Snapshot => {
    const at = now()
    const wallNow = Date.now()
    const second = Math.floor(wallNow / 1000)
    if (snapshot === undefined || snapshot.second !== second || (snapshot.version !== registry.version && at - snapshot.builtAt >= maxAgeMs)) {
      snapshot = { version: registry.version, second, builtAt: at, wallNow, torrents: [...registry.swarmList()].map((s) => torrentView(s, at, clock)) }
    }
    return snapshot
  }

  // The page as its viewers share it, brought up to date with each new view of the swarms.
  const live = new LiveView(opts.interval)
  let liveOf: Snapshot | undefined
  function page(req: http.IncomingMessage, query: string): Reply {
    const params = new URLSearchParams(query)
    const kind = params.has('all') ? 'all' : 'top'
    const view = views(PAGE_VIEW_MAX_AGE_MS)
    if (liveOf !== view) {
      live.update(view.torrents, view.wallNow)
      liveOf = view
    }
    const since = params.get('since')
    if (since !== null) {
      // The page's script: only what changed since the version it shows.
      const diff = live.diff(Number(since), kind)
      return diff === undefined ? { status: 204, type: 'application/json', body: '' } : { status: 200, type: 'application/json', body: JSON.stringify(diff) }
    }
    const headers = { etag: `"${live.version}"` }
    if (req.headers['if-none-match'] === headers.etag) return { status: 304, type: 'text/html; charset=utf-8', body: '', headers }
    return { status: 200, type: 'text/html; charset=utf-8', body: live.page(kind), headers }
  }

  const bencoded = (body: Uint8Array): Reply => ({ status: 200, type: 'text/plain', body })

  function announce(query: string, remoteAddress: string | undefined): Reply {
    const parsed = parseAnnounce(query, remoteAddress, maxNumwant)
    if (!allowed(parsed.infoHash)) throw new TrackerRequestError(NOT_ALLOWED)
    // A site the peer names wins over the address map, so one host can be placed by hand.
    const req = parsed.site === undefined && opts.sites ? { ...parsed, site: opts.sites.lookup(parsed.ip) } : parsed
    const result = registry.announce(req, now())
    metrics.announced(req.event)
    const progressInterval = Math.max(1, Math.ceil(result.incomplete / PROGRESS_REPORTS_PER_SECOND))
    // Guarded: this runs for every announce and the hex conversions are not free.
    if (logger.isLevelEnabled('debug')) {
      logger.debug(
        {
          infoHash: Buffer.from(req.infoHash).toString('hex'),
          peerId: Buffer.from(req.peerId).toString('hex'),
          ip: req.ip,
          port: req.port,
          event: req.event,
          left: req.left,
          site: req.site,
          returned: result.peers.length,
        },
        'announce',
      )
    }
    const interval = announceInterval(result, opts.interval)
    return bencoded(
      encodeAnnounce({
        interval,
        // Let clients short of peers re-ask sooner than the regular interval.
        minInterval: Math.min(interval, Math.max(1, Math.floor(opts.interval / 2))),
        complete: result.complete,
        incomplete: result.incomplete,
        peers: result.peers,
        compact: req.compact,
        site: req.site,
        progressInterval: progressInterval < interval ? progressInterval : undefined,
      }),
    )
  }

  function stats(): Reply {
    const torrents = views().torrents.map(({ hosts, ...t }) => ({ ...t, hosts: hosts.map((h) => ({ ...h, lastSeen: new Date(h.lastSeen).toISOString() })) }))
    return { status: 200, type: 'application/json', body: `${JSON.stringify({ torrents })}\n` }
  }

  function route(req: http.IncomingMessage, url: string, path: string, query: string): Reply {
    const isBencoded = path === '/announce' || path === '/scrape'
    if (!KINDS.has(path)) return { status: 404, type: 'text/plain', body: 'not found\n' }
    if (req.method !== 'GET') return { status: 405, type: 'text/plain', body: 'method not allowed\n', headers: { allow: 'GET' } }
    if (path === '/') return page(req, query)
    if (path === '/metrics') return { status: 200, type: 'text/plain; version=0.0.4; charset=utf-8', body: metrics.render(views().torrents) }
    try {
      if (url.length > MAX_URL_LENGTH) throw new TrackerRequestError(`request URL longer than ${MAX_URL_LENGTH} bytes`)
      if (path === '/announce') return announce(query, req.socket.remoteAddress)
      if (path === '/scrape') {
        const hashes = parseScrape(query)
        // Only allowed torrents are reported; asking for others alone gets an empty `files`.
        const wanted = hashes.filter(allowed)
        return bencoded(encodeScrape(hashes.length > 0 && wanted.length === 0 ? [] : registry.scrape(wanted)))
      }
      return stats()
    } catch (err) {
      if (!(err instanceof TrackerRequestError)) throw err
      logger.debug({ remote: req.socket.remoteAddress, path, reason: err.message }, 'rejected tracker request')
      if (path === '/announce') metrics.failed(err.message)
      // BitTorrent clients only understand a bencoded failure, and only with status 200.
      return isBencoded ? bencoded(encodeFailure(err.message)) : { status: 400, type: 'text/plain', body: `${err.message}\n` }
    }
  }

  /** No passkey, or a wrong one: clients get a bencoded failure, anything else a bare 404; no swarm is named. */
  function locked(path: string, req: http.IncomingMessage): Reply {
    logger.debug({ remote: req.socket.remoteAddress }, 'tracker request without a valid passkey')
    return /\/(announce|scrape)$/.test(path) ? bencoded(encodeFailure(PASSKEY_REQUIRED)) : { status: 404, type: 'text/plain', body: 'not found\n' }
  }

  const options: http.ServerOptions = {
    requestTimeout: requestTimeoutMs,
    headersTimeout: requestTimeoutMs,
    maxHeaderSize: MAX_HEADER_BYTES,
    // The default check period is 30 s, which would make the timeouts above mostly theoretical.
    connectionsCheckingInterval: Math.min(1_000, Math.max(100, Math.floor(requestTimeoutMs / 2))),
  }
  const handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const started = performance.now()
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const fullPath = q < 0 ? url : url.slice(0, q)
    // The one gate of every page, those added later included: without a passkey nothing is routed.
    const path = opts.passkeys ? unlockPath(fullPath, opts.passkeys) : fullPath
    let reply: Reply
    try {
      reply = path === null ? locked(fullPath, req) : route(req, url, path, q < 0 ? '' : url.slice(q + 1))
    } catch (err) {
      logger.error({ err }, 'tracker request failed')
      reply = { status: 500, type: 'text/plain', body: 'internal error\n' }
    }
    res.writeHead(reply.status, {
      'content-type': reply.type,
      // A 304 or 204 has no body (a 304's length would have to be the page's).
      ...(reply.status === 304 || reply.status === 204 ? {} : { 'content-length': String(Buffer.byteLength(reply.body)) }),
      'cache-control': 'no-store',
      ...reply.headers,
    })
    res.end(reply.body)
    metrics.observe((path !== null && KINDS.get(path)) || 'other', (performance.now() - started) / 1000)
  }
  // The same server over TLS when given a certificate: passkeys then never cross the network in clear.
  const server: http.Server = opts.tls ? https.createServer({ ...options, ...opts.tls }, handle) : http.createServer(options, handle)

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject)
      resolve()
    })
  }).catch((err: NodeJS.ErrnoException) => {
    // The same exit code as seed and peer: a deploy script tells "port taken" from "tracker unreachable".
    throw new UserError(`tracker cannot listen on ${opts.host ?? '*'}:${opts.port}: ${err.code === 'EADDRINUSE' ? 'address in use' : err.message}`, ExitCode.listen)
  })
  // Accept failures (e.g. EMFILE under load) are emitted here; unhandled they would kill the process.
  server.on('error', (err) => logger.error({ err }, 'tracker server error'))

  const sweeper = setInterval(() => {
    const removed = registry.sweep(now())
    if (removed.peers > 0 || removed.torrents > 0) logger.debug(removed, 'expired silent peers')
  }, intervalMs)
  sweeper.unref()

  const port = (server.address() as AddressInfo).port
  logger.info({ port, host: opts.host, interval: opts.interval, passkeys: opts.passkeys?.length, https: opts.tls !== undefined }, 'tracker listening')

  let closing: Promise<void> | undefined
  return {
    port,
    setAllow(next) {
      allow = next
      // Swarms of torrents no longer allowed are forgotten at once rather than when their peers expire.
      if (next !== undefined) registry.retain((infoHash) => allowed(infoHash))
    },
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        clearInterval(sweeper)
        server.close((err) => (err ? reject(err) : resolve()))
        // Keep-alive connections would otherwise hold close() open until they time out.
        server.closeAllConnections()
      })
      return closing
    },
  }
}
