/** The operator-facing policies of issue 22, without processes: error lines, stalls, progress, logs, --delete. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readable, UserError } from '../src/cli/errors.js'
import { deleteRefusal } from '../src/storage/deletion.js'
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

test('--delete refuses / and the system folders, and the home folder, however reached', () => {
  for (const p of ['/', '/srv', '/usr', '/usr/local', '/var', '/home', '/etc', '/root', '/tmp']) assert.match(deleteRefusal([p, p], '/home/ops') ?? '', /system folder/, p)
  assert.match(deleteRefusal(['/srv/app', '/'], '/home/ops') ?? '', /^\/ is a system folder/, 'a link to / is refused by its real path')
  assert.match(deleteRefusal(['/home/ops', '/home/ops'], '/home/ops') ?? '', /home folder/)
  for (const p of ['/srv/app', '/opt/app', '/var/www/html', '/home/ops/app', '/data']) assert.equal(deleteRefusal([p, p], '/home/ops'), null, p)
})
