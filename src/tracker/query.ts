/** A request the tracker rejects; the message goes back to the client as the bencoded `failure reason`. */
export class TrackerRequestError extends Error {
  override name = 'TrackerRequestError'
}

/** Raw query parameters: name → every value given, as bytes (info_hash and peer_id are binary). */
export type QueryParams = Map<string, Uint8Array[]>

/**
 * Splits a raw query string (without the leading `?`) byte-wise. URLSearchParams is unusable here:
 * it decodes values as UTF-8 and would mangle binary info hashes.
 */
export function parseQuery(query: string): QueryParams {
  const params: QueryParams = new Map()
  for (const part of query.split('&')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    const name = Buffer.from(percentDecode(eq < 0 ? part : part.slice(0, eq))).toString('latin1')
    const value = percentDecode(eq < 0 ? '' : part.slice(eq + 1))
    const values = params.get(name)
    if (values) values.push(value)
    else params.set(name, [value])
  }
  return params
}

/** Decodes %XX escapes and `+` (form encoding's space) into bytes; malformed escapes are rejected, not guessed at. */
export function percentDecode(text: string): Uint8Array {
  const out = new Uint8Array(text.length) // decoding never lengthens
  let n = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x25) {
      const hi = hexValue(text.charCodeAt(i + 1))
      const lo = hexValue(text.charCodeAt(i + 2))
      if (hi < 0 || lo < 0) throw new TrackerRequestError(`invalid percent-encoding: ${JSON.stringify(text.slice(i, i + 3))}`)
      out[n++] = (hi << 4) | lo
      i += 2
    } else if (c === 0x2b) {
      out[n++] = 0x20
    } else if (c > 0xff) {
      throw new TrackerRequestError('invalid character in query string')
    } else {
      out[n++] = c
    }
  }
  return out.subarray(0, n)
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  if (c >= 0x41 && c <= 0x46) return c - 0x37
  if (c >= 0x61 && c <= 0x66) return c - 0x57
  return -1 // also covers NaN past the end of the string
}

/** The single value of a parameter; a repeated parameter is ambiguous, so it is rejected. */
export function singleParam(params: QueryParams, name: string): Uint8Array | undefined {
  const values = params.get(name)
  if (values === undefined) return undefined
  if (values.length > 1) throw new TrackerRequestError(`${name} given more than once`)
  return values[0]
}

/** A binary id (info_hash, peer_id) that must be exactly 20 bytes. */
export function checkId(name: string, value: Uint8Array | undefined): Uint8Array {
  if (value === undefined) throw new TrackerRequestError(`missing ${name}`)
  if (value.length !== 20) throw new TrackerRequestError(`invalid ${name}: expected 20 bytes, got ${value.length}`)
  return value
}
