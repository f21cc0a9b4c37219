// What every bundle of the CLI shares: the version and the hash worker's code built in, so that a bundle (and
// the single executable made from one) reads no file of the build tree at run time.
import { readFileSync } from 'node:fs'
import { build } from 'esbuild'

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
// bin/murder.js's `#!/usr/bin/env -S node <flags>` (see src/v8Flags.ts).
const v8Flags = readFileSync(new URL('../bin/murder.js', import.meta.url), 'utf8').split('\n', 1)[0].split(/\s+/).slice(3)

// `debug` (under bittorrent-protocol) tries require('supports-color') for colours and does without: the single
// executable's require would warn at every start that it loads built-ins only, so the bundles hold an empty one.
const noSupportsColor = {
  name: 'no-supports-color',
  setup(b) {
    b.onResolve({ filter: /^supports-color$/ }, () => ({ path: 'supports-color', namespace: 'empty' }))
    b.onLoad({ filter: /.*/, namespace: 'empty' }, () => ({ contents: 'module.exports = {}' }))
  },
}

export const common = { bundle: true, platform: 'node', target: 'node20', logLevel: 'warning', plugins: [noSupportsColor] }

/** esbuild options for the CLI in `format` ('esm' or 'cjs'), with the version and the hash worker inlined. */
export async function cliOptions(format) {
  // The worker runs from a string (`new Worker(code, { eval: true })`), which Node runs as CommonJS.
  const worker = await build({ ...common, entryPoints: ['dist/src/storage/hashWorker.js'], format: 'cjs', write: false })
  return {
    ...common,
    format,
    define: {
      'process.env.MURDER_VERSION': JSON.stringify(version),
      'process.env.MURDER_V8_FLAGS': JSON.stringify(v8Flags.join(' ')),
      'process.env.MURDER_HASH_WORKER': JSON.stringify(worker.outputFiles[0].text),
    },
  }
}
