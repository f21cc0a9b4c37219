// The lab network: one "switch" namespace holding a bridge, and one namespace per host (the source and N
// targets), each joined to the bridge by a veth pair. Shaping is egress-only on both ends of each veth:
// the host's end limits what the host sends (its upload), the switch's end limits what it receives (its
// download). Nothing is created in the root namespace, so no lab packet can leave the machine.
// A link with a delay (no netem in this kernel) is a pair of taps instead of a veth pair, joined by the
// delay relay (bench/delayRelay.c): one relay process per lab, living in the (first) switch namespace.
import { existsSync, renameSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { sh } from './proc.js'

export const SUBNET = '10.99.0'

export interface HostSpec {
  /** Namespace name. */
  ns: string
  /** Short role name used in reports: "source", "t1", ... */
  name: string
  ip: string
  /** Egress of the host's veth end (upload), bit/s; 0: unshaped. */
  upBps: number
  /** Egress of the switch's veth end (download), bit/s; 0: unshaped. */
  downBps: number
  /** The host's interface, inside its namespace. */
  dev: string
  /** The switch's end, inside the switch namespace. */
  swDev: string
  /** The switch namespace this host hangs off when it is not the lab's `switchNs` (two-site lab). */
  switchNs?: string
  /** Site name (two-site lab): "a" (the source's) or "b". */
  site?: string
}

export type Shaper = 'tbf' | 'htb'

export interface Lab {
  prefix: string
  switchNs: string
  source: HostSpec
  targets: HostSpec[]
  hosts: HostSpec[]
  /** Two-site lab: the WAN link between the two switches. */
  wan?: WanLink
  /** Two-site lab: each site's address range, as murder tracker --sites takes it. */
  sites?: { name: string; cidr: string }[]
  /** The delay relay's pid when a link has a delay (it runs in `switchNs`, so deleting that kills it). */
  relayPid?: number
}

/**
 * A veth pair (with a delay: a tap pair through the relay) joining the two site switches (both ends
 * enslaved to their bridge). `aDev` in `aNs` sends A→B (its egress is shaped to the WAN rate), `bDev` in
 * `bNs` sends B→A.
 */
export interface WanLink {
  aNs: string
  aDev: string
  bNs: string
  bDev: string
  rateBps: number
}

/** Namespaces of this machine whose name starts with `prefix`. */
export function listNamespaces(prefix: string): string[] {
  return sh('ip', ['netns', 'list'], { allowFail: true })
    .split('\n')
    .map((l) => l.split(/\s+/)[0] ?? '')
    .filter((n) => n !== '' && n.startsWith(prefix))
}

/** Kills what still runs in the namespace (only processes the bench started can be there), then deletes it. */
export function deleteNamespace(ns: string): void {
  const pids = sh('ip', ['netns', 'pids', ns], { allowFail: true }).split(/\s+/).filter(Boolean)
  for (const pid of pids) {
    try { process.kill(Number(pid), 'SIGKILL') } catch { /* gone */ }
  }
  sh('ip', ['netns', 'del', ns], { allowFail: true })
}

export function destroyNamespaces(prefix: string): string[] {
  const found = listNamespaces(prefix)
  // Hosts first, the switches last: deleting a host namespace removes its veth pair.
  const isSwitch = (ns: string) => Number(/-sw[ab]?$/.test(ns))
  for (const ns of found.sort((a, b) => isSwitch(a) - isSwitch(b))) deleteNamespace(ns)
  return found
}

function shape(ns: string, dev: string, bps: number, shaper: Shaper): void {
  if (bps <= 0) return
  // Bucket: at least 64 KiB (a GSO super-packet) and ~4 ms of traffic; the queue behind it holds ~50 ms,
  // like a switch port buffer, so congestion shows up as drops and not as seconds of bufferbloat.
  const burst = Math.max(64 * 1024, Math.round(bps / 8 / 250))
  const queue = Math.max(128 * 1024, Math.round((bps / 8) * 0.05))
  if (shaper === 'tbf') {
    sh('tc', ['-n', ns, 'qdisc', 'replace', 'dev', dev, 'root', 'tbf', 'rate', `${bps}bit`, 'burst', String(burst), 'limit', String(queue)])
  } else {
    sh('tc', ['-n', ns, 'qdisc', 'replace', 'dev', dev, 'root', 'handle', '1:', 'htb', 'default', '1'])
    sh('tc', ['-n', ns, 'class', 'add', 'dev', dev, 'parent', '1:', 'classid', '1:1', 'htb', 'rate', `${bps}bit`, 'ceil', `${bps}bit`,
      'burst', String(burst), 'cburst', String(burst), 'quantum', '60000'])
    sh('tc', ['-n', ns, 'qdisc', 'add', 'dev', dev, 'parent', '1:1', 'handle', '10:', 'bfifo', 'limit', String(queue)])
  }
}

/** A namespace with its loopback up. */
function addNs(ns: string): void {
  sh('ip', ['netns', 'add', ns])
  sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
}

/** A namespace holding an STP-less bridge `br0`. */
function addSwitch(ns: string): void {
  addNs(ns)
  sh('ip', ['-n', ns, 'link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0'])
  sh('ip', ['-n', ns, 'link', 'set', 'br0', 'up'])
}

/** A switch's end of a link: enslaved to its bridge, up, its egress shaped. */
function attach(switchNs: string, dev: string, bps: number, shaper: Shaper): void {
  sh('ip', ['-n', switchNs, 'link', 'set', dev, 'master', 'br0'])
  sh('ip', ['-n', switchNs, 'link', 'set', dev, 'up'])
  shape(switchNs, dev, bps, shaper)
}

/** Both ends of a host's link (made by `addLinks`) set up: the switch's shaped to its download, its own to its upload. */
function configureHost(switchNs: string, h: HostSpec, prefixLen: number, shaper: Shaper): void {
  attach(switchNs, h.swDev, h.downBps, shaper)
  sh('ip', ['-n', h.ns, 'addr', 'add', `${h.ip}/${prefixLen}`, 'dev', h.dev])
  sh('ip', ['-n', h.ns, 'link', 'set', h.dev, 'up'])
  shape(h.ns, h.dev, h.upBps, shaper)
}

/** A point-to-point link between `aDev` in `aNs` and `bDev` in `bNs`, delayed `delayUs` each way. */
interface Link {
  aNs: string
  aDev: string
  bNs: string
  bDev: string
  delayUs: number
}

/**
 * A host's link to its switch. `delayMs` is the one-way delay between two hosts, so each access link
 * carries half of it: host → switch → host is `delayMs`, a round trip 2·`delayMs`.
 */
function hostLink(h: HostSpec, switchNs: string, delayMs: number): Link {
  return { aNs: h.ns, aDev: h.dev, bNs: switchNs, bDev: h.swDev, delayUs: Math.round((delayMs * 1000) / 2) }
}

const RELAY_SRC = fileURLToPath(new URL('../../bench/delayRelay.c', import.meta.url))
const RELAY_BIN = fileURLToPath(new URL('./delay-relay', import.meta.url))

/** The delay relay, compiled next to this file's JS when missing or older than its source. */
function relayBinary(): string {
  if (existsSync(RELAY_BIN) && statSync(RELAY_BIN).mtimeMs >= statSync(RELAY_SRC).mtimeMs) return RELAY_BIN
  // Built under a name of its own, then renamed: two test files may build it at once.
  const tmp = `${RELAY_BIN}.${process.pid}`
  try {
    sh('gcc', ['-O2', '-Wall', '-o', tmp, RELAY_SRC])
  } catch (err) {
    throw new Error(`a lab delay needs the delay relay built with gcc (apt-get install -y gcc): ${(err as Error).message}`)
  }
  renameSync(tmp, RELAY_BIN)
  return RELAY_BIN
}

/**
 * Creates the links, all down and in their namespaces: a veth pair for each undelayed link; for the delayed
 * ones, tap pairs held by one delay relay started in `relayNs` (which must outlive the others: the bench
 * deletes switch namespaces last). Returns the relay's pid, if one was started.
 */
function addLinks(relayNs: string, links: Link[]): number | undefined {
  for (const l of links.filter((x) => x.delayUs === 0)) {
    sh('ip', ['link', 'add', 'name', l.aDev, 'netns', l.aNs, 'type', 'veth', 'peer', 'name', l.bDev, 'netns', l.bNs])
  }
  const delayed = links.filter((x) => x.delayUs > 0)
  if (!delayed.length) return undefined
  // The relay makes every tap in its own namespace, under names unique there, then forks and prints the pid
  // of the child holding them; each tap then moves to its namespace under its name there.
  const tmp = (i: number, end: 'a' | 'b') => `dly${i}${end}`
  const pid = Number(sh('ip', ['netns', 'exec', relayNs, relayBinary(), ...delayed.flatMap((l, i) => [tmp(i, 'a'), tmp(i, 'b'), String(l.delayUs)])]).trim())
  for (const [i, l] of delayed.entries()) {
    for (const [end, ns, dev] of [['a', l.aNs, l.aDev], ['b', l.bNs, l.bDev]] as const) {
      sh('ip', ['-n', relayNs, 'link', 'set', tmp(i, end), ...(ns === relayNs ? [] : ['netns', ns]), 'name', dev])
    }
  }
  return pid
}

export interface LabOptions {
  prefix: string
  n: number
  /** Per-target upload and download, bit/s. */
  rateBps: number
  /** Source upload and download, bit/s. */
  sourceRateBps: number
  shaper: Shaper
  /** One-way delay between two hosts, ms (each host's link carries half of it each way); 0 or absent: none. */
  delayMs?: number
}

export function createLab(o: LabOptions): Lab {
  if (o.n < 1 || o.n > 200) throw new Error('N must be from 1 to 200')
  const existing = listNamespaces(o.prefix)
  if (existing.length) throw new Error(`namespaces ${existing.join(', ')} already exist: run \`npm run bench -- cleanup\``)
  const switchNs = `${o.prefix}-sw`
  const mk = (name: string, i: number, ip: string, bps: number): HostSpec =>
    ({ ns: `${o.prefix}-${name}`, name, ip, upBps: bps, downBps: bps, dev: 'eth0', swDev: `p${i}` })
  const source = mk('source', 0, `${SUBNET}.1`, o.sourceRateBps)
  const targets = Array.from({ length: o.n }, (_, i) => mk(`t${i + 1}`, i + 1, `${SUBNET}.${10 + i + 1}`, o.rateBps))
  const hosts = [source, ...targets]
  const lab: Lab = { prefix: o.prefix, switchNs, source, targets, hosts }
  try {
    addSwitch(switchNs)
    for (const h of hosts) addNs(h.ns)
    lab.relayPid = addLinks(switchNs, hosts.map((h) => hostLink(h, switchNs, o.delayMs ?? 0)))
    for (const h of hosts) configureHost(switchNs, h, 24, o.shaper)
  } catch (err) {
    destroyNamespaces(o.prefix)
    throw err
  }
  return lab
}

export interface SitesLabOptions {
  prefix: string
  /** Targets in site A (the source's site), may be 0. */
  nA: number
  /** Targets in site B, the remote site. */
  nB: number
  /** Per-target upload and download, bit/s; 0: unshaped. */
  rateBps: number
  /** Source upload and download, bit/s; 0: unshaped. */
  sourceRateBps: number
  /** WAN rate in each direction, bit/s (> 0). */
  wanRateBps: number
  shaper: Shaper
  /** One-way delay between two hosts of a site, ms, as in `createLab`. */
  delayMs?: number
  /** One-way delay the WAN link adds, ms (a host of A to a host of B: `delayMs` + `wanDelayMs`). */
  wanDelayMs?: number
}

export const SITE_A = '10.99.1'
export const SITE_B = '10.99.2'

/**
 * Two sites: site A (switch `<prefix>-swa`: the source `10.99.1.1` and targets a1… at 10.99.1.11…) and site B
 * (switch `<prefix>-swb`: targets b1… at 10.99.2.11…), the two bridges joined by a veth pair `wan0`, shaped
 * to `wanRateBps` in each direction and delayed `wanDelayMs`. One L2 segment, 10.99.0.0/16 on every host, so no
 * router is needed; the sites are the /24s (`lab.sites`). As in `createLab`, nothing is created in the root namespace.
 */
export function createSitesLab(o: SitesLabOptions): Lab {
  if (o.nA < 0 || o.nB < 1 || o.nA + o.nB > 200) throw new Error('need 0 to 199 targets in site A, at least 1 in site B, 200 in all')
  if (!(o.wanRateBps > 0)) throw new Error('the WAN rate must be > 0')
  const existing = listNamespaces(o.prefix)
  if (existing.length) throw new Error(`namespaces ${existing.join(', ')} already exist: run \`npm run bench -- cleanup\``)
  const swA = `${o.prefix}-swa`
  const swB = `${o.prefix}-swb`
  const mk = (name: string, site: 'a' | 'b', sw: string, i: number, ip: string, bps: number): HostSpec =>
    ({ ns: `${o.prefix}-${name}`, name, ip, upBps: bps, downBps: bps, dev: 'eth0', swDev: `p${i}`, switchNs: sw, site })
  const source = mk('source', 'a', swA, 0, `${SITE_A}.1`, o.sourceRateBps)
  const targets = [
    ...Array.from({ length: o.nA }, (_, i) => mk(`a${i + 1}`, 'a', swA, i + 1, `${SITE_A}.${10 + i + 1}`, o.rateBps)),
    ...Array.from({ length: o.nB }, (_, i) => mk(`b${i + 1}`, 'b', swB, i + 1, `${SITE_B}.${10 + i + 1}`, o.rateBps)),
  ]
  const hosts = [source, ...targets]
  const wan: WanLink = { aNs: swA, aDev: 'wan0', bNs: swB, bDev: 'wan0', rateBps: o.wanRateBps }
  const lab: Lab = { prefix: o.prefix, switchNs: swA, source, targets, hosts, wan,
    sites: [{ name: 'a', cidr: `${SITE_A}.0/24` }, { name: 'b', cidr: `${SITE_B}.0/24` }] }
  try {
    addSwitch(swA)
    addSwitch(swB)
    for (const h of hosts) addNs(h.ns)
    const wanLink: Link = { aNs: swA, aDev: wan.aDev, bNs: swB, bDev: wan.bDev, delayUs: Math.round((o.wanDelayMs ?? 0) * 1000) }
    lab.relayPid = addLinks(swA, [wanLink, ...hosts.map((h) => hostLink(h, h.switchNs!, o.delayMs ?? 0))])
    attach(swA, wan.aDev, o.wanRateBps, o.shaper)
    attach(swB, wan.bDev, o.wanRateBps, o.shaper)
    for (const h of hosts) configureHost(h.switchNs!, h, 16, o.shaper)
  } catch (err) {
    destroyNamespaces(o.prefix)
    throw err
  }
  return lab
}

/** A namespace with only its own loopback up: an isolated 127.0.0.1 for the loopback runs. */
export function createLoopbackNs(prefix: string): string {
  const ns = `${prefix}-lo`
  if (listNamespaces(ns).includes(ns)) deleteNamespace(ns)
  sh('ip', ['netns', 'add', ns])
  sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
  return ns
}

export interface IfCounters {
  txBytes: number
  rxBytes: number
  txPackets: number
  rxPackets: number
}

export function counters(ns: string, dev: string): IfCounters {
  const j = JSON.parse(sh('ip', ['-n', ns, '-s', '-j', 'link', 'show', 'dev', dev])) as
    { stats64: { tx: { bytes: number; packets: number }; rx: { bytes: number; packets: number } } }[]
  const s = j[0]!.stats64
  return { txBytes: s.tx.bytes, rxBytes: s.rx.bytes, txPackets: s.tx.packets, rxPackets: s.rx.packets }
}

/** Drops seen by the shaper of each veth end (a sign of too-small queues or of congestion). */
export function qdiscDrops(ns: string, dev: string): number {
  const out = sh('tc', ['-n', ns, '-s', 'qdisc', 'show', 'dev', dev], { allowFail: true })
  let drops = 0
  for (const m of out.matchAll(/dropped (\d+)/g)) drops += Number(m[1])
  return drops
}

export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error('the lab needs root (network namespaces and tc)')
}
