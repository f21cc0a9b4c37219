/** The operator-facing policies of issue 22, without processes: error lines, stalls, progress, logs, --delete. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readable, UserError } from '../src/errors.js'
import { ProgressLog } from '../src/cli/progress.js'
import { humanLine } from '../src/log.js'
import { deleteRefusal } from '../src/storage/deletion.js'
import { pieceRanges, stallMessage, StallWatch } from '../src/swarm/stall.js'
import type { SwarmStats } from '../src/swarm/swarm.js'
import { magnetLink, parseTorrentSource } from '../src/torrent/source.js'

test('an error stays one readable line: long paths are cut in the middle, the line is bounded', () => {
  const deep = '/srv/' + Array.from({ length: 40 }, (_, i) => `folder-${i}-${'x'.repeat(180)}`).join('/') + '/end.txt'
  const e = new UserError(`destination not writable: path too long for the file system: ${deep}: ENAMETOOLONG '${deep}'`)
  assert.ok(e.message.length <= 400, `${e.message.length} characters`)
  assert.doesNotMatch(e.message, /\n/)
  assert.match(e.message, /^destination not writable: path too long for the file system: \/srv\/folder-0-x+…x+\/end\.txt/)
  assert.equal(readable('short /srv/app/file\nsecond line'), 'short /srv/app/file second line')
  assert.equal(readable('x'.repeat(80)), 'x'.repeat(80), 'a word of 80 characters is kept whole')
})

test('make-torrent\'s magnet link is one peer reads back: hash, name and every tracker', () => {
  const hash = '8e4b3a35b924e0bdb69e5891aa6e102928b8f339'
  const trackers = ['http://10.0.0.1:8998/announce', 'https://t.example/announce?key=a&b=c']
  const link = magnetLink(hash, 'build tree & co', trackers)
  assert.match(link, /^magnet:\?xt=urn:btih:8e4b3a35b924e0bdb69e5891aa6e102928b8f339&dn=build\+tree\+%26\+co&tr=/)
  const back = parseTorrentSource(link, [])
  assert.ok(back.kind === 'hash')
  assert.equal(Buffer.from(back.infoHash).toString('hex'), hash)
  assert.deepEqual(back.trackers, trackers)
})

test('a stall is no verified piece and no peer holding a missing one for the whole timeout; 0 never stalls', () => {
  const w = new StallWatch(300_000, 0, 5)
  assert.equal(w.stalled(299_999, 5, false), false)
  assert.equal(w.stalled(300_000, 5, false), true, 'nothing came, nobody had anything')
  const held = new StallWatch(300_000, 0, 5)
  assert.equal(held.stalled(200_000, 5, true), false, 'a peer holds a missing piece: the clock restarts')
  assert.equal(held.stalled(499_999, 5, false), false)
  assert.equal(held.stalled(500_000, 5, false), true)
  const moving = new StallWatch(300_000, 0, 5)
  assert.equal(moving.stalled(250_000, 6, false), false, 'a piece came in')
  assert.equal(moving.stalled(549_999, 6, false), false)
  assert.equal(moving.stalled(550_000, 6, false), true)
  const never = new StallWatch(0, 0, 0)
  assert.equal(never.stalled(1e12, 0, false), false)
})

test('the stall line names the missing pieces as ranges and who was there', () => {
  assert.equal(pieceRanges([0, 1, 2, 3]), '0-3')
  assert.equal(pieceRanges([1, 3, 4, 5, 9]), '1, 3-5, 9')
  assert.equal(pieceRanges([0, 2, 4, 6, 8, 10]), '0, 2, 4, 6, …')
  assert.equal(stallMessage(300, 0, [0, 1, 2], 3), 'stalled for 300 s (--stall-timeout): 3 of 3 pieces missing (0-2), no peer connected; is a seed running?')
  assert.equal(stallMessage(2, 1, [4, 5, 6, 7], 8), 'stalled for 2 s (--stall-timeout): 4 of 8 pieces missing (4-7), none of the 1 connected peer has any of them')
})

function stats(over: Partial<SwarmStats> = {}): SwarmStats {
  return { pieces: 0, pieceCount: 10, left: 100, downloaded: 0, received: 0, receivedCrossSite: 0, uploaded: 0, refused: 0, peers: 0, peakPeers: 0, hashFailures: 0, ...over }
}

test('progress is logged only when something changed, every 5 s at most: an idle seed logs nothing', () => {
  const idle = new ProgressLog(stats({ pieces: 10, left: 0 }))
  for (let t = 0; t < 3_600_000; t += 1000) assert.equal(idle.due(t, stats({ pieces: 10, left: 0 })), false, `t=${t}`)
  const log = new ProgressLog(stats())
  assert.equal(log.due(1000, stats({ peers: 1 })), true, 'a peer came')
  assert.equal(log.due(2000, stats({ peers: 1, uploaded: 5 })), false, 'within 5 s of the last line')
  assert.equal(log.due(6000, stats({ peers: 1, uploaded: 5 })), true)
  assert.equal(log.due(11_000, stats({ peers: 1, uploaded: 5 })), false, 'nothing new since')
})

test('a log line on a terminal: local time, level, message, fields; errors by their message', () => {
  const time = new Date(2026, 11, 6, 9, 8, 7, 6).getTime()
  const json = JSON.stringify({ level: 40, time, pid: 1, name: 'peer', msg: 'announce failed', tracker: 'http://t:1/announce', n: 3, err: { type: 'Error', message: 'connect ECONNREFUSED', stack: 'Error: at x' }, paths: ['a b', 'c'] })
  assert.equal(humanLine(json, false), '09:08:07.006 WARN  announce failed  tracker=http://t:1/announce n=3 err="connect ECONNREFUSED" paths=["a b","c"]\n')
  assert.equal(humanLine(JSON.stringify({ level: 30, time, msg: 'seeding' }), false), '09:08:07.006 INFO  seeding\n')
  assert.match(humanLine(json, true), /\x1b\[33mWARN \x1b\[0m/)
})

test('--delete refuses / and the system folders, and the home folder, however reached', () => {
  for (const p of ['/', '/srv', '/usr', '/usr/local', '/var', '/home', '/etc', '/root', '/tmp']) assert.match(deleteRefusal([p, p], '/home/ops') ?? '', /system folder/, p)
  assert.match(deleteRefusal(['/srv/app', '/'], '/home/ops') ?? '', /^\/ is a system folder/, 'a link to / is refused by its real path')
  assert.match(deleteRefusal(['/home/ops', '/home/ops'], '/home/ops') ?? '', /home folder/)
  for (const p of ['/srv/app', '/opt/app', '/var/www/html', '/home/ops/app', '/data']) assert.equal(deleteRefusal([p, p], '/home/ops'), null, p)
})
