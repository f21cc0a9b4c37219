/**
 * Site-aware peer selection. Inside a site, peers get each other; across sites, only each site's few
 * "bridges" are put in touch (the seeds it started with, then its earliest arrivals: a stable choice that every
 * announce recomputes, so when bridges leave the next peers take over and no site is starved). Each piece then
 * crosses a WAN link about once and spreads inside the site. Peers with no site form one site of their own.
 */

export interface SitePeer {
  readonly key: string
  readonly site: string | undefined
  readonly left: number
  readonly firstSeen: number
  /** Complete at its first announce (the source, a host that already held the tree): it never fetches. */
  readonly arrivedComplete: boolean
}

export interface SitePolicy {
  /** Peers per site that are given cross-site peers. */
  readonly bridgesPerSite: number
  /** Cross-site peers handed to a bridge. */
  readonly crossSitePeers: number
}

export const DEFAULT_SITE_POLICY: SitePolicy = { bridgesPerSite: 1, crossSitePeers: 4 }

/**
 * Seeds that arrived complete first, then the earliest arrivals: a peer keeps the connections it made while it
 * was a bridge, so bridges must not change while they stay in the swarm (completing does not change them).
 * Ties (same instant) by key.
 */
function bridgeOrder(a: SitePeer, b: SitePeer): number {
  return Number(b.arrivedComplete) - Number(a.arrivedComplete) || a.firstSeen - b.firstSeen || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
}

/**
 * The bridges of every site: the seeds it started with, then its `perSite` earliest arrivals. A seed never
 * fetches, so bridging through it adds a way out of its site and no second way in: with the source as its
 * site's only bridge, a remote bridge would get nothing but a share of the source's uplink, however fast the WAN.
 * A bridge that completes stays one and no peer is added: its site then holds every piece, and a second
 * fetching bridge would only open more connections across.
 */
export function bridgesBySite(peers: readonly SitePeer[], perSite: number): Map<string | undefined, SitePeer[]> {
  const bySite = new Map<string | undefined, SitePeer[]>()
  for (const p of peers) bySite.set(p.site, [...(bySite.get(p.site) ?? []), p])
  for (const [site, list] of bySite) {
    const sorted = list.sort(bridgeOrder)
    const seeds = sorted.filter((p) => p.arrivedComplete).length
    bySite.set(site, sorted.slice(0, seeds + perSite))
  }
  return bySite
}

function shuffled<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[items[i], items[j]] = [items[j]!, items[i]!]
  }
  return items
}

/**
 * Peers for `requester` out of `swarm` (which includes the requester): same-site peers, plus other sites'
 * bridges when the requester is a bridge of its own site.
 */
export function selectBySite<P extends SitePeer>(swarm: readonly P[], requester: Pick<SitePeer, 'key' | 'site' | 'left'>, numwant: number, policy: SitePolicy, random: () => number): P[] {
  const others = swarm.filter((p) => p.key !== requester.key)
  const self = swarm.find((p) => p.key === requester.key) ?? { ...requester, firstSeen: Infinity, arrivedComplete: requester.left === 0 }
  const bridges = bridgesBySite([...others, { ...self, ...requester }], policy.bridgesPerSite)
  const isBridge = bridges.get(requester.site)!.some((b) => b.key === requester.key)
  const cross: P[] = []
  if (isBridge) {
    const crossKeys = new Set<string>()
    for (const [site, list] of bridges) if (site !== requester.site) for (const b of list) crossKeys.add(b.key)
    // Seeds that arrived complete (the source) before the rest: with more sites than --cross-site-peers, a
    // random pick could leave a bridge with none of them, fetching only what other remote sites got first.
    const candidates = shuffled(others.filter((p) => crossKeys.has(p.key)), random).sort((a, b) => Number(b.arrivedComplete) - Number(a.arrivedComplete))
    cross.push(...candidates.slice(0, Math.min(policy.crossSitePeers, numwant)))
  }
  const same = shuffled(others.filter((p) => p.site === requester.site), random).slice(0, numwant - cross.length)
  return [...cross, ...same]
}
