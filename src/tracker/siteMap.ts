import { readFile } from 'node:fs/promises'
import { UserError, ExitCode } from '../errors.js'
import { parseIp } from './ip.js'
import { MAX_SITE_LENGTH } from './announceRequest.js'

interface Range {
  readonly prefix: Uint8Array
  readonly bits: number
  readonly site: string
}

/**
 * Address ranges to sites, so targets need no `--site` flag. File format, one range a line:
 * `10.1.0.0/16 paris` (IPv4 or IPv6 CIDR, then the site name); `#` starts a comment. The most specific
 * range wins.
 */
export class SiteMap {
  private constructor(private readonly ranges: readonly Range[]) {}

  static parse(text: string): SiteMap {
    const ranges: Range[] = []
    text.split('\n').forEach((raw, i) => {
      const line = raw.replace(/#.*/, '').trim()
      if (!line) return
      const m = /^(\S+)\/(\d{1,3})\s+(\S+)$/.exec(line)
      const prefix = m ? parseIp(m[1]!) : undefined
      const bits = m ? Number(m[2]) : NaN
      if (!m || !prefix || bits > prefix.length * 8 || m[3]!.length > MAX_SITE_LENGTH) {
        throw new Error(`line ${i + 1}: expected "<address>/<bits> <site>", got "${raw.trim()}"`)
      }
      ranges.push({ prefix, bits, site: m[3]! })
    })
    return new SiteMap(ranges.sort((a, b) => b.bits - a.bits))
  }

  get size(): number {
    return this.ranges.length
  }

  lookup(ip: string): string | undefined {
    const addr = parseIp(ip)
    if (!addr) return undefined
    return this.ranges.find((r) => r.prefix.length === addr.length && matches(r, addr))?.site
  }
}

function matches(r: Range, addr: Uint8Array): boolean {
  const full = r.bits >> 3
  for (let i = 0; i < full; i++) if (r.prefix[i] !== addr[i]) return false
  const rest = r.bits & 7
  if (rest === 0) return true
  const mask = (0xff << (8 - rest)) & 0xff
  return (r.prefix[full]! & mask) === (addr[full]! & mask)
}

export async function loadSiteMap(path: string): Promise<SiteMap> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new UserError(`cannot read sites file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, ExitCode.usage)
  }
  try {
    return SiteMap.parse(text)
  } catch (err) {
    throw new UserError(`sites file ${path}: ${(err as Error).message}`, ExitCode.usage)
  }
}
