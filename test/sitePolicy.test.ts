import { test } from 'node:test'
import assert from 'node:assert/strict'
import { bridgesBySite, selectBySite, type SitePeer } from '../src/tracker/sitePolicy.js'

const policy = { bridgesPerSite: 2, crossSitePeers: 4 }
const rnd = () => 0.3

function swarm(): SitePeer[] {
  const peers: SitePeer[] = [{ key: 'seed', site: 'paris', left: 0, firstSeen: 0, arrivedComplete: true }]
  for (let i = 0; i < 6; i++) peers.push({ key: `p${i}`, site: 'paris', left: 100, firstSeen: 10 + i, arrivedComplete: false })
  for (let i = 0; i < 6; i++) peers.push({ key: `t${i}`, site: 'tokyo', left: 100, firstSeen: 10 + i, arrivedComplete: false })
  return peers
}

test('bridges: the seeds a site started with, then the earliest arrivals, per site', () => {
  const b = bridgesBySite(swarm(), 2)
  assert.deepEqual(b.get('paris')!.map((p) => p.key), ['seed', 'p0', 'p1'], 'a seed only exports: it does not take a bridge\'s place')
  assert.deepEqual(b.get('tokyo')!.map((p) => p.key), ['t0', 't1'])
  const late = swarm().map((p) => (p.key === 't0' ? { ...p, firstSeen: 99 } : p))
  assert.deepEqual(bridgesBySite(late, 2).get('tokyo')!.map((p) => p.key), ['t1', 't2'], 'arrival order, not key order')
})

test('peers that complete change no bridge: a completed bridge stays one, and no peer is added', () => {
  const done = swarm().map((p) => (p.key === 'seed' ? p : { ...p, left: 0 }))
  const b = bridgesBySite(done, 1)
  assert.deepEqual(b.get('paris')!.map((p) => p.key), ['seed', 'p0'])
  assert.deepEqual(b.get('tokyo')!.map((p) => p.key), ['t0'])
  let crossLinks = 0
  for (const r of done) crossLinks += selectBySite(done, r, 50, { bridgesPerSite: 1, crossSitePeers: 4 }, rnd).filter((p) => p.site !== r.site).length
  assert.equal(crossLinks, 4, 'the same 2 x 1 bridge pairs as before anyone completed, counted from both sides')
})

test('a non-bridge gets only peers of its own site', () => {
  const s = swarm()
  const got = selectBySite(s, s.find((p) => p.key === 't4')!, 50, policy, rnd)
  assert.ok(got.every((p) => p.site === 'tokyo'))
  assert.equal(got.length, 5)
  assert.ok(!got.some((p) => p.key === 't4'), 'never the requester itself')
})

test('a bridge also gets the other sites\' bridges, the seed among them', () => {
  const s = swarm()
  const got = selectBySite(s, s.find((p) => p.key === 't1')!, 50, policy, rnd)
  const cross = got.filter((p) => p.site !== 'tokyo').map((p) => p.key).sort()
  assert.deepEqual(cross, ['p0', 'p1', 'seed'])
  assert.equal(got.filter((p) => p.site === 'tokyo').length, 5)
})

test('few connections cross: only bridge pairs', () => {
  const s = swarm()
  let crossLinks = 0
  for (const r of s) crossLinks += selectBySite(s, r, 50, policy, rnd).filter((p) => p.site !== r.site).length
  assert.equal(crossLinks, 12, '3 bridges (the seed and 2 peers) × 2 bridges, counted from both sides')
})

test('when the bridges leave, the next peers bridge: no site is starved', () => {
  const s = swarm().filter((p) => p.key !== 't0' && p.key !== 't1')
  const got = selectBySite(s, s.find((p) => p.key === 't2')!, 50, policy, rnd)
  assert.ok(got.some((p) => p.key === 'seed'))
})

test('numwant bounds the answer, cross-site peers included', () => {
  const s = swarm()
  assert.equal(selectBySite(s, s.find((p) => p.key === 't0')!, 3, policy, rnd).length, 3)
  assert.equal(selectBySite(s, s.find((p) => p.key === 't0')!, 0, policy, rnd).length, 0)
})

/** The source and `perSite` peers in site s0, `perSite` peers in each other site. */
function sites(count: number, perSite: number): SitePeer[] {
  const peers: SitePeer[] = [{ key: 'seed', site: 's0', left: 0, firstSeen: 0, arrivedComplete: true }]
  for (let s = 0; s < count; s++) for (let i = 0; i < perSite; i++) peers.push({ key: `s${s}p${i}`, site: `s${s}`, left: 100, firstSeen: 10 + i, arrivedComplete: false })
  return peers
}

test('three sites: each bridge gets the source and the other sites\' bridges, the rest stay at home', () => {
  const s = sites(3, 3)
  const one = { bridgesPerSite: 1, crossSitePeers: 4 }
  const crossOf = (key: string) => selectBySite(s, s.find((p) => p.key === key)!, 50, one, rnd).filter((p) => p.site !== key.slice(0, 2)).map((p) => p.key).sort()
  assert.deepEqual(crossOf('s1p0'), ['s0p0', 's2p0', 'seed'])
  assert.deepEqual(crossOf('s2p0'), ['s0p0', 's1p0', 'seed'])
  assert.deepEqual(crossOf('s0p0'), ['s1p0', 's2p0'])
  assert.deepEqual(crossOf('s1p1'), [], 'not a bridge')
})

test('with more sites than --cross-site-peers, every bridge still gets the source', () => {
  const s = sites(8, 2)
  const one = { bridgesPerSite: 1, crossSitePeers: 4 }
  for (const r of [0.01, 0.3, 0.6, 0.99]) {
    for (let site = 1; site < 8; site++) {
      const got = selectBySite(s, s.find((p) => p.key === `s${site}p0`)!, 50, one, () => r)
      const cross = got.filter((p) => p.site !== `s${site}`)
      assert.equal(cross.length, 4)
      assert.ok(cross.some((p) => p.key === 'seed'), `s${site}'s bridge got ${cross.map((p) => p.key).join(', ')}`)
    }
  }
})

test('peers without a site are one group of their own', () => {
  const s: SitePeer[] = [{ key: 'a', site: undefined, left: 0, firstSeen: 1, arrivedComplete: true }, { key: 'b', site: undefined, left: 5, firstSeen: 2, arrivedComplete: false }, { key: 'c', site: 'x', left: 5, firstSeen: 3, arrivedComplete: false }]
  const got = selectBySite(s, s[1]!, 50, policy, rnd).map((p) => p.key).sort()
  assert.deepEqual(got, ['a', 'c'], 'b is a bridge of the no-site group; c bridges site x')
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
