/**
 * Byte-level walk over bencoded data. The info hash is the SHA-1 of the info dictionary exactly as it was
 * sent, so we locate its bytes instead of re-encoding a decoded copy; the same walk rejects malformed or
 * absurdly nested input, and decodes, in one pass (a torrent of thousands of files is parsed at every
 * peer's start: checking, decoding and finding the info dictionary in three walks cost twice as long).
 */
import type { BencodeValue } from 'bencode'

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
 * in-place comparison each (a torrent has thousands of small dictionaries: this walk runs at every peer's
 * start); only a dictionary with keys out of order pays for a set, made from the keys decoded before it.
 */
class KeyCheck {
  private prevStart = -1
  private prevEnd = -1
  private set: Set<string> | null = null

  constructor(private readonly buf: Uint8Array, private readonly dict: { [key: string]: BencodeValue }) {}

  /** The key whose bytes are buf[start, end), found at `at`. */
  add(start: number, end: number, at: number): void {
    const { buf } = this
    // Up to the first key out of order the keys were increasing, hence distinct: the dictionary holds them all.
    if (!this.set && this.prevStart >= 0 && compareRanges(buf, start, end, this.prevStart, this.prevEnd) <= 0) this.set = new Set(Object.keys(this.dict))
    if (this.set) {
      const key = latin1(buf, start, end)
      if (this.set.has(key)) throw new BencodeError(`duplicate key ${JSON.stringify(key.slice(0, 40))} in a dictionary at byte ${at}`)
      this.set.add(key)
    }
    this.prevStart = start
    this.prevEnd = end
  }
}

/** A dictionary's key: short ASCII keys (all the metainfo's) without a Buffer view per key. */
function keyOf(buf: Uint8Array, start: number, end: number): string {
  if (end - start > 16) return latin1(buf, start, end)
  let key = ''
  for (let i = start; i < end; i++) key += String.fromCharCode(buf[i]!)
  return key
}

/** Where the decoder stands. */
let at = 0

function integer(buf: Uint8Array): number {
  const end = digitsEnd(buf, at + 1, 0x65)
  let i = at + 1
  const negative = buf[i] === 0x2d
  if (negative) i++
  let n = 0
  for (; i < end; i++) n = n * 10 + buf[i]! - 0x30
  at = end + 1
  return negative ? -n : n
}

function decodeValue(buf: Uint8Array, depth: number, span: { key: string; start: number; end: number } | null): BencodeValue {
  if (depth > MAX_DEPTH) throw new BencodeError('nesting too deep')
  const c = buf[at]
  if (c === undefined) throw new BencodeError('unexpected end of data')
  if (c === 0x69) return integer(buf)
  if (c >= 0x30 && c <= 0x39) {
    const end = stringEnd(buf, at)
    at = end
    return buf.subarray(stringStart, end)
  }
  if (c === 0x6c) {
    const list: BencodeValue[] = []
    at++
    while (buf[at] !== 0x65) {
      if (at >= buf.length) throw new BencodeError('unterminated list or dictionary')
      list.push(decodeValue(buf, depth + 1, null))
    }
    at++
    return list
  }
  if (c === 0x64) {
    // No prototype: a key such as "__proto__" is just a key.
    const dict: { [key: string]: BencodeValue } = Object.create(null)
    const keys = new KeyCheck(buf, dict)
    at++
    while (buf[at] !== 0x65) {
      if (at >= buf.length) throw new BencodeError('unterminated list or dictionary')
      if (!(buf[at]! >= 0x30 && buf[at]! <= 0x39)) throw new BencodeError(`dictionary key is not a string at byte ${at}`)
      const keyAt = at
      const keyEnd = stringEnd(buf, at)
      const keyStart = stringStart
      keys.add(keyStart, keyEnd, keyAt)
      if (buf[keyEnd] === 0x65) throw new BencodeError(`dictionary key without a value at byte ${keyEnd}`)
      const key = keyOf(buf, keyStart, keyEnd)
      at = keyEnd
      dict[key] = decodeValue(buf, depth + 1, null)
      if (span && depth === 0 && key === span.key) {
        span.start = keyEnd
        span.end = at
      }
    }
    at++
    return dict
  }
  throw new BencodeError(`unexpected byte 0x${c.toString(16)} at ${at}`)
}

/**
 * Decodes `buf`, which must be exactly one well-formed bencoded value: strings are views of `buf`, dictionaries
 * have no prototype and latin1 keys (byte-exact, so two keys differ when their bytes do). With `spanKey`, also
 * the byte range of that key's value in the top-level dictionary (start = end = -1 when absent).
 */
export function decodeChecked(buf: Uint8Array, spanKey = ''): { value: BencodeValue; start: number; end: number } {
  const span = { key: spanKey, start: -1, end: -1 }
  at = 0
  const value = decodeValue(buf, 0, spanKey ? span : null)
  if (at !== buf.length) throw new BencodeError('trailing bytes after the value')
  return { value, start: span.start, end: span.end }
}

/** Decodes the value at the start of `buf` and says where it ends (a BEP 9 message: a dictionary, then data). */
export function decodePrefix(buf: Uint8Array): { value: BencodeValue; end: number } {
  at = 0
  const value = decodeValue(buf, 0, null)
  return { value, end: at }
}
