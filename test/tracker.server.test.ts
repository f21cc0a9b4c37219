import assert from 'node:assert/strict'
import http from 'node:http'
import net from 'node:net'
import { once } from 'node:events'
import { describe, it } from 'node:test'
import bencode from 'bencode'
import { ExitCode, UserError } from '../src/errors.js'
import { createLogger } from '../src/log.js'
import { TrackerFailure } from '../src/tracker/announceResponse.js'
import { percentEncode } from '../src/tracker/announceUrl.js'
import { announce, announceWithRetry, type AnnounceParams } from '../src/tracker/client.js'
import { startTracker, type RunningTracker } from '../src/tracker/server.js'

const logger = createLogger('silent', 'tracker-test')
const TEST_TIMEOUT = { timeout: 15_000 }
/** Contains NUL, '%', '&', '+', high bytes: anything mishandled as text breaks. */
const HASH = Uint8Array.from([0x00, 0x25, 0x26, 0x2b, 0xff, 0x80, ...Array(14).fill(0xee)])
const OTHER_HASH = new Uint8Array(20).fill(0x11)
const peerId = (n: number): Uint8Array => new Uint8Array(20).fill(n)

async function withTracker(fn: (tracker: RunningTracker, base: string) => Promise<void>): Promise<void> {
  const tracker = await startTracker({ port: 0, host: '127.0.0.1', interval: 10, logger })
  try {
    await fn(tracker, `http://127.0.0.1:${tracker.port}`)
  } finally {
    await tracker.close()
  }
}

function params(n: number, overrides: Partial<AnnounceParams> = {}): AnnounceParams {
  return { infoHash: HASH, peerId: peerId(n), port: 7000 + n, uploaded: 0, downloaded: 0, left: 1000, ...overrides }
}

/** A raw GET, so tests control the exact bytes of the request target. */
async function get(base: string, path: string): Promise<{ status: number; type: string | undefined; body: Buffer }> {
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    http.get(`${base}${path}`, { agent: false }, resolve).on('error', reject)
  })
  const chunks: Buffer[] = []
  for await (const chunk of res) chunks.push(chunk as Buffer)
  return { status: res.statusCode ?? 0, type: res.headers['content-type'], body: Buffer.concat(chunks) }
}

function failureReason(body: Buffer): string {
  const decoded = bencode.decode(body) as Record<string, unknown>
  assert.ok(decoded['failure reason'] instanceof Uint8Array, `expected a failure reason in ${body.toString()}`)
  return Buffer.from(decoded['failure reason']).toString()
}

/** A port nothing listens on: bind an ephemeral one, then release it. */
async function deadPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  server.close()
  await once(server, 'close')
  return port
}

const sortPorts = (peers: { port: number }[]): number[] => peers.map((p) => p.port).sort((a, b) => a - b)
const opts = { timeoutMs: 5_000 }

describe('tracker server', () => {
  it('introduces announcing peers to each other', TEST_TIMEOUT, async () => {
    await withTracker(async (_, base) => {
      const url = `${base}/announce`
      const first = await announce(url, params(1, { event: 'started' }), opts)
      assert.equal(first.interval, 10)
      assert.deepEqual(first.peers, [])
      const second = await announce(url, params(2, { event: 'started' }), opts)
      assert.deepEqual(second.peers, [{ ip: '127.0.0.1', port: 7001 }])
      const third = await announce(url, params(3, { event: 'started', left: 0 }), opts)
      assert.deepEqual(sortPorts(third.peers), [7001, 7002])
      assert.deepEqual([third.complete, third.incomplete], [1, 2])
      const again = await announce(url, params(1), opts)
      assert.deepEqual(sortPorts(again.peers), [7002, 7003])
      assert.ok(again.peers.every((p) => p.ip === '127.0.0.1'))

      await announce(url, params(2, { event: 'stopped' }), opts)
      assert.deepEqual(sortPorts((await announce(url, params(1), opts)).peers), [7003])
    })
  })

  it('honours the ip parameter and returns IPv6 peers in peers6', TEST_TIMEOUT, async () => {
    await withTracker(async (_, base) => {
      const url = `${base}/announce`
      await announce(url, params(1, { ip: '2001:db8::7' }), opts)
      await announce(url, params(2, { ip: '10.9.8.7' }), opts)
      const res = await announce(url, params(3), opts)
      assert.deepEqual(
        res.peers.sort((a, b) => a.port - b.port),
        [
          { ip: '2001:db8::7', port: 7001 },
          { ip: '10.9.8.7', port: 7002 },
        ],
      )
    })
  })

  it('answers compact=0 with dictionary peers', TEST_TIMEOUT, async () => {
    await withTracker(async (_, base) => {
      await announce(`${base}/announce`, params(1), opts)
      const query = `info_hash=${percentEncode(HASH)}&peer_id=${percentEncode(peerId(2))}&port=7002&uploaded=0&downloaded=0&left=5&compact=0`
      const res = await get(base, `/announce?${query}`)
      assert.equal(res.status, 200)
      const decoded = bencode.decode(res.body) as { peers: { 'peer id': Uint8Array; ip: Uint8Array; port: number }[] }
      assert.equal(decoded.peers.length, 1)
      const [peer] = decoded.peers
      assert.deepEqual([...(peer?.['peer id'] ?? [])], [...peerId(1)])
      assert.equal(Buffer.from(peer?.ip ?? []).toString(), '127.0.0.1')
      assert.equal(peer?.port, 7001)
    })
  })

  it('scrapes with raw binary info hashes as keys', TEST_TIMEOUT, async () => {
    await withTracker(async (_, base) => {
      const url = `${base}/announce`
      await announce(url, params(1, { left: 0 }), opts)
      await announce(url, params(2), opts)
      await announce(url, params(2, { event: 'completed', left: 0 }), opts)
      await announce(url, params(3), opts)
      await announce(url, params(4, { infoHash: OTHER_HASH }), opts)

      const entry = (hash: Uint8Array, complete: number, downloaded: number, incomplete: number): Buffer =>
        Buffer.concat([
          Buffer.from('20:'),
          hash,
          Buffer.from(`d8:completei${complete}e10:downloadedi${downloaded}e10:incompletei${incomplete}ee`),
        ])
      const one = await get(base, `/scrape?info_hash=${percentEncode(HASH)}`)
      assert.equal(one.status, 200)
      assert.deepEqual(one.body, Buffer.concat([Buffer.from('d5:filesd'), entry(HASH, 2, 1, 1), Buffer.from('ee')]))

      // No info_hash: every torrent, keys in bytewise order (HASH starts with 0x00).
      const all = await get(base, '/scrape')
      assert.deepEqual(
        all.body,
        Buffer.concat([Buffer.from('d5:filesd'), entry(HASH, 2, 1, 1), entry(OTHER_HASH, 0, 0, 1), Buffer.from('ee')]),
      )
    })
  })

  it('reports /stats as JSON: counts, and every host with its progress, a completion counted once per peer', TEST_TIMEOUT, async () => {
    await withTracker(async (_, base) => {
      await announce(`${base}/announce`, params(1, { event: 'started', left: 1000 }), opts)
      await announce(`${base}/announce`, params(1, { event: 'completed', left: 0, downloaded: 1000 }), opts)
      await announce(`${base}/announce`, params(1, { event: 'completed', left: 0, downloaded: 1000 }), opts)
      // A rerun over a tree already in place: complete from its first announce, it downloaded nothing.
      await announce(`${base}/announce`, params(3, { event: 'completed', left: 0 }), opts)
      await announce(`${base}/announce`, params(2, { left: 250, downloaded: 750, uploaded: 5, site: 'tokyo' }), opts)
      const res = await get(base, '/stats')
      assert.equal(res.status, 200)
      assert.equal(res.type, 'application/json')
      const [t, ...others] = (JSON.parse(res.body.toString()) as { torrents: Record<string, unknown>[] }).torrents
      assert.equal(others.length, 0)
      assert.deepEqual({ ...t, hosts: undefined, sites: undefined }, {
        infoHash: Buffer.from(HASH).toString('hex'), seeders: 2, leechers: 1, completed: 1, size: 1000,
        hostCount: 3, done: 2, downloading: 1, stalled: 0, left: 250, downloadRate: 0, eta: null, hosts: undefined, sites: undefined,
      })
      const hosts = t!.hosts as Record<string, unknown>[]
      assert.deepEqual(hosts.map((h) => [h.address, h.site, h.state, h.progress, h.left, h.downloaded, h.uploaded, h.completed]), [
        ['127.0.0.1:7002', 'tokyo', 'downloading', 0.75, 250, 750, 5, false],
        ['127.0.0.1:7001', undefined, 'done', 1, 0, 1000, 0, true],
        ['127.0.0.1:7003', undefined, 'done', 1, 0, 0, 0, false],
      ])
      assert.ok(hosts.every((h) => Math.abs(Date.parse(h.lastSeen as string) - Date.now()) < 60_000))
      assert.deepEqual((t!.sites as { site?: string; hostCount: number }[]).map((s) => [s.site, s.hostCount]), [['tokyo', 1], [undefined, 2]])
    })
  })

  it('answers malformed requests with a failure reason and keeps serving', TEST_TIMEOUT, async () => {
    await withTracker(async (_, base) => {
      const valid = `peer_id=${percentEncode(peerId(1))}&port=7001&uploaded=0&downloaded=0&left=0`
      const cases: [string, RegExp][] = [
        [`/announce?${valid}`, /missing info_hash/],
        [`/announce?info_hash=%zz%00&${valid}`, /percent-encoding/],
        [`/announce?info_hash=abc&${valid}`, /info_hash: expected 20 bytes/],
        [`/announce?info_hash=${percentEncode(HASH)}&${valid}&event=bogus`, /event/],
        [`/announce?info_hash=${percentEncode(HASH)}&${valid}&x=${'a'.repeat(9000)}`, /URL longer than/],
        ['/scrape?info_hash=%4', /percent-encoding/],
        ['/announce', /missing info_hash/],
      ]
      for (const [path, reason] of cases) {
        const res = await get(base, path)
        assert.equal(res.status, 200, path)
        assert.match(failureReason(res.body), reason)
      }
      assert.equal((await get(base, '/nope')).status, 404)
      const post = await fetch(`${base}/announce`, { method: 'POST', body: 'x' })
      assert.equal(post.status, 405)
      await post.body?.cancel()

      const res = await announce(`${base}/announce`, params(1), opts)
      assert.equal(res.interval, 10)
    })
  })

  it('survives raw TCP garbage', TEST_TIMEOUT, async () => {
    await withTracker(async (tracker, base) => {
      for (const garbage of ['\x00\xff\r\n\r\n', 'GET /announce HTTP/9.9\r\n\r\n', 'NONSENSE\r\nHost: x\r\n\r\n']) {
        const socket = net.connect(tracker.port, '127.0.0.1')
        socket.on('error', () => undefined) // a reset is as good as a close here
        socket.resume()
        socket.end(Buffer.from(garbage, 'latin1'))
        await once(socket, 'close')
      }
      // Half-sent request, then the client vanishes.
      const socket = net.connect(tracker.port, '127.0.0.1')
      await once(socket, 'connect')
      socket.write('GET /announce?info_hash=')
      socket.destroy()

      assert.equal((await announce(`${base}/announce`, params(1), opts)).interval, 10)
    })
  })
})

describe('tracker client', () => {
  it('throws TrackerFailure on a failure reason', TEST_TIMEOUT, async () => {
    await withTracker(async (_, base) => {
      await assert.rejects(announce(`${base}/announce`, params(1, { port: 0 }), opts), (err: unknown) => {
        return err instanceof TrackerFailure && /invalid port/.test(err.message)
      })
    })
  })

  it('reports HTTP errors and non-bencoded replies', TEST_TIMEOUT, async () => {
    await withTracker(async (_, base) => {
      await assert.rejects(announce(`${base}/nope`, params(1), opts), /HTTP 404/)
      await assert.rejects(announce(`${base}/stats`, params(1), opts), /invalid/)
    })
  })

  it('refuses an oversized reply, announced or streamed, and one cut short', TEST_TIMEOUT, async () => {
    const big = Buffer.alloc(4 * 1024 * 1024 + 1, 0x61)
    const server = http.createServer((req, res) => {
      if (req.url!.startsWith('/announced')) {
        res.writeHead(200, { 'content-length': String(big.length) }).end(big)
      } else if (req.url!.startsWith('/streamed')) {
        res.writeHead(200) // chunked: the size is known only while reading
        res.end(big)
      } else {
        // 15 of the 100 bytes announced, then the tracker's end of the connection closes.
        res.writeHead(200, { 'content-length': '100' }).write('d8:intervali10e', () => res.socket!.end())
      }
    }).listen(0, '127.0.0.1')
    await once(server, 'listening')
    try {
      const base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`
      await assert.rejects(announce(`${base}/announced`, params(1), opts), /^Error: response larger than 4194304 bytes$/)
      await assert.rejects(announce(`${base}/streamed`, params(1), opts), /^Error: response larger than 4194304 bytes$/)
      await assert.rejects(announce(`${base}/cut`, params(1), opts), /^Error: connection closed before the reply was complete$/)
    } finally {
      server.closeAllConnections()
      server.close()
    }
  })

  it('rejects non-HTTP tracker URLs', TEST_TIMEOUT, async () => {
    await assert.rejects(announce('udp://127.0.0.1:1/announce', params(1), opts), /unsupported tracker protocol udp:/)
  })

  it('times out a tracker that never answers', TEST_TIMEOUT, async () => {
    const sockets = new Set<net.Socket>()
    const silent = net.createServer((s) => sockets.add(s)).listen(0, '127.0.0.1')
    await once(silent, 'listening')
    try {
      const { port } = silent.address() as net.AddressInfo
      await assert.rejects(announce(`http://127.0.0.1:${port}/announce`, params(1), { timeoutMs: 200 }), /no response within 200 ms/)
      const controller = new AbortController()
      const pending = announce(`http://127.0.0.1:${port}/announce`, params(1), { timeoutMs: 5_000, signal: controller.signal })
      controller.abort(new Error('shutting down'))
      await assert.rejects(pending, /shutting down/)
    } finally {
      for (const s of sockets) s.destroy()
      silent.close()
    }
  })

  it('falls through to the next tracker', TEST_TIMEOUT, async () => {
    const dead = `http://127.0.0.1:${await deadPort()}/announce`
    await withTracker(async (_, base) => {
      await announce(`${base}/announce`, params(1), opts)
      const res = await announceWithRetry([dead, `${base}/announce`], params(2), { deadlineMs: 5_000, logger })
      assert.deepEqual(res.peers, [{ ip: '127.0.0.1', port: 7001 }])
    })
  })

  it('gives up at the deadline with a UserError naming the tracker', TEST_TIMEOUT, async () => {
    const dead = `http://127.0.0.1:${await deadPort()}/announce`
    const started = performance.now()
    await assert.rejects(announceWithRetry([dead], params(1), { deadlineMs: 600, logger }), (err: unknown) => {
      assert.ok(err instanceof UserError)
      assert.equal(err.exitCode, ExitCode.tracker)
      assert.match(err.message, new RegExp(`^tracker unreachable: ${dead.replace(/[.]/g, '\\.')}: .*ECONNREFUSED`))
      return true
    })
    // Several backoff rounds fit in the budget, but it must not overrun it by much.
    assert.ok(performance.now() - started < 3_000)
    await assert.rejects(announceWithRetry([], params(1), { deadlineMs: 100, logger }), UserError)
  })
})
