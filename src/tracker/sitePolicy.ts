/**
 * Site-aware peer selection. Inside a site, peers get each other; across sites, only each site's few
 * "bridges" are put in touch (the seeds it started with, then its earliest arrivals: a stable choice, so when
 * bridges leave the next peers take over and no site is starved). Each piece then crosses a WAN link about once
 * and spreads inside the site. Peers with no site form one site of their own.
 *
 * The index is kept up to date as peers arrive and leave, never rebuilt: an announce costs O(numwant) whatever
 * the swarm's size (a peer that re-announces changes nothing here, and bridges change only on arrivals and
 * departures).
 */

export interface SitePeer {
  readonly key: string
  readonly site: string | undefined
  readonly firstSeen: number
  /** Complete at its first announce (the source, a host that already held the tree): it never fetches. */
  readonly arrivedComplete: boolean
}

export interface SitePolicy {
  /** Peers per site that are given cross-site peers; 'auto': by the site's size (bridgesFor). */
  readonly bridgesPerSite: number | 'auto'
  /** Cross-site peers handed to a bridge. */
  readonly crossSitePeers: number
  /**
   * Fetching peers each site will have, where known before they arrive (deploy's hosts file): with 'auto' a site
   * then has its bridges from its first arrivals, not one more as each 40 arrive, each a re-announce late.
   */
  readonly sizes?: ReadonlyMap<string, number>
}

export const DEFAULT_SITE_POLICY: SitePolicy = { bridgesPerSite: 'auto', crossSitePeers: 8 }

/** Most bridges a site can be given by number. */
export const MOST_BRIDGES = 100

/** A `--bridges-per-site` value (tracker, deploy, the simulator): 'auto' or a whole number from 1 to MOST_BRIDGES; null if neither. */
export function parseBridgesPerSite(value: string): number | 'auto' | null {
  if (value === 'auto') return value
  const n = Number(value)
  return /^\d+$/.test(value) && n >= 1 && n <= MOST_BRIDGES ? n : null
}

/** With 'auto', a site gets a bridge per this many of its peers (the most it had so far), up to AUTO_MOST_BRIDGES. */
export const PEERS_PER_BRIDGE = 40
export const AUTO_MOST_BRIDGES = 4

/**
 * Bridges for a site of `peers` fetching peers with 'auto'. A site's way in is its bridges' downlinks: one bridge
 * fed a site of 100 at 46-84% of its rate (simulator, 10 sites of 100 on 1 GiB: all done 214.6 s, 144.9 s with
 * two), while in small sites behind a narrow WAN a second bridge only split the WAN's trade (3 + 3 + 3 at
 * 16 Mbit/s: 13.1 s with one, 15.8 s with two).
 */
export function bridgesFor(peers: number): number {
  return Math.min(AUTO_MOST_BRIDGES, Math.max(1, Math.ceil(peers / PEERS_PER_BRIDGE)))
}

/** Items with O(1) add, delete and random access, for sampling without walking the whole set. */
class Bag<T extends SitePeer> {
  readonly items: T[] = []
  private readonly slots = new Map<string, number>()

  add(item: T): void {
    this.slots.set(item.key, this.items.length)
    this.items.push(item)
  }

  delete(key: string): void {
    const slot = this.slots.get(key)
    if (slot === undefined) return
    const last = this.items.pop()!
    this.slots.delete(key)
    if (slot < this.items.length) {
      this.items[slot] = last
      this.slots.set(last.key, slot)
    }
  }
}

/**
 * Arrival order: earliest first, ties (same instant) by key. A peer keeps the connections it made while it was a
 * bridge, so bridges must not change while they stay in the swarm (completing does not change them).
 */
function before(a: SitePeer, b: SitePeer): boolean {
  return a.firstSeen < b.firstSeen || (a.firstSeen === b.firstSeen && a.key < b.key)
}

/** Where `p` is or belongs in `sorted` (arrival order). New peers arrive last, so this is usually the end. */
function position(sorted: readonly SitePeer[], p: SitePeer): number {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (before(sorted[mid]!, p)) lo = mid + 1
    else hi = mid
  }
  return lo
}

interface Site<T extends SitePeer> {
  readonly members: Bag<T>
  /** Peers that arrived complete, in arrival order: all of them are bridges. */
  readonly seeds: T[]
  /** The others in arrival order: the first `per` are bridges. */
  readonly arrivals: T[]
  /** How many of `arrivals` bridge: it never falls while the site lasts, so a bridge stays one (see `before`). */
  per: number
}

/**
 * The bridges of every site: the seeds it started with, then its `bridgesPerSite` earliest arrivals (with 'auto',
 * more as the site grows). A seed never fetches, so bridging through it adds a way out of its site and no second
 * way in: with the source as its site's only bridge, a remote bridge would get nothing but a share of the
 * source's uplink, however fast the WAN.
 * A bridge that completes stays one and no peer is added: its site then holds every piece, and a second
 * fetching bridge would only open more connections across.
 */
export class SiteIndex<T extends SitePeer> {
  private readonly sites = new Map<string | undefined, Site<T>>()
  /** Bridges of every site, seeds apart: they are handed out first. */
  private readonly seedBridges = new Bag<T>()
  private readonly fetchingBridges = new Bag<T>()

  constructor(private readonly policy: SitePolicy) {}

  add(p: T): void {
    let site = this.sites.get(p.site)
    if (site === undefined) {
      site = { members: new Bag(), seeds: [], arrivals: [], per: 0 }
      this.sites.set(p.site, site)
    }
    site.members.add(p)
    if (p.arrivedComplete) {
      site.seeds.splice(position(site.seeds, p), 0, p)
      this.seedBridges.add(p)
      return
    }
    const was = this.window(site)
    site.arrivals.splice(position(site.arrivals, p), 0, p)
    site.per = Math.max(site.per, this.bridgesOf(p.site, site.arrivals.length))
    this.rebridge(was, this.window(site), true)
  }

  /** Forgets `p` (as it was added); the next arrival of its site takes its place as a bridge. */
  delete(p: T): void {
    const site = this.sites.get(p.site)
    if (site === undefined) return
    site.members.delete(p.key)
    if (site.members.items.length === 0) this.sites.delete(p.site)
    if (p.arrivedComplete) {
      site.seeds.splice(position(site.seeds, p), 1)
      this.seedBridges.delete(p.key)
      return
    }
    const was = this.window(site)
    site.arrivals.splice(position(site.arrivals, p), 1)
    this.rebridge(was, this.window(site), false)
  }

  /** Fetching bridges the policy wants for `site` with `arrivals` fetching peers so far. */
  private bridgesOf(site: string | undefined, arrivals: number): number {
    const { bridgesPerSite, sizes } = this.policy
    if (bridgesPerSite !== 'auto') return bridgesPerSite
    return bridgesFor(Math.max(arrivals, site === undefined ? 0 : sizes?.get(site) ?? 0))
  }

  /** Is `site`'s size known before its peers arrive (SitePolicy.sizes)? */
  private sizeKnown(site: string | undefined): boolean {
    return site !== undefined && (this.policy.sizes?.has(site) ?? false)
  }

  /** A site's fetching bridges: its first `per` arrivals. */
  private window(site: Site<T>): T[] {
    return site.arrivals.slice(0, site.per)
  }

  /**
   * Moves the fetching bridges from `was` to `now` (a few each), changing only those that changed. `addFirst`
   * keeps the bag's order as it was before sites had sizes (an arrival added then the displaced removed, a
   * departure the reverse): the tracker samples the bag, and seeded simulations replay as they did.
   */
  private rebridge(was: readonly T[], now: readonly T[], addFirst: boolean): void {
    const add = () => { for (const p of now) if (!was.includes(p)) this.fetchingBridges.add(p) }
    const remove = () => { for (const p of was) if (!now.includes(p)) this.fetchingBridges.delete(p.key) }
    if (addFirst) add()
    remove()
    if (!addFirst) add()
  }

  /** Is `p` one of its site's fetching bridges (an earliest arrival, not a seed)? */
  isFetchingBridge(p: T): boolean {
    const site = this.sites.get(p.site)
    if (site === undefined || p.arrivedComplete) return false
    const at = position(site.arrivals, p)
    return at < site.per && site.arrivals[at] === p
  }

  /**
   * Is `p` next in line to bridge a remote site (one without a seed): one of the `per` arrivals after its
   * fetching bridges, or with 'auto' and the site's size not known, one a growing site would make a bridge. It
   * re-announces soon, and its announces check those bridges for a stall: a dead bridge is then replaced within a
   * stall and a short interval, not at its own next announce and the heir's after that.
   */
  isHeir(p: T): boolean {
    const site = this.sites.get(p.site)
    if (site === undefined || site.seeds.length > 0 || p.arrivedComplete) return false
    const at = position(site.arrivals, p)
    // Those a growing site makes bridges would otherwise bridge an interval late.
    const heirs = this.policy.bridgesPerSite === 'auto' && !this.sizeKnown(p.site) ? Math.max(2 * site.per, AUTO_MOST_BRIDGES) : 2 * site.per
    return site.arrivals[at] === p && at >= site.per && at < heirs
  }

  /** The fetching bridges of `p`'s site. */
  fetchingBridgesOf(p: T): T[] {
    const site = this.sites.get(p.site)
    return site === undefined ? [] : this.window(site)
  }

  /**
   * Should `requester` come back sooner than the interval: a remote site's heir (see isHeir), or its fetching
   * bridge that `returned` gave fewer cross-site peers than the policy wants, or fewer peers of the source's site
   * than half of those besides the source (see select). A bridge's first announce comes before most of the source's
   * site has arrived, and the peers it reaches then are all it pulls through for an interval: 5 sites of 50 in the
   * simulator were done in 19.8 s with those, 16.1 s re-asking after 2 s. Other sites' bridges, which arrive as
   * early, filled the count while the source's site was still arriving: in 10 sites of 50 (64 MiB), two remote
   * bridges reached 2 of its peers instead of 4-6 and took 10.4 and 13.0 s instead of 8.0-8.5 (all done 14.78 s,
   * 11.38 s re-asking).
   */
  comeBackSoon(requester: T, returned: readonly T[], numwant: number): boolean {
    // Only in a site map with the source somewhere else: peers without a site have nothing to bridge.
    if (requester.site === undefined || this.seedBridges.items.length === 0) return false
    if (this.isHeir(requester)) return true
    const site = this.sites.get(requester.site)
    if (site === undefined || site.seeds.length > 0 || !this.isFetchingBridge(requester)) return false
    const want = Math.min(this.policy.crossSitePeers, numwant)
    let cross = 0
    let fromSeedSites = 0
    for (const p of returned) {
      if (p.site === requester.site) continue
      cross++
      if (!p.arrivedComplete && (this.sites.get(p.site)?.seeds.length ?? 0) > 0) fromSeedSites++
    }
    return cross < want || fromSeedSites < Math.ceil((want - 1) / 2)
  }

  /** The bridges of `site`, seeds first, each group in arrival order. */
  bridges(site: string | undefined): T[] {
    const s = this.sites.get(site)
    return s === undefined ? [] : [...s.seeds, ...this.window(s)]
  }

  /**
   * Peers for `requester` (already added): same-site peers, plus other sites' bridges when the requester is a
   * bridge of its own site, seeds that arrived complete (the source) first: with more sites than
   * --cross-site-peers, a random pick could leave a bridge with none of them, fetching only what other remote
   * sites got first.
   */
  select(requester: T, numwant: number, random: () => number): T[] {
    const site = this.sites.get(requester.site)
    if (site === undefined) return []
    const cross: T[] = []
    const bridgesHere = Math.min(site.arrivals.length, site.per)
    if (requester.arrivedComplete || position(site.arrivals, requester) < bridgesHere) {
      const elsewhere = (p: T) => p.site !== requester.site
      const want = Math.min(this.policy.crossSitePeers, numwant)
      sample(this.seedBridges.items, want, this.seedBridges.items.length - site.seeds.length, elsewhere, random, cross)
      // A remote bridge: half of the rest from the source's site, where every piece starts, half from other
      // sites' bridges, which pass on what they got through their own WAN links (with the source's site's WAN
      // the narrowest link, two remote sites served from it alone took 16.6 s instead of 10.2 after a dead
      // bridge in the simulator), then whatever is left from the source's site.
      if (site.seeds.length === 0) this.fromSeedSites(requester, Math.ceil((want - cross.length) / 2), random, cross)
      sample(this.fetchingBridges.items, want - cross.length, this.fetchingBridges.items.length - bridgesHere, (p) => elsewhere(p) && !cross.includes(p), random, cross)
      if (site.seeds.length === 0) this.fromSeedSites(requester, want - cross.length, random, cross)
    }
    const items = site.members.items
    const same = sample(items, numwant - cross.length, items.length - 1, (p) => p.key !== requester.key, random, [])
    return cross.concat(same)
  }

  /**
   * Fills a remote bridge's cross-site peers with other peers of the sites that hold a seed (the source's): with
   * the two bridges alone, a remote bridge of 100 + 100 targets took 3.8 s to get 16 MiB through a 12.5 MB/s
   * downlink, the others' uplinks serving their own site. Those peers never fetch back across: their own site
   * (its seed) holds every piece.
   */
  private fromSeedSites(requester: T, count: number, random: () => number, out: T[]): void {
    const target = out.length + count
    for (const [name, s] of this.sites) {
      if (out.length >= target) return
      if (name === requester.site || s.seeds.length === 0) continue
      sample(s.members.items, target - out.length, s.members.items.length - s.seeds.length, (p) => !p.arrivedComplete && !out.includes(p), random, out)
    }
  }
}

/**
 * Appends to `out` up to `count` items that `accept`s, uniformly at random and in random order, of which `eligible`
 * exist: a Fisher-Yates shuffle stopped early, with the swaps kept in a map so `items` is neither copied nor
 * changed. It visits about count x items / eligible items: O(count) unless most items are rejected (a site
 * holding nearly all the bridges).
 */
function sample<T>(items: readonly T[], count: number, eligible: number, accept: (item: T) => boolean, random: () => number, out: T[]): T[] {
  const target = out.length + Math.min(count, eligible)
  const swapped = new Map<number, number>()
  for (let i = 0; i < items.length && out.length < target; i++) {
    const j = i + Math.floor(random() * (items.length - i))
    const picked = swapped.get(j) ?? j
    swapped.set(j, swapped.get(i) ?? i)
    const item = items[picked]!
    if (accept(item)) out.push(item)
  }
  return out
}
