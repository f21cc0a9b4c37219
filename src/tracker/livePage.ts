import { duration, human } from '../format.js'
import type { HostView, SiteView, Totals, TorrentView } from './fleet.js'

/**
 * The tracker's page at `/`: complete HTML, usable as a static table without JavaScript. It lists a torrent's
 * first HOST_ROWS hosts, stragglers first (with 5000 rows Chromium takes seconds to lay the table out on a busy
 * machine), and links to `?all`, every host. With JavaScript, a small script asks for the page again every
 * quarter second (the answer is 304 when nothing changed) and patches the differences in place, rows matched
 * by their `data-key`: rows that did not change are not touched. Nothing is fetched but the tracker.
 */

/** Host rows of a torrent on the page, unless it is asked for all of them. */
export const HOST_ROWS = 200

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
const rate = (bytesPerSecond: number): string => `${human(bytesPerSecond)}/s`
const clock = (ms: number): string => new Date(ms).toISOString().slice(11, 19)
const percent = (fraction: number): string => `${(100 * fraction).toFixed(1)}%`
const eta = (t: Totals): string => (t.eta === null ? 'ETA --' : t.eta === 0 ? 'all done' : `ETA ${duration(t.eta)}`)
const siteName = (site: string | undefined): string => (site === undefined ? '(no site)' : site)

function counts(t: Totals): string {
  return `${t.hostCount} host${t.hostCount === 1 ? '' : 's'}: ${t.done} done, ${t.downloading} downloading, ${t.stalled} stalled`
}

function siteRow(s: SiteView): string {
  return `<tr data-key="${esc(siteName(s.site))}"><td>${esc(siteName(s.site))}</td><td>${s.hostCount}</td><td>${s.done}</td>` +
    `<td>${s.downloading}</td><td>${s.stalled}</td><td>${human(s.left)}</td><td>${rate(s.downloadRate)}</td><td>${eta(s)}</td></tr>`
}

function hostRow(h: HostView): string {
  return `<tr data-key="${esc(h.address)}" class="${h.state}"><td>${esc(h.address)}</td><td>${esc(siteName(h.site))}</td>` +
    `<td>${h.state}</td><td class="pct" style="--p:${percent(h.progress)}">${percent(h.progress)}</td>` +
    `<td>${rate(h.downloadRate)}</td><td>${rate(h.uploadRate)}</td><td>${clock(h.lastSeen)}</td></tr>`
}

/** What the page leaves out, and the link to the rest (or back). Always there, so the section keeps its shape. */
function moreLine(t: TorrentView, shown: number, all: boolean): string {
  if (shown === t.hosts.length) {
    const back = all && t.hosts.length > HOST_ROWS ? ` <a href=".">Show the first ${HOST_ROWS} only</a>` : ''
    return `<p class="more">All ${t.hosts.length} hosts shown.${back}</p>`
  }
  const hidden: Record<HostView['state'], number> = { stalled: 0, downloading: 0, done: 0 }
  for (let i = shown; i < t.hosts.length; i++) hidden[t.hosts[i]!.state]++
  return `<p class="more">The first ${shown} of ${t.hosts.length} hosts, stragglers first; not shown: ${hidden.stalled} stalled, ` +
    `${hidden.downloading} downloading, ${hidden.done} done. <a href="?all">Show all ${t.hosts.length} hosts</a></p>`
}

function torrentSection(t: TorrentView, all: boolean): string {
  const hosts = all ? t.hosts : t.hosts.slice(0, HOST_ROWS)
  return `<section data-key="${t.infoHash}"><h2>torrent <code>${t.infoHash}</code></h2>` +
    `<p class="totals">${counts(t)} · ${human(t.left)} left (${human(t.size)} per host) · ${rate(t.downloadRate)} · ${eta(t)} · ${t.completed} completed here</p>` +
    '<table class="sites"><thead><tr><th>site</th><th>hosts</th><th>done</th><th>downloading</th><th>stalled</th><th>left</th><th>rate</th><th>ETA</th></tr></thead>' +
    `<tbody data-keyed>${t.sites.map(siteRow).join('')}</tbody></table>${moreLine(t, hosts.length, all)}` +
    '<table class="hosts"><thead><tr><th>host</th><th>site</th><th>state</th><th>progress</th><th>down</th><th>up</th><th>last announce</th></tr></thead>' +
    `<tbody data-keyed>${hosts.map(hostRow).join('')}</tbody></table></section>`
}

const STYLE = `body{font:14px system-ui,sans-serif;margin:1em 2em;color:#222}h2{font-size:1.1em;margin:1.5em 0 .3em}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 10px;text-align:left;border-bottom:1px solid #eee}
table.sites td:nth-child(n+2),table.hosts td:nth-child(n+5){text-align:right;font-variant-numeric:tabular-nums}tr.stalled{background:#fdd}tr.done{color:#777}
tr{--bar:#4a8}tr.stalled{--bar:#c44}
td.pct{padding-left:13em;text-align:right;background:linear-gradient(to right,var(--bar) var(--p),#e4e4e4 0) no-repeat 10px center/12em .8em}`

// Runs in the browser: fetch the page, patch what differs. Keyed containers (data-keyed) match children by data-key.
const SCRIPT = `(() => {
  function attrs(o, n) {
    for (const a of n.attributes) if (o.getAttribute(a.name) !== a.value) o.setAttribute(a.name, a.value)
    for (const a of [...o.attributes]) if (!n.hasAttribute(a.name)) o.removeAttribute(a.name)
  }
  function update(o, n) {
    if (o.isEqualNode(n)) return
    attrs(o, n)
    if (n.hasAttribute('data-keyed')) return keyed(o, n)
    if (n.querySelector('[data-keyed]') && o.children.length === n.children.length) {
      for (let i = 0; i < n.children.length; i++) update(o.children[i], n.children[i])
      return
    }
    if (o.innerHTML !== n.innerHTML) o.innerHTML = n.innerHTML
  }
  function keyed(o, n) {
    const old = new Map()
    for (const c of o.children) old.set(c.dataset.key, c)
    const wanted = []
    for (const c of n.children) {
      const mine = old.get(c.dataset.key)
      if (mine === undefined) wanted.push(document.importNode(c, true))
      else { old.delete(c.dataset.key); update(mine, c); wanted.push(mine) }
    }
    for (const c of old.values()) c.remove()
    // Rows that keep their relative order stay put (the longest such run); only the others move.
    const was = new Map()
    let i = 0
    for (const c of o.children) was.set(c, i++)
    const stay = steady(wanted.map((c) => was.get(c) ?? -1))
    let next = null
    for (let j = wanted.length - 1; j >= 0; j--) {
      if (!stay.has(j)) o.insertBefore(wanted[j], next)
      next = wanted[j]
    }
  }
  // Indexes of a longest increasing subsequence of positions (-1: new, never in it), O(n log n).
  function steady(pos) {
    const tails = [], prev = new Array(pos.length)
    pos.forEach((p, j) => {
      if (p < 0) return
      let lo = 0, hi = tails.length
      while (lo < hi) { const mid = (lo + hi) >> 1; if (pos[tails[mid]] < p) lo = mid + 1; else hi = mid }
      prev[j] = lo > 0 ? tails[lo - 1] : -1
      tails[lo] = j
    })
    const out = new Set()
    for (let j = tails.length ? tails[tails.length - 1] : -1; j >= 0; j = prev[j]) out.add(j)
    return out
  }
  // A quarter second between the end of one update and the next ask, or as long as the update took (a page of
  // every host, mid-deploy): an announce shows within about half a second, and the page keeps the browser busy
  // half the time at most.
  let etag = null
  async function poll() {
    const started = performance.now()
    try {
      const res = await fetch(location.href, { cache: 'no-store', headers: etag ? { 'if-none-match': etag } : {} })
      if (res.status === 200) {
        etag = res.headers.get('etag')
        const text = await res.text()
        const patching = performance.now()
        const next = new DOMParser().parseFromString(text, 'text/html')
        update(document.querySelector('main'), next.querySelector('main'))
        document.body.dataset.updated = String(Date.now())
        document.body.dataset.updateMs = String(Math.round(performance.now() - patching))
      }
    } catch {}
    setTimeout(poll, Math.max(250, performance.now() - started))
  }
  setTimeout(poll, 250)
})()`

/** `all`: every host of each torrent, not only the first HOST_ROWS. */
export function renderPage(torrents: readonly TorrentView[], opts: { intervalSeconds: number; wallNow: number; all: boolean }): string {
  const body = torrents.length === 0 ? '<p data-key="none">No torrent announced yet.</p>' : torrents.map((t) => torrentSection(t, opts.all)).join('')
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">` +
    `<title>murder tracker</title><style>${STYLE}</style></head><body>` +
    `<main data-keyed><p data-key="asof">As of ${clock(opts.wallNow)} UTC; hosts announce every ${opts.intervalSeconds} s, ` +
    `stalled: no progress for two intervals. Stragglers first.</p>${body}</main><script>${SCRIPT}</script></body></html>`
}
