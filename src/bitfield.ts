/** A piece bitfield in wire order (bit 7 of byte 0 is piece 0), with a running count of set bits. */
export class Bitfield {
  readonly bytes: Uint8Array
  private setCount = 0

  constructor(readonly length: number, from?: Uint8Array) {
    this.bytes = new Uint8Array(Math.ceil(length / 8))
    if (from) {
      this.bytes.set(from.subarray(0, this.bytes.length))
      for (let i = 0; i < length; i++) if (this.get(i)) this.setCount++
    }
  }

  get(i: number): boolean {
    return (this.bytes[i >> 3]! & (0x80 >> (i & 7))) !== 0
  }

  set(i: number): boolean {
    if (this.get(i)) return false
    this.bytes[i >> 3]! |= 0x80 >> (i & 7)
    this.setCount++
    return true
  }

  clear(i: number): void {
    if (!this.get(i)) return
    this.bytes[i >> 3]! &= ~(0x80 >> (i & 7))
    this.setCount--
  }

  get count(): number {
    return this.setCount
  }

  get complete(): boolean {
    return this.setCount === this.length
  }
}

/** A received bitfield is valid when its size matches and the spare bits at the end are zero (BEP 3). */
export function validWireBitfield(bytes: Uint8Array, pieceCount: number): boolean {
  if (bytes.length !== Math.ceil(pieceCount / 8)) return false
  const spare = bytes.length * 8 - pieceCount
  return spare === 0 || (bytes[bytes.length - 1]! & ((1 << spare) - 1)) === 0
}
