import { duration, human } from '../format.js'
import type { HostView, SiteView, Totals, TorrentView } from './fleet.js'

/**
 * The tracker's page at `/`, as HTML pieces: the page is complete HTML, usable as a static table without
 * JavaScript. It lists a torrent's first HOST_ROWS hosts, stragglers first, and links to `?all`, every host.
 * With JavaScript, a small script asks every quarter second for what changed since the version it shows
 * (`?since=<version>`, answered by LiveView with the changed rows and where they go) and patches only those.
 * The host rows are a grid of fixed columns in chunks of CHUNK_ROWS that the browser lays out only when on
 * screen (content-visibility): 5000 rows in one table took it 2 s to lay out, each time. Nothing is fetched
 * but the tracker.
 */

/** Host rows of a torrent on the page, unless it is asked for all of them. */
export const HOST_ROWS = 200
/** Host rows per <tbody>, the unit the browser lays out or skips. */
export const CHUNK_ROWS = 100
/** A host row's height (fixed, so that a chunk off screen takes its rows' room without being laid out). */
const ROW_EM = 1.5

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
const rate = (bytesPerSecond: number): string => `${human(bytesPerSecond)}/s`
const clock = (ms: number): string => new Date(ms).toISOString().slice(11, 19)
const percent = (fraction: number): string => `${(100 * fraction).toFixed(1)}%`
const eta = (t: Totals): string => (t.eta === null ? 'ETA --' : t.eta === 0 ? 'all done' : `ETA ${duration(t.eta)}`)
const siteName = (site: string | undefined): string => (site === undefined ? '(no site)' : site)

function counts(t: Totals): string {
  return `${t.hostCount} host${t.hostCount === 1 ? '' : 's'}: ${t.done} done, ${t.downloading} downloading, ${t.stalled} stalled`
}

/** The line above the torrents (and what stands in for them when there is none). */
export function headLine(torrentCount: number, wallNow: number, intervalSeconds: number): string {
  return `<p>As of ${clock(wallNow)} UTC; hosts announce every ${intervalSeconds} s, stalled: no progress for two intervals. ` +
    `Stragglers first.</p>${torrentCount === 0 ? '<p>No torrent announced yet.</p>' : ''}`
}

/** The content of a torrent's `p.totals`. */
export function totalsLine(t: TorrentView): string {
  return `${counts(t)} · ${human(t.left)} left (${human(t.size)} per host) · ${rate(t.downloadRate)} · ${eta(t)} · ${t.completed} completed here`
}

/** The content of the sites table's body. */
export function siteRows(t: TorrentView): string {
  return t.sites.map((s: SiteView) => `<tr><td>${esc(siteName(s.site))}</td><td>${s.hostCount}</td><td>${s.done}</td>` +
    `<td>${s.downloading}</td><td>${s.stalled}</td><td>${human(s.left)}</td><td>${rate(s.downloadRate)}</td><td>${eta(s)}</td></tr>`).join('')
}

export function hostRow(h: HostView): string {
  return `<tr data-key="${esc(h.address)}" class="${h.state}"><td>${esc(h.address)}</td><td>${esc(siteName(h.site))}</td>` +
    `<td>${h.state}</td><td class="pct" style="--p:${percent(h.progress)}">${percent(h.progress)}</td>` +
    `<td>${rate(h.downloadRate)}</td><td>${rate(h.uploadRate)}</td><td>${clock(h.lastSeen)}</td></tr>`
}

/** Whether two views of a host make the same row (its html is then rendered once). */
export function sameRow(a: HostView, b: HostView): boolean {
  return a.state === b.state && a.progress === b.progress && a.site === b.site && a.downloadRate === b.downloadRate &&
    a.uploadRate === b.uploadRate && a.lastSeen === b.lastSeen && a.address === b.address
}

/**
 * The style of the hosts table: its first two columns as wide as its longest address and site name (a grid of
 * chunks has no table layout to size them).
 */
export function hostColumns(t: TorrentView): string {
  let address = 4
  let site = 4
  for (const h of t.hosts) {
    address = Math.max(address, h.address.length)
    site = Math.max(site, siteName(h.site).length)
  }
  return `--host:calc(${address + 1}ch + 20px);--site:calc(${Math.ceil(site * 1.2)}ch + 20px)`
}

/** The content of a torrent's `p.more`: what the page leaves out, and the link to the rest (or back). */
export function moreLine(t: TorrentView, shown: number, all: boolean): string {
  if (shown === t.hosts.length) {
    const back = all && t.hosts.length > HOST_ROWS ? ` <a href=".">Show the first ${HOST_ROWS} only</a>` : ''
    return `All ${t.hosts.length} hosts shown.${back}`
  }
  const hidden: Record<HostView['state'], number> = { stalled: 0, downloading: 0, done: 0 }
  for (let i = shown; i < t.hosts.length; i++) hidden[t.hosts[i]!.state]++
  return `The first ${shown} of ${t.hosts.length} hosts, stragglers first; not shown: ${hidden.stalled} stalled, ` +
    `${hidden.downloading} downloading, ${hidden.done} done. <a href="?all">Show all ${t.hosts.length} hosts</a>`
}

/** The parts of a torrent's section, as LiveView keeps them. */
export interface SectionParts {
  infoHash: string
  totals: string
  sites: string
  more: string
  columns: string
  /** Host rows (hostRow), in order. */
  rows: readonly string[]
}

const chunkStyle = (rows: number): string => `contain-intrinsic-height:${rows * ROW_EM}em`

export function section(p: SectionParts): string {
  let bodies = ''
  for (let i = 0; i < p.rows.length || i === 0; i += CHUNK_ROWS) {
    const chunk = p.rows.slice(i, i + CHUNK_ROWS)
    bodies += `<tbody style="${chunkStyle(chunk.length)}">${chunk.join('')}</tbody>`
  }
  return `<section data-key="${p.infoHash}"><h2>torrent <code>${p.infoHash}</code></h2><p class="totals">${p.totals}</p>` +
    '<table class="sites"><thead><tr><th>site</th><th>hosts</th><th>done</th><th>downloading</th><th>stalled</th><th>left</th><th>rate</th><th>ETA</th></tr></thead>' +
    `<tbody>${p.sites}</tbody></table><p class="more">${p.more}</p><table class="hosts" style="${p.columns}">` +
    '<thead><tr><th>host</th><th>site</th><th>state</th><th>progress</th><th>down</th><th>up</th><th>last announce</th></tr></thead>' +
    `${bodies}</table></section>`
}

const STYLE = `body{font:14px system-ui,sans-serif;margin:1em 2em;color:#222}h2{font-size:1.1em;margin:1.5em 0 .3em}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 10px;text-align:left;border-bottom:1px solid #eee}
table.sites td:nth-child(n+2),table.hosts td:nth-child(n+5){text-align:right;font-variant-numeric:tabular-nums}tr.stalled{background:#fdd}tr.done{color:#777}
tr{--bar:#4a8}tr.stalled{--bar:#c44}
td.pct{padding-left:13em;text-align:right;background:linear-gradient(to right,var(--bar) var(--p),#e4e4e4 0) no-repeat 10px center/12em .8em}
table.hosts,table.hosts>*{display:block}table.hosts{width:max-content}table.hosts>tbody{content-visibility:auto}
table.hosts tr{display:grid;grid-template-columns:var(--host) var(--site) 8em 18em 7em 7em 9em;align-items:center;height:${ROW_EM}em;box-sizing:border-box;border-bottom:1px solid #eee}
table.hosts td,table.hosts th{border:0;padding:0 10px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}`

// Runs in the browser. A diff names, for each torrent shown, its parts that changed and the host rows that
// changed or came (each with the key of the row it now follows) or went; `main` instead: the whole page.
const SCRIPT = `(() => {
  const main = document.querySelector('main')
  let version = main.dataset.version
  const template = document.createElement('template')
  const parse = (html) => { template.innerHTML = html; return template.content.firstElementChild }
  function patch(section, d) {
    if (d.totals !== undefined) section.querySelector('p.totals').innerHTML = d.totals
    if (d.more !== undefined) section.querySelector('p.more').innerHTML = d.more
    if (d.sites !== undefined) section.querySelector('table.sites tbody').innerHTML = d.sites
    const hosts = section.querySelector('table.hosts')
    if (d.columns !== undefined) hosts.setAttribute('style', d.columns)
    if (d.rows.length === 0 && d.gone.length === 0) return
    const byKey = new Map()
    for (const body of hosts.tBodies) for (const tr of body.rows) byKey.set(tr.dataset.key, tr)
    for (const key of d.gone) { byKey.get(key)?.remove(); byKey.delete(key) }
    // In their new order, each after the row it follows: rows that did not change kept their order, so each
    // row lands in its place (a row whose place did not change is replaced where it is).
    const first = hosts.tBodies[0]
    for (const [key, after, html] of d.rows) {
      const row = parse(html), old = byKey.get(key), prev = after === null ? null : byKey.get(after)
      if (prev === undefined) throw new Error('out of step')
      if (old !== undefined && old.previousElementSibling === prev && (prev !== null || old.parentNode === first)) old.replaceWith(row)
      else {
        old?.remove()
        if (prev === null) first.prepend(row)
        else prev.after(row)
      }
      byKey.set(key, row)
    }
    // Chunks stay near ${CHUNK_ROWS} rows (a chunk on screen is laid out whole), and take their rows' room off screen.
    for (const body of [...hosts.tBodies]) {
      if (body.rows.length === 0 && hosts.tBodies.length > 1) { body.remove(); continue }
      let rest = body
      while (rest.rows.length > 2 * ${CHUNK_ROWS}) {
        const next = document.createElement('tbody')
        next.append(...[...rest.rows].slice(${CHUNK_ROWS}))
        rest.after(next)
        rest = next
      }
      for (let b = body; ; b = b.nextElementSibling) {
        const style = 'contain-intrinsic-height:' + b.rows.length * ${ROW_EM} + 'em'
        if (b.getAttribute('style') !== style) b.setAttribute('style', style)
        if (b === rest) break
      }
    }
  }
  function apply(d) {
    if (d.main !== undefined) { main.innerHTML = d.main; return }
    const head = main.querySelector('header')
    if (d.head !== undefined) head.innerHTML = d.head
    const shown = new Map()
    for (const s of main.querySelectorAll(':scope > section')) shown.set(s.dataset.key, s)
    let prev = head
    for (const key of d.order) {
      const t = d.torrents[key]
      let s = shown.get(key)
      shown.delete(key)
      if (t?.section !== undefined) { s?.remove(); s = parse(t.section) }
      else if (s === undefined) throw new Error('out of step')
      else if (t !== undefined) patch(s, t)
      if (prev.nextElementSibling !== s) prev.after(s)
      prev = s
    }
    for (const s of shown.values()) s.remove()
  }
  // A quarter second between the end of one update and the next ask, or as long as the update took.
  async function poll() {
    const started = performance.now()
    try {
      const url = new URL(location.href)
      url.searchParams.set('since', version)
      const res = await fetch(url, { cache: 'no-store' })
      if (res.status === 200) {
        const d = await res.json()
        const patching = performance.now()
        // Out of step (never expected): the whole page next time.
        try { apply(d); version = d.version } catch { version = 0 }
        document.body.dataset.updated = String(Date.now())
        document.body.dataset.updateMs = String(Math.round(performance.now() - patching))
      }
    } catch {}
    setTimeout(poll, Math.max(250, performance.now() - started))
  }
  setTimeout(poll, 250)
})()`

/** The content of `<main>`: the head line, then each torrent's section. */
export function mainContent(head: string, sections: readonly string[]): string {
  return `<header>${head}</header>${sections.join('')}`
}

export function renderPage(version: number, main: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">` +
    `<title>murder tracker</title><style>${STYLE}</style></head><body>` +
    `<main data-version="${version}">${main}</main><script>${SCRIPT}</script></body></html>`
}
