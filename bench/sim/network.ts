import type { SimClock } from './simClock.js'

/** A host's access link and where it sits. Rates in bytes per second. */
export interface NetHost {
  readonly name: string
  readonly site: string
  readonly up: number
  readonly down: number
}

/** A site's WAN link to the others (a star through a core): each direction has `rate`, and `delayMs` one way. */
export interface NetSite {
  readonly name: string
  readonly rate: number
  readonly delayMs: number
}

interface Message {
  size: number
  /** Runs at the receiver once the message's last byte arrived; null for a write marker. */
  deliver: (() => void) | null
  /** Runs at the sender once the network has taken the message (afterWrites). */
  sent: (() => void) | null
}

/** One direction of one connection: a FIFO of messages through the sender's uplink, the WANs, the receiver's downlink. */
export class Flow {
  private readonly queue: Message[] = []
  private head = 0
  /** Bytes of the head message already sent. */
  private headSent = 0
  backlog = 0
  /** Bytes this flow may send in the current tick (the allocation's scratch). */
  alloc = 0
  /** Which stage last cut `alloc`. */
  cutAt = 0
  /** Bytes sent over its life. */
  bytes = 0
  private drainWaiters: (() => void)[] = []
  closed = false

  constructor(readonly net: Network, readonly from: NetHost, readonly to: NetHost, readonly delayMs: number, readonly weight = 1) {}

  get crossSite(): boolean {
    return this.from.site !== this.to.site
  }

  push(size: number, deliver: (() => void) | null, sent: (() => void) | null = null): void {
    if (this.closed) return
    this.queue.push({ size, deliver, sent })
    this.backlog += size
    this.net.activate(this)
  }

  onDrain(fn: () => void): void {
    if (this.backlog === 0) fn()
    else this.drainWaiters.push(fn)
  }

  /** Sends up to `budget` bytes (returns how many); messages completed are delivered after the flow's delay. */
  transmit(budget: number): number {
    const before = this.bytes
    const done: (() => void)[] = []
    while (this.head < this.queue.length) {
      const m = this.queue[this.head]!
      const need = m.size - this.headSent
      if (need > budget) {
        this.headSent += budget
        this.backlog -= budget
        this.bytes += budget
        break
      }
      budget -= need
      this.backlog -= need
      this.bytes += need
      this.headSent = 0
      this.head++
      if (m.sent) m.sent()
      if (m.deliver) done.push(m.deliver)
    }
    // Sent messages hold their closures: kept up to 1024 per flow, they were two thirds of the heap with 100 peers.
    if (this.head > 16 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head)
      this.head = 0
    }
    if (done.length > 0) this.net.clock.after(this.delayMs, () => { if (!this.closed) for (const d of done) d() })
    if (this.backlog === 0 && this.drainWaiters.length > 0) {
      const waiters = this.drainWaiters
      this.drainWaiters = []
      for (const w of waiters) w()
    }
    return this.bytes - before
  }

  get idle(): boolean {
    return this.head >= this.queue.length
  }

  close(): void {
    this.closed = true
    this.queue.length = 0
    this.head = 0
    this.backlog = 0
    this.drainWaiters = []
  }
}

/**
 * A fluid model of the network, advanced in ticks: each tick, every link (a host's uplink, a site's WAN out,
 * a site's WAN in, a host's downlink) is shared fairly among the flows that have bytes to send through it
 * (water-filling: a flow that needs less than its share leaves the rest to the others), in two rounds so that
 * capacity a flow cannot use because of a later link goes to the other flows of the earlier one. Round-trip
 * times do not weigh on the shares, as they do in TCP (which favours short round trips).
 */
export class Network {
  private readonly active = new Set<Flow>()
  private ticking = false
  private readonly sites = new Map<string, NetSite>()
  /** Bytes that crossed into each site from outside it. */
  readonly wanIn = new Map<string, number>()
  /** Bytes each host sent (what left its uplink, as the lab counts a veth's tx). */
  readonly sent = new Map<NetHost, number>()

  /**
   * `cpu`: every host runs on one machine of `cores` cores, and each byte moved costs its sender and receiver
   * `secondsPerByte` of CPU together: the namespace lab, where 9 processes share 2 cores, is CPU-bound.
   */
  constructor(
    readonly clock: SimClock,
    sites: readonly NetSite[],
    readonly tickMs: number,
    readonly lanDelayMs: number,
    readonly cpu?: { cores: number; secondsPerByte: number },
    /** TCP's share of a bottleneck falls with the round trip: weights (round trip + queue)^-alpha; fair if unset. */
    readonly rttBias?: { queueMs: number; alpha: number },
  ) {
    for (const s of sites) this.sites.set(s.name, s)
  }

  /** One-way delay between two hosts. */
  delay(a: NetHost, b: NetHost): number {
    if (a.site === b.site) return this.lanDelayMs
    return this.lanDelayMs + Math.max(this.sites.get(a.site)?.delayMs ?? 0, this.sites.get(b.site)?.delayMs ?? 0)
  }

  flow(from: NetHost, to: NetHost): Flow {
    const delay = this.delay(from, to)
    const bias = this.rttBias
    return new Flow(this, from, to, delay, bias ? (2 * delay + bias.queueMs) ** -bias.alpha : 1)
  }

  activate(flow: Flow): void {
    this.active.add(flow)
    if (this.ticking) return
    this.ticking = true
    this.clock.after(this.tickMs, () => this.tick())
  }

  private tick(): void {
    const flows = [...this.active].filter((f) => !f.closed && f.backlog > 0)
    const dt = this.tickMs / 1000
    const stages: [(f: Flow) => object | null, (key: object) => number][] = [
      [(f) => f.from, (h) => (h as NetHost).up * dt],
      [(f) => (f.crossSite ? this.sites.get(f.from.site) ?? null : null), (s) => (s as NetSite).rate * dt],
      [(f) => (f.crossSite ? this.sites.get(f.to.site) ?? null : null), (s) => (s as NetSite).rate * dt],
      [(f) => f.to, (h) => (h as NetHost).down * dt],
    ]
    const cpu = this.cpu
    if (cpu) stages.push([() => MACHINE, () => (cpu.cores / cpu.secondsPerByte) * dt])
    for (const f of flows) {
      f.alloc = f.backlog
      f.cutAt = -1
    }
    allocate(flows, stages, false)
    // Second round: the first link's capacity left over by flows cut later goes to its other flows.
    allocate(flows, stages, true)
    for (const f of flows) {
      if (f.alloc <= 0) continue
      const sent = f.transmit(Math.floor(f.alloc))
      this.sent.set(f.from, (this.sent.get(f.from) ?? 0) + sent)
      if (f.crossSite) this.wanIn.set(f.to.site, (this.wanIn.get(f.to.site) ?? 0) + sent)
    }
    for (const f of [...this.active]) if (f.closed || f.idle) this.active.delete(f)
    if (this.active.size > 0) this.clock.after(this.tickMs, () => this.tick())
    else this.ticking = false
  }
}

/** The one machine every host shares when the CPU is modelled. */
const MACHINE = {}

type Stage = [(f: Flow) => object | null, (key: object) => number]

/**
 * Water-fills each stage's links in turn, each flow's demand being what the previous stages left it. In the
 * second round, the first stage (uplinks) shares again: a flow cut by a later link keeps what it got, and
 * the other flows of its uplink share the rest; the later links then cut again where needed.
 */
function allocate(flows: readonly Flow[], stages: readonly Stage[], second: boolean): void {
  stages.forEach(([linkOf, capacity], stage) => {
    const groups = new Map<object, Flow[]>()
    for (const f of flows) {
      const link = linkOf(f)
      if (link === null) continue
      let g = groups.get(link)
      if (!g) groups.set(link, (g = []))
      g.push(f)
    }
    const reopen = second && stage === 0
    for (const [link, group] of groups) {
      let cap = capacity(link)
      const open: Flow[] = []
      for (const f of group) {
        if (reopen && f.cutAt > 0) cap -= f.alloc
        else {
          if (reopen) f.alloc = f.backlog
          open.push(f)
        }
      }
      waterFill(open, Math.max(0, cap), stage)
    }
  })
}

/** Shares `cap` among the flows in proportion to their weights, a flow that needs less leaving the rest. */
function waterFill(group: Flow[], cap: number, stage: number): void {
  group.sort((a, b) => a.alloc / a.weight - b.alloc / b.weight)
  let left = cap
  let weights = 0
  for (const f of group) weights += f.weight
  for (const f of group) {
    const share = (left * f.weight) / weights
    if (f.alloc > share) {
      f.alloc = share
      f.cutAt = stage
    }
    left -= f.alloc
    weights -= f.weight
  }
}
