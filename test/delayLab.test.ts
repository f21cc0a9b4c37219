// The lab's delay (bench/delayRelay.c between tap pairs, as `npm run bench -- lab --delay` builds it): a round
// trip between two hosts takes twice the one-way delay, and a bulk transfer through the relay still gets
// about the shaped rate. The relay must be gone with the namespaces. Needs root, iproute2, gcc and python3 (as CI has).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createLab, listNamespaces } from '../bench/netns.js'
import { cpuSecondsOf, start } from '../bench/proc.js'
import { netnsScope } from './helpers/netnsScope.js'

const { prefix: PREFIX, teardown } = netnsScope('mdtest')

const DELAY_MS = 50
const RATE_BPS = 20e6
const BULK_BYTES = 8 * 1024 * 1024

// On the target: echoes what port 7001 receives; counts what port 7002 receives and answers the count at its end.
const SERVER = `
const net = require('node:net')
net.createServer((s) => s.pipe(s)).listen(7001, () =>
  net.createServer((s) => { let n = 0; s.on('data', (d) => { n += d.length }); s.on('end', () => s.end(String(n))) })
    .listen(7002, () => console.log('listening')))`

// On the source: five one-byte echoes timed (the connection and ARP are done first), then the bulk transfer.
const CLIENT = `
const net = require('node:net')
const { once } = require('node:events')
const host = process.argv[1], bytes = Number(process.argv[2])
;(async () => {
  const e = net.connect(7001, host).setNoDelay(true)
  await once(e, 'connect')
  const rtts = []
  for (let i = 0; i < 5; i++) {
    const t = performance.now()
    e.write('x')
    await once(e, 'data')
    rtts.push(performance.now() - t)
  }
  e.end()
  const b = net.connect(7002, host)
  await once(b, 'connect')
  const t0 = performance.now()
  const chunk = Buffer.alloc(64 * 1024)
  for (let sent = 0; sent < bytes; sent += chunk.length) if (!b.write(chunk)) await once(b, 'drain')
  b.end()
  const [count] = await once(b, 'data')
  console.log(JSON.stringify({ rtts, received: Number(String(count)), seconds: (performance.now() - t0) / 1000 }))
})()`

test(`a lab with --delay ${DELAY_MS}: round trip 2×${DELAY_MS} ms between two hosts, transfers at about the shaped rate, relay gone afterwards`, { timeout: 60_000 }, async (t) => {
  let relayPid: number | undefined
  try {
    const lab = createLab({ prefix: PREFIX, n: 1, rateBps: RATE_BPS, sourceRateBps: RATE_BPS, shaper: 'tbf', delayMs: DELAY_MS })
    relayPid = lab.relayPid
    assert.ok(relayPid !== undefined && cpuSecondsOf(relayPid) !== null, 'no delay relay running')
    const [source, target] = [lab.source, lab.targets[0]!]
    const server = start('server', process.execPath, ['-e', SERVER], { ns: target.ns })
    await server.waitLine((l) => l.text === 'listening', 15_000)
    const client = start('client', process.execPath, ['-e', CLIENT, target.ip, String(BULK_BYTES)], { ns: source.ns })
    const line = await client.waitLine((l) => l.text.startsWith('{'), 45_000)
    const r = JSON.parse(line.text) as { rtts: number[]; received: number; seconds: number }
    const rtts = [...r.rtts].sort((a, b) => a - b)
    const mbit = (r.received * 8) / r.seconds / 1e6
    t.diagnostic(`RTT ${rtts.map((x) => x.toFixed(1)).join(', ')} ms; ${(r.received / 2 ** 20).toFixed(0)} MiB in ${r.seconds.toFixed(2)} s = ${mbit.toFixed(1)} Mbit/s (shaped to ${RATE_BPS / 1e6})`)
    assert.equal(r.received, BULK_BYTES)
    // The relay never lets a frame through early; a busy 2-core machine may add some tens of ms.
    assert.ok(rtts[0]! >= 2 * DELAY_MS - 1, `a round trip faster than the delay: ${rtts[0]} ms`)
    assert.ok(rtts[2]! <= 2 * DELAY_MS + 60, `median round trip ${rtts[2]} ms, expected about ${2 * DELAY_MS}`)
    // TCP's slow start over a 100 ms round trip costs part of the transfer; the shaper caps it.
    assert.ok(mbit >= 0.5 * (RATE_BPS / 1e6) && mbit <= 1.05 * (RATE_BPS / 1e6), `${mbit.toFixed(1)} Mbit/s through a link shaped to ${RATE_BPS / 1e6}`)
  } finally {
    await teardown()
  }
  assert.deepEqual(listNamespaces(`${PREFIX}-`), [])
  assert.ok(exitsWithin(relayPid!, 10), `the delay relay ${relayPid} still runs after its namespaces were deleted`)
})

/** Whether `pid` (not our child) exits within `seconds`: a pidfd becomes readable when it does (Node has no pidfd). */
function exitsWithin(pid: number, seconds: number): boolean {
  const wait = 'import os, select, sys\ntry: fd = os.pidfd_open(int(sys.argv[1]))\nexcept ProcessLookupError: sys.exit(0)\nsys.exit(0 if select.select([fd], [], [], float(sys.argv[2]))[0] else 1)'
  return spawnSync('python3', ['-c', wait, String(pid), String(seconds)]).status === 0
}
