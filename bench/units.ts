/** Sizes as the bench's options take them: 32M, 128M, 2G (powers of 1024). */
export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?$/i.exec(s.trim())
  if (!m) throw new Error(`bad size "${s}" (e.g. 32M, 128M, 2G)`)
  const mult = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't']
  return Math.round(Number(m[1]) * mult)
}

/** Megabits per second as bytes per second. */
export function mbit(n: number): number {
  return (n * 1e6) / 8
}
