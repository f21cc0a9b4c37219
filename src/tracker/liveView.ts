import type { HostView, TorrentView } from './fleet.js'
import { headLine, HOST_ROWS, hostColumns, hostRow, mainContent, moreLine, renderPage, sameRow, section, siteRows, totalsLine } from './livePage.js'

/**
 * The live page as its viewers share it, versioned: each part of it (the head line, a torrent's totals,
 * sites, column widths, each host row of the page of the first HOST_ROWS and of the page of all) carries the
 * version at which it last changed, and a row that left the page the version at which it left. A page open
 * at version v then asks for what changed since v and gets only that: with 5000 hosts, a few rows instead of
 * 1 MB to parse and compare. Pure: fed views (TorrentView) and a time.
 */

export type PageKind = 'top' | 'all'

/** A host row that changed or came since the asker's version: its key, the key of the row it follows (null: first), its html. */
export type RowChange = [key: string, after: string | null, html: string]

export interface TorrentDiff {
  /** The whole section (a torrent the asker has not seen); nothing else is set then. */
  section?: string
  totals?: string
  sites?: string
  more?: string
  columns?: string
  /** In the page's order. */
  rows: RowChange[]
  /** Keys of rows that left the page. */
  gone: string[]
}

export type PageDiff =
  /** The asker's version is unknown or too old: the whole content of `<main>`. */
  | { version: number; main: string }
  | {
      version: number
      head?: string
      /** The torrents' sections in order; any other section the page shows is gone. */
      order: string[]
      /** Only torrents with something changed. */
      torrents: Record<string, TorrentDiff>
    }

interface Part {
  html: string
  version: number
}

interface Row extends Part {
  /** Its place in the order, beside state and address, which its html shows. */
  progress: number
  /** The last sync that had it. */
  seen: number
}

interface List {
  /** The update it was last synced to. */
  pass: number
  keys: string[]
  rows: Map<string, Row>
  /** Rows that left, with the version at which they did. */
  gone: Map<string, number>
  more: Part
}

interface Torrent {
  created: number
  /** As of the last update. */
  view: TorrentView
  totals: Part
  sites: Part
  columns: Part
  /** The rendered rows by address, with the view they were rendered from. */
  rendered: Map<string, { view: HostView; html: string }>
  lists: Record<PageKind, List>
}

/**
 * How long (at least) the rows that left are remembered: a page whose version is older (a tab in the
 * background, whose timers a browser slows to one a minute) gets the whole page.
 */
const GONE_KEPT_MS = 5 * 60_000

export class LiveView {
  /**
   * Starts at the wall clock's milliseconds and grows by one per change (a few a second): a page that kept
   * polling across a restart of the tracker names a version older than the new process's first one.
   */
  private current: number
  /** Versions below this are too old to answer with a diff. */
  private horizon: number
  private head: Part
  private readonly torrents = new Map<string, Torrent>()
  /** Sections in order (by info hash: a section stays where it is). */
  private order: string[] = []
  private pruneAt: number
  /** Counts updates: a list synced in this one is up to date. */
  private pass = 0
  private pruneVersion: number
  private readonly pages = new Map<PageKind, { version: number; html: string }>()

  constructor(
    private readonly intervalSeconds: number,
    now = Date.now(),
  ) {
    this.current = now
    this.horizon = now
    this.pruneVersion = now
    this.pruneAt = now + GONE_KEPT_MS
    this.head = { html: headLine(0, now, intervalSeconds), version: now }
  }

  get version(): number {
    return this.current
  }

  /**
   * Brings the view to `views` (the swarms as of `wallNow`); the version moves on if anything shown changed.
   * The host rows of a kind of page are brought up to date when that page is asked for (sync).
   */
  update(views: readonly TorrentView[], wallNow: number): void {
    const next = this.current + 1
    this.pass++
    let changed = false
    const set = (part: Part, html: string): void => {
      if (setPart(part, html, next)) changed = true
    }
    set(this.head, headLine(views.length, wallNow, this.intervalSeconds))
    const order = views.map((t) => t.infoHash).sort()
    if (order.join() !== this.order.join()) changed = true
    this.order = order
    const left = new Set(this.torrents.keys())
    for (const t of views) {
      left.delete(t.infoHash)
      let torrent = this.torrents.get(t.infoHash)
      if (torrent === undefined) {
        const part = (): Part => ({ html: '', version: next })
        const list = (): List => ({ pass: 0, keys: [], rows: new Map(), gone: new Map(), more: part() })
        torrent = { created: next, view: t, totals: part(), sites: part(), columns: part(), rendered: new Map(), lists: { top: list(), all: list() } }
        this.torrents.set(t.infoHash, torrent)
      }
      torrent.view = t
      set(torrent.totals, totalsLine(t))
      set(torrent.sites, siteRows(t))
      set(torrent.columns, hostColumns(t))
      // Rows of hosts gone (the map holds at most one per host there is, or was at its last prune).
      if (torrent.rendered.size > t.hosts.length) {
        const here = new Set(t.hosts.map((h) => h.address))
        for (const key of torrent.rendered.keys()) if (!here.has(key)) torrent.rendered.delete(key)
      }
    }
    for (const key of left) this.torrents.delete(key)
    if (left.size > 0) changed = true
    if (wallNow >= this.pruneAt) this.prune(wallNow)
    if (changed) this.current = next
  }

  /** Brings the rows of a kind of page to the last update: done only for the pages asked for. */
  private sync(kind: PageKind): void {
    const next = this.current + 1
    let changed = false
    for (const torrent of this.torrents.values()) {
      const list = torrent.lists[kind]
      if (list.pass === this.pass) continue
      list.pass = this.pass
      const t = torrent.view
      const shown = kind === 'all' ? t.hosts.length : Math.min(HOST_ROWS, t.hosts.length)
      if (syncList(list, t.hosts, shown, (h) => render(torrent.rendered, h), next)) changed = true
      if (setPart(list.more, moreLine(t, shown, kind === 'all'), next)) changed = true
    }
    if (changed) this.current = next
  }

  /** The whole page. */
  page(kind: PageKind): string {
    this.sync(kind)
    let cached = this.pages.get(kind)
    if (cached?.version !== this.current) {
      cached = { version: this.current, html: renderPage(this.current, this.main(kind)) }
      this.pages.set(kind, cached)
    }
    return cached.html
  }

  /** What changed since the page at version `since` was shown; undefined: nothing. */
  diff(since: number, kind: PageKind): PageDiff | undefined {
    this.sync(kind)
    if (since === this.current) return undefined
    if (!(since >= this.horizon && since < this.current)) return { version: this.current, main: this.main(kind) }
    const torrents: Record<string, TorrentDiff> = {}
    for (const [infoHash, t] of this.torrents) {
      if (t.created > since) {
        torrents[infoHash] = { section: this.section(infoHash, t, kind), rows: [], gone: [] }
        continue
      }
      const list = t.lists[kind]
      const d: TorrentDiff = { rows: [], gone: [] }
      if (t.totals.version > since) d.totals = t.totals.html
      if (t.sites.version > since) d.sites = t.sites.html
      if (t.columns.version > since) d.columns = t.columns.html
      if (list.more.version > since) d.more = list.more.html
      list.keys.forEach((key, i) => {
        const row = list.rows.get(key)!
        if (row.version > since) d.rows.push([key, i === 0 ? null : list.keys[i - 1]!, row.html])
      })
      for (const [key, version] of list.gone) if (version > since) d.gone.push(key)
      const partChanged = d.totals !== undefined || d.sites !== undefined || d.columns !== undefined || d.more !== undefined
      if (partChanged || d.rows.length > 0 || d.gone.length > 0) torrents[infoHash] = d
    }
    return { version: this.current, ...(this.head.version > since ? { head: this.head.html } : {}), order: this.order, torrents }
  }

  private main(kind: PageKind): string {
    return mainContent(this.head.html, this.order.map((infoHash) => this.section(infoHash, this.torrents.get(infoHash)!, kind)))
  }

  private section(infoHash: string, t: Torrent, kind: PageKind): string {
    const list = t.lists[kind]
    return section({ infoHash, totals: t.totals.html, sites: t.sites.html, more: list.more.html, columns: t.columns.html, rows: list.keys.map((k) => list.rows.get(k)!.html) })
  }

  /** Forgets the rows that left before the previous prune: their versions are now too old to ask about. */
  private prune(wallNow: number): void {
    this.horizon = this.pruneVersion
    for (const t of this.torrents.values()) {
      for (const list of Object.values(t.lists)) for (const [key, version] of list.gone) if (version <= this.horizon) list.gone.delete(key)
    }
    this.pruneVersion = this.current
    this.pruneAt = wallNow + GONE_KEPT_MS
  }
}

function setPart(part: Part, html: string, version: number): boolean {
  if (part.html === html) return false
  part.html = html
  part.version = version
  return true
}

/** A host's row, rendered again only if what it shows changed. */
function render(rendered: Map<string, { view: HostView; html: string }>, h: HostView): string {
  let row = rendered.get(h.address)
  if (row === undefined || !sameRow(row.view, h)) rendered.set(h.address, (row = { view: h, html: hostRow(h) }))
  return row.html
}

/**
 * Brings a list to the first `shown` hosts: a row keeps its version if its html and its place in the order are
 * the same, so rows that kept theirs also kept their order among themselves. Returns whether anything changed.
 */
function syncList(list: List, hosts: readonly HostView[], shown: number, html: (h: HostView) => string, version: number): boolean {
  let changed = false
  const { rows, pass } = list
  const keys = new Array<string>(shown)
  for (let i = 0; i < shown; i++) {
    const h = hosts[i]!
    const row = html(h)
    const was = rows.get(h.address)
    if (was !== undefined && was.html === row && was.progress === h.progress) was.seen = pass
    else {
      rows.set(h.address, { html: row, progress: h.progress, version, seen: pass })
      list.gone.delete(h.address)
      changed = true
    }
    keys[i] = h.address
  }
  for (const [key, row] of rows) {
    if (row.seen === pass) continue
    rows.delete(key)
    list.gone.set(key, version)
    changed = true
  }
  list.keys = keys
  return changed
}
