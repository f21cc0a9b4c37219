// bittorrent-protocol v5 (the published @types describe v3): only what murder uses.
declare module 'bittorrent-protocol' {
  import { Duplex } from 'node:stream'
  export interface PeerPieces {
    get(index: number): boolean
    set(index: number, value?: boolean): void
    buffer?: Uint8Array
  }
  export interface Extensions { dht?: boolean; fast?: boolean; extended?: boolean }
  export type RequestCallback = (err: Error | null, block: Uint8Array | null) => void
  export interface ExtensionConstructor { new (wire: Wire): unknown; prototype: { name: string } }
  export default class Wire extends Duplex {
    constructor(type?: string, peEnabled?: number)
    peerId: string | null
    peerIdBuffer: Uint8Array | null
    amChoking: boolean
    amInterested: boolean
    peerChoking: boolean
    peerInterested: boolean
    peerPieces: PeerPieces
    hasFast: boolean
    extensions: Extensions
    peerExtensions: Extensions
    requests: { piece: number; offset: number; length: number }[]
    peerRequests: { piece: number; offset: number; length: number }[]
    extendedHandshake: Record<string, unknown>
    peerExtendedHandshake: Record<string, unknown>
    uploaded: number
    downloaded: number
    destroyed: boolean
    setKeepAlive(enable: boolean): void
    setTimeout(ms: number, unref?: boolean): void
    use(ext: ExtensionConstructor): void
    extended(ext: string, message: Uint8Array): void
    handshake(infoHash: Uint8Array | string, peerId: Uint8Array | string, extensions?: Extensions): void
    choke(): void
    unchoke(): void
    interested(): void
    uninterested(): void
    have(index: number): void
    bitfield(bits: Uint8Array): void
    haveAll(): void
    haveNone(): void
    request(index: number, offset: number, length: number, cb: RequestCallback): void
    piece(index: number, offset: number, block: Uint8Array): void
    cancel(index: number, offset: number, length: number): void
    reject(index: number, offset: number, length: number): void
    destroy(): this
    end(): this
    [ext: string]: unknown
  }
}
declare module 'ut_metadata' {
  import type { ExtensionConstructor } from 'bittorrent-protocol'
  export default function utMetadata(metadata?: Uint8Array): ExtensionConstructor
}
