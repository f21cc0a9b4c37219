// The tracker's live page with a big fleet: `node dist/bench/livePage.js [--hosts 5000] [--sites 20] [--rounds 5]
// [--announces 5] [--churn 0] [--path /]` (after `npm run build`; needs Debian's chromium). Starts `murder tracker`,
// announces --hosts simulated peers in --sites sites, then each round opens the page in a fresh headless Chromium
// context and reads the browser's own timings: first byte, first contentful paint, DOMContentLoaded, load, and the
// end of the first frame after load (the page laid out and painted as far as it shows: host rows off screen are
// skipped). Then, --announces times per round, after a random pause of up to a second (so that announces fall
// anywhere in the page's update cycle), one host reports new progress, and the time from sending that announce
// to the page's row showing the new percentage is taken (a MutationObserver in the page stamps it; NaN: not
// shown within 10 s).
// --churn N keeps N other hosts a second announcing progress meanwhile, as a fleet mid-deploy does (every row's
// last announce, and many percentages, change all the time). Reports medians and ranges over all rounds.
import http from 'node:http'
import { parseArgs } from 'node:util'
import { chromium, type Page } from 'playwright-core'
import { cpuSecondsOf, killAll, murder } from './proc.js'
import { table } from './report.js'

const { values: v } = parseArgs({
  options: {
    hosts: { type: 'string' }, sites: { type: 'string' }, rounds: { type: 'string' }, announces: { type: 'string' },
    churn: { type: 'string' }, path: { type: 'string' },
  },
})
const HOSTS = Number(v.hosts ?? 5000)
const SITES = Number(v.sites ?? 20)
const ROUNDS = Number(v.rounds ?? 5)
const ANNOUNCES = Number(v.announces ?? 5)
const CHURN = Number(v.churn ?? 0)
const PAGE_PATH = v.path ?? '/'
const SIZE = 1_000_000_000
const log = (s: string) => process.stderr.write(`${s}\n`)

// A long interval: the simulated hosts announce once, and must not expire (two intervals) during the run.
const tracker = murder('tracker', ['tracker', '--port', '0', '--host', '127.0.0.1', '--interval', '600'])
const port = (await tracker.waitLine((l) => l.json?.['msg'] === 'tracker listening', 10_000)).json!['port'] as number
const base = `http://127.0.0.1:${port}`

const address = (n: number) => `10.${(n >> 8) & 255}.${n & 255}.1:${10_000 + n}`
const left = new Map<number, number>()
const announcePath = (n: number) => {
  const [ip, p] = address(n).split(':') as [string, string]
  const l = left.get(n)!
  return `/announce?info_hash=${'%AB'.repeat(20)}&peer_id=-SIM000-${String(n).padStart(12, '0')}&port=${p}&ip=${ip}` +
    `&uploaded=0&downloaded=${SIZE - l}&left=${l}&numwant=0&site=s${n % SITES}`
}
const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })
// The probes' own connection: never queued behind the churn's announces.
const probeAgent = new http.Agent({ keepAlive: true, maxSockets: 1 })
const get = (path: string, through = agent) => new Promise<Buffer>((resolve, reject) => {
  http.get({ host: '127.0.0.1', port, path, agent: through }, (res) => {
    const parts: Buffer[] = []
    res.on('data', (d: Buffer) => parts.push(d))
    res.on('end', () => resolve(Buffer.concat(parts)))
  }).on('error', reject)
})
async function announceAll(hosts: number[]): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < hosts.length) await get(announcePath(hosts[next++]!))
  }))
}

// One host in 7 done, the others 5-95% (host 0 is the size: it started empty). The probes, announced once each and
// never churned, are the stragglers (1-4%, they stay so): the rows at the top of the page.
const probes = Array.from({ length: ROUNDS * ANNOUNCES }, (_, i) => 1 + i)
for (let n = 0; n < HOSTS; n++) left.set(n, n === 0 ? SIZE : n <= probes.length ? SIZE * 0.99 : n % 7 === 0 ? 0 : Math.round(SIZE * (0.05 + 0.9 * ((n * 7919) % HOSTS) / HOSTS)))
await announceAll([...left.keys()])
log(`# ${HOSTS} hosts announced in ${SITES} sites`)

let churnNext = probes.length + 1
const churn = CHURN > 0 ? setInterval(() => {
  const batch: number[] = []
  for (let i = 0; i < CHURN / 10; i++) {
    const n = churnNext
    churnNext = churnNext + 1 >= HOSTS ? probes.length + 1 : churnNext + 1
    if (left.get(n)! > 0) left.set(n, Math.max(0, left.get(n)! - 1_000_000))
    batch.push(n)
  }
  void announceAll(batch)
}, 100) : undefined

const page0 = await get(PAGE_PATH)
log(`# the page: ${(page0.length / 1e6).toFixed(2)} MB`)

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
})

interface Load { response: number; fcp: number; dcl: number; load: number; painted: number }
const loads: Load[] = []
const shown: number[] = []
const percent = (l: number) => `${(100 * (1 - l / SIZE)).toFixed(1)}%`

/** The progress cell of a host's row, found by the text of its first cell (whatever the row's markup). */
async function watchRow(page: Page, key: string, text: string): Promise<void> {
  await page.evaluate(([key, text]) => {
    const w = window as unknown as { shownAt: Promise<number> }
    w.shownAt = new Promise((resolve) => {
      const check = () => {
        for (const tr of document.querySelectorAll<HTMLTableRowElement>('table.hosts tbody tr')) {
          if (tr.cells[0]?.textContent !== key) continue
          if (tr.cells[3]?.textContent === text) { observer.disconnect(); resolve(Date.now()) }
          return
        }
      }
      const observer = new MutationObserver(check)
      observer.observe(document.body, { subtree: true, childList: true, characterData: true })
      setTimeout(() => resolve(Number.NaN), 10_000)
    })
  }, [key, text] as const)
}

const cpuBefore = cpuSecondsOf(tracker.pid)!
const cpuStarted = performance.now()
let p = 0
for (let round = 0; round < ROUNDS; round++) {
  const context = await browser.newContext()
  // The end of the first frame after the load event: the document laid out and painted (as far as it shows).
  await context.addInitScript(() => addEventListener('load', () => requestAnimationFrame(() => setTimeout(() => {
    (window as unknown as { paintedAt: number }).paintedAt = performance.now()
  }))))
  const page = await context.newPage()
  await page.goto(base + PAGE_PATH, { waitUntil: 'load' })
  const painted = await (await page.waitForFunction(() => (window as unknown as { paintedAt?: number }).paintedAt, undefined, { timeout: 30_000 })).jsonValue() as number
  const t = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming
    const fcp = performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN
    return { response: nav.responseStart, fcp, dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd }
  })
  const totals = await page.textContent('p.totals')
  if (!totals?.startsWith(`${HOSTS} hosts:`)) throw new Error(`the page does not show ${HOSTS} hosts: ${totals}`)
  loads.push({ ...t, painted })
  for (let a = 0; a < ANNOUNCES; a++, p++) {
    const n = probes[p]!
    left.set(n, left.get(n)! - SIZE * 0.001 * (1 + p))
    await watchRow(page, address(n), percent(left.get(n)!))
    await new Promise((r) => setTimeout(r, Math.random() * 1000))
    const sent = Date.now()
    await get(announcePath(n), probeAgent)
    const at = await page.evaluate(() => (window as unknown as { shownAt: Promise<number> }).shownAt)
    shown.push(at - sent)
  }
  log(`# round ${round + 1}: fcp ${Math.round(t.fcp)} ms, load ${Math.round(t.load)} ms, painted ${Math.round(painted)} ms; shown after ${shown.slice(-ANNOUNCES).join(', ')} ms`)
  await context.close()
}
const cpuShare = (cpuSecondsOf(tracker.pid)! - cpuBefore) / ((performance.now() - cpuStarted) / 1000)
if (churn) clearInterval(churn)
await browser.close()
agent.destroy()
probeAgent.destroy()
await tracker.stop()
await killAll()

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]! }
const row = (name: string, xs: number[]) => [name, String(Math.round(median(xs))), `${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))}`]
console.log(`${HOSTS} hosts in ${SITES} sites, ${CHURN} other announces/s, page ${PAGE_PATH} of ${(page0.length / 1e6).toFixed(2)} MB; ` +
  `${ROUNDS} rounds; the tracker used ${(100 * cpuShare).toFixed(0)}% of a core meanwhile`)
console.log(table([
  row('first byte of the page', loads.map((l) => l.response)),
  row('first contentful paint', loads.map((l) => l.fcp)),
  row('DOMContentLoaded', loads.map((l) => l.dcl)),
  row('load event', loads.map((l) => l.load)),
  row('first frame after load painted', loads.map((l) => l.painted)),
  row('  the same, from the first byte', loads.map((l) => l.painted - l.response)),
  row(`announce sent → row shows it${shown.some(Number.isNaN) ? ` (${shown.filter(Number.isNaN).length} not within 10 s)` : ''}`, shown.filter((x) => !Number.isNaN(x))),
], ['ms (from navigation start, or from the announce)', 'median', 'range']))
