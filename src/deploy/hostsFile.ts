import { UserError, ExitCode } from '../errors.js'

/** One target of a deploy, as the hosts file names it. */
export interface Target {
  /** The spec as written (`[user@]host[:port]`): the host's name in every report. */
  name: string
  user?: string
  host: string
  port?: number
  site?: string
  /** Line of the hosts file, for messages. */
  line: number
}

const SITE = /^[\w.-]{1,64}$/

/** `[user@]host[:port]`, with `[v6-address]:port` for IPv6. */
function parseSpec(spec: string, line: number): Omit<Target, 'site' | 'line' | 'name'> {
  const at = spec.lastIndexOf('@')
  const user = at >= 0 ? spec.slice(0, at) : undefined
  const rest = at >= 0 ? spec.slice(at + 1) : spec
  const m = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(rest) ?? /^([^:\s[\]]+)(?::(\d+))?$/.exec(rest) ?? /^([0-9a-fA-F:]+:[0-9a-fA-F:.]*)()$/.exec(rest)
  if (!m || user === '' || (user !== undefined && !/^[\w.-]+$/.test(user))) throw new UserError(`hosts file line ${line}: "${spec}" is not [user@]host[:port]`, ExitCode.usage)
  const port = m[2] ? Number(m[2]) : undefined
  if (port !== undefined && (port < 1 || port > 65535)) throw new UserError(`hosts file line ${line}: port ${port} is out of range`, ExitCode.usage)
  return { user, host: m[1]!, port }
}

/**
 * The hosts file: one target a line, `[user@]host[:port] [site]`; `#` starts a comment, blank lines are
 * skipped. A host named twice (same user, host and port) is an error naming both lines.
 */
export function parseHostsFile(text: string): Target[] {
  const targets: Target[] = []
  const seen = new Map<string, number>()
  for (const [i, raw] of text.split('\n').entries()) {
    const line = i + 1
    const fields = raw.replace(/#.*/, '').trim().split(/\s+/).filter(Boolean)
    if (fields.length === 0) continue
    if (fields.length > 2) throw new UserError(`hosts file line ${line}: expected "[user@]host[:port] [site]", got ${fields.length} fields`, ExitCode.usage)
    const [spec, site] = fields as [string, string | undefined]
    if (site !== undefined && !SITE.test(site)) throw new UserError(`hosts file line ${line}: site "${site}" must be 1 to 64 letters, digits, ".", "_" or "-"`, ExitCode.usage)
    const t = parseSpec(spec, line)
    const key = `${t.user ?? ''}@${t.host.toLowerCase()}:${t.port ?? 22}`
    const first = seen.get(key)
    if (first !== undefined) throw new UserError(`hosts file line ${line}: ${spec} is already on line ${first}`, ExitCode.usage)
    seen.set(key, line)
    targets.push({ name: spec, ...t, site, line })
  }
  if (targets.length === 0) throw new UserError('the hosts file names no host', ExitCode.usage)
  return targets
}
