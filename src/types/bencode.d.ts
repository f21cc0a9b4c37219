declare module 'bencode' {
  /** A decoded bencode value: byte strings stay Uint8Array, integers become numbers. */
  export type BencodeValue = number | Uint8Array | BencodeValue[] | { [key: string]: BencodeValue }
  interface Bencode {
    encode(value: unknown): Uint8Array
    decode(data: Uint8Array, start?: number, end?: number): BencodeValue
    byteLength(value: unknown): number
  }
  const bencode: Bencode
  export default bencode
}
