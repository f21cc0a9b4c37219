#!/usr/bin/env -S node --max-semi-space-size=1 --interrupt-budget=1056000
// Semi-spaces of 1 MB (Node's default grows them to 16 MB): what murder allocates per block dies young. With 4 MB
// a peer receiving 4 GiB peaked ~25 MB lower than with 16 (114 vs 138 MiB); 1 MB takes ~6 MB more off a peer
// fetching the lab tree (68-69 vs 75-76 MB) for the same CPU, paced or not (bench/HISTORY.md, 2026-12-07).
// An interrupt budget 16x V8's default: TurboFan optimizes only code that stays hot, not the start-up's loops
// over thousands of torrent entries that are done before their optimized code is. A peer fetching the lab's
// 128 MiB tree compiled 123-126 functions in 450-516 ms of TurboFan threads, now 22 in 50 ms.
// Any V8 flag of our own makes V8 refuse Node's built-in code cache (~15-20 ms more per process start).
// `node bin/murder.js` runs without them.
import { existsSync } from 'node:fs'

// A fresh clone has no bundle until it is built: say so in one line rather than with Node's stack trace.
const bundle = new URL('../dist/murder.mjs', import.meta.url)
if (!existsSync(bundle)) {
  process.stderr.write('murder: not built: run npm run build first (npm ci && npm run build in a fresh clone)\n')
  process.exit(1)
}
await import(bundle.href)
