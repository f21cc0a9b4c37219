import { test } from 'node:test'
import assert from 'node:assert/strict'
import { SiteIndex, bridgesFor, parseBridgesPerSite, type SitePeer, type SitePolicy } from '../src/tracker/sitePolicy.js'

const policy = { bridgesPerSite: 2, crossSitePeers: 4 }
const rnd = () => 0.3

function swarm(): SitePeer[] {
  const peers: SitePeer[] = [{ key: 'seed', site: 'paris', firstSeen: 0, arrivedComplete: true }]
  for (let i = 0; i < 6; i++) peers.push({ key: `p${i}`, site: 'paris', firstSeen: 10 + i, arrivedComplete: false })
  for (let i = 0; i < 6; i++) peers.push({ key: `t${i}`, site: 'tokyo', firstSeen: 10 + i, arrivedComplete: false })
  return peers
}

function indexOf(peers: readonly SitePeer[], p: SitePolicy = policy): SiteIndex<SitePeer> {
  const index = new SiteIndex<SitePeer>(p)
  for (const peer of peers) index.add(peer)
  return index
}

const keys = (peers: readonly SitePeer[]) => peers.map((p) => p.key)

function selectFor(peers: readonly SitePeer[], key: string, numwant = 50, p: SitePolicy = policy, random = rnd): SitePeer[] {
  return indexOf(peers, p).select(peers.find((x) => x.key === key)!, numwant, random)
}

test('bridges: the seeds a site started with, then the earliest arrivals, per site', () => {
  const b = indexOf(swarm())
  assert.deepEqual(keys(b.bridges('paris')), ['seed', 'p0', 'p1'], 'a seed only exports: it does not take a bridge\'s place')
  assert.deepEqual(keys(b.bridges('tokyo')), ['t0', 't1'])
  const late = swarm().map((p) => (p.key === 't0' ? { ...p, firstSeen: 99 } : p))
  assert.deepEqual(keys(indexOf(late).bridges('tokyo')), ['t1', 't2'], 'arrival order, not key order')
  assert.deepEqual(keys(indexOf([...swarm()].reverse()).bridges('tokyo')), ['t0', 't1'], 'whatever order they were added in')
})

for (const [bridgesPerSite, peers, steps] of [[2, 60, 3000], ['auto', 800, 4000]] as const) {
  test(`the index kept up to date through arrivals and departures names the bridges a recomputation would (${bridgesPerSite} per site)`, () => {
    let x = 7
    const random = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32
    // Every cross-site peer handed out: a seed of site z then gets every other site's bridges, from the index's bags.
    const index = new SiteIndex<SitePeer>({ bridgesPerSite, crossSitePeers: 10_000 })
    const z = { key: 'z', site: 'z', firstSeen: 0, arrivedComplete: true }
    index.add(z)
    const live = new Map<string, SitePeer>()
    /** With 'auto', the most bridges each site has needed so far: a bridge stays one while its site lasts. */
    const most = new Map<string | undefined, number>()
    const counts = new Set<number>()
    for (let step = 0; step < steps; step++) {
      const key = `k${Math.floor(random() * peers)}`
      const known = live.get(key)
      if (known) {
        index.delete(known)
        live.delete(key)
      } else {
        // Few distinct instants, so ties are decided by key.
        const p = { key, site: ['a', 'b', undefined][Math.floor(random() * 3)], firstSeen: Math.floor(step / 10), arrivedComplete: random() < 0.1 }
        index.add(p)
        live.set(key, p)
      }
      const handedOut = new Set<string>()
      for (const site of ['a', 'b', undefined]) {
        const here = [...live.values()].filter((p) => p.site === site)
        const fetching = here.filter((p) => !p.arrivedComplete)
        if (here.length === 0) most.delete(site)
        else if (!known || known.site !== site) most.set(site, Math.max(most.get(site) ?? 0, bridgesPerSite === 'auto' ? bridgesFor(fetching.length) : bridgesPerSite))
        const per = most.get(site) ?? 0
        counts.add(per)
        const order = (a: SitePeer, b: SitePeer) => a.firstSeen - b.firstSeen || (a.key < b.key ? -1 : 1)
        const expected = [...here.filter((p) => p.arrivedComplete).sort(order), ...fetching.sort(order).slice(0, per)]
        assert.deepEqual(keys(index.bridges(site)), keys(expected), `step ${step}, site ${site}`)
        for (const p of expected) handedOut.add(p.key)
      }
      assert.deepEqual(new Set(keys(index.select(z, 10_000, random))), handedOut, `step ${step}: the bridges the bags hand out`)
    }
    if (bridgesPerSite === 'auto') assert.ok(counts.has(1) && counts.has(2) && counts.has(3), `sites grew through 1, 2 and 3 bridges (${[...counts]})`)
  })
}

test('auto: a bridge per 40 fetching peers of the site, at most 4; a site that shrinks keeps its bridges', () => {
  assert.deepEqual([1, 40, 41, 80, 81, 160, 161, 5000].map(bridgesFor), [1, 1, 2, 2, 3, 4, 4, 4])
  const peers: SitePeer[] = [{ key: 'seed', site: 'paris', firstSeen: 0, arrivedComplete: true }]
  for (let i = 0; i < 90; i++) peers.push({ key: `t${String(i).padStart(2, '0')}`, site: 'tokyo', firstSeen: 10 + i, arrivedComplete: false })
  const index = new SiteIndex<SitePeer>({ ...policy, bridgesPerSite: 'auto' })
  for (const p of peers.slice(0, 41)) index.add(p)
  assert.deepEqual(keys(index.bridges('tokyo')), ['t00'], '40 peers of tokyo: one bridge')
  index.add(peers[41]!)
  assert.deepEqual(keys(index.bridges('tokyo')), ['t00', 't01'], 'the 41st: the second earliest bridges too')
  for (const p of peers.slice(42)) index.add(p)
  assert.deepEqual(keys(index.bridges('tokyo')), ['t00', 't01', 't02'])
  for (const p of peers.slice(10)) index.delete(p)
  assert.deepEqual(keys(index.bridges('tokyo')), ['t00', 't01', 't02'], 'departures do not demote a bridge')
  assert.ok(index.select(peers[2]!, 50, rnd).some((p) => p.key === 'seed'), 'the third bridge gets the source')
  const known = new SiteIndex<SitePeer>({ ...policy, bridgesPerSite: 'auto', sizes: new Map([['tokyo', 90]]) })
  for (const p of peers.slice(0, 2)) known.add(p)
  assert.deepEqual(keys(known.bridges('tokyo')), ['t00'], 'one arrival so far')
  for (const p of peers.slice(2, 4)) known.add(p)
  assert.deepEqual(keys(known.bridges('tokyo')), ['t00', 't01', 't02'], 'a site of 90 known in advance: three bridges from its first arrivals')
})

test('a non-bridge gets only peers of its own site', () => {
  const got = selectFor(swarm(), 't4')
  assert.ok(got.every((p) => p.site === 'tokyo'))
  assert.equal(got.length, 5)
  assert.ok(!got.some((p) => p.key === 't4'), 'never the requester itself')
  assert.equal(new Set(keys(got)).size, 5, 'no peer twice')
})

test('a remote bridge gets the seed, then peers of the seed\'s site (no other remote site here); the seed\'s site\'s bridges get the other bridges', () => {
  const got = selectFor(swarm(), 't1')
  const cross = got.filter((p) => p.site !== 'tokyo').map((p) => p.key)
  assert.equal(cross[0], 'seed')
  assert.equal(cross.length, 4, '--cross-site-peers')
  assert.equal(new Set(cross).size, 4, 'no peer twice')
  assert.ok(cross.every((k) => k === 'seed' || k.startsWith('p')), cross.join(', '))
  assert.equal(got.filter((p) => p.site === 'tokyo').length, 5)
  const home = selectFor(swarm(), 'p1').filter((p) => p.site !== 'paris').map((p) => p.key).sort()
  assert.deepEqual(home, ['t0', 't1'], 'the seed\'s own site gets the other bridges only: it never fetches across')
})

test('few connections cross: bridge pairs, and remote bridges to peers of the seed\'s site', () => {
  const s = swarm()
  let crossLinks = 0
  for (const r of s) crossLinks += selectFor(s, r.key).filter((p) => p.site !== r.site).length
  assert.equal(crossLinks, 14, '3 bridges (the seed and 2 peers) × 2 bridges, counted from both sides, and tokyo\'s 2 bridges × 1 more paris peer')
})

test('when the bridges leave, the next peers bridge: no site is starved', () => {
  const index = indexOf(swarm())
  const s = swarm()
  for (const gone of ['t0', 't1']) index.delete(s.find((p) => p.key === gone)!)
  assert.deepEqual(keys(index.bridges('tokyo')), ['t2', 't3'])
  assert.ok(index.select(s.find((p) => p.key === 't2')!, 50, rnd).some((p) => p.key === 'seed'))
})

test('numwant bounds the answer, cross-site peers included', () => {
  assert.equal(selectFor(swarm(), 't0', 3).length, 3)
  assert.equal(selectFor(swarm(), 't0', 0).length, 0)
})

/** The source and `perSite` peers in site s0, `perSite` peers in each other site. */
function sites(count: number, perSite: number): SitePeer[] {
  const peers: SitePeer[] = [{ key: 'seed', site: 's0', firstSeen: 0, arrivedComplete: true }]
  for (let s = 0; s < count; s++) for (let i = 0; i < perSite; i++) peers.push({ key: `s${s}p${i}`, site: `s${s}`, firstSeen: 10 + i, arrivedComplete: false })
  return peers
}

test('three sites: a remote bridge gets the source, peers of the source\'s site and the other remote bridge; the source\'s site\'s bridge gets the remote bridges; the rest stay at home', () => {
  const one = { bridgesPerSite: 1, crossSitePeers: 4 }
  const s = sites(3, 3)
  const crossOf = (key: string) => selectFor(s, key, 50, one).filter((p) => p.site !== key.slice(0, 2)).map((p) => p.key).sort()
  for (const [bridge, other] of [['s1p0', 's2p0'], ['s2p0', 's1p0']]) {
    const cross = crossOf(bridge!)
    assert.equal(cross.length, 4, cross.join(', '))
    assert.ok(cross.includes('seed') && cross.includes(other!), `${bridge}: ${cross.join(', ')}`)
    assert.equal(cross.filter((k) => k.startsWith('s0')).length, 2, `half of the rest from the source's site: ${cross.join(', ')}`)
  }
  assert.deepEqual(crossOf('s0p0'), ['s1p0', 's2p0'])
  assert.deepEqual(crossOf('s1p1'), [], 'not a bridge')
})

test('with more sites than --cross-site-peers, every bridge still gets the source', () => {
  const s = sites(8, 2)
  const one = { bridgesPerSite: 1, crossSitePeers: 4 }
  for (const r of [0.01, 0.3, 0.6, 0.99]) {
    for (let site = 1; site < 8; site++) {
      const got = selectFor(s, `s${site}p0`, 50, one, () => r)
      const cross = got.filter((p) => p.site !== `s${site}`)
      assert.equal(cross.length, 4)
      assert.ok(cross.some((p) => p.key === 'seed'), `s${site}'s bridge got ${cross.map((p) => p.key).join(', ')}`)
    }
  }
})

test('peers without a site are one group of their own', () => {
  const s: SitePeer[] = [{ key: 'a', site: undefined, firstSeen: 1, arrivedComplete: true }, { key: 'b', site: undefined, firstSeen: 2, arrivedComplete: false }, { key: 'c', site: 'x', firstSeen: 3, arrivedComplete: false }]
  assert.deepEqual(keys(selectFor(s, 'b')).sort(), ['a', 'c'], 'b is a bridge of the no-site group; c bridges site x')
})

test('same-site peers are a uniform sample: every peer is handed out about as often', () => {
  let x = 1
  const random = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32
  const peers: SitePeer[] = Array.from({ length: 40 }, (_, i) => ({ key: `k${String(i).padStart(2, '0')}`, site: undefined, firstSeen: i, arrivedComplete: false }))
  const index = indexOf(peers)
  const counts = new Map<string, number>()
  for (let i = 0; i < 4000; i++) for (const p of index.select(peers[39]!, 10, random)) counts.set(p.key, (counts.get(p.key) ?? 0) + 1)
  assert.equal(counts.size, 39)
  // 40 000 picks over 39 peers (2 of them bridges, picked as cross-site peers of nobody here): ~1026 each.
  for (const [key, n] of counts) assert.ok(n > 850 && n < 1200, `${key} handed out ${n} times`)
})

test('site map: most specific CIDR wins, IPv4 and IPv6, comments; bad lines are named', async () => {
  const { SiteMap } = await import('../src/tracker/siteMap.js')
  const m = SiteMap.parse('# sites\n10.0.0.0/8 default\n10.1.0.0/16 paris  # main\n10.1.2.128/25 paris-dmz\nfd00::/8 tokyo\n')
  assert.equal(m.lookup('10.1.2.3'), 'paris')
  assert.equal(m.lookup('10.1.2.200'), 'paris-dmz')
  assert.equal(m.lookup('10.9.9.9'), 'default')
  assert.equal(m.lookup('fd12::1'), 'tokyo')
  assert.equal(m.lookup('192.168.1.1'), undefined)
  assert.throws(() => SiteMap.parse('10.0.0.0/33 x'), /line 1/)
  assert.throws(() => SiteMap.parse('\nnonsense'), /line 2/)
})

test('the announce response tells a peer the site the map placed it in', async () => {
  const { encodeAnnounce } = await import('../src/tracker/responses.js')
  const { parseAnnounceResponse } = await import('../src/tracker/announceResponse.js')
  const base = { interval: 10, minInterval: 5, complete: 1, incomplete: 0, peers: [], compact: true }
  assert.equal(parseAnnounceResponse(encodeAnnounce({ ...base, site: 'tokyo' })).site, 'tokyo')
  assert.equal(parseAnnounceResponse(encodeAnnounce(base)).site, undefined)
})

test('--bridges-per-site takes auto or a whole number from 1 to 100 (the tracker, deploy and the simulator alike)', () => {
  assert.equal(parseBridgesPerSite('auto'), 'auto')
  assert.equal(parseBridgesPerSite('1'), 1)
  assert.equal(parseBridgesPerSite('100'), 100)
  for (const bad of ['0', '101', '-1', '1.5', '', ' 2', 'Auto', '2x']) assert.equal(parseBridgesPerSite(bad), null, JSON.stringify(bad))
})
