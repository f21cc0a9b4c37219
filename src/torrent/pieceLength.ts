import { MIN_PIECE_LENGTH } from './metainfo.js'

/** Piece length bounds for datacenter deploys: large enough for cheap hashing and few messages, small enough to spread early. */
export const AUTO_MIN_PIECE_LENGTH = 256 * 1024
export const AUTO_MAX_PIECE_LENGTH = 16 * 1024 * 1024
/** About this many pieces keeps the metainfo near 20–40 KB (20 bytes a piece) while leaving plenty to trade. */
export const TARGET_PIECE_COUNT = 1500

export function choosePieceLength(totalLength: number): number {
  let length = AUTO_MIN_PIECE_LENGTH
  while (length < AUTO_MAX_PIECE_LENGTH && totalLength / length > TARGET_PIECE_COUNT) length *= 2
  return length
}

export function isValidPieceLength(n: number): boolean {
  return Number.isInteger(n) && n >= MIN_PIECE_LENGTH && (n & (n - 1)) === 0 && n <= 2 ** 26
}
