// Real OpenSSH servers (Debian openssh-server) on the hosts of a namespace lab: each target runs `sshd -D` in a
// mount namespace of its own with a tmpfs over one shared path, so every target has its own destination at
// the same path on one machine. Keys and known_hosts are generated here; sessions get XDG_CACHE_HOME under
// the work folder (sshd_config SetEnv), so murder's cache of its executable stays inside the test's files.
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { HostSpec } from '../../bench/netns.js'
import { sh, start, type Proc } from '../../bench/proc.js'

export interface SshTarget {
  host: HostSpec
  sshd: Proc
}

export interface SshKeys {
  identity: string
  knownHosts: string
  config: string
  cache: string
  /** Where every target mounts its own tmpfs: its destination lives below. */
  mountPoint: string
}

/** Host and user keys, authorized_keys, known_hosts for `hosts`, and the sshd_config every target uses. */
export function sshKeys(work: string, hosts: readonly HostSpec[]): SshKeys {
  const key = (name: string) => {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(work, name)])
    return readFileSync(join(work, `${name}.pub`), 'utf8').trim()
  }
  const hostKey = key('host_key')
  writeFileSync(join(work, 'authorized_keys'), `${key('user_key')}\n`)
  const knownHosts = join(work, 'known_hosts')
  writeFileSync(knownHosts, hosts.map((h) => `${h.ip} ${hostKey}\n`).join(''))
  const cache = join(work, 'cache')
  const mountPoint = join(work, 'mnt')
  mkdirSync(mountPoint)
  // sshd refuses to start without its privilege separation folder, which the Debian service makes at boot.
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 })
  const config = join(work, 'sshd_config')
  writeFileSync(config, [
    'Port 22', `HostKey ${join(work, 'host_key')}`, 'PidFile none', `AuthorizedKeysFile ${join(work, 'authorized_keys')}`,
    'PermitRootLogin prohibit-password', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'UsePAM no',
    // The test's files live under /tmp: sshd's ownership checks of the user's files would refuse them.
    'StrictModes no', `SetEnv XDG_CACHE_HOME=${cache}`, 'LogLevel INFO', '',
  ].join('\n'))
  return { identity: join(work, 'user_key'), knownHosts, config, cache, mountPoint }
}

/** Starts sshd on `host` over a tmpfs of `size` at the mount point; resolves once it listens. */
export async function startSshd(host: HostSpec, keys: SshKeys, size = '64m'): Promise<SshTarget> {
  const script = 'mount -t tmpfs -o "size=$2" tmpfs "$1" && exec /usr/sbin/sshd -D -e -f "$0"'
  const sshd = start(`sshd-${host.name}`, 'unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, keys.config, keys.mountPoint, size], { ns: host.ns })
  await sshd.waitLine((l) => l.text.includes('Server listening on'), 15_000)
  return { host, sshd }
}

/** Runs a command in the target's mount namespace (where its own destination is). */
export function inTarget(t: SshTarget, cmd: string, args: string[]): string {
  return sh('nsenter', ['-t', String(t.sshd.pid), '-m', '--', cmd, ...args])
}

/** Processes left in a namespace that a deploy started there: murder itself and the shells around it. */
export function deployLeftovers(ns: string): string[] {
  const pids = sh('ip', ['netns', 'pids', ns], { allowFail: true }).split(/\s+/).filter(Boolean)
  return pids.flatMap((pid) => {
    let exe: string
    try {
      exe = readlinkSync(`/proc/${pid}/exe`)
    } catch {
      return [] // gone meanwhile
    }
    return /\/murder-[0-9a-f]{64}$|\/(da|ba)?sh$|\/node$|\/ssh$/.test(exe) ? [`${pid} ${exe}`] : []
  })
}
