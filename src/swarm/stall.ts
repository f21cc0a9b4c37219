/**
 * When a download has stalled: no piece verified and no connected peer holding a missing piece for the
 * whole timeout (`--stall-timeout`). A peer whose seed is gone would otherwise wait forever. Pure: the
 * caller gives the time and the swarm's state.
 */
export class StallWatch {
  private since: number
  private pieces: number

  constructor(private readonly timeoutMs: number, now: number, pieces: number) {
    this.since = now
    this.pieces = pieces
  }

  /** True once nothing has come in nor been in reach for the timeout; a timeout of 0 never stalls. */
  stalled(now: number, pieces: number, missingHeld: boolean): boolean {
    if (pieces !== this.pieces || missingHeld) {
      this.since = now
      this.pieces = pieces
      return false
    }
    return this.timeoutMs > 0 && now - this.since >= this.timeoutMs
  }
}

/** Ranges shown at most; the rest are summed up by the count. */
const RANGES = 4

/** `0-3, 7, 9-12, …`: sorted piece indexes as ranges. */
export function pieceRanges(pieces: readonly number[]): string {
  const ranges: string[] = []
  for (let i = 0; i < pieces.length && ranges.length <= RANGES; i++) {
    let j = i
    while (j + 1 < pieces.length && pieces[j + 1] === pieces[j]! + 1) j++
    ranges.push(i === j ? `${pieces[i]}` : `${pieces[i]}-${pieces[j]}`)
    i = j
  }
  return ranges.length > RANGES ? `${ranges.slice(0, RANGES).join(', ')}, …` : ranges.join(', ')
}

/** The operator's line: what is missing, and whether anybody was there to ask. */
export function stallMessage(timeoutS: number, peers: number, missing: readonly number[], pieceCount: number): string {
  const what = `${missing.length} of ${pieceCount} pieces missing (${pieceRanges(missing)})`
  const who = peers === 0
    ? 'no peer connected; is a seed running?'
    : `none of the ${peers} connected peer${peers === 1 ? '' : 's'} has any of them`
  return `stalled for ${timeoutS} s (--stall-timeout): ${what}, ${who}`
}
