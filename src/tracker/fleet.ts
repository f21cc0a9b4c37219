import type { Peer, Swarm } from './swarm.js'

/**
 * What the live page, /stats and /metrics show of each swarm: who is done, who is slow, who is stuck, and
 * where. Pure: built from the registry's swarms and a time.
 */

export type HostState = 'stalled' | 'downloading' | 'done'

export interface HostView {
  /** ip:port, as other peers dial it ([v6]:port for IPv6). */
  address: string
  site: string | undefined
  state: HostState
  left: number
  /** 1 - left / the torrent's size as estimated (Swarm.largestLeft); 1 for a host with nothing left. */
  progress: number
  downloaded: number
  uploaded: number
  downloadRate: number
  uploadRate: number
  /** Its last announce, ms since the epoch. */
  lastSeen: number
  /** Whether it completed a download here (not a seed from the start). */
  completed: boolean
}

export interface Totals {
  hostCount: number
  done: number
  downloading: number
  stalled: number
  /** Bytes still missing, all hosts together. */
  left: number
  /** Bytes/s the hosts that are not stalled download, together. */
  downloadRate: number
  /** Seconds until the missing bytes arrive at that rate; null when nothing arrives. */
  eta: number | null
}

export interface SiteView extends Totals {
  site: string | undefined
}

export interface TorrentView extends Totals {
  infoHash: string
  seeders: number
  leechers: number
  /** Peers that completed a download here, each counted once. */
  completed: number
  /** Largest `left` any host reported: the torrent's size once a host started empty. */
  size: number
  sites: SiteView[]
  /** Stragglers first: stalled hosts, then those downloading, least progress first, then those done. */
  hosts: HostView[]
}

export interface Clock {
  /** The announce interval. */
  readonly intervalMs: number
  /**
   * Wall-clock ms minus the registry's (monotonic) clock, fixed once: converting each time would make a
   * host's last announce jitter across a second boundary, and its row change with nothing announced.
   */
  readonly wallOffset: number
}

const STATE_ORDER: Record<HostState, number> = { stalled: 0, downloading: 1, done: 2 }

/** A host with bytes left that reported no progress for two announce intervals is stalled. */
export function hostView(peer: Peer, size: number, now: number, clock: Clock): HostView {
  const state: HostState = peer.left === 0 ? 'done' : now - peer.lastProgress > 2 * clock.intervalMs ? 'stalled' : 'downloading'
  return {
    address: peer.ip.includes(':') ? `[${peer.ip}]:${peer.port}` : `${peer.ip}:${peer.port}`,
    site: peer.site,
    state,
    left: peer.left,
    progress: peer.left === 0 || size === 0 ? 1 : Math.max(0, 1 - peer.left / size),
    downloaded: peer.downloaded,
    uploaded: peer.uploaded,
    downloadRate: Math.round(peer.downloadRate),
    uploadRate: Math.round(peer.uploadRate),
    lastSeen: Math.round(clock.wallOffset + peer.lastSeen),
    completed: peer.countedCompleted,
  }
}

function totals(hosts: readonly HostView[]): Totals {
  const t: Totals = { hostCount: hosts.length, done: 0, downloading: 0, stalled: 0, left: 0, downloadRate: 0, eta: null }
  for (const h of hosts) {
    t[h.state]++
    t.left += h.left
    if (h.state === 'downloading') t.downloadRate += h.downloadRate
  }
  t.eta = t.left === 0 ? 0 : t.downloadRate > 0 ? Math.ceil(t.left / t.downloadRate) : null
  return t
}

function byStraggling(a: HostView, b: HostView): number {
  return STATE_ORDER[a.state] - STATE_ORDER[b.state] || a.progress - b.progress || (a.address < b.address ? -1 : a.address > b.address ? 1 : 0)
}

export function torrentView(swarm: Swarm, now: number, clock: Clock): TorrentView {
  const hosts: HostView[] = []
  for (const peer of swarm.peerList()) hosts.push(hostView(peer, swarm.largestLeft, now, clock))
  hosts.sort(byStraggling)
  const bySite = new Map<string | undefined, HostView[]>()
  for (const h of hosts) {
    const list = bySite.get(h.site)
    if (list) list.push(h)
    else bySite.set(h.site, [h])
  }
  const sites = [...bySite].map(([site, list]) => ({ site, ...totals(list) }))
  // Sites with the most missing first, like the hosts; no site last.
  sites.sort((a, b) => Number(a.site === undefined) - Number(b.site === undefined) || b.left - a.left || ((a.site ?? '') < (b.site ?? '') ? -1 : 1))
  return {
    infoHash: Buffer.from(swarm.infoHash).toString('hex'),
    seeders: swarm.complete,
    leechers: swarm.incomplete,
    completed: swarm.completed,
    size: swarm.largestLeft,
    ...totals(hosts),
    sites,
    hosts,
  }
}
