import pino from 'pino'
import { Bitfield } from '../../src/bitfield.js'
import type { PieceStore } from '../../src/storage/pieceStore.js'
import { DEFAULT_SWARM_SETTINGS } from '../../src/cli/session.js'
import { TokenBucket } from '../../src/swarm/rateLimiter.js'
import { Swarm, type SwarmOptions } from '../../src/swarm/swarm.js'
import type { WireDialer, WireLink } from '../../src/swarm/peerWire.js'
import type { Layout } from '../../src/torrent/layout.js'
import { encodeTorrent, parseTorrent, SHA1_LENGTH, type Metainfo } from '../../src/torrent/metainfo.js'
import { Network, type NetHost, type NetSite } from './network.js'
import { SimClock } from './simClock.js'
import { SimStore } from './simStore.js'
import { simLink, SimWire } from './simWire.js'

export const SIM_PORT = 6881

/** A host of the simulated fleet: its links, what takes its incoming connections, and how many it holds (handshaken). */
export interface SimHost extends NetHost {
  readonly ip: string
  readonly peerId: Uint8Array
  /** Set for hosts that run the engine. */
  swarm: Swarm | null
  accept: (link: WireLink) => void
  open: number
  maxOpen: number
  doneAt: number | null
}

export interface HostSpec {
  name: string
  site: string
  ip: string
  up: number
  down: number
}

export interface FleetOptions {
  sites: readonly NetSite[]
  tickMs: number
  lanDelayMs: number
  size: number
  pieceLength: number
  /** Peer ids and the engines' random choices; seeded, a run replays exactly. */
  random: () => number
  /** All hosts on one machine of this many cores, a byte moved costing this much CPU (see Network). */
  cpu?: { cores: number; secondsPerByte: number }
  /** Shares by round trip, as TCP's (see Network). */
  rttBias?: { queueMs: number; alpha: number }
}

/** A torrent of one file of `size` bytes; its piece hashes are never checked. */
function simTorrent(size: number, pieceLength: number): Metainfo {
  const pieceCount = Math.ceil(size / pieceLength)
  return parseTorrent(encodeTorrent({
    name: 'sim', pieceLength, pieceHashes: new Uint8Array(pieceCount * SHA1_LENGTH), files: [{ path: ['sim'], length: size }], singleFile: true,
  }, ['http://tracker.sim/announce']))
}

/**
 * Hosts on one simulated network and clock: engines (murder's Swarm with a SimStore) or scripted ends for
 * tests. Dialing follows TCP's handshake: the listener takes a connection one delay after the dial, the
 * dialer has it after two.
 */
export class SimFleet {
  readonly clock = new SimClock()
  readonly net: Network
  readonly meta: Metainfo
  readonly layout: Layout
  private readonly hosts = new Map<string, SimHost>()
  private readonly logger = pino({ level: 'silent' })
  readonly random: () => number

  constructor(opts: FleetOptions) {
    this.random = opts.random
    this.net = new Network(this.clock, opts.sites, opts.tickMs, opts.lanDelayMs, opts.cpu, opts.rttBias)
    this.meta = simTorrent(opts.size, opts.pieceLength)
    this.layout = { pieceLength: this.meta.pieceLength, length: opts.size, pieceCount: this.meta.pieceCount, files: [{ length: opts.size, offset: 0 }] }
  }

  get all(): IterableIterator<SimHost> {
    return this.hosts.values()
  }

  /** A host whose incoming connections go to `accept` (a scripted peer). */
  addRaw(spec: HostSpec, accept: (link: WireLink) => void): SimHost {
    const host: SimHost = { ...spec, peerId: Uint8Array.from({ length: 20 }, () => Math.floor(this.random() * 256)), swarm: null, accept, open: 0, maxOpen: 0, doneAt: null }
    this.hosts.set(spec.ip, host)
    return host
  }

  /** A host running the engine, complete (a source) or empty; `options` and `store` override the defaults. */
  addEngine(spec: HostSpec, complete: boolean, options: Partial<SwarmOptions> = {}, store: PieceStore = new SimStore(this.layout)): SimHost {
    const host = this.addRaw(spec, (link) => host.swarm?.accept(link))
    const have = new Bitfield(this.meta.pieceCount)
    if (complete) for (let i = 0; i < this.meta.pieceCount; i++) have.set(i)
    if (complete) host.doneAt = 0
    const d = DEFAULT_SWARM_SETTINGS
    host.swarm = new Swarm({
      meta: this.meta, store, have, logger: this.logger, peerId: host.peerId,
      maxPeers: d.maxPeers, maxUploads: d.maxUploads, memoryBudget: d.memoryBudget, superSeed: false, spreadFirst: complete,
      uploadLimit: new TokenBucket(Infinity), downloadLimit: new TokenBucket(Infinity),
      dialer: this.dialerOf(host), clock: this.clock, random: this.random,
      ...options,
    })
    return host
  }

  /** A connection between two hosts: both ends, counted in each host's open connections once handshaken. */
  connect(a: SimHost, b: SimHost): { la: WireLink; lb: WireLink; delay: number } {
    const wa = new SimWire(this.net.flow(a, b))
    const wb = new SimWire(this.net.flow(b, a))
    SimWire.pair(wa, wb)
    const delay = this.net.delay(a, b)
    const after = (ms: number, fn: () => void) => void this.clock.after(ms, fn)
    // Held from the peer's handshake on: a connection refused at once (a full peer) was never held.
    for (const [h, w] of [[a, wa], [b, wb]] as const) {
      w.once('handshake', () => {
        h.open++
        h.maxOpen = Math.max(h.maxOpen, h.open)
        w.once('close', () => h.open--)
      })
    }
    return { la: simLink(wa, `${b.ip}:${SIM_PORT}`, delay, after), lb: simLink(wb, `${a.ip}:${SIM_PORT}`, delay, after), delay }
  }

  dialerOf(from: SimHost): WireDialer {
    return {
      dial: (ip, _port, opened, ended) => {
        const to = this.hosts.get(ip)
        if (!to) return void this.clock.after(1000, ended)
        const { la, lb, delay } = this.connect(from, to)
        this.clock.after(delay, () => to.accept(lb))
        this.clock.after(2 * delay, () => {
          ended()
          opened(la)
        })
      },
    }
  }
}
