import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { copyFile, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { MURDER, start } from './helpers/proc.js'
import { cleanup, tempDir } from './helpers/tree.js'

const dirs: string[] = []
after(() => cleanup(...dirs))

test('a clone that is not built says to build it, in one line', async () => {
  const clone = await tempDir('unbuilt')
  dirs.push(clone)
  await mkdir(join(clone, 'bin'))
  await copyFile(MURDER, join(clone, 'bin', 'murder.js'))
  const p = start(process.execPath, [join(clone, 'bin', 'murder.js'), 'peer', 'x.torrent', '/tmp/x', '127.0.0.1'])
  const { code } = await p.exited
  assert.equal(code, 1)
  assert.equal(p.stdout(), '')
  assert.equal(p.stderr(), 'murder: not built: run npm run build first (npm ci && npm run build in a fresh clone)\n')
})
