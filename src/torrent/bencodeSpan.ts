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

/** Where the bytes of the string that starts at `pos` begin (past its colon); its end is `stringEnd`. */
let stringStart = 0

/** Returns the offset just past the string that starts at `pos`, and sets `stringStart`. */
function stringEnd(buf: Uint8Array, pos: number): number {
  const colon = digitsEnd(buf, pos, 0x3a)
  let len = 0
  for (let i = pos; i < colon; i++) len = len * 10 + buf[i]! - 0x30
  stringStart = colon + 1
  const end = stringStart + len
  if (end > buf.length) throw new BencodeError('string runs past the end of data')
  return end
}

/** Byte order of buf[aStart, aEnd) against buf[bStart, bEnd), as Buffer.compare, without making views. */
function compareRanges(buf: Uint8Array, aStart: number, aEnd: number, bStart: number, bEnd: number): number {
  const n = Math.min(aEnd - aStart, bEnd - bStart)
  for (let i = 0; i < n; i++) {
    const d = buf[aStart + i]! - buf[bStart + i]!
    if (d !== 0) return d
  }
  return (aEnd - aStart) - (bEnd - bStart)
}

const latin1 = (buf: Uint8Array, start: number, end: number) => Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('latin1')

/**
 * Refuses a key given twice in one dictionary: decoders disagree on which value wins, so two readers of the
 * same bytes (and the same info hash) could see different files. Keys in order (as bencode requires) cost one
 * in-place comparison each (a torrent has thousands of small dictionaries: this walk ran at every peer's
 * start); only a dictionary with keys out of order pays for a set, made by walking its keys again.
 */
class KeyCheck {
  private prevStart = -1
  private prevEnd = -1
  private set: Set<string> | null = null

  constructor(private readonly buf: Uint8Array, private readonly dictStart: number) {}

  /** The key whose bytes are buf[start, end), found at `at`. */
  add(start: number, end: number, at: number): void {
    const { buf } = this
    if (!this.set && this.prevStart >= 0 && compareRanges(buf, start, end, this.prevStart, this.prevEnd) <= 0) this.set = this.keysBefore(at)
    if (this.set) {
      const key = latin1(buf, start, end)
      if (this.set.has(key)) throw new BencodeError(`duplicate key ${JSON.stringify(key.slice(0, 40))} in a dictionary at byte ${at}`)
      this.set.add(key)
    }
    this.prevStart = start
    this.prevEnd = end
  }

  /** The keys of this dictionary before the one at `at` (already walked and well formed). */
  private keysBefore(at: number): Set<string> {
    const keys = new Set<string>()
    for (let i = this.dictStart + 1; i < at;) {
      const keyEnd = stringEnd(this.buf, i)
      keys.add(latin1(this.buf, stringStart, keyEnd))
      i = skipValue(this.buf, keyEnd)
    }
    return keys
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
    const keys = c === 0x64 ? new KeyCheck(buf, pos) : null
    while (buf[i] !== 0x65) {
      if (i >= buf.length) throw new BencodeError('unterminated list or dictionary')
      if (keys) {
        if (!(buf[i]! >= 0x30 && buf[i]! <= 0x39)) throw new BencodeError(`dictionary key is not a string at byte ${i}`)
        const keyStart = i
        i = stringEnd(buf, i)
        keys.add(stringStart, i, keyStart)
        if (buf[i] === 0x65) throw new BencodeError(`dictionary key without a value at byte ${i}`)
      }
      i = skipValue(buf, i, depth + 1)
    }
    return i + 1
  }
  if (c >= 0x30 && c <= 0x39) return stringEnd(buf, pos)
  throw new BencodeError(`unexpected byte 0x${c.toString(16)} at ${pos}`)
}

/** Checks that `buf` is exactly one well-formed bencoded value. */
export function assertWellFormed(buf: Uint8Array): void {
  if (skipValue(buf, 0) !== buf.length) throw new BencodeError('trailing bytes after the value')
}

/** The byte range of `key`'s value in the top-level dictionary of `buf` (already checked), or null. */
export function dictValueSpan(buf: Uint8Array, key: string): { start: number; end: number } | null {
  if (buf[0] !== 0x64) return null
  let i = 1
  while (i < buf.length && buf[i] !== 0x65) {
    const keyEnd = stringEnd(buf, i)
    const keyStart = stringStart
    const valueEnd = skipValue(buf, keyEnd)
    if (latin1(buf, keyStart, keyEnd) === key) return { start: keyEnd, end: valueEnd }
    i = valueEnd
  }
  return null
}
