/**
 * `npm run demo`: a sample tree replicated on loopback by a tracker, a seeder and three peers, each a
 * separate `murder` process, then every copy compared with the source.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile, lstat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const MURDER = fileURLToPath(new URL('../../../bin/murder.js', import.meta.url))
const PEERS = 3
const children: ChildProcess[] = []

function run(args: string[], onStderrLine?: (line: string) => void): { child: ChildProcess; stdout: Promise<string>; code: Promise<number> } {
  const child = spawn(MURDER, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  let out = ''
  child.stdout!.on('data', (d: Buffer) => (out += d))
  let pending = ''
  child.stderr!.on('data', (d: Buffer) => {
    const lines = (pending + d).split('\n')
    pending = lines.pop()!
    for (const l of lines) onStderrLine?.(l)
  })
  const code = new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? 1)))
  return { child, stdout: code.then(() => out), code }
}

function waitForLog(p: ReturnType<typeof run>, want: (j: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    p.child.stderr!.on('data', (d: Buffer) => {
      for (const l of d.toString().split('\n')) {
        try {
          const j = JSON.parse(l) as Record<string, unknown>
          if (want(j)) resolve(j)
        } catch { /* not a JSON line */ }
      }
    })
    void p.code.then((c) => reject(new Error(`murder ${p.child.spawnargs[2]} exited (${c}) early`)))
  })
}

async function makeSampleTree(root: string): Promise<void> {
  let seed = 0
  const content = (n: number) => {
    const out = Buffer.allocUnsafe(n)
    for (let i = 0; i < n; i += 32) createHash('sha256').update(String(seed++)).digest().copy(out, i, 0, Math.min(32, n - i))
    return out
  }
  const files: [string, number][] = [['app.jar', 24 << 20], ['lib/native.so', 9 << 20], ['static/bundle.js', 3 << 20], ['.env', 120], ['empty.lock', 0]]
  for (let i = 0; i < 200; i++) files.push([`static/assets/icon-${i}.svg`, 500 + i * 37])
  for (const [path, size] of files) {
    await mkdir(dirname(join(root, path)), { recursive: true })
    await writeFile(join(root, path), content(size))
  }
}

async function digestTree(root: string, rel = ''): Promise<string> {
  const h = createHash('sha256')
  for (const name of (await readdir(join(root, rel))).sort()) {
    const r = join(rel, name)
    const st = await lstat(join(root, r))
    h.update(r + '\0')
    h.update(st.isDirectory() ? await digestTree(root, r) : await readFile(join(root, r)))
  }
  return h.digest('hex')
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'murder-demo-'))
  const src = join(work, 'build')
  try {
    console.log(`demo: generating a sample tree in ${src}`)
    await makeSampleTree(src)
    const tracker = run(['tracker', '--port', '0', '--host', '127.0.0.1', '--interval', '2'])
    const { port } = await waitForLog(tracker, (j) => typeof j['port'] === 'number')
    console.log(`demo: tracker on 127.0.0.1:${port}`)
    const torrent = join(work, 'build.torrent')
    const made = run(['make-torrent', src, `127.0.0.1:${port}`, torrent])
    if ((await made.code) !== 0) throw new Error('make-torrent failed')
    console.log(`demo: make-torrent: ${(await made.stdout).trim()}`)
    const seed = run(['seed', torrent, src, '127.0.0.1'])
    await waitForLog(seed, (j) => j['msg'] === 'seeding')
    console.log('demo: seeding; starting 3 peers')
    const started = Date.now()
    const peers = Array.from({ length: PEERS }, (_, i) =>
      run(['peer', torrent, join(work, `target-${i + 1}`), '127.0.0.1', '--linger', '10'], (line) => {
        try {
          const j = JSON.parse(line) as { msg?: string; pieces?: number; pieceCount?: number; peers?: number }
          if (j.msg === 'progress') console.log(`demo: peer ${i + 1}: ${j.pieces}/${j.pieceCount} pieces, ${j.peers} peers`)
        } catch { /* not a JSON line */ }
      }))
    await Promise.all(peers.map(async (p, i) => {
      const out = await p.stdout
      console.log(`demo: peer ${i + 1} (exit ${await p.code}) printed: ${out.trim()}`)
    }))
    const seconds = ((Date.now() - started) / 1000).toFixed(1)
    const want = await digestTree(src)
    let ok = true
    for (let i = 0; i < PEERS; i++) {
      const same = (await digestTree(join(work, `target-${i + 1}`))) === want && (await peers[i]!.code) === 0
      ok &&= same
      console.log(`demo: target-${i + 1} ${same ? 'identical to the source' : 'DIFFERS from the source'}`)
    }
    console.log(`demo: ${ok ? 'success' : 'FAILURE'}: ${PEERS} copies in ${seconds} s (including linger)`)
    process.exitCode = ok ? 0 : 1
  } finally {
    for (const c of children) c.kill('SIGTERM')
    await rm(work, { recursive: true, force: true })
  }
}

await main()
