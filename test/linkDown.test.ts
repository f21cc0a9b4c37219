// Fault case 6 in network namespaces (bench/netns.ts's lab): a target's link goes down for 10 s in the
// middle of the transfer; when it comes back, the target completes with an exact copy. Needs root and
// iproute2 (as CI has).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { createLab } from '../bench/netns.js'
import { murder } from '../bench/proc.js'
import { runMurder } from './helpers/proc.js'
import { netnsScope } from './helpers/netnsScope.js'
import { snapshot, tempDir, writeTree } from './helpers/tree.js'

const { prefix: PREFIX, dirs, teardown } = netnsScope('mltest')

const OUTAGE_MS = 10_000
const TRACKER_PORT = 8998

test('a target cut off for 10 s mid-transfer (its link down) completes after', { timeout: 120_000 }, async (t) => {
  try {
    const work = await tempDir('linkDown')
    dirs.push(work)
    const src = join(work, 'src')
    await writeTree(src, { 'a.bin': 10 * 1024 * 1024, 'b/c.bin': 6 * 1024 * 1024 })
    const expected = await snapshot(src)
    // 16 Mbit/s everywhere: 16 MiB take about 8 s, so the outage lands inside the transfer.
    const lab = createLab({ prefix: PREFIX, n: 2, rateBps: 16e6, sourceRateBps: 16e6, shaper: 'tbf' })
    const { source } = lab
    const torrent = join(work, 't.torrent')
    const made = await runMurder(['make-torrent', src, `${source.ip}:${TRACKER_PORT}`, torrent, '--piece-length', '65536'])
    assert.equal(made.code, 0, made.stderr)
    const tracker = murder('tracker', ['tracker', '--port', String(TRACKER_PORT), '--host', source.ip, '--interval', '2'], { ns: source.ns })
    await tracker.waitLine((l) => l.json?.['msg'] === 'tracker listening', 15_000)
    const seed = murder('seed', ['seed', torrent, src, source.ip], { ns: source.ns })
    await seed.waitLine((l) => l.json?.['msg'] === 'seeding', 15_000)

    const [cut, other] = lab.targets as [typeof lab.targets[0], typeof lab.targets[0]]
    const peers = [cut, other].map((h) => ({ h, dest: join(work, h.name), p: murder(h.name, ['peer', torrent, join(work, h.name), h.ip, '--linger', '30', '--log-level', 'debug'], { ns: h.ns }) }))
    // Cut the link once the target has verified its first pieces: it is mid-transfer, connections open.
    await peers[0]!.p.waitLine((l) => l.json?.['msg'] === 'piece verified', 30_000)
    execFileSync('ip', ['-n', cut.ns, 'link', 'set', cut.dev, 'down'])
    const cutAt = performance.now()
    await new Promise((r) => setTimeout(r, OUTAGE_MS)) // the outage itself, not a synchronisation
    execFileSync('ip', ['-n', cut.ns, 'link', 'set', cut.dev, 'up'])
    const upAt = Date.now()
    const exits = await Promise.all(peers.map(({ p }) => p.waitExit(90_000)))
    t.diagnostic(`link down for ${OUTAGE_MS / 1000} s; all done ${((performance.now() - cutAt) / 1000).toFixed(1)} s after the cut`)
    for (const [i, { h, p, dest }] of peers.entries()) {
      assert.equal(exits[i]!.code, 0, `${h.name} exit ${exits[i]!.code}:\n${p.tail(20)}`)
      assert.ok(p.lines.some((l) => l.stream === 'stdout' && l.text === 'Done and done'), `${h.name} never printed Done and done`)
      assert.deepEqual(await snapshot(dest), expected, `${h.name}'s copy differs from the source`)
    }
    // The cut target really was mid-transfer: it completed only after its link came back.
    const completed = peers[0]!.p.lines.find((l) => l.json?.['msg'] === 'complete')?.json?.['time'] as number
    assert.ok(completed >= upAt, `${cut.name} completed before its link came back`)
  } finally {
    await teardown()
  }
})
