// Two sites in network namespaces (bench/netns.ts's two-site lab): the source and one target in site A, three
// targets in site B, the two bridges joined by a WAN veth shaped to 40 Mbit/s each way. murder's tracker knows
// the sites from a --sites map. Every copy must be exact, and what crosses the WAN toward site B (the tx
// counter of site A's WAN end) must stay about one copy of the payload. Needs root and iproute2 (as CI has).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { counters, createSitesLab, type HostSpec } from '../bench/netns.js'
import { murder, type Proc } from '../bench/proc.js'
import { runMurder } from './helpers/proc.js'
import { netnsScope } from './helpers/netnsScope.js'
import { snapshot, tempDir, writeTree } from './helpers/tree.js'

const { prefix: PREFIX, dirs, teardown } = netnsScope('mstest')

const PAYLOAD = 12 * 1024 * 1024
const WAN_BPS = 40e6
const TRACKER_PORT = 8998
/**
 * The WAN counters count frames, not payload: Ethernet + IPv4 + TCP (with timestamps) headers are 66 B per
 * 1448 B segment (4.6%; fewer with GSO, whose super-packets are counted once), BitTorrent adds 13 B per
 * 16 KiB block. Plus a fixed 1 MiB for handshakes, bitfields, haves, the B peers' announces and ARP.
 */
const FRAMING = 1.05
const FIXED_OVERHEAD = 1024 * 1024

test('two sites in namespaces: exact copies, and about one copy of the payload crosses the WAN toward the remote site', { timeout: 120_000 }, async (t) => {
  try {
    const work = await tempDir('sitesLab')
    dirs.push(work)
    const src = join(work, 'src')
    await writeTree(src, { 'big/a.bin': 6 * 1024 * 1024, 'big/b.bin': 4 * 1024 * 1024, 'c.bin': 2 * 1024 * 1024 - 4096, 'small/x.txt': 4096 })
    const expected = await snapshot(src)

    const lab = createSitesLab({ prefix: PREFIX, nA: 1, nB: 3, rateBps: 0, sourceRateBps: 0, wanRateBps: WAN_BPS, shaper: 'tbf' })
    const source = lab.source
    const sitesFile = join(work, 'sites')
    await writeFile(sitesFile, lab.sites!.map((s) => `${s.cidr} ${s.name}`).join('\n') + '\n')

    const torrent = join(work, 't.torrent')
    const made = await runMurder(['make-torrent', src, `${source.ip}:${TRACKER_PORT}`, torrent, '--piece-length', '65536', '--json'])
    assert.equal(made.code, 0, made.stderr)

    const tracker = murder('tracker', ['tracker', '--port', String(TRACKER_PORT), '--host', source.ip, '--interval', '2', '--sites', sitesFile], { ns: source.ns })
    await tracker.waitLine((l) => l.json?.['msg'] === 'tracker listening', 15_000)
    const seed = murder('seed', ['seed', torrent, src, source.ip], { ns: source.ns })
    await seed.waitLine((l) => l.json?.['msg'] === 'seeding', 15_000)

    const w = lab.wan!
    const before = { aToB: counters(w.aNs, w.aDev).txBytes, bToA: counters(w.bNs, w.bDev).txBytes }
    const t0 = performance.now()
    const peers: { h: HostSpec; p: Proc; dest: string }[] = lab.targets.map((h) => {
      const dest = join(work, h.name)
      return { h, dest, p: murder(h.name, ['peer', torrent, dest, h.ip, '--linger', '20'], { ns: h.ns }) }
    })
    const exits = await Promise.all(peers.map(({ p }) => p.waitExit(90_000)))
    const seconds = (performance.now() - t0) / 1000
    const aToB = counters(w.aNs, w.aDev).txBytes - before.aToB
    const bToA = counters(w.bNs, w.bDev).txBytes - before.bToA

    for (const [i, { h, p, dest }] of peers.entries()) {
      assert.equal(exits[i]!.code, 0, `${h.name} exit ${exits[i]!.code} (signal ${exits[i]!.signal}):\n${p.tail(20)}`)
      assert.ok(p.lines.some((l) => l.stream === 'stdout' && l.text === 'Done and done'), `${h.name} never printed Done and done`)
      assert.deepEqual(await snapshot(dest), expected, `${h.name}'s copy differs from the source`)
    }
    const limit = 1.1 * PAYLOAD * FRAMING + FIXED_OVERHEAD
    const line = `A→B ${(aToB / PAYLOAD).toFixed(3)}×F (${aToB} B, limit ${Math.round(limit)} B), B→A ${(bToA / PAYLOAD).toFixed(3)}×F, ${seconds.toFixed(1)} s (WAN alone: ${((PAYLOAD * 8) / WAN_BPS).toFixed(1)} s)`
    t.diagnostic(line)
    assert.ok(aToB <= limit, `site B pulled more than one copy across the WAN: ${line}`)
    // And at least one copy did cross: the counters are the right ones.
    assert.ok(aToB >= PAYLOAD, `fewer bytes than the payload crossed toward B: ${line}`)
  } finally {
    await teardown()
  }
})
