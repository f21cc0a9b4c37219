/**
 * Standard BitTorrent clients (Debian packages that .ci/run installs) driven the same way in a namespace lab:
 * each downloads a torrent or magnet into a folder, or seeds a tree it holds, with only the tracker naming
 * peers (no DHT, local discovery, peer exchange or port mapping).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { existsSync, watch } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { HostSpec } from '../../bench/netns.js'
import { start, type Proc } from '../../bench/proc.js'
import { ARIA2 } from './aria2.js'

export interface Client {
  name: string
  /** Downloads `what` (a .torrent path or a magnet link) into `dir`; resolves once complete, the client stopped. */
  get(host: HostSpec, what: string, dir: string, work: string, timeoutMs: number): Promise<void>
  /** Seeds the tree at `dir/<torrent name>`; the returned function stops it. */
  seed(host: HostSpec, torrent: string, dir: string, work: string): Promise<() => Promise<void>>
}

/** Resolves once `file` exists (the clients that report completion only by running a program write one). */
function fileAppears(dir: string, name: string, timeoutMs: number, proc: Proc): Promise<void> {
  return new Promise((resolve, reject) => {
    const watcher = watch(dir, () => check())
    const timer = setTimeout(() => done(new Error(`${proc.name}: not complete within ${timeoutMs / 1000} s:\n${proc.tail(80)}`)), timeoutMs)
    const done = (err?: Error) => {
      clearTimeout(timer)
      watcher.close()
      if (err) reject(err)
      else resolve()
    }
    const check = () => {
      if (existsSync(join(dir, name))) done()
      else if (proc.exit) done(new Error(`${proc.name} exited (code ${proc.exit.code}) before completing:\n${proc.tail()}`))
    }
    void proc.exited.then(check)
    check()
  })
}

async function stopped(p: Proc): Promise<void> {
  await p.stop(5000)
}

/** Waits for the file `complete` in `dir`, then stops the client; on failure too, or it would hold its port in the next case. */
async function completes(dir: string, timeoutMs: number, proc: Proc): Promise<void> {
  try {
    await fileAppears(dir, 'complete', timeoutMs, proc)
  } finally {
    await stopped(proc)
  }
}

const LT_SCRIPT = fileURLToPath(new URL('../../../bench/scenarios/ltclient.py', import.meta.url))

export const libtorrent: Client = {
  name: 'libtorrent',
  async get(host, what, dir, _work, timeoutMs) {
    await mkdir(dir, { recursive: true })
    const p = start(`libtorrent@${host.name}`, '/usr/bin/python3', [LT_SCRIPT, 'get', what, dir, '--interface', host.ip], { ns: host.ns })
    await p.waitLine((l) => l.json?.['msg'] === 'done', timeoutMs)
    await p.waitExit(5000)
  },
  async seed(host, torrent, dir) {
    const p = start(`libtorrent-seed@${host.name}`, '/usr/bin/python3', [LT_SCRIPT, 'seed', torrent, dir, '--interface', host.ip], { ns: host.ns })
    await p.waitLine((l) => l.json?.['msg'] === 'seeding', 30_000)
    return () => stopped(p)
  },
}

export const aria2: Client = {
  name: 'aria2',
  async get(host, what, dir, _work, timeoutMs) {
    const p = start(`aria2c@${host.name}`, 'aria2c', [...ARIA2, '--seed-time=0', `--dir=${dir}`, what], { ns: host.ns })
    const e = await p.waitExit(timeoutMs)
    if (e.code !== 0) throw new Error(`aria2c exit ${e.code}:\n${p.tail()}`)
  },
  async seed(host, torrent, dir) {
    // It announces once its check is done; a murder peer asks the tracker until it does.
    const p = start(`aria2c-seed@${host.name}`, 'aria2c', [...ARIA2, '-V', '--seed-ratio=0.0', '--seed-time=600', `--dir=${dir}`, torrent], { ns: host.ns })
    return () => stopped(p)
  },
}

/**
 * Transmission 3.00's daemon, with its defaults (uTP on), given one torrent or magnet with transmission-remote;
 * it runs a script on completion and seeds until stopped. Not transmission-cli: it exits whenever it finds its
 * torrent stopped, which it is for a moment after a magnet's metadata came (it stops, checks and restarts the
 * torrent), so the cli exited 0 in 2 to 4 s in half of the runs once the metadata came fast.
 */
async function transmissionDaemon(host: HostSpec, what: string, dir: string, work: string, role: string): Promise<{ cfg: string; p: Proc }> {
  const cfg = join(work, `transmission-${host.name}-${Date.now()}`)
  await mkdir(cfg, { recursive: true })
  await mkdir(dir, { recursive: true })
  const done = join(cfg, 'done.sh')
  await writeFile(done, `#!/bin/sh\ntouch '${join(cfg, 'complete')}'\n`, { mode: 0o755 })
  await writeFile(join(cfg, 'settings.json'), JSON.stringify({
    'dht-enabled': false, 'lpd-enabled': false, 'pex-enabled': false, 'port-forwarding-enabled': false,
    'bind-address-ipv4': host.ip, 'peer-port': 51413, 'message-level': 2, 'download-dir': dir,
    'rpc-enabled': true, 'rpc-bind-address': '127.0.0.1', 'rpc-port': 9091, 'rpc-authentication-required': false,
    'script-torrent-done-enabled': true, 'script-torrent-done-filename': done,
  }))
  const p = start(`transmission${role}@${host.name}`, 'transmission-daemon', ['-f', '-g', cfg], { ns: host.ns })
  try {
    await p.waitLine((l) => l.text.includes('Serving RPC'), 15_000)
    // A torrent added without resume data is checked first (a seed's files), then started.
    const add = start(`transmission-remote@${host.name}`, 'transmission-remote', ['127.0.0.1:9091', '--add', what], { ns: host.ns })
    const e = await add.waitExit(15_000)
    if (e.code !== 0) throw new Error(`transmission-remote --add: exit ${e.code}:\n${add.tail()}`)
  } catch (err) {
    await stopped(p)
    throw err
  }
  return { cfg, p }
}

export const transmission: Client = {
  name: 'transmission',
  async get(host, what, dir, work, timeoutMs) {
    const { cfg, p } = await transmissionDaemon(host, what, dir, work, '')
    await completes(cfg, timeoutMs, p)
  },
  async seed(host, torrent, dir, work) {
    // It announces once its check is done; a murder peer asks the tracker until it does.
    const { p } = await transmissionDaemon(host, torrent, dir, work, '-seed')
    return () => stopped(p)
  },
}

/** rtorrent 0.9.8 (libtorrent 0.13) as a daemon: no terminal; a file appears when a download finishes. */
async function rtorrentConfig(host: HostSpec, dir: string, work: string, what: string): Promise<{ rc: string; cfg: string }> {
  const cfg = join(work, `rtorrent-${host.name}-${Date.now()}`)
  await mkdir(join(cfg, 'session'), { recursive: true })
  await mkdir(dir, { recursive: true })
  const rc = join(cfg, 'rtorrent.rc')
  await writeFile(rc, [
    `directory.default.set = ${dir}`,
    `session.path.set = ${join(cfg, 'session')}`,
    'network.port_range.set = 6881-6889',
    `network.bind_address.set = ${host.ip}`,
    `network.local_address.set = ${host.ip}`,
    'dht.mode.set = disable',
    'protocol.pex.set = no',
    'trackers.use_udp.set = no',
    'system.daemon.set = true',
    `method.set_key = event.download.finished, murder_done, "execute.nothrow = touch, ${join(cfg, 'complete')}"`,
    `load.start = "${what}"`,
    '',
  ].join('\n'))
  return { rc, cfg }
}

export const rtorrent: Client = {
  name: 'rtorrent',
  async get(host, what, dir, work, timeoutMs) {
    const { rc, cfg } = await rtorrentConfig(host, dir, work, what)
    const p = start(`rtorrent@${host.name}`, 'rtorrent', ['-n', '-o', `import=${rc}`], { ns: host.ns })
    await completes(cfg, timeoutMs, p)
  },
  async seed(host, torrent, dir, work) {
    // It hashes the files it finds, then announces; a murder peer asks the tracker until it does.
    const { rc } = await rtorrentConfig(host, dir, work, torrent)
    const p = start(`rtorrent-seed@${host.name}`, 'rtorrent', ['-n', '-o', `import=${rc}`], { ns: host.ns })
    return () => stopped(p)
  },
}

/** qBittorrent-nox 4.5 (libtorrent 2.0.8 underneath): no web UI; its "run on completion" program touches a file. */
async function qbittorrentProfile(host: HostSpec, dir: string, work: string): Promise<{ profile: string }> {
  const profile = join(work, `qbittorrent-${host.name}-${Date.now()}`)
  await mkdir(join(profile, 'qBittorrent', 'config'), { recursive: true })
  await mkdir(dir, { recursive: true })
  await writeFile(join(profile, 'qBittorrent', 'config', 'qBittorrent.conf'), [
    '[LegalNotice]', 'Accepted=true', '',
    '[AutoRun]', 'enabled=true', `program=touch ${join(profile, 'complete')}`, '',
    '[BitTorrent]', 'Session\\DHTEnabled=false', 'Session\\LSDEnabled=false', 'Session\\PeXEnabled=false',
    'Session\\Port=6881', `Session\\InterfaceAddress=${host.ip}`, `Session\\DefaultSavePath=${dir}`, '',
    '[Preferences]', 'Connection\\UPnP=false', 'WebUI\\Enabled=false', '',
  ].join('\n'))
  return { profile }
}

export const qbittorrent: Client = {
  name: 'qbittorrent',
  async get(host, what, dir, work, timeoutMs) {
    const { profile } = await qbittorrentProfile(host, dir, work)
    const p = start(`qbittorrent@${host.name}`, 'qbittorrent-nox', [`--profile=${profile}`, `--save-path=${dir}`, what], { ns: host.ns })
    await completes(profile, timeoutMs, p)
  },
  async seed(host, torrent, dir, work) {
    // It checks the files, then announces; a murder peer asks the tracker until it does. Not with
    // --skip-hash-check: libtorrent 2.0.8 then compares each file's size on disk with the torrent's, follows
    // the symlink it has just created (length 0 in the torrent) and stops the torrent ("missing files")
    // before its first announce.
    const { profile } = await qbittorrentProfile(host, dir, work)
    const p = start(`qbittorrent-seed@${host.name}`, 'qbittorrent-nox', [`--profile=${profile}`, `--save-path=${dir}`, torrent], { ns: host.ns })
    return () => stopped(p)
  },
}
