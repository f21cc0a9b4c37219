import { DEFAULT_SWARM_SETTINGS } from '../../src/cli/session.js'
import { TokenBucket } from '../../src/swarm/rateLimiter.js'
import { announceInterval, bridgeStallFor, SwarmRegistry } from '../../src/tracker/swarmRegistry.js'
import { DEFAULT_SITE_POLICY, type SitePolicy } from '../../src/tracker/sitePolicy.js'
import { prng } from '../../test/helpers/prng.js'
import { lowerBound } from '../report.js'
import { SIM_PORT, SimFleet, type SimHost } from './simFleet.js'
import { Timeline, type TimelineRow } from './timeline.js'

export interface SimSite {
  name: string
  targets: number
  /** WAN rate of the site's link to the others, bytes/s each way (ignored for a single site). */
  wanRate: number
  /** One-way delay added across sites, ms. */
  wanDelayMs: number
}

export interface SimConfig {
  /** The source is in the first site. */
  sites: SimSite[]
  /** Bytes/s, up and down, of each target's link. */
  hostRate: number
  /** Bytes/s of the source's link. */
  sourceRate: number
  /** One-way delay between two hosts of a site, ms. */
  lanDelayMs: number
  /** Tree size in bytes, and piece length. */
  size: number
  pieceLength: number
  maxPeers: number
  maxUploads: number
  memoryBudget: number
  /** The tracker's announce interval, s. */
  interval: number
  /** Whether the tracker knows the sites (--sites) and tells peers theirs. */
  siteAware: boolean
  /** The tracker's --bridges-per-site and --cross-site-peers. */
  sitePolicy: SitePolicy
  /** The tracker knows each site's size before its peers arrive, as deploy's tracker does from its hosts file. */
  sizesKnown: boolean
  /** Targets start spread over this long (process start-up), ms. */
  startSpreadMs: number
  tickMs: number
  /** Bytes per request: 16 KiB as murder asks; larger blocks run large fleets faster. */
  blockLength: number
  /** Simulated time at which the run gives up, s. */
  limitS: number
  /** Seeds every random choice: a run replays exactly. */
  seed: number
  /** Each remote site's first arrival announces and never serves (a dead bridge). */
  deadBridges: boolean
  /** Peers hold back uploads to their site while a peer across fetches from them (the engine's default; off to compare). */
  wanFirst: boolean
  /** --max-upload-rate and --max-download-rate of every host, bytes/s (Infinity: none), as rate limits stand in for links. */
  rateLimit: number
  /** The lab's machine: every host on `cores` cores, `secondsPerMB` of CPU per MB moved (sender and receiver). */
  cpu?: { cores: number; secondsPerMB: number }
  /** Links shared as TCP shares them, by round trip plus the bottleneck's queue (see Network); fairly if unset. */
  rttBias?: { queueMs: number; alpha: number }
  /** Samples the run this often (simulated ms) into the report's timeline; none if unset. */
  timelineMs?: number
}

export const DEFAULT_SIM: Omit<SimConfig, 'sites' | 'size'> = {
  hostRate: 100e6 / 8,
  sourceRate: 100e6 / 8,
  lanDelayMs: 0.05,
  pieceLength: 1024 * 1024,
  maxPeers: DEFAULT_SWARM_SETTINGS.maxPeers,
  maxUploads: DEFAULT_SWARM_SETTINGS.maxUploads,
  memoryBudget: DEFAULT_SWARM_SETTINGS.memoryBudget,
  interval: 10,
  siteAware: true,
  sitePolicy: DEFAULT_SITE_POLICY,
  sizesKnown: true,
  startSpreadMs: 400,
  tickMs: 10,
  blockLength: 16 * 1024,
  limitS: 3600,
  seed: 1,
  rateLimit: Infinity,
  deadBridges: false,
  wanFirst: true,
}

export interface SimReport {
  targets: number
  /** Simulated seconds until the last target completed (null if some never did). */
  allDoneS: number | null
  lowerBoundS: number
  /** Completion time of each target, s (null: not done). */
  finishS: (number | null)[]
  sourceCopies: number
  /** Per remote site, copies of the tree that crossed its WAN link inward. */
  wanCopies: Record<string, number>
  /** Most connections any peer held at once, and the limit it was given. */
  maxConnections: number
  maxPeers: number
  /** Targets that did not complete: pieces held, peers connected, whether a peer held a missing piece. */
  notDone: { name: string; pieces: number; peers: number; missingHeld: boolean }[]
  /** Wall-clock seconds and engine events the run took. */
  wallS: number
  events: number
  /** With timelineMs: the source's uplink and each site's progress and intake, sample by sample. */
  timeline?: TimelineRow[]
}

/** The lab's lower bound (bench/report.ts), and across sites each remote site's WAN link carrying one copy in. */
export function simLowerBound(c: SimConfig): number {
  const n = c.sites.reduce((sum, s) => sum + s.targets, 0)
  const rates = new Array<number>(n).fill(Math.min(c.hostRate, c.rateLimit) * 8)
  let bound = lowerBound(c.size, n, Math.min(c.sourceRate, c.rateLimit) * 8, rates, rates).tMin
  for (const s of c.sites.slice(1)) if (s.targets > 0) bound = Math.max(bound, c.size / s.wanRate)
  return bound
}

/**
 * Runs murder's engine (src/swarm: picker, choker, spread-first, site deferral) for a source and every
 * target in one process, with the real tracker policy (SwarmRegistry, site indexes), over the modelled network
 * and on simulated time. Pieces are counted, not stored or hashed; CPU is not modelled.
 */
export async function simulate(c: SimConfig): Promise<SimReport> {
  const started = performance.now()
  const fleet = new SimFleet({ sites: c.sites.map((s) => ({ name: s.name, rate: s.wanRate, delayMs: s.wanDelayMs })), tickMs: c.tickMs, lanDelayMs: c.lanDelayMs, size: c.size, pieceLength: c.pieceLength, random: prng(c.seed),
    cpu: c.cpu && { cores: c.cpu.cores, secondsPerByte: c.cpu.secondsPerMB / 1e6 }, rttBias: c.rttBias })
  const { clock, meta } = fleet
  const registry = new SwarmRegistry({ peerTtlMs: 2 * c.interval * 1000 + 5000, random: fleet.random, bridgeStallMs: bridgeStallFor(c.interval * 1000),
    sitePolicy: c.sizesKnown ? { ...c.sitePolicy, sizes: new Map(c.sites.map((s) => [s.name, s.targets])) } : c.sitePolicy })
  const options = { maxPeers: c.maxPeers, maxUploads: c.maxUploads, memoryBudget: c.memoryBudget, blockLength: c.blockLength, wanFirst: c.wanFirst }
  const bucket = () => new TokenBucket(c.rateLimit, undefined, () => clock.now())
  const addHost = (name: string, site: string, ip: string, rate: number, complete: boolean) =>
    fleet.addEngine({ name, site, ip, up: rate, down: rate }, complete, { ...options, uploadLimit: bucket(), downloadLimit: bucket() })

  /** Announces, and returns when the tracker wants the next one (ms). */
  const announce = (h: SimHost, event: 'started' | 'completed' | undefined): number => {
    // A dead host reports what it has, nothing, and never gets more.
    const s = h.swarm?.stats ?? { uploaded: 0, downloaded: 0, left: c.size }
    const res = registry.announce({
      infoHash: meta.infoHash, peerId: h.peerId, ip: h.ip, port: SIM_PORT, uploaded: s.uploaded, downloaded: s.downloaded, left: s.left,
      event, numwant: 200, compact: true, site: c.siteAware ? h.site : undefined,
    }, clock.now())
    const next = announceInterval(res, c.interval) * 1000
    if (!h.swarm) return next
    h.swarm.learnSeeds(res.complete)
    if (c.siteAware) h.swarm.learnSite(h.site)
    h.swarm!.addPeers(res.peers.map((p) => ({ ip: p.ip, port: p.port })))
    return next
  }
  /** Announces now and then whenever the tracker says, as the Announcer does. */
  const keepAnnouncing = (h: SimHost) => {
    const again = () => void clock.after(announce(h, undefined), again)
    clock.after(announce(h, 'started'), again)
  }

  const start = (h: SimHost) => {
    h.swarm!.start()
    keepAnnouncing(h)
    h.swarm!.once('complete', () => {
      h.doneAt = clock.now()
      announce(h, 'completed')
    })
  }

  const source = addHost('source', c.sites[0]!.name, '10.0.0.1', c.sourceRate, true)
  const targets: SimHost[] = []
  c.sites.forEach((s, si) => {
    for (let i = 0; i < s.targets; i++) targets.push(addHost(`${s.name}-${i + 1}`, s.name, `10.${si + 1}.${Math.floor(i / 250)}.${(i % 250) + 2}`, c.hostRate, false))
  })
  start(source)
  // Each remote site's first arrival, if asked, is a host that announces and never serves (it refuses every
  // connection): the tracker must not leave its site waiting on it.
  if (c.deadBridges) c.sites.forEach((s, si) => {
    if (si === 0) return
    const dead = fleet.addRaw({ name: `${s.name}-dead`, site: s.name, ip: `10.${si + 1}.255.1`, up: c.hostRate, down: c.hostRate }, (link) => link.close())
    keepAnnouncing(dead)
  })
  for (const t of targets) clock.after(fleet.random() * c.startSpreadMs, () => start(t))
  const timeline = c.timelineMs === undefined ? null
    : new Timeline(fleet.net, source, targets, c.sites.map((s) => s.name), meta.pieceCount, { source: c.sourceRate, host: c.hostRate }, c.timelineMs)
  const sampling = timeline && clock.every(c.timelineMs!, () => timeline.sample(clock.now()))
  await clock.run(() => targets.every((t) => t.doneAt !== null), c.limitS * 1000)
  sampling?.cancel()
  const notDone = targets.filter((t) => t.doneAt === null).map((t) => ({ name: t.name, pieces: t.swarm!.stats.pieces, peers: t.swarm!.stats.peers, missingHeld: t.swarm!.missingHeld() }))
  for (const h of fleet.all) h.swarm?.close()

  const finishS = targets.map((t) => (t.doneAt === null ? null : t.doneAt / 1000))
  const done = finishS.every((f) => f !== null)
  const wanCopies: Record<string, number> = {}
  if (c.sites.length > 1) for (const s of c.sites.slice(1)) wanCopies[s.name] = fleet.net.wanInto(s.name) / c.size
  return {
    targets: targets.length,
    allDoneS: done ? Math.max(...(finishS as number[])) : null,
    lowerBoundS: simLowerBound(c),
    finishS,
    // What left the source's link: blocks still queued when their peer left never went.
    sourceCopies: fleet.net.sentBy(source) / c.size,
    wanCopies,
    maxConnections: Math.max(...targets.map((t) => t.maxOpen)),
    maxPeers: c.maxPeers,
    notDone,
    wallS: (performance.now() - started) / 1000,
    events: clock.executed,
    ...(timeline && { timeline: timeline.rows }),
  }
}
