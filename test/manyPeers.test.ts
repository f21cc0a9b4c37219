import { test } from 'node:test'
import assert from 'node:assert/strict'
import { MANY_PEERS_DEFAULTS, manyPeers } from '../bench/manyPeers.js'

// 100 real `murder peer` processes, each on its own loopback address and limited to 256 KB/s up and down like
// the seed (the limits stand in for the links), a 4 MiB tree, --max-peers 20 everywhere. They start a few at a
// time (node's start-up on 2 cores would otherwise starve the tracker), as a deploy's --parallel starts them.
test('100 peers on 127.0.0.2-101: every copy exact, the source uploads at most 2.5 copies, no process holds more than --max-peers connections', { timeout: 600_000 }, async (t) => {
  const o = { ...MANY_PEERS_DEFAULTS, timeoutMs: 540_000 }
  const r = await manyPeers(o)
  const peaks = r.peers.map((p) => p.peakPeers)
  t.diagnostic(`source uploaded ${r.copies.toFixed(2)} copies (${r.refused} requests refused, ${r.seedPeakPeers} connections at most); ` +
    `last peer started ${r.lastChecked.toFixed(1)} s, last done ${r.lastDone.toFixed(1)} s, last exit ${r.lastExit.toFixed(1)} s after the first spawn; ` +
    `connections per peer at most ${Math.min(...peaks)}-${Math.max(...peaks)}`)
  for (const p of r.peers) {
    assert.equal(p.code, 0, `${p.address} exited ${p.code}:\n${p.stderrTail}`)
    assert.ok(p.doneAndDone, `${p.address} did not print just "Done and done"`)
    assert.ok(p.exact, `${p.address}: the copy differs from the source`)
    assert.ok(p.peakPeers <= o.maxPeers, `${p.address} held ${p.peakPeers} connections at once, --max-peers ${o.maxPeers}`)
  }
  assert.ok(r.seedPeakPeers <= o.maxPeers, `the seed held ${r.seedPeakPeers} connections at once`)
  // Issue 17's target is 1.5 copies: 1.36-2.14 in five runs here (5.07-5.28 before spread first counted the
  // swarm's holders); the bound is set where a run of this policy stays, well below a regression.
  assert.ok(r.copies <= 2.5, `the source uploaded ${r.copies.toFixed(2)} copies`)
})
