// Bundles the compiled CLI (dist/src) into one file, and the hash worker into another beside it: node then
// loads two files at start instead of resolving and reading a hundred modules (about 0.07 s of CPU less per
// process, which counts when a lab or a deploy starts many peers on one machine at once).
import { readFileSync } from 'node:fs'
import { build } from 'esbuild'

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  logLevel: 'warning',
  // CommonJS dependencies (pino, commander) call require(): give the ESM bundle one.
  banner: { js: "import { createRequire as __murderRequire } from 'node:module'; const require = __murderRequire(import.meta.url);" },
  define: { 'process.env.MURDER_VERSION': JSON.stringify(version) },
}
await build({ ...common, entryPoints: ['dist/src/cli/main.js'], outfile: 'dist/murder.mjs' })
// hashPool.ts starts its workers from './hashWorker.js' next to the module that holds it: the bundle.
await build({ ...common, entryPoints: ['dist/src/storage/hashWorker.js'], outfile: 'dist/hashWorker.js' })
