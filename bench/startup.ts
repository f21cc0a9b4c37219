// A peer's start, bin/murder.js against the single executable: `node dist/bench/startup.js [--rounds 10]
// [--workdir DIR] [--size 128M]`. Each round runs every variant once, alternating, as
// `perf stat -e task-clock murder peer <lab torrent> <empty dest> 127.0.0.1 --timeout 1` against a dead tracker
// (the whole run: start, torrent parse, destination check, a second of announce retries, exit 5), and reads the
// wall time from spawn to the peer's "destination checked" line. Needs perf (Debian linux-perf) and
// `npm run binary` first; builds the binary without a code cache beside it for the comparison.
import { execFileSync, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { ensurePayload } from './payload.js'
import { SHEBANG_NODE_ARGS } from './proc.js'

/** bin/murder.js's heap flags, which the single executable takes only through NODE_OPTIONS (as deploy gives them). */
const HEAP_FLAGS = SHEBANG_NODE_ARGS.filter((f) => f.startsWith('--max-semi-space-size')).join(' ')

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const { values: v } = parseArgs({ options: { rounds: { type: 'string' }, workdir: { type: 'string' }, size: { type: 'string' } } })
const rounds = Number(v.rounds ?? 10)
const workdir = v.workdir ?? '/dev/shm/murder-bench'
const size = Number.parseInt(v.size ?? '128', 10) * 1024 * 1024

interface Variant { name: string; command: string[]; env?: NodeJS.ProcessEnv }
const NO_CACHE = join(ROOT, 'dist/sea/murder-no-code-cache')
execFileSync(process.execPath, ['scripts/binary.mjs', '--no-code-cache', NO_CACHE], { cwd: ROOT, stdio: 'inherit' })
const variants: Variant[] = [
  { name: 'bin/murder.js', command: [join(ROOT, 'bin/murder.js')] },
  { name: 'dist/murder (code cache)', command: [join(ROOT, 'dist/murder')] },
  { name: 'dist/murder, no code cache', command: [NO_CACHE] },
  { name: `dist/murder, NODE_OPTIONS=${HEAP_FLAGS}`, command: [join(ROOT, 'dist/murder')], env: { NODE_OPTIONS: HEAP_FLAGS } },
]

const log = (s: string) => process.stderr.write(`${s}\n`)
const payload = await ensurePayload(join(workdir, 'payloads'), size, 1, log)
const scratch = await mkdtemp(join(workdir, 'startup-'))
const torrent = join(scratch, 'lab.torrent')
// Port 9 on loopback: nothing listens, every announce is refused at once.
execFileSync(join(ROOT, 'bin/murder.js'), ['make-torrent', payload.dir, '127.0.0.1:9', torrent], { stdio: 'ignore' })

/** task-clock (ms) of one whole run, and ms from spawn to "destination checked". */
function once(variant: Variant, dest: string): Promise<{ taskClock: number; checked: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    let checked = NaN
    let err = ''
    const child = spawn('perf', ['stat', '-x,', '-e', 'task-clock', '--', ...variant.command, 'peer', torrent, dest, '127.0.0.1', '--timeout', '1'],
      { env: { ...process.env, ...variant.env }, stdio: ['ignore', 'ignore', 'pipe'] })
    child.stderr.on('data', (d: Buffer) => {
      if (Number.isNaN(checked) && d.includes('destination checked')) checked = performance.now() - t0
      err += d.toString()
    })
    child.on('exit', () => {
      const line = err.split('\n').find((l) => l.includes(',task-clock'))
      if (!line || Number.isNaN(checked)) return reject(new Error(`${variant.name}: no task-clock or no "destination checked":\n${err}`))
      resolve({ taskClock: Number(line.split(',')[0]), checked })
    })
  })
}

const results = new Map<string, { taskClock: number[]; checked: number[] }>(variants.map((x) => [x.name, { taskClock: [], checked: [] }]))
try {
  for (let r = 0; r < rounds; r++) {
    for (const variant of variants) {
      const dest = join(scratch, `dest-${r}`)
      const m = await once(variant, dest)
      await rm(dest, { recursive: true, force: true })
      results.get(variant.name)!.taskClock.push(m.taskClock)
      results.get(variant.name)!.checked.push(m.checked)
    }
    log(`round ${r + 1}/${rounds} done`)
  }
} finally {
  await rm(scratch, { recursive: true, force: true })
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const range = (xs: number[]) => `${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)}`
console.log(`peer start against a dead tracker, ${payload.files}-file torrent (${size / 1024 / 1024} MiB), ${rounds} alternating rounds`)
console.log('| variant | task-clock ms, median (range) | spawn -> "destination checked" ms, median (range) |')
console.log('| --- | --- | --- |')
for (const [name, r] of results) console.log(`| ${name} | ${median(r.taskClock).toFixed(0)} (${range(r.taskClock)}) | ${median(r.checked).toFixed(0)} (${range(r.checked)}) |`)
