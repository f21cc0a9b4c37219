/**
 * Byte-level walk over bencoded data. The info hash is the SHA-1 of the info dictionary exactly as it was
 * sent, so we locate its bytes instead of re-encoding a decoded copy; the same walk rejects malformed or
 * absurdly nested input before the decoder sees it.
 */

const MAX_DEPTH = 64

export class BencodeError extends Error {}

function digitsEnd(buf: Uint8Array, pos: number, terminator: number): number {
  let i = pos
  if (buf[i] === 0x2d) i++ // '-'
  const start = i
  while (i < buf.length && buf[i]! >= 0x30 && buf[i]! <= 0x39) i++
  if (i === start || i - start > 16 || buf[i] !== terminator) throw new BencodeError(`malformed number at byte ${pos}`)
  return i
}

/**
 * Refuses a key given twice in one dictionary: decoders disagree on which value wins, so two readers of the
 * same bytes (and the same info hash) could see different files. Keys in order (as bencode requires) cost one
 * comparison each; only a dictionary with keys out of order pays for a set.
 */
class KeyCheck {
  private previous: Uint8Array | null = null
  private readonly all: Uint8Array[] = []
  private set: Set<string> | null = null

  add(key: Uint8Array, at: number): void {
    const inOrder = this.previous === null || Buffer.compare(key, this.previous) > 0
    if (!inOrder && !this.set) this.set = new Set(this.all.map((k) => Buffer.from(k).toString('latin1')))
    if (this.set) {
      const text = Buffer.from(key).toString('latin1')
      if (this.set.has(text)) throw new BencodeError(`duplicate key ${JSON.stringify(text.slice(0, 40))} in a dictionary at byte ${at}`)
      this.set.add(text)
    } else {
      this.all.push(key)
    }
    this.previous = key
  }
}

/** Returns the offset just past the value that starts at `pos`. */
export function skipValue(buf: Uint8Array, pos: number, depth = 0): number {
  if (depth > MAX_DEPTH) throw new BencodeError('nesting too deep')
  const c = buf[pos]
  if (c === undefined) throw new BencodeError('unexpected end of data')
  if (c === 0x69) return digitsEnd(buf, pos + 1, 0x65) + 1 // i…e
  if (c === 0x6c || c === 0x64) { // l…e, d…e
    let i = pos + 1
    const keys = c === 0x64 ? new KeyCheck() : null
    while (buf[i] !== 0x65) {
      if (i >= buf.length) throw new BencodeError('unterminated list or dictionary')
      if (keys) {
        if (!(buf[i]! >= 0x30 && buf[i]! <= 0x39)) throw new BencodeError(`dictionary key is not a string at byte ${i}`)
        const keyStart = i
        i = skipValue(buf, i, depth + 1)
        keys.add(buf.subarray(buf.indexOf(0x3a, keyStart) + 1, i), keyStart)
        if (buf[i] === 0x65) throw new BencodeError(`dictionary key without a value at byte ${i}`)
      }
      i = skipValue(buf, i, depth + 1)
    }
    return i + 1
  }
  if (c >= 0x30 && c <= 0x39) {
    const colon = digitsEnd(buf, pos, 0x3a)
    let len = 0
    for (let i = pos; i < colon; i++) len = len * 10 + buf[i]! - 0x30
    const end = colon + 1 + len
    if (end > buf.length) throw new BencodeError('string runs past the end of data')
    return end
  }
  throw new BencodeError(`unexpected byte 0x${c.toString(16)} at ${pos}`)
}

/** Checks that `buf` is exactly one well-formed bencoded value. */
export function assertWellFormed(buf: Uint8Array): void {
  if (skipValue(buf, 0) !== buf.length) throw new BencodeError('trailing bytes after the value')
}

/** The byte range of `key`'s value in the top-level dictionary of `buf`, or null. */
export function dictValueSpan(buf: Uint8Array, key: string): { start: number; end: number } | null {
  if (buf[0] !== 0x64) return null
  const want = Buffer.from(key)
  let i = 1
  while (i < buf.length && buf[i] !== 0x65) {
    const keyEnd = skipValue(buf, i)
    const colon = buf.indexOf(0x3a, i)
    const valueEnd = skipValue(buf, keyEnd)
    if (Buffer.from(buf.buffer, buf.byteOffset + colon + 1, keyEnd - colon - 1).equals(want)) return { start: keyEnd, end: valueEnd }
    i = valueEnd
  }
  return null
}
