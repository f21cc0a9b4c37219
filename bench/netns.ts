// The lab network: one "switch" namespace holding a bridge, and one namespace per host (the source and N
// targets), each joined to the bridge by a veth pair. Shaping is egress-only on both ends of each veth:
// the host's end limits what the host sends (its upload), the switch's end limits what it receives (its
// download). Nothing is created in the root namespace, so no lab packet can leave the machine.
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
}

/**
 * A veth pair joining the two site switches (both ends enslaved to their bridge). `aDev` in `aNs` sends
 * A→B (its egress is shaped to the WAN rate), `bDev` in `bNs` sends B→A.
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

/** A namespace holding an STP-less bridge `br0`. */
function addSwitch(ns: string): void {
  sh('ip', ['netns', 'add', ns])
  sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
  sh('ip', ['-n', ns, 'link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0'])
  sh('ip', ['-n', ns, 'link', 'set', 'br0', 'up'])
}

/** The host's namespace, joined to the bridge of `switchNs` by a veth pair shaped at both ends. */
function addHost(switchNs: string, h: HostSpec, prefixLen: number, shaper: Shaper): void {
  sh('ip', ['netns', 'add', h.ns])
  sh('ip', ['-n', h.ns, 'link', 'set', 'lo', 'up'])
  sh('ip', ['link', 'add', 'name', h.dev, 'netns', h.ns, 'type', 'veth', 'peer', 'name', h.swDev, 'netns', switchNs])
  sh('ip', ['-n', switchNs, 'link', 'set', h.swDev, 'master', 'br0'])
  sh('ip', ['-n', switchNs, 'link', 'set', h.swDev, 'up'])
  sh('ip', ['-n', h.ns, 'addr', 'add', `${h.ip}/${prefixLen}`, 'dev', h.dev])
  sh('ip', ['-n', h.ns, 'link', 'set', h.dev, 'up'])
  shape(h.ns, h.dev, h.upBps, shaper)
  shape(switchNs, h.swDev, h.downBps, shaper)
}

export interface LabOptions {
  prefix: string
  n: number
  /** Per-target upload and download, bit/s. */
  rateBps: number
  /** Source upload and download, bit/s. */
  sourceRateBps: number
  shaper: Shaper
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
    for (const h of hosts) addHost(switchNs, h, 24, o.shaper)
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
}

export const SITE_A = '10.99.1'
export const SITE_B = '10.99.2'

/**
 * Two sites: site A (switch `<prefix>-swa`: the source `10.99.1.1` and targets a1… at 10.99.1.11…) and site B
 * (switch `<prefix>-swb`: targets b1… at 10.99.2.11…), the two bridges joined by a veth pair `wan0`, shaped
 * to `wanRateBps` in each direction. One L2 segment, 10.99.0.0/16 on every host, so no router is needed;
 * the sites are the /24s (`lab.sites`). As in `createLab`, nothing is created in the root namespace.
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
    sh('ip', ['link', 'add', 'name', wan.aDev, 'netns', swA, 'type', 'veth', 'peer', 'name', wan.bDev, 'netns', swB])
    for (const [ns, dev] of [[swA, wan.aDev], [swB, wan.bDev]] as const) {
      sh('ip', ['-n', ns, 'link', 'set', dev, 'master', 'br0'])
      sh('ip', ['-n', ns, 'link', 'set', dev, 'up'])
      shape(ns, dev, o.wanRateBps, o.shaper)
    }
    for (const h of hosts) addHost(h.switchNs!, h, 16, o.shaper)
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
