import assert from 'node:assert/strict'
import { murder, runMurder, type Proc } from './proc.js'

/** Processes started through these helpers, for the test file's `after` to kill. */
export const started: Proc[] = []

export function killAll(): void {
  for (const p of started.splice(0)) p.kill('SIGKILL')
}

export async function startTracker(extra: string[] = []): Promise<{ proc: Proc; port: number }> {
  const proc = murder(['tracker', '--port', '0', '--host', '127.0.0.1', ...extra])
  started.push(proc)
  const { port } = await proc.logLine((l) => typeof l['port'] === 'number')
  return { proc, port: port as number }
}

export interface Made {
  infoHash: string
  pieces: number
  pieceLength: number
  bytes: number
}

export async function makeTorrent(src: string, trackerPort: number, out: string, extra: string[] = []): Promise<Made> {
  const r = await runMurder(['make-torrent', src, `127.0.0.1:${trackerPort}`, out, '--json', ...extra])
  assert.equal(r.code, 0, r.stderr)
  return JSON.parse(r.stdout) as Made
}

export async function startSeed(torrent: string, src: string, extra: string[] = []): Promise<Proc> {
  const proc = murder(['seed', torrent, src, '127.0.0.1', ...extra])
  started.push(proc)
  await proc.logLine((l) => l['msg'] === 'seeding')
  return proc
}

/** The counters of a finished peer's `complete` log line. */
export function completeLine(stderr: string): { downloaded: number; received: number; uploaded: number } {
  const line = stderr.split('\n').find((l) => l.includes('"msg":"complete"'))
  assert.ok(line, `no complete line in:\n${stderr}`)
  return JSON.parse(line) as { downloaded: number; received: number; uploaded: number }
}
