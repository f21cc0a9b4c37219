// The deploy's pure parts: the hosts file, the remote command's quoting (run by a real sh), and the fleet's
// scheduling (parallel set-up, retries, stop) with fake sessions.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseHostsFile, type Target } from '../src/deploy/hostsFile.js'
import { remoteCommand, secretsBlock, shellQuote } from '../src/deploy/remoteScript.js'
import { Fleet, type SessionHooks } from '../src/deploy/fleet.js'
import type { SessionEnd } from '../src/deploy/hostSession.js'
import { UserError } from '../src/errors.js'

test('hosts file: specs, sites, comments and blank lines', () => {
  const t = parseHostsFile('# fleet\n\nweb1\nroot@10.0.0.2:2222  paris # rack 3\n  deploy@[fd00::7]:22 tokyo\nfd00::8\n')
  assert.deepEqual(t.map(({ name, user, host, port, site, line }) => ({ name, user, host, port, site, line })), [
    { name: 'web1', user: undefined, host: 'web1', port: undefined, site: undefined, line: 3 },
    { name: 'root@10.0.0.2:2222', user: 'root', host: '10.0.0.2', port: 2222, site: 'paris', line: 4 },
    { name: 'deploy@[fd00::7]:22', user: 'deploy', host: 'fd00::7', port: 22, site: 'tokyo', line: 5 },
    { name: 'fd00::8', user: undefined, host: 'fd00::8', port: undefined, site: undefined, line: 6 },
  ])
})

test('hosts file: a host given twice is an error naming both lines; bad lines name theirs', () => {
  const fails = (text: string, message: RegExp) => assert.throws(() => parseHostsFile(text), (e: unknown) => e instanceof UserError && e.exitCode === 2 && message.test(e.message))
  fails('a\nb\nroot@B:22\nroot@b\n', /line 4: root@b is already on line 3/)
  fails('web1 paris extra\n', /line 1: expected/)
  fails('web1 pa/ris\n', /line 1: site/)
  fails('@web1\n', /line 1: "@web1" is not/)
  fails('web1:70000\n', /line 1: port 70000/)
  fails('# nothing\n\n', /names no host/)
})

test('shellQuote: any word reaches a real sh unchanged', () => {
  for (const word of ["it's", 'a b', '$(id)', '`x`', '"q"', '\\', "''", 'ünï', '--opt=1;rm -rf /']) {
    assert.equal(execFileSync('sh', ['-c', `printf %s ${shellQuote(word)}`], { encoding: 'utf8' }), word)
  }
})

test('the remote script of a secure deploy: secrets off the command line (ps shows it), the tracker URL in a file', { timeout: 20_000 }, async () => {
  const cache = await mkdtemp(join(tmpdir(), 'murder-remote-'))
  try {
    const sha256 = 'f'.repeat(64)
    await mkdir(join(cache, 'murder'))
    // The cached "executable" records its arguments and what its --tracker-file holds, and exits.
    const bin = join(cache, 'murder', `murder-${sha256}`)
    await writeFile(bin, `#!/bin/sh\nprintf '%s\\n' "$@" >"${cache}/argv"\nwhile [ "$1" != --tracker-file ]; do shift; done\ncat "$2" >"${cache}/tracker"\n`)
    await chmod(bin, 0o755)
    const passkey = 'k3y-' + 'x'.repeat(28)
    const command = remoteCommand({ sha256, peerArgs: ['abc', '/srv/app'], trackerPort: 7000, nodeOptions: '', secure: true })
    const sh = spawn('sh', ['-c', command], { env: { ...process.env, XDG_CACHE_HOME: cache, SSH_CONNECTION: '10.0.0.1 5555 10.0.0.2 22' } })
    let out = ''
    sh.stdout.on('data', (d: Buffer) => (out += d.toString()))
    const exited = new Promise<number | null>((resolve) => sh.on('exit', resolve))
    // The channel stays open while the peer runs (its end would stop the peer): the script ends with the peer.
    sh.stdin.write(Buffer.concat([Buffer.from('0\n'), secretsBlock('CERT', 'KEY', 'CA', passkey)]))
    assert.equal(await exited, 0, out)
    sh.stdin.destroy()
    assert.match(out, /^murder-deploy cached 10\.0\.0\.1 5555 10\.0\.0\.2 22$/m)
    const argv = await readFile(join(cache, 'argv'), 'utf8')
    assert.ok(!argv.includes(passkey), argv)
    assert.match(argv, /^peer\nabc\n\/srv\/app\n10\.0\.0\.2\n/)
    assert.equal(await readFile(join(cache, 'tracker'), 'utf8'), `https://10.0.0.1:7000/${passkey}/announce\n`)
  } finally {
    await rm(cache, { recursive: true, force: true })
  }
})

/** A session the test ends by hand. */
class FakeSession {
  ended: Promise<SessionEnd>
  end!: (e: SessionEnd) => void
  stopped = false
  constructor(readonly hooks: SessionHooks) {
    this.ended = new Promise((r) => (this.end = r))
  }
  stop() {
    this.stopped = true
    this.end({ kind: 'stopped' })
  }
  kill() {}
}

function fleetOf(n: number, parallel: number, retries: number) {
  const targets: Target[] = Array.from({ length: n }, (_, i) => ({ name: `h${i}`, host: `h${i}`, line: i + 1 }))
  const sessions: { name: string; s: FakeSession }[] = []
  const fleet = new Fleet({ targets, parallel, retries, now: () => 0, open: (r, hooks) => {
    const s = new FakeSession(hooks)
    sessions.push({ name: r.target.name, s })
    return s
  } })
  return { fleet, sessions }
}

const tick = () => new Promise((r) => setImmediate(r))

test('fleet: at most `parallel` sessions set up at once; a started peer frees its slot', async () => {
  const { fleet, sessions } = fleetOf(5, 2, 0)
  fleet.start()
  assert.deepEqual(sessions.map((x) => x.name), ['h0', 'h1'])
  sessions[0]!.s.hooks.onStarted()
  assert.deepEqual(sessions.map((x) => x.name), ['h0', 'h1', 'h2'])
  for (const x of sessions) x.s.hooks.onStarted()
  for (const x of sessions) x.s.hooks.onStarted()
  assert.equal(sessions.length, 5)
})

test('fleet: a failed host is retried, then reported; sessions of done hosts end once all are final', async () => {
  const { fleet, sessions } = fleetOf(2, 4, 1)
  fleet.start()
  for (const x of sessions) x.s.hooks.onStarted()
  sessions[0]!.s.hooks.onProgress({ done: true })
  assert.equal(fleet.reports[0]!.status, 'done')
  assert.equal(sessions[0]!.s.stopped, false, 'a done peer keeps serving while others download')
  sessions[1]!.s.end({ kind: 'unreachable', reason: 'Connection refused' })
  await tick()
  assert.deepEqual(sessions.map((x) => x.name), ['h0', 'h1', 'h1'], 'h1 retried')
  sessions[2]!.s.end({ kind: 'failed', reason: 'disk full', code: 6 })
  const reports = await fleet.finished
  assert.deepEqual(reports.map((r) => [r.status, r.attempts, r.reason]), [['done', 1, undefined], ['failed', 2, 'disk full']])
  assert.equal(sessions[0]!.s.stopped, true, 'the lingering peer is stopped at the end')
})

test('fleet: stop() ends live sessions and marks every host not done', async () => {
  const { fleet, sessions } = fleetOf(3, 1, 3)
  fleet.start()
  sessions[0]!.s.hooks.onStarted()
  sessions[0]!.s.hooks.onProgress({ done: true })
  fleet.stop('deadline')
  const reports = await fleet.finished
  assert.deepEqual(reports.map((r) => r.status), ['done', 'deadline', 'deadline'])
  assert.equal(sessions.length, 2, 'h2, still queued, never starts')
  assert.ok(sessions.every((x) => x.s.stopped), 'every live session is ended')
})
