// The tracker's live page in a real headless Chromium (Debian's, driven with playwright-core), against a real
// swarm on loopback and against 5000 simulated peers; /metrics checked with Prometheus' own promtool.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import http from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'
import { announce } from '../src/tracker/client.js'
import { murder, type Proc } from './helpers/proc.js'
import { dataLength, killAll, logLines, startSeed, startTracker, track, treeWithTracker } from './helpers/swarm.js'
import { cleanup, tempDir } from './helpers/tree.js'
import { announcePeer, testPeerId } from './helpers/wirePeer.js'

const TIMEOUT = { timeout: 180_000 }
/** Where the screenshots go (not committed): a person can look at what the test saw. */
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url))
const dirs: string[] = []
let browser: Browser | undefined
after(async () => {
  await browser?.close()
  await killAll()
  await cleanup(...dirs)
})

async function openBrowser(): Promise<Browser> {
  // Debian's chromium; playwright-core gives it a new empty profile. Never a downloaded browser.
  browser ??= await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  return browser
}

interface Row { key: string; site: string; state: string; pct: string }

/** The host rows of the page's (only) torrent, top to bottom. */
function hostRows(page: Page): Promise<Row[]> {
  return page.$$eval('table.hosts tbody tr', (trs) => trs.map((tr) => {
    const td = [...tr.querySelectorAll('td')].map((c) => c.textContent ?? '')
    return { key: (tr as HTMLElement).dataset.key ?? '', site: td[1]!, state: td[2]!, pct: tr.querySelector('.pct')?.textContent ?? '' }
  }))
}

/** Probes the page after each of its own updates until `probe` returns something. */
async function until<T>(page: Page, what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const seen = await page.evaluate(() => document.body.dataset.updated ?? '')
    const v = await probe()
    if (v !== undefined) return v
    const timeout = deadline - Date.now()
    if (timeout <= 0) throw new Error(`timed out waiting for ${what}`)
    await page.waitForFunction((s) => (document.body.dataset.updated ?? '') !== s, seen, { timeout }).catch(() => undefined)
  }
}

const percent = (left: number, size: number) => `${(100 * (1 - left / size)).toFixed(1)}%`

test('the live page follows a real swarm: sites, progress as the peers report it, a stalled host, completions; no network but the tracker', TIMEOUT, async () => {
  const work = await tempDir('livepage')
  dirs.push(work)
  const files: Record<string, number> = {}
  for (let i = 0; i < 6; i++) files[`f${i}.bin`] = 512 * 1024 + i * 1000
  const { src, tracker, made } = await treeWithTracker(work, files, ['--piece-length', String(64 * 1024)], ['--interval', '2'])
  const size = dataLength(made.meta)
  const base = `http://127.0.0.1:${tracker.port}/`
  // The page is open before the peers start: they take seconds to download, a browser as long to start.
  const page = await (await openBrowser()).newPage()
  const requested: string[] = []
  page.on('request', (r) => requested.push(r.url()))
  await page.goto(base)
  await startSeed(made.torrent, src, ['--site', 'a'])
  const sites = ['a', 'b', 'b']
  const peers: Proc[] = sites.map((site, i) => track(murder(['peer', made.torrent, join(work, `d${i}`), '127.0.0.1', '--site', site,
    '--max-download-rate', '600k', '--linger', '60', '--log-level', 'debug'])))
  const ports = await Promise.all(peers.map(async (p) => (await p.logLine((l) => l['msg'] === 'destination checked'))['port'] as number))
  // A host that announces but never progresses: stalled after two intervals. It also keeps the real peers
  // lingering (the tracker reports an incomplete peer), so the page can show them done. It arrives after the
  // peers, so that it is no site's bridge.
  for (const p of peers) await p.logLine((l) => l['msg'] === 'announced')
  const stalled = await announcePeer(tracker.url, { infoHash: Buffer.from(made.infoHash, 'hex'), peerId: testPeerId('stuck'), port: 9, left: Math.floor(size / 2), site: 'b' })
  const keyOf = (i: number) => `127.0.0.1:${ports[i]}`

  // While they download: every peer's row is in its site, and shows a progress the peer itself reported.
  const during = await until(page, 'a peer shown part way', 60_000, async () => {
    const rows = await hostRows(page)
    const mine = ports.map((_, i) => rows.find((r) => r.key === keyOf(i)))
    if (mine.some((r) => r === undefined) || !mine.some((r) => r!.state === 'downloading' && r!.pct !== '0.0%')) return undefined
    return mine as Row[]
  })
  for (const [i, row] of during.entries()) {
    assert.equal(row.site, sites[i])
    // The peer logs what it sent once the answer is in: the tracker may show it a moment earlier.
    await peers[i]!.logLine((l) => l['msg'] === 'announced' && percent(l['left'] as number, size) === row.pct, 5_000)
  }

  // The stalled host: shown stalled, first (stragglers first), while the others progress.
  await page.waitForSelector(`tr.stalled[data-key="127.0.0.1:9"]`, { timeout: 30_000 })
  assert.equal((await hostRows(page))[0]!.key, '127.0.0.1:9')
  await mkdir(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: join(ARTIFACTS, 'livePage-downloading.png'), fullPage: true })

  // After they complete: each peer done at 100.0%, in its site; each completion counted once.
  for (const p of peers) await p.logLine((l) => l['msg'] === 'complete', 90_000)
  const done = await until(page, 'every peer shown done', 30_000, async () => {
    const rows = await hostRows(page)
    const mine = ports.map((_, i) => rows.find((r) => r.key === keyOf(i)))
    return mine.every((r) => r?.state === 'done') ? mine as Row[] : undefined
  })
  assert.deepEqual(done.map((r) => [r.site, r.pct]), sites.map((s) => [s, '100.0%']))
  const totals = await page.textContent('p.totals')
  assert.match(totals ?? '', /5 hosts: 4 done, 0 downloading, 1 stalled/)
  assert.match(totals ?? '', /3 completed here/)
  const siteRows = await page.$$eval('table.sites tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].slice(0, 5).map((c) => c.textContent)))
  assert.deepEqual(siteRows, [['b', '3', '2', '0', '1'], ['a', '2', '2', '0', '0']], 'site, hosts, done, downloading, stalled')
  await page.screenshot({ path: join(ARTIFACTS, 'livePage-done.png'), fullPage: true })
  assert.ok(requested.every((u) => u.startsWith(base)), `only the tracker was asked: ${requested.filter((u) => !u.startsWith(base)).join(' ')}`)

  // Without JavaScript it is the same table, static.
  const noJs = await (await openBrowser()).newContext({ javaScriptEnabled: false })
  const still = await noJs.newPage()
  await still.goto(base)
  assert.equal((await hostRows(still)).filter((r) => r.state === 'done').length, 4)
  await noJs.close()
  await page.close()

  await stalled()
  for (const [i, p] of peers.entries()) {
    assert.equal((await p.exited).code, 0, p.stderr())
    // murder's tracker asked for progress every second in between its 2 s announces; site b's bridge and the
    // next in line announce every second anyway (they are told to come back soon), so they are not asked.
    const reports = logLines(p.stderr(), 'announced').filter((l) => l['numwant'] === 0)
    assert.ok(reports.every((l) => (l['left'] as number) > 0), 'progress reports only while downloading')
    if (sites[i] === 'a') assert.ok(reports.length > 0, 'progress reports from a peer on the regular interval')
  }
})

/** Announces every one of `peers` once, over a few keep-alive connections. */
async function announceAll(port: number, paths: string[]): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })
  let next = 0
  const worker = async () => {
    while (next < paths.length) {
      const path = paths[next++]!
      await new Promise<void>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path, agent }, (res) => { res.resume(); res.on('end', resolve) }).on('error', reject)
      })
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker))
  agent.destroy()
}

test('5000 simulated hosts: the page shows the stragglers at once, links to every host, changes only the rows that change, and shows announces', TIMEOUT, async () => {
  // A long interval: the simulated hosts announce once, and must not expire (two intervals) during the test.
  const tracker = await startTracker(['--interval', '600'])
  const base = `http://127.0.0.1:${tracker.port}/`
  const infoHash = '%AA'.repeat(20)
  const path = (n: number, left: number) => `/announce?info_hash=${infoHash}&peer_id=${'-SIM000-'}${String(n).padStart(12, '0')}` +
    `&port=${10_000 + (n % 50_000)}&ip=10.${(n >> 8) & 255}.${n & 255}.1&uploaded=0&downloaded=${1_000_000 - left}&left=${left}&numwant=0&site=s${n % 20}`
  const key = (n: number) => `10.${(n >> 8) & 255}.${n & 255}.1:${10_000 + n}`
  // One host in 7 done; the others from 100% left (host 0) down to 0.02%, so host n sorts n-th among those downloading.
  const hosts = Array.from({ length: 5000 }, (_, n) => n)
  await announceAll(tracker.port, hosts.map((n) => path(n, n % 7 === 0 && n > 0 ? 0 : 1_000_000 - n * 200)))

  // The page asked again while nothing changes: 304, no page (the browser below sees the pages that change).
  const etagOf = async (r: Response) => { await r.arrayBuffer(); return r.headers.get('etag') ?? '' }
  let unchanged = 0
  for (let i = 0; i < 5 && unchanged === 0; i++) {
    // The page changes with the second too (its clocks): one try may straddle that change, not five.
    const again = await etagOf(await fetch(base))
    if ((await fetch(base, { headers: { 'if-none-match': again } })).status === 304) unchanged++
  }
  assert.equal(unchanged, 1, 'an unchanged page is answered 304 (within one second)')
  // The page's script asks what changed since the version it shows: nothing, 204.
  let nothing = 0
  for (let i = 0; i < 5 && nothing === 0; i++) {
    const version = /<main data-version="(\d+)"/.exec(await (await fetch(base)).text())![1]
    if ((await fetch(`${base}?all&since=${version}`)).status === 204) nothing++
  }
  assert.equal(nothing, 1, 'nothing changed since a version: 204 (within one second)')

  const page = await (await openBrowser()).newPage()
  const t0 = performance.now()
  await page.goto(base)
  const loadMs = performance.now() - t0
  // The first 200 hosts, stragglers first, then what is left out, by state, and a link to all of them.
  const rows = await hostRows(page)
  assert.equal(rows.length, 200)
  assert.deepEqual(rows.slice(0, 3).map((r) => [r.key, r.site, r.state, r.pct]), [[key(0), 's0', 'downloading', '0.0%'], [key(1), 's1', 'downloading', '0.0%'], [key(2), 's2', 'downloading', '0.0%']])
  assert.match(await page.textContent('p.totals') ?? '', /^5000 hosts: 714 done, 4286 downloading, 0 stalled/)
  assert.equal(await page.textContent('section p.more'), 'The first 200 of 5000 hosts, stragglers first; not shown: 0 stalled, 4086 downloading, 714 done. Show all 5000 hosts')
  assert.equal(await page.$$eval('table.sites tbody tr', (trs) => trs.length), 20)

  // Two updates with nothing announced: no host row touched.
  const watchChurn = () => page.evaluate(() => {
    const w = window as unknown as { churn: number; touched: Set<string> }
    w.churn = 0
    w.touched = new Set()
    // The rows added, removed or changed, by key (a row in a chunk that splits is removed and added).
    const keyOf = (n: Node) => (n instanceof HTMLElement ? n.closest('tr')?.dataset.key ?? n.tagName : n.parentElement?.closest('tr')?.dataset.key ?? '#text')
    new MutationObserver((records) => {
      w.churn += records.length
      for (const r of records) for (const n of [r.target, ...r.addedNodes, ...r.removedNodes]) if (n.nodeName !== 'TBODY') w.touched.add(keyOf(n))
    }).observe(document.querySelector('table.hosts')!, { subtree: true, childList: true, characterData: true, attributes: true })
  })
  const churn = () => page.evaluate(() => (window as unknown as { churn: number }).churn)
  const touched = () => page.evaluate(() => [...(window as unknown as { touched: Set<string> }).touched].sort())
  const nextUpdate = async () => {
    const before = await page.evaluate(() => document.body.dataset.updated ?? '')
    await page.waitForFunction((b) => (document.body.dataset.updated ?? '') !== b, before, { timeout: 10_000 })
  }
  // The order of the hosts as the tracker has it.
  const order = async () => ((await (await fetch(`${base}stats`)).json()) as { torrents: { hosts: { address: string }[] }[] }).torrents[0]!.hosts.map((h) => h.address)
  const shows = (k: string, pct: string) => page.waitForFunction(([k, pct]) => document.querySelector(`tr[data-key="${k}"] .pct`)?.textContent === pct, [k, pct], { timeout: 20_000 })
  await watchChurn()
  for (let i = 0; i < 2; i++) await nextUpdate()
  assert.equal(await churn(), 0)

  // A straggler reports progress: its row shows it and moves down, a handful of mutations, not thousands.
  const announced = performance.now()
  await announceAll(tracker.port, [path(1, 980_000)])
  await shows(key(1), '2.0%')
  const shownMs = performance.now() - announced
  const mutations = await churn()
  assert.ok(mutations > 0 && mutations < 50, `${mutations} mutations`)
  assert.deepEqual((await hostRows(page)).slice(0, 2).map((r) => r.key), [key(0), key(2)])
  await page.screenshot({ path: join(ARTIFACTS, 'livePage-5000.png') })

  // Every host behind the link, updated live there too: a host far down the list reports progress.
  await page.click('text=Show all 5000 hosts')
  await page.waitForURL(`${base}?all`)
  const all = await hostRows(page)
  assert.deepEqual(all.map((r) => r.key), await order())
  assert.deepEqual(new Set(all.map((r) => r.key)), new Set(hosts.map(key)))
  assert.match(await page.textContent('section p.more') ?? '', /^All 5000 hosts shown\. Show the first 200 only$/)
  // Nothing announced: no host row touched.
  await watchChurn()
  for (let i = 0; i < 2; i++) await nextUpdate()
  assert.equal(await churn(), 0)
  // A host reports progress that keeps it in its place: that row, and no other, changes.
  const was = await page.$eval(`tr[data-key="${key(3000)}"]`, (tr) => tr.outerHTML)
  await announceAll(tracker.port, [path(3000, 1_000_000 - 3000 * 200 - 10)])
  // Its percentage reads the same: its clock changed.
  await page.waitForFunction(([k, was]) => document.querySelector(`tr[data-key="${k}"]`)?.outerHTML !== was, [key(3000), was], { timeout: 20_000 })
  assert.deepEqual(await touched(), [key(3000)])
  // A host far down the list reports progress: it moves down, to its place in the tracker's order.
  await watchChurn()
  await announceAll(tracker.port, [path(3001, 100_000)])
  await shows(key(3001), '90.0%')
  assert.deepEqual(await touched(), [key(3001)])
  assert.ok(await churn() < 10, 'a handful of mutations')
  assert.deepEqual((await hostRows(page)).map((r) => r.key), await order())
  const updateMs = await page.evaluate(() => document.body.dataset.updateMs)
  // A host leaves: its row goes.
  await watchChurn()
  await announceAll(tracker.port, [`${path(4000, 0)}&event=stopped`])
  await page.waitForFunction((k) => document.querySelector(`tr[data-key="${k}"]`) === null, key(4000), { timeout: 20_000 })
  assert.deepEqual(await touched(), [key(4000)])
  assert.deepEqual((await hostRows(page)).map((r) => r.key), await order())
  // Hosts 1-250 finish at once: done rows sort by address, so most of them go into one chunk of rows, which splits.
  const finishing = hosts.slice(1, 251).filter((n) => n % 7 !== 0)
  await announceAll(tracker.port, finishing.map((n) => path(n, 0)))
  await page.waitForFunction((n) => document.querySelectorAll('table.hosts tr.done').length === n, 714 + finishing.length, { timeout: 20_000 })
  assert.deepEqual((await hostRows(page)).map((r) => r.key), await order())
  const chunks = await page.$$eval('table.hosts tbody', (bodies) => bodies.map((b) => [(b as HTMLTableSectionElement).rows.length, b.getAttribute('style')]))
  assert.ok(chunks.every(([n]) => Number(n) > 0 && Number(n) <= 200), `chunks of 1-200 rows: ${chunks.map(([n]) => n).join(' ')}`)
  assert.ok(chunks.every(([n, style]) => style === `contain-intrinsic-height:${Number(n) * 1.5}em`), 'each as high as its rows')
  await page.close()

  // Without JavaScript: the same first rows (one host left), and the link to the static table of every host.
  const noJs = await (await openBrowser()).newContext({ javaScriptEnabled: false })
  const still = await noJs.newPage()
  await still.goto(base)
  assert.equal((await hostRows(still)).length, 200)
  await still.click('text=Show all 4999 hosts')
  await still.waitForURL(`${base}?all`)
  assert.deepEqual((await hostRows(still)).map((r) => r.key), await order())
  await noJs.close()
  console.log(`# 5000 hosts: page loaded in ${Math.round(loadMs)} ms; an announce shown after ${Math.round(shownMs)} ms (${mutations} mutations); the page of all hosts updated in ${updateMs} ms`)
})

test('the page of all hosts drops a host that stopped announcing once it expires, keeps the others, and follows a restart of the tracker', TIMEOUT, async () => {
  // Peers expire two intervals and 10 s after their last announce: 12 s here.
  const tracker = await startTracker(['--interval', '1'])
  const infoHash = Buffer.alloc(20, 9)
  const host = (n: number, everyMs: number) => announcePeer(tracker.url, { infoHash, peerId: testPeerId(`x${n}`), port: 7000 + n, left: 1000 * n, everyMs })
  const stops = [await host(1, 500), await host(2, 500)]
  const silent = await host(3, 3_600_000)
  const page = await (await openBrowser()).newPage()
  await page.goto(`http://127.0.0.1:${tracker.port}/?all`)
  assert.deepEqual((await hostRows(page)).map((r) => r.key), ['127.0.0.1:7003', '127.0.0.1:7002', '127.0.0.1:7001'])
  await page.waitForFunction(() => document.querySelector('tr[data-key="127.0.0.1:7003"]') === null, undefined, { timeout: 30_000 })
  assert.deepEqual((await hostRows(page)).map((r) => r.key), ['127.0.0.1:7002', '127.0.0.1:7001'])
  assert.match(await page.textContent('p.totals') ?? '', /^2 hosts:/)
  // The silent host is long gone: its stop changes nothing.
  for (const stop of [...stops, silent]) await stop()

  // The tracker restarts on the same port: the open page's version means nothing to the new process, which
  // sends the whole table, of the one host it knows.
  tracker.proc.kill('SIGTERM')
  await tracker.proc.exited
  const again = await startTracker(['--interval', '1'], tracker.port)
  const stop = await announcePeer(again.url, { infoHash, peerId: testPeerId('x4'), port: 7004, left: 4000, everyMs: 500 })
  await page.waitForFunction(() => document.querySelector('tr[data-key="127.0.0.1:7004"]') !== null, undefined, { timeout: 20_000 })
  assert.deepEqual((await hostRows(page)).map((r) => r.key), ['127.0.0.1:7004'])
  await page.close()
  await stop()
})

test('/metrics is valid Prometheus text (promtool) and counts the announces sent', TIMEOUT, async () => {
  const tracker = await startTracker(['--interval', '30'])
  const infoHash = Buffer.alloc(20, 7)
  const params = (n: number, left: number) => ({ infoHash, peerId: testPeerId(`m${n}`), port: 7000 + n, ip: '127.0.0.1', uploaded: n, downloaded: 10, left, site: n < 2 ? 'paris' : undefined })
  const url = tracker.url
  for (let n = 0; n < 3; n++) await announce(url, { ...params(n, 100), event: 'started' }, { timeoutMs: 5000 })
  await announce(url, params(0, 50), { timeoutMs: 5000 })
  await announce(url, { ...params(1, 0), event: 'completed' }, { timeoutMs: 5000 })
  await assert.rejects(announce(`${url}`, { ...params(3, 1), port: 0 }, { timeoutMs: 5000 }), /invalid port/)
  const text = await (await fetch(`http://127.0.0.1:${tracker.port}/metrics`)).text()
  const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
  assert.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}\n${text}`)
  assert.equal(`${check.stdout}${check.stderr}`.trim(), '', 'no lint either')
  const sample = (name: string, labels: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `))
    return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  assert.equal(sample('murder_tracker_announces_total', '{event="started"}'), 3)
  assert.equal(sample('murder_tracker_announces_total', '{event="none"}'), 1)
  assert.equal(sample('murder_tracker_announces_total', '{event="completed"}'), 1)
  assert.equal(sample('murder_tracker_announce_failures_total', '{reason="invalid port"}'), 1)
  assert.equal(sample('murder_tracker_swarms', ''), 1)
  assert.equal(sample('murder_tracker_peers', '{state="done",site="paris"}'), 1)
  assert.equal(sample('murder_tracker_peers', '{state="downloading",site="paris"}'), 1)
  assert.equal(sample('murder_tracker_peers', '{state="downloading",site=""}'), 1)
  assert.equal(sample('murder_tracker_reported_bytes', '{kind="left"}'), 150)
  assert.equal(sample('murder_tracker_reported_bytes', '{kind="uploaded"}'), 3)
  assert.equal(sample('murder_tracker_request_duration_seconds_count', '{kind="announce"}'), 6)
})
