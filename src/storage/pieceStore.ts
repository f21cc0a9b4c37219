import type { Layout } from '../torrent/layout.js'
import { pieceHash, type Metainfo } from '../torrent/metainfo.js'
import type { FileStorage } from './fileStorage.js'
import type { HashPool } from './hashPool.js'
import { PieceBuffers } from './pieceBuffers.js'

/**
 * Where the swarm engine keeps pieces: files behind hashing workers for the commands; nothing but counts in
 * the simulator (bench/sim), which models the network and not the disk.
 */
export interface PieceStore {
  readonly layout: Layout
  /** Bytes of real file data (padding excluded). */
  readonly dataLength: number
  /** Bytes of a piece before its trailing padding: the only part worth asking a peer for. */
  dataPrefix(piece: number): number
  /** Bytes of real file data in a piece. */
  dataBytes(piece: number): number
  /** Memory for a whole piece (assembling a download, reading an upload); stale content, to be overwritten. */
  take(size: number): Buffer
  /** Memory from `take` or from `verifyAndWrite` that is no longer used. */
  give(buf: Uint8Array): void
  /** Checks a piece against its hash and writes it if it matches; `data` holds its bytes either way. */
  verifyAndWrite(piece: number, buf: Buffer): Promise<{ stored: boolean; data: Uint8Array }>
  /** Fills `buf` with a held piece; resolves with the memory holding it (the same, maybe another view). */
  read(piece: number, buf: Uint8Array): Promise<Uint8Array>
}

/** Pieces that fit in a memory budget: six at least, so that large pieces still stream. */
export function piecesInBudget(memoryBudget: number, pieceLength: number): number {
  return Math.max(6, Math.floor(memoryBudget / pieceLength))
}

/** The commands' store: a torrent's files, hashed, written and read on the hashing workers. */
export class FilePieceStore implements PieceStore {
  private readonly buffers: PieceBuffers

  constructor(private readonly storage: FileStorage, private readonly pool: HashPool, private readonly meta: Metainfo, memoryBudget: number) {
    this.buffers = new PieceBuffers(meta.pieceLength, piecesInBudget(memoryBudget, meta.pieceLength))
  }

  get layout(): Layout {
    return this.storage.layout
  }

  get dataLength(): number {
    return this.storage.dataLength
  }

  dataPrefix(piece: number): number {
    return this.storage.dataPrefix(piece)
  }

  dataBytes(piece: number): number {
    return this.storage.dataBytes(piece)
  }

  take(size: number): Buffer {
    return this.buffers.take(size)
  }

  give(buf: Uint8Array): void {
    this.buffers.give(buf)
  }

  verifyAndWrite(piece: number, buf: Buffer): Promise<{ stored: boolean; data: Uint8Array }> {
    return this.pool.store(buf, pieceHash(this.meta, piece), this.storage.root, this.storage.writeSpans(piece))
  }

  read(piece: number, buf: Uint8Array): Promise<Uint8Array> {
    return this.pool.read(this.storage.readSpans(piece), buf)
  }
}
