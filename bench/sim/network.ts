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

/** Messages sent, kept for reuse: a message per block, have and request was a third of the garbage of a large run. */
const spare: Message[] = []

/** One link of the model (an uplink, a downlink, a site's WAN out or in, the machine's CPU) and the flows through it this tick. */
class Link {
  /** Bytes that went through it. */
  bytes = 0
  /** The tick and stage of `group`, and the flows through the link in that stage. */
  mark = -1
  readonly group: Flow[] = []

  constructor(readonly rate: number) {}
}

/** One direction of one connection: a FIFO of messages through the sender's uplink, the WANs, the receiver's downlink. */
export class Flow {
  private readonly queue: Message[] = []
  private head = 0
  /** Bytes of the head message already sent. */
  private headSent = 0
  /** Deliveries on their way, and how many each transmit sent (each arrives one delay later, in order). */
  private arriving: (() => void)[] = []
  private arrivingHead = 0
  private readonly batches: number[] = []
  private batchHead = 0
  private readonly arrive = () => this.deliverBatch()
  backlog = 0
  /** Bytes this flow may send in the current tick (the allocation's scratch). */
  alloc = 0
  /** Which stage last cut `alloc`. */
  cutAt = 0
  /** Bytes sent over its life. */
  bytes = 0
  private drainWaiters: (() => void)[] = []
  closed = false
  /** The receiving end: a message that arrives after it closed is dropped. */
  receiver: { readonly closed: boolean } | null = null

  constructor(
    readonly net: Network, readonly from: NetHost, readonly to: NetHost, readonly delayMs: number, readonly weight: number,
    /** The links it crosses, by stage: uplink, WAN out, WAN in, downlink, CPU (null where it crosses none). */
    readonly links: readonly (Link | null)[],
    /** Where the bytes it moves into another site are counted. */
    readonly into: { bytes: number } | null,
  ) {}

  get crossSite(): boolean {
    return this.from.site !== this.to.site
  }

  push(size: number, deliver: (() => void) | null, sent: (() => void) | null = null): void {
    if (this.closed) return
    const m = spare.pop()
    if (m) {
      m.size = size
      m.deliver = deliver
      m.sent = sent
      this.queue.push(m)
    } else this.queue.push({ size, deliver, sent })
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
    let done = 0
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
      const { sent, deliver } = m
      m.sent = m.deliver = null
      spare.push(m)
      if (sent) sent()
      if (deliver) {
        this.arriving.push(deliver)
        done++
      }
    }
    // Sent messages leave the queue's front now and then, not one shift each.
    if (this.head > 16 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head)
      this.head = 0
    }
    if (done > 0) {
      this.batches.push(done)
      this.net.clock.after(this.delayMs, this.arrive)
    }
    if (this.backlog === 0 && this.drainWaiters.length > 0) {
      const waiters = this.drainWaiters
      this.drainWaiters = []
      for (const w of waiters) w()
    }
    return this.bytes - before
  }

  /** The oldest batch in flight arrived (batches arrive in the order they left: one delay after). */
  private deliverBatch(): void {
    const n = this.batches[this.batchHead++]!
    const from = this.arrivingHead
    this.arrivingHead += n
    if (!this.closed) {
      const receiver = this.receiver
      for (let i = from; i < from + n; i++) if (!receiver?.closed) this.arriving[i]!()
    }
    if (this.batchHead === this.batches.length) {
      this.batches.length = this.batchHead = 0
      this.arriving.length = this.arrivingHead = 0
    } else if (this.arrivingHead > 1024) {
      this.arriving = this.arriving.slice(this.arrivingHead)
      this.arrivingHead = 0
    }
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
  /** Each host's uplink and downlink, each site's WAN out and in. */
  private readonly ups = new Map<NetHost, Link>()
  private readonly downs = new Map<NetHost, Link>()
  private readonly wanOut = new Map<string, Link>()
  private readonly wanIn = new Map<string, Link>()
  /** Bytes that crossed into each site, known to the model or not. */
  private readonly into = new Map<string, { bytes: number }>()
  private readonly machine: Link | null
  private readonly stages: number
  /** Scratch of each tick: the flows with bytes to send, the links of a stage, and its open flows. */
  private readonly sending: Flow[] = []
  private readonly touched: Link[] = []
  private readonly open: Flow[] = []
  private marks = 0

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
    for (const s of sites) {
      this.sites.set(s.name, s)
      this.wanOut.set(s.name, new Link(s.rate))
      this.wanIn.set(s.name, new Link(s.rate))
    }
    this.machine = cpu ? new Link(cpu.cores / cpu.secondsPerByte) : null
    this.stages = cpu ? 5 : 4
  }

  /** Bytes a host sent (what left its uplink, as the lab counts a veth's tx). */
  sentBy(host: NetHost): number {
    return this.ups.get(host)?.bytes ?? 0
  }

  /** Bytes a host received (what came in through its downlink). */
  receivedBy(host: NetHost): number {
    return this.downs.get(host)?.bytes ?? 0
  }

  /** Bytes that crossed into a site from outside it. */
  wanInto(site: string): number {
    return this.into.get(site)?.bytes ?? 0
  }

  /** One-way delay between two hosts. */
  delay(a: NetHost, b: NetHost): number {
    if (a.site === b.site) return this.lanDelayMs
    return this.lanDelayMs + Math.max(this.sites.get(a.site)?.delayMs ?? 0, this.sites.get(b.site)?.delayMs ?? 0)
  }

  flow(from: NetHost, to: NetHost): Flow {
    const delay = this.delay(from, to)
    const bias = this.rttBias
    const across = from.site !== to.site
    // Uplink, WAN out, WAN in, downlink, machine: tick() counts bytes on the first and the fourth.
    const links = [
      linkOf(this.ups, from, from.up), across ? this.wanOut.get(from.site) ?? null : null, across ? this.wanIn.get(to.site) ?? null : null,
      linkOf(this.downs, to, to.down), this.machine,
    ]
    let into = this.into.get(to.site)
    if (across && !into) this.into.set(to.site, (into = { bytes: 0 }))
    return new Flow(this, from, to, delay, bias ? (2 * delay + bias.queueMs) ** -bias.alpha : 1, links, across ? into! : null)
  }

  activate(flow: Flow): void {
    this.active.add(flow)
    if (this.ticking) return
    this.ticking = true
    this.clock.after(this.tickMs, () => this.tick())
  }

  private tick(): void {
    const flows = this.sending
    flows.length = 0
    for (const f of this.active) if (!f.closed && f.backlog > 0) flows.push(f)
    const dt = this.tickMs / 1000
    for (const f of flows) {
      f.alloc = f.backlog
      f.cutAt = -1
    }
    this.allocate(flows, dt, false)
    // Second round: the first link's capacity left over by flows cut later goes to its other flows.
    this.allocate(flows, dt, true)
    for (const f of flows) {
      if (f.alloc <= 0) continue
      const sent = f.transmit(Math.floor(f.alloc))
      f.links[0]!.bytes += sent
      f.links[3]!.bytes += sent
      if (f.into) f.into.bytes += sent
    }
    for (const f of this.active) if (f.closed || f.idle) this.active.delete(f)
    if (this.active.size > 0) this.clock.after(this.tickMs, () => this.tick())
    else this.ticking = false
  }

  /**
   * Water-fills each stage's links in turn, each flow's demand being what the previous stages left it. In the
   * second round, the first stage (uplinks) shares again: a flow cut by a later link keeps what it got, and
   * the other flows of its uplink share the rest; the later links then cut again where needed.
   */
  private allocate(flows: readonly Flow[], dt: number, second: boolean): void {
    for (let stage = 0; stage < this.stages; stage++) {
      const mark = this.marks++
      const touched = this.touched
      touched.length = 0
      for (const f of flows) {
        const link = f.links[stage]
        if (!link) continue
        if (link.mark !== mark) {
          link.mark = mark
          link.group.length = 0
          touched.push(link)
        }
        link.group.push(f)
      }
      const reopen = second && stage === 0
      for (const link of touched) {
        let cap = link.rate * dt
        let open = link.group
        if (reopen) {
          open = this.open
          open.length = 0
          for (const f of link.group) {
            if (f.cutAt > 0) cap -= f.alloc
            else {
              f.alloc = f.backlog
              open.push(f)
            }
          }
        }
        waterFill(open, Math.max(0, cap), stage)
      }
    }
  }
}

function linkOf(links: Map<NetHost, Link>, host: NetHost, rate: number): Link {
  let link = links.get(host)
  if (!link) links.set(host, (link = new Link(rate)))
  return link
}

/** Shares `cap` among the flows in proportion to their weights, a flow that needs less leaving the rest. */
function waterFill(group: Flow[], cap: number, stage: number): void {
  // A link with room for every demand cuts none (most downlinks and WANs, most ticks): no sort.
  let demand = 0
  for (const f of group) demand += f.alloc
  if (demand <= cap) return
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
