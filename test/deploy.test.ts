// `murder deploy` against real OpenSSH servers in network namespaces (two sites, bench/netns.ts), each target
// with its own destination (its own mount namespace and tmpfs): exact copies, nothing left running, failures
// named, Ctrl-C and --deadline, and a second deploy that moves only what changed. Needs root, iproute2 and
// openssh-server (as CI has).
import { test, before } from 'node:test'
import assert from 'node:assert/strict'
import { chmod, mkdir, open, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createSitesLab, type HostSpec, type Lab } from '../bench/netns.js'
import { murder as benchMurder, start as benchStart, type Proc } from '../bench/proc.js'
import { MURDER } from './helpers/proc.js'
import { shellQuote } from '../src/deploy/remoteScript.js'
import { netnsScope } from './helpers/netnsScope.js'
import { deployLeftovers, inTarget, sshKeys, startSshd, type SshKeys, type SshTarget } from './helpers/sshLab.js'
import { tempDir, writeTree } from './helpers/tree.js'

const { prefix: PREFIX, dirs } = netnsScope('mdtest')
const PIECE = 64 * 1024

let work = ''
let src = ''
let lab: Lab
let keys: SshKeys
/** a1, a2 (site paris), b1, b2 (site tokyo) serve; a3 runs no sshd; b3's destination holds 256 KiB. */
const up = new Map<string, SshTarget>()
let a3: HostSpec

interface Row { host: string; site: string | null; status: string; received: number; pushed: boolean; reason: string | null }

before(async () => {
  work = await tempDir('deploy')
  dirs.push(work)
  src = join(work, 'src')
  await writeTree(src, { 'bin/app': 3 * PIECE + 11, 'conf/app.conf': 700, 'data/blob.bin': 40 * PIECE, 'empty': 0, 'a/b/c/deep.txt': 5000 })
  await chmod(join(src, 'bin/app'), 0o755)
  lab = createSitesLab({ prefix: PREFIX, nA: 3, nB: 3, rateBps: 0, sourceRateBps: 0, wanRateBps: 200e6, shaper: 'tbf' })
  keys = sshKeys(work, lab.targets)
  for (const h of lab.targets) {
    if (h.name === 'a3') a3 = h
    else up.set(h.name, await startSshd(h, keys, h.name === 'b3' ? '256k' : '64m'))
  }
})

const dest = () => join(keys.mountPoint, 'app')
const target = (name: string) => up.get(name)!

async function hostsFile(name: string, hosts: HostSpec[]): Promise<string> {
  const file = join(work, name)
  await writeFile(file, `# ${name}\n${hosts.map((h) => `root@${h.ip} ${h.site === 'a' ? 'paris' : 'tokyo'}`).join('\n')}\n\n`)
  return file
}

function deployArgs(hosts: string, extra: string[] = []): string[] {
  return ['deploy', src, hosts, dest(), '--identity', keys.identity,
    '--ssh-option', `UserKnownHostsFile=${keys.knownHosts}`, '--ssh-option', 'StrictHostKeyChecking=yes',
    '--log-dir', join(work, 'logs'), '--json', '--piece-length', String(PIECE), '--interval', '2', ...extra]
}

function deploy(hosts: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Proc {
  return benchMurder('deploy', deployArgs(hosts, extra), { ns: lab.source.ns, env })
}

/** Whether each host's last peer ran an SSL torrent (`ssl: true` in its 'destination checked' line in the deploy's logs). */
async function lastRunSsl(hosts: readonly HostSpec[]): Promise<boolean[]> {
  return Promise.all(hosts.map(async (h) => {
    const lines = (await readFile(join(work, 'logs', `root@${h.ip}.log`), 'utf8')).split('\n').filter((l) => l.includes('"destination checked"'))
    assert.ok(lines.length > 0, `no peer line in the log of ${h.name}`)
    return (JSON.parse(lines[lines.length - 1]!) as { ssl?: boolean }).ssl === true
  }))
}

async function finished(p: Proc): Promise<{ code: number | null; rows: Row[]; stderr: string }> {
  const e = await p.waitExit(90_000)
  const out = p.lines.filter((l) => l.stream === 'stdout').map((l) => l.text).join('\n')
  const stderr = p.lines.filter((l) => l.stream === 'stderr').map((l) => l.text).join('\n')
  assert.ok(out.startsWith('{'), `no JSON summary (exit ${e.code}):\n${p.tail(30)}`)
  return { code: e.code, rows: (JSON.parse(out) as { hosts: Row[] }).hosts, stderr }
}

/** `rsync -ani --delete` from the source to the target's destination lists nothing. */
function assertExact(t: SshTarget): void {
  const diff = inTarget(t, 'rsync', ['-ani', '--delete', `${src}/`, `${dest()}/`])
  assert.equal(diff, '', `${t.host.name} differs:\n${diff}`)
}

function assertNothingLeft(): void {
  for (const h of [lab.source, ...lab.targets]) assert.deepEqual(deployLeftovers(h.ns), [], `left running in ${h.name}`)
}

test('deploy to 4 hosts in two sites: exact copies, executable pushed once per host, nothing left running', { timeout: 120_000 }, async () => {
  const hosts = ['a1', 'a2', 'b1', 'b2'].map((n) => target(n).host)
  // The deploy's own temporary files (its CA among them) go here: none may be left.
  const scratch = join(work, 'scratch')
  await mkdir(scratch)
  const r = await finished(deploy(await hostsFile('four', hosts), [], { TMPDIR: scratch }))
  assert.equal(r.code, 0, r.stderr)
  // Secure by default: an SSL torrent (TLS between all peers) behind a passkey, the CA's key deleted at the end.
  assert.deepEqual(await lastRunSsl(hosts), [true, true, true, true])
  // ... and its tracker speaks HTTPS (with the deploy CA's certificate, which every peer checked to announce at all).
  assert.match(r.stderr, /"msg":"tracker listening"/)
  assert.match(r.stderr.split('\n').find((l) => l.includes('"tracker listening"'))!, /"https":true/)
  assert.deepEqual(await readdir(scratch), [])
  assert.deepEqual(r.rows.map((x) => [x.host, x.site, x.status]), hosts.map((h) => [`root@${h.ip}`, h.site === 'a' ? 'paris' : 'tokyo', 'done']))
  assert.ok(r.rows.every((x) => x.pushed), 'a fresh cache gets the executable')
  for (const n of ['a1', 'a2', 'b1', 'b2']) assertExact(target(n))
  assertNothingLeft()
})

test('a second deploy of a changed tree (--insecure: a plain torrent) moves only the changed piece, with the cached executable', { timeout: 120_000 }, async () => {
  const fh = await open(join(src, 'data/blob.bin'), 'r+')
  await fh.write(Buffer.from('a change'), 0, 8, 17 * PIECE + 5)
  await fh.close()
  const hosts = ['a1', 'a2', 'b1', 'b2'].map((n) => target(n).host)
  const r = await finished(deploy(await hostsFile('four', hosts), ['--insecure']))
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(await lastRunSsl(hosts), [false, false, false, false])
  for (const x of r.rows) {
    assert.equal(x.status, 'done')
    assert.equal(x.pushed, false, `${x.host}: the executable was in its cache`)
    assert.ok(x.received >= PIECE && x.received <= 2 * PIECE, `${x.host} received ${x.received} bytes for one changed piece of ${PIECE}`)
  }
  for (const n of ['a1', 'a2', 'b1', 'b2']) assertExact(target(n))
  assertNothingLeft()
})

test('on a terminal: a live view redrawn in place, then the summary table', { timeout: 120_000 }, async () => {
  const hosts = ['a1', 'a2', 'b1', 'b2'].map((n) => target(n).host)
  const args = deployArgs(await hostsFile('four', hosts)).filter((a) => a !== '--json')
  // script(1) gives the deploy a pseudo-terminal, as an operator's shell would; its output is the terminal's.
  const command = [MURDER, ...args].map(shellQuote).join(' ')
  const tty = benchStart('deploy-tty', 'script', ['-qfec', command, '/dev/null'], { ns: lab.source.ns })
  const e = await tty.waitExit(90_000)
  const screen = tty.lines.map((l) => l.text).join('\n')
  assert.equal(e.code, 0, screen)
  // The last frame of the view, then the table: a host a line, done.
  const plain = screen.replace(/\x1b\[\d*[FJK]/g, '').replace(/\r/g, '')
  assert.match(plain, /^4\/4 done, 0 running, 0 failed  .* in place, 0 B to go/m)
  assert.match(plain, /^ {2}paris +2\/2 done/m)
  assert.match(plain, /^ {2}tokyo +2\/2 done/m)
  assert.match(plain, /^HOST +SITE +STATUS +SECONDS +RECEIVED +REASON$/m)
  for (const h of hosts) assert.match(plain, new RegExp(`^root@${h.ip.replace(/\./g, '\\.')} +${h.site === 'a' ? 'paris' : 'tokyo'} +done `, 'm'))
  assert.ok(!plain.includes('{"level"'), 'no JSON on a terminal')
  assertNothingLeft()
})

test('one host without sshd, one whose disk fills: exit 11 naming both, the others exact', { timeout: 120_000 }, async () => {
  const b3 = target('b3').host
  const r = await finished(deploy(await hostsFile('faulty', [target('a1').host, a3, target('b1').host, b3])))
  assert.equal(r.code, 11, r.stderr)
  const row = (h: HostSpec) => r.rows.find((x) => x.host === `root@${h.ip}`)!
  assert.equal(row(a3).status, 'unreachable')
  assert.match(row(a3).reason ?? '', /refused/)
  assert.equal(row(b3).status, 'failed')
  assert.match(row(b3).reason ?? '', /disk full/)
  const last = r.stderr.trimEnd().split('\n').pop()!
  assert.match(last, new RegExp(`^murder: 2 of 4 hosts not done: .*root@${a3.ip} \\(unreachable.*root@${b3.ip} \\(failed: .*disk full`))
  assertExact(target('a1'))
  assertExact(target('b1'))
  assertNothingLeft()
})

for (const how of ['SIGINT', '--deadline'] as const) {
  test(`${how} mid-deploy stops every peer: no process left on any host`, { timeout: 120_000 }, async () => {
    await writeTree(join(src, 'more'), { [`${how}.bin`]: 4 * 1024 * 1024 })
    const limit = ['--max-download-rate', '256k', ...(how === '--deadline' ? ['--deadline', '20'] : [])]
    const p = deploy(await hostsFile('slow', ['a1', 'b1'].map((n) => target(n).host)), limit)
    // Both peers are running and have reported progress: the deploy is mid-transfer.
    await p.waitLine((l) => l.json?.['msg'] === 'deploy progress' && l.json['running'] === 2 && (l.json['have'] as number) > 0, 60_000)
    if (how === 'SIGINT') p.kill('SIGINT')
    const r = await finished(p)
    assert.equal(r.code, 11, r.stderr)
    assert.deepEqual(r.rows.map((x) => x.status), how === 'SIGINT' ? ['interrupted', 'interrupted'] : ['deadline', 'deadline'])
    assertNothingLeft()
  })
}
