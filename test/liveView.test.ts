// The live page's versioned view (pure): what a page open at some version is sent, and that applying it gives
// the page the tracker would render now.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { AnnounceRequest } from '../src/tracker/announceRequest.js'
import { torrentView } from '../src/tracker/fleet.js'
import { HOST_ROWS } from '../src/tracker/livePage.js'
import { LiveView, type PageDiff, type PageKind, type TorrentDiff } from '../src/tracker/liveView.js'
import { Swarm } from '../src/tracker/swarm.js'
import { prng } from './helpers/prng.js'

const clock = { intervalMs: 10_000, wallOffset: 1_000_000 }
const SIZE = 1_000_000

function req(n: number, left: number, infoHash: Uint8Array): AnnounceRequest {
  return { infoHash, peerId: Uint8Array.from([n >> 8, n & 255]), ip: `10.0.${n >> 8}.${n & 255}`, port: 6881, uploaded: 0, downloaded: SIZE - left, left, event: undefined, numwant: 0, compact: true, site: `s${n % 3}` }
}

const keyOf = (row: string): string => /data-key="([^"]*)"/.exec(row)![1]!
/** The host rows of each torrent's section in a page (or <main>'s content), in order. */
function sections(html: string): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const s of html.split('<section data-key="').slice(1)) {
    const hosts = s.slice(s.indexOf('<table class="hosts"'))
    out.set(s.slice(0, s.indexOf('"')), hosts.match(/<tr data-key=.*?<\/tr>/g) ?? [])
  }
  return out
}

/** A page as its script holds it: each section's rows in order, changed the way the script changes them. */
class Viewer {
  version = 0
  shown = new Map<string, string[]>()
  constructor(readonly kind: PageKind) {}

  apply(d: PageDiff | undefined): void {
    if (d === undefined) return
    this.version = d.version
    if ('main' in d) {
      this.shown = sections(d.main)
      return
    }
    const shown = new Map<string, string[]>()
    for (const key of d.order) {
      const t: TorrentDiff | undefined = d.torrents[key]
      if (t?.section !== undefined) shown.set(key, sections(t.section).get(key)!)
      else shown.set(key, t === undefined ? this.shown.get(key)! : patch(this.shown.get(key)!, t))
    }
    this.shown = shown
  }
}

function patch(rows: string[], d: TorrentDiff): string[] {
  const out = rows.filter((r) => !d.gone.includes(keyOf(r)))
  for (const [key, after, html] of d.rows) {
    const at = out.findIndex((r) => keyOf(r) === key)
    if (at >= 0) out.splice(at, 1)
    const prev = after === null ? -1 : out.findIndex((r) => keyOf(r) === after)
    assert.ok(after === null || prev >= 0, `${key} follows ${after}, which the page has`)
    out.splice(prev + 1, 0, html)
  }
  return out
}

test('a page that applies the diffs since its version shows what the tracker renders now, whatever changed in between', () => {
  const random = prng(18)
  const hashes = [new Uint8Array(20).fill(1), new Uint8Array(20).fill(2)]
  const swarms = hashes.map((h) => new Swarm(h, 0, { bridgesPerSite: 1, crossSitePeers: 4 }))
  const left = new Map<number, number>()
  const announce = (n: number, now: number) => {
    const swarm = swarms[n % 2]!
    swarm.upsert(String(n), req(n, left.get(n)!, swarm.infoHash), now, 10_000)
  }
  for (let n = 0; n < 2 * HOST_ROWS + 50; n++) {
    left.set(n, n === 0 ? SIZE : Math.floor(random() * SIZE))
    announce(n, 0)
  }
  let now = 0
  const live = new LiveView(10, 5_000)
  let present = [true, false]
  const views = () => swarms.filter((_, i) => present[i]).map((s) => torrentView(s, now, clock))
  live.update(views(), 5_000 + now)
  const viewers: Viewer[] = []
  for (let step = 0; step < 150; step++) {
    if (step % 10 === 0) viewers.push(new Viewer(step % 20 === 0 ? 'top' : 'all'))
    // Progress (rows move down), some too small to change the row's figures or clock (the row may still pass
    // another: its order is by the exact progress), hosts leaving and coming back, a torrent coming and going,
    // nothing at all.
    const tiny = random() < 0.3
    if (!tiny) now += Math.floor(random() * 3000)
    const what = random()
    if (what < 0.6) {
      for (let i = 0; i < 1 + random() * 20; i++) {
        const n = Math.floor(random() * left.size)
        left.set(n, Math.max(0, left.get(n)! - Math.floor(random() * SIZE * (tiny ? 0.001 : 0.2))))
        announce(n, now)
      }
    } else if (what < 0.75) {
      const n = Math.floor(random() * left.size)
      swarms[n % 2]!.remove(String(n))
    } else if (what < 0.8) {
      present = [true, !present[1]]
    }
    live.update(views(), 5_000 + now)
    for (const v of viewers) {
      if (random() < 0.5) continue
      v.apply(live.diff(v.version, v.kind))
      assert.deepEqual(v.shown, sections(live.page(v.kind)), `step ${step}, a page of ${v.kind}`)
    }
  }
  assert.ok(viewers.every((v) => v.version > 5_000), 'every page went through diffs')
})

test('one host announcing sends that row only, where it now goes; nothing changed sends nothing; a host leaving is gone', () => {
  const infoHash = new Uint8Array(20)
  const swarm = new Swarm(infoHash, 0, { bridgesPerSite: 1, crossSitePeers: 4 })
  for (let n = 0; n < 10; n++) swarm.upsert(String(n), req(n, SIZE - n * 1000, infoHash), 0, 100)
  const live = new LiveView(10, 0)
  /** What a page shown before this update is sent after it. */
  const changes = (now: number): TorrentDiff => {
    const before = live.version
    live.update([torrentView(swarm, now, clock)], 0)
    const d = live.diff(before, 'all')
    assert.ok(d !== undefined && !('main' in d), 'a diff')
    return Object.values(d.torrents)[0]!
  }
  const placed = (t: TorrentDiff) => t.rows.map(([k, after]) => [k, after])
  live.update([torrentView(swarm, 0, clock)], 0)
  live.page('all')
  const v0 = live.version
  live.update([torrentView(swarm, 0, clock)], 0)
  assert.equal(live.diff(v0, 'all'), undefined)
  assert.equal(live.version, v0, 'nothing changed, the same version')

  // Host 3 reports progress that leaves it in its place: its row alone, after host 2's.
  swarm.upsert('3', req(3, SIZE - 3900, infoHash), 100, 100)
  const t1 = changes(100)
  assert.deepEqual(placed(t1), [['10.0.0.3:6881', '10.0.0.2:6881']])
  assert.deepEqual(t1.gone, [])
  assert.equal(t1.sites, undefined, 'left of the sites changes only in its last digits')

  // Host 1 overtakes everyone: its row goes last; the others are not sent.
  swarm.upsert('1', req(1, 0, infoHash), 200, 100)
  const t2 = changes(200)
  assert.deepEqual(placed(t2), [['10.0.0.1:6881', '10.0.0.9:6881']])
  assert.match(t2.rows[0]![2], /class="done"/)

  // Host 7 passes host 8 within the same tenth of a percent, in the same second: its row reads the same but
  // its place changed, so it is sent.
  swarm.upsert('7', req(7, SIZE - 8000 + 300, infoHash), 0, 100)
  assert.deepEqual(placed(changes(200)), [['10.0.0.7:6881', '10.0.0.6:6881']])
  assert.match(live.page('all'), /10\.0\.0\.7:6881.*?>0\.8%<.*10\.0\.0\.8:6881.*?>0\.8%</)
  swarm.upsert('7', req(7, SIZE - 8000 - 1, infoHash), 0, 100)
  assert.deepEqual(placed(changes(200)), [['10.0.0.7:6881', '10.0.0.8:6881']])

  // Host 5 leaves: gone, and nothing else but the counts.
  swarm.remove('5')
  const t3 = changes(300)
  assert.deepEqual([t3.rows, t3.gone], [[], ['10.0.0.5:6881']])
  assert.ok(t3.totals?.startsWith('9 hosts'))
})

test('a version too old (rows that left are forgotten after five minutes) or of another tracker process gets the whole page', () => {
  const infoHash = new Uint8Array(20)
  const swarm = new Swarm(infoHash, 0, { bridgesPerSite: 1, crossSitePeers: 4 })
  for (let n = 0; n < 3; n++) swarm.upsert(String(n), req(n, SIZE, infoHash), 0, 100)
  const live = new LiveView(10, 1_000)
  live.update([torrentView(swarm, 0, clock)], 1_000)
  const v0 = live.version
  assert.ok('main' in live.diff(999, 'top')!, 'a version from before this process (started at 1000)')
  assert.ok('main' in live.diff(v0 + 1000, 'top')!, 'a version from another process')
  swarm.remove('1')
  live.update([torrentView(swarm, 0, clock)], 2_000)
  assert.deepEqual((live.diff(v0, 'top') as { torrents: Record<string, TorrentDiff> }).torrents[Buffer.from(infoHash).toString('hex')]!.gone, ['10.0.0.1:6881'])
  // Two prunes, five minutes apart: the first only marks where the second cuts.
  live.update([torrentView(swarm, 0, clock)], 1_000 + 5 * 60_000)
  assert.ok(!('main' in live.diff(v0, 'top')!), 'kept for five minutes at least')
  live.update([torrentView(swarm, 0, clock)], 1_000 + 10 * 60_000)
  assert.ok('main' in live.diff(v0, 'top')!)
  assert.equal(live.diff(live.version, 'top'), undefined)
})
