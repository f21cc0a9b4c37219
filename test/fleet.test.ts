import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { AnnounceRequest } from '../src/tracker/announceRequest.js'
import { torrentView, type TorrentView } from '../src/tracker/fleet.js'
import { HOST_ROWS } from '../src/tracker/livePage.js'
import { LiveView, type PageKind } from '../src/tracker/liveView.js'
import { TrackerMetrics } from '../src/tracker/metrics.js'
import { Swarm } from '../src/tracker/swarm.js'

const INTERVAL = 10_000
const clock = { intervalMs: INTERVAL, wallOffset: 1_000_000 }

function req(n: number, left: number, downloaded: number, site?: string, event?: AnnounceRequest['event']): AnnounceRequest {
  return { infoHash: new Uint8Array(20), peerId: new Uint8Array(20).fill(n), ip: `10.0.0.${n}`, port: 6881, uploaded: 0, downloaded, left, event, numwant: 0, compact: true, site }
}

test('hosts: stalled (no progress for two intervals) first, then downloading by progress, then done; rates, totals, ETA', () => {
  const swarm = new Swarm(new Uint8Array(20), 0, { bridgesPerSite: 1, crossSitePeers: 4 })
  const up = (r: AnnounceRequest, now: number) => swarm.upsert(Buffer.from(r.peerId).toString('hex'), r, now, 100)
  up(req(1, 0, 0, 'a'), 0) // the source
  up(req(2, 1000, 0, 'a'), 0)
  up(req(3, 1000, 0, 'b'), 0)
  up(req(4, 1000, 0, 'b'), 0)
  up(req(2, 400, 600, 'a'), 10_000) // 60 B/s
  up(req(3, 750, 250, 'b'), 10_000) // 25 B/s, then nothing more
  up(req(4, 900, 100, 'b'), 10_000)
  up(req(4, 500, 500, 'b'), 20_000) // 40 B/s
  up(req(3, 750, 250, 'b'), 20_000)
  up(req(2, 0, 1000, 'a', 'completed'), 30_000)
  up(req(3, 750, 250, 'b'), 30_001)
  const v = torrentView(swarm, 30_001, clock)
  assert.deepEqual(v.hosts.map((h) => [h.address, h.state, h.progress, h.downloadRate, h.completed]), [
    ['10.0.0.3:6881', 'stalled', 0.25, 0, false],
    ['10.0.0.4:6881', 'downloading', 0.5, 40, false],
    ['10.0.0.1:6881', 'done', 1, 0, false],
    ['10.0.0.2:6881', 'done', 1, 20, true],
  ])
  assert.equal(v.hosts[0]!.lastSeen, 1_030_001, 'wall-clock time of the last announce')
  assert.deepEqual([v.hostCount, v.done, v.downloading, v.stalled, v.left, v.downloadRate, v.eta, v.completed, v.size], [4, 2, 1, 1, 1250, 40, 32, 1, 1000])
  assert.deepEqual(v.sites.map((s) => [s.site, s.hostCount, s.left, s.eta]), [['b', 2, 1250, 32], ['a', 2, 0, 0]])
})

test('metrics: cumulative histogram buckets, escaped labels, failure reasons cut at the colon', () => {
  const m = new TrackerMetrics()
  m.observe('announce', 0.0002)
  m.observe('announce', 0.003)
  m.observe('announce', 7)
  m.failed('invalid port: must be 1-65535')
  m.failed('invalid port: must be 1-65535')
  const text = m.render([{ hosts: [{ state: 'done', site: 'a"b\\c', downloaded: 5, uploaded: 1, left: 0 }] } as never])
  const lines = text.split('\n')
  const value = (prefix: string) => Number(lines.find((l) => l.startsWith(`${prefix} `))?.slice(prefix.length + 1))
  assert.equal(value('murder_tracker_request_duration_seconds_bucket{kind="announce",le="0.0001"}'), 0)
  assert.equal(value('murder_tracker_request_duration_seconds_bucket{kind="announce",le="0.00025"}'), 1)
  assert.equal(value('murder_tracker_request_duration_seconds_bucket{kind="announce",le="0.005"}'), 2)
  assert.equal(value('murder_tracker_request_duration_seconds_bucket{kind="announce",le="1"}'), 2)
  assert.equal(value('murder_tracker_request_duration_seconds_bucket{kind="announce",le="+Inf"}'), 3)
  assert.equal(value('murder_tracker_request_duration_seconds_count{kind="announce"}'), 3)
  assert.equal(value('murder_tracker_announce_failures_total{reason="invalid port"}'), 2)
  assert.equal(value('murder_tracker_peers{state="done",site="a\\"b\\\\c"}'), 1)
})

test('rates are measured over three seconds or more, and a restarted client (smaller totals) starts a new window', () => {
  const swarm = new Swarm(new Uint8Array(20), 0, { bridgesPerSite: 1, crossSitePeers: 4 })
  const rateAt = (downloaded: number, now: number) => swarm.upsert('p', req(1, 10_000 - downloaded, downloaded), now, 10).downloadRate
  assert.equal(rateAt(0, 0), 0)
  assert.equal(rateAt(100, 1000), 0, 'one second: no rate yet')
  assert.equal(rateAt(300, 3000), 100)
  assert.equal(rateAt(1300, 4000), 100, 'kept until the next window is long enough')
  assert.equal(rateAt(1500, 6000), 400)
  assert.equal(rateAt(10, 7000), 400, 'restarted: its totals start again from 0')
  assert.equal(rateAt(610, 10_000), 200)
})

test('the page lists the first HOST_ROWS hosts and says what it leaves out, by state; ?all lists every host', () => {
  const swarm = new Swarm(new Uint8Array(20), 0, { bridgesPerSite: 1, crossSitePeers: 4 })
  const n = HOST_ROWS + 3
  for (let i = 1; i <= n; i++) swarm.upsert(String(i), { ...req(i, i > HOST_ROWS + 1 ? 0 : 1000 - i, i), ip: `10.0.${i >> 8}.${i & 255}` }, 0, 1000)
  const view = torrentView(swarm, 0, clock)
  const hostRows = (html: string) => html.slice(html.indexOf('<table class="hosts"')).match(/<tr data-key=/g)?.length
  const more = (html: string) => html.match(/<p class="more">(.*?)<\/p>/)?.[1]
  const render = (views: TorrentView[], kind: PageKind) => {
    const live = new LiveView(10, 0)
    live.update(views, 0)
    return live.page(kind)
  }
  const first = render([view], 'top')
  assert.equal(hostRows(first), HOST_ROWS)
  assert.equal(more(first), `The first ${HOST_ROWS} of ${n} hosts, stragglers first; not shown: 0 stalled, 1 downloading, 2 done. <a href="?all">Show all ${n} hosts</a>`)
  const all = render([view], 'all')
  assert.equal(hostRows(all), n)
  assert.equal(more(all), `All ${n} hosts shown. <a href=".">Show the first ${HOST_ROWS} only</a>`)
  assert.equal(more(render([{ ...view, hosts: view.hosts.slice(0, 5) }], 'top')), 'All 5 hosts shown.')
})
