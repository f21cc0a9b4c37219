// `npm run binary`: dist/murder, one executable that needs no Node.js nor node_modules on the target (Node's
// single executable applications): the CLI bundled as CommonJS (the only entry Node 20's SEA runs), its blob
// injected into a copy of this node binary with postject.
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, writeFileSync, chmodSync, renameSync } from 'node:fs'
import { build } from 'esbuild'
import { cliOptions } from './bundleOptions.mjs'

// `node scripts/binary.mjs [--no-code-cache] [output]`: the bench's start-up measurement builds the variant.
const noCodeCache = process.argv.includes('--no-code-cache')
const output = process.argv.slice(2).find((a) => !a.startsWith('--')) ?? 'dist/murder'
const work = 'dist/sea'
mkdirSync(work, { recursive: true })

const options = await cliOptions('cjs')
await build({
  ...options,
  entryPoints: ['dist/src/cli/binaryMain.js'],
  outfile: `${work}/murder.cjs`,
  // import.meta.url is only read on paths the built-in version and worker code make unreachable.
  supported: { 'import-meta': false },
  logOverride: { 'empty-import-meta': 'silent' },
})

const config = { main: `${work}/murder.cjs`, output: `${work}/murder.blob`, disableExperimentalSEAWarning: true, useCodeCache: !noCodeCache }
writeFileSync(`${work}/sea-config.json`, JSON.stringify(config))
execFileSync(process.execPath, ['--experimental-sea-config', `${work}/sea-config.json`], { stdio: ['ignore', 'ignore', 'inherit'] })
const tmp = `${work}/murder`
copyFileSync(process.execPath, tmp)
chmodSync(tmp, 0o755)
// postject's ELF library warns about note sections it does not know on every run: its output is shown only on failure.
try {
  execFileSync('node_modules/.bin/postject', [tmp, 'NODE_SEA_BLOB', config.output, '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'], { stdio: 'pipe' })
} catch (err) {
  process.stderr.write(`${err.stdout}${err.stderr}`)
  throw err
}
renameSync(tmp, output)
