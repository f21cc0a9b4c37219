// Whole swarms in the simulator (bench/sim): murder's engine and the tracker's policy on a modelled network.
// Properties every run must have, over several seeds; the figures themselves are the bench's (npm run bench -- sim).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { DEFAULT_SIM, simulate, type SimConfig } from '../bench/sim/simulation.js'
import { mbit } from '../bench/units.js'

const MiB = 1024 * 1024

test('two sites: every run completes near the bound, and the remote site pulls about one copy across', async () => {
  const config: SimConfig = {
    ...DEFAULT_SIM,
    sites: [{ name: 'a', targets: 3, wanRate: mbit(16), wanDelayMs: 20 }, { name: 'b', targets: 3, wanRate: mbit(16), wanDelayMs: 20 }],
    hostRate: mbit(40),
    sourceRate: mbit(40),
    size: 16 * MiB,
    pieceLength: 256 * 1024,
    limitS: 120,
  }
  // Seeds 4 and 7 left site a's three targets waiting for ever on a piece the source had refused while the
  // retry timer of an earlier refusal ran.
  for (let seed = 1; seed <= 8; seed++) {
    const r = await simulate({ ...config, seed })
    assert.deepEqual(r.notDone, [], `seed ${seed}: every target completes`)
    assert.ok(r.allDoneS! <= 1.2 * r.lowerBoundS, `seed ${seed}: all done ${r.allDoneS} s for a bound of ${r.lowerBoundS} s`)
    assert.ok(r.wanCopies['b']! <= 1.1, `seed ${seed}: ${r.wanCopies['b']} copies crossed to site b`)
  }
})

test('the timeline adds up to the report: what it shows leaving the source and crossing into a site, sample by sample', async () => {
  const periodS = 0.25
  const config: SimConfig = {
    ...DEFAULT_SIM,
    sites: [{ name: 'a', targets: 3, wanRate: mbit(16), wanDelayMs: 20 }, { name: 'b', targets: 3, wanRate: mbit(16), wanDelayMs: 20 }],
    hostRate: mbit(40), sourceRate: mbit(40), size: 16 * MiB, pieceLength: 256 * 1024, limitS: 120, timelineMs: periodS * 1000,
  }
  const r = await simulate(config)
  const rows = r.timeline!
  assert.equal(rows.length, Math.floor(r.allDoneS! / periodS), 'a sample every period until the last target is done')
  // The time after the last sample is in the totals only: at most a period of the link's rate.
  const sent = rows.reduce((sum, row) => sum + row.sourceUp * config.sourceRate * periodS, 0)
  const total = r.sourceCopies * config.size
  assert.ok(sent <= total + 1 && total - sent <= config.sourceRate * periodS, `the source sent ${sent} bytes in the samples, ${total} in all`)
  const into = rows.reduce((sum, row) => sum + row.sites[1]!.intake * config.hostRate * periodS, 0)
  const crossed = r.wanCopies['b']! * config.size
  assert.ok(into > 0 && into <= crossed + 1 && crossed - into <= config.sites[1]!.wanRate * periodS, `${into} bytes into site b in the samples, ${crossed} in all`)
  // Site b's three targets each receive the whole tree (and some requests and haves), and no link carries more than its rate.
  const received = rows.reduce((sum, row) => sum + row.sites[1]!.down * config.hostRate * periodS * 3, 0)
  assert.ok(received >= 3 * (config.size - config.hostRate * periodS) && received <= 1.1 * 3 * config.size, `site b's targets received ${received} bytes in the samples`)
  assert.ok(rows.every((row) => row.sites.every((s) => s.up >= 0 && s.up <= 1.01 && s.down >= 0 && s.down <= 1.01)), 'shares of a link')
  for (const site of [0, 1]) {
    const medians = rows.map((row) => row.sites[site]!.median)
    assert.ok(medians.every((m, i) => m <= 1 && m >= rows[i]!.sites[site]!.least && (i === 0 || m >= medians[i - 1]!)), `site ${site}: medians ${medians.join(' ')}`)
  }
})

test('one site of eight targets: done within 1.3 x the bound, the source sending at most 1.2 copies', async () => {
  const config: SimConfig = { ...DEFAULT_SIM, sites: [{ name: 'a', targets: 8, wanRate: 0, wanDelayMs: 0 }], hostRate: mbit(40), sourceRate: mbit(40), size: 32 * MiB, pieceLength: 256 * 1024, limitS: 120 }
  for (let seed = 1; seed <= 2; seed++) {
    const r = await simulate({ ...config, seed })
    assert.deepEqual(r.notDone, [])
    assert.ok(r.allDoneS! >= r.lowerBoundS, 'nothing beats the bound')
    assert.ok(r.allDoneS! <= 1.3 * r.lowerBoundS, `seed ${seed}: all done ${r.allDoneS} s for a bound of ${r.lowerBoundS} s`)
    assert.ok(r.sourceCopies <= 1.2, `seed ${seed}: the source sent ${r.sourceCopies} copies`)
    assert.ok(r.maxConnections <= 8, `seed ${seed}: a peer held ${r.maxConnections} connections among 9 hosts`)
  }
})

test('no peer holds more connections than --max-peers, dialed and accepted together', async () => {
  const config: SimConfig = {
    ...DEFAULT_SIM,
    sites: [{ name: 'a', targets: 15, wanRate: mbit(40), wanDelayMs: 20 }, { name: 'b', targets: 15, wanRate: mbit(40), wanDelayMs: 20 }],
    hostRate: mbit(40), sourceRate: mbit(40), size: 8 * MiB, pieceLength: 256 * 1024, maxPeers: 8, limitS: 120,
  }
  const r = await simulate(config)
  assert.deepEqual(r.notDone, [])
  assert.ok(r.maxConnections <= 8, `a peer held ${r.maxConnections} connections`)
})

test('a remote site whose first arrival announces and never serves waits about one announce interval, not for ever', async () => {
  const config: SimConfig = {
    ...DEFAULT_SIM,
    sites: ['a', 'b', 'c'].map((name) => ({ name, targets: 3, wanRate: mbit(16), wanDelayMs: 20 })),
    hostRate: mbit(40), sourceRate: mbit(40), size: 16 * MiB, pieceLength: 256 * 1024, limitS: 300,
  }
  const healthy = await simulate(config)
  const dead = await simulate({ ...config, deadBridges: true })
  assert.deepEqual(dead.notDone, [], 'every target completes')
  const waited = dead.allDoneS! - healthy.allDoneS!
  assert.ok(waited <= 1.2 * config.interval, `the remote sites were done ${waited.toFixed(1)} s later than without a dead bridge (interval ${config.interval} s)`)
})

test('two sites with TCP-like sharing, as in the lab: all done within 1.25 x the bound, site a within 1.2 x its own, about one copy across', async () => {
  // The two-site lab: local flows (0.1 ms round trip) take a host's uplink from one 80 ms across. Issue 20's
  // targets; without WAN first the model meets them too now that a remote bridge reaches all of site a (1.10 x
  // against 1.08 x), so this checks the targets, not the policy (test/wanFirst.test.ts and uploads.test.ts do).
  const config: SimConfig = {
    ...DEFAULT_SIM,
    sites: [{ name: 'a', targets: 4, wanRate: mbit(50), wanDelayMs: 40 }, { name: 'b', targets: 4, wanRate: mbit(50), wanDelayMs: 40 }],
    size: 128 * MiB, pieceLength: 256 * 1024, rttBias: { queueMs: 4, alpha: 1 }, limitS: 120,
  }
  const siteABound = config.size / config.sourceRate
  for (let seed = 1; seed <= 2; seed++) {
    const r = await simulate({ ...config, seed })
    assert.deepEqual(r.notDone, [])
    assert.ok(r.allDoneS! <= 1.25 * r.lowerBoundS, `seed ${seed}: all done ${r.allDoneS} s for a bound of ${r.lowerBoundS} s`)
    const siteA = Math.max(...(r.finishS.slice(0, 4) as number[]))
    assert.ok(siteA <= 1.2 * siteABound, `seed ${seed}: site a done at ${siteA} s for its own bound of ${siteABound} s`)
    assert.ok(r.wanCopies['b']! <= 1.1, `seed ${seed}: ${r.wanCopies['b']} copies crossed`)
  }
})
