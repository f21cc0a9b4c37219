import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join, resolve } from 'node:path'
import { under } from '../src/storage/safePath.js'

test('under() is path.join for a resolved root and checked torrent components', () => {
  for (const root of ['/srv/app', '/', resolve('dest'), resolve('/srv//app/')]) {
    for (const components of [[], ['a'], ['a', 'b', 'c.txt'], ['..a', 'b..', '.hidden'], ['spaces in name', 'ünï']]) {
      assert.equal(under(root, ...components), join(root, ...components), `${root} + ${components.join(' | ')}`)
    }
  }
})
