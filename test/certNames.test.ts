import { test } from 'node:test'
import assert from 'node:assert/strict'
import { certificateCovers, certificateNames, dnsNames } from '../src/swarm/certNames.js'

test('dnsNames: DNS entries of a subjectAltName as Node prints it, quoted values decoded, other types ignored', () => {
  assert.deepEqual(dnsNames('DNS:tree, DNS:"a\\u002c b", IP Address:1.2.3.4, DNS:*, email:x@y'), ['tree', 'a, b', '*'])
  assert.deepEqual(dnsNames(undefined), [])
  assert.deepEqual(dnsNames('DNS:"unterminated'), [])
})

test('certificateNames: the last common name counts', () => {
  assert.deepEqual(certificateNames({ subject: { CN: ['first', 'last'] } }), { dns: [], cn: 'last' })
  assert.deepEqual(certificateNames({ subject: { O: 'x' }, subjectaltname: 'DNS:a' }), { dns: ['a'] })
})

test("certificateCovers: libtorrent's rule (a DNS name or else the last CN is the torrent's name byte for byte, or *)", () => {
  assert.ok(certificateCovers({ dns: ['other', 'build'] }, 'build'))
  assert.ok(certificateCovers({ dns: ['*'] }, 'anything'))
  assert.ok(certificateCovers({ dns: ['other'], cn: 'build' }, 'build'))
  assert.ok(certificateCovers({ dns: [], cn: '*' }, 'build'))
  assert.ok(!certificateCovers({ dns: ['Build', '*.build', 'build '] }, 'build'))
  assert.ok(!certificateCovers({ dns: [] }, 'build'))
  // No Unicode normalisation: é precomposed is not e + combining accent.
  assert.ok(!certificateCovers({ dns: ['caf\u00e9'] }, 'cafe\u0301'))
})
