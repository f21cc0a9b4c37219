import { isIPv4, isIPv6 } from 'node:net'

/** Parses an IPv4 or IPv6 literal into 4 or 16 bytes; undefined for anything else (hostnames, zone ids). */
export function parseIp(text: string): Uint8Array | undefined {
  if (isIPv4(text)) return Uint8Array.from(text.split('.'), Number)
  // Zone ids (fe80::1%eth0) are meaningless to other hosts and have no compact form.
  if (!isIPv6(text) || text.includes('%')) return undefined
  return parseIpv6(text)
}

function parseIpv6(text: string): Uint8Array {
  // Rewrite an embedded IPv4 tail (::ffff:1.2.3.4) as two hex groups so one code path handles both.
  const lastColon = text.lastIndexOf(':')
  if (text.includes('.', lastColon)) {
    const [a, b, c, d] = text.slice(lastColon + 1).split('.').map(Number) as [number, number, number, number]
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head, tail] = text.split('::') as [string, string | undefined]
  const headGroups = head === '' ? [] : head.split(':')
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':')
  const zeros = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length
  const groups = [...headGroups, ...Array<string>(zeros).fill('0'), ...tailGroups]
  const bytes = new Uint8Array(16)
  groups.forEach((group, i) => {
    const value = parseInt(group, 16)
    bytes[i * 2] = value >> 8
    bytes[i * 2 + 1] = value & 0xff
  })
  return bytes
}

/** Formats 4 or 16 address bytes; IPv6 in RFC 5952 canonical form so equal addresses compare equal as text. */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join('.')
  if (bytes.length !== 16) throw new RangeError(`an IP address has 4 or 16 bytes, not ${bytes.length}`)
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] as number) << 8) | (bytes[i + 1] as number))
  // Find the longest run (length ≥ 2) of zero groups; the first wins ties.
  let bestStart = -1
  let bestLength = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i]
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (bestStart < 0) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`
}

const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]

/**
 * Canonical text for an address literal, or undefined if it is not one. IPv4-mapped IPv6
 * (what a dual-stack socket reports for IPv4 clients) becomes plain IPv4; brackets are dropped.
 */
export function normalizeIp(text: string): string | undefined {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text
  const bytes = parseIp(bare)
  if (bytes === undefined) return undefined
  const mapped = bytes.length === 16 && V4_MAPPED_PREFIX.every((b, i) => bytes[i] === b)
  return formatIp(mapped ? bytes.subarray(12) : bytes)
}
